// A POST request whose body is read from uWS, limited in size, decoded as
// JSON or msgpack by its Content-Type, and handed to `handleValue`. Errors
// are answered with the spec's body; `onError` lets subclasses count them.
// Headers must be read in the constructor: uWS's HttpRequest is only valid
// inside the route handler. (node:http serves the same interface:
// native-free-ts/transport/node_http_app.ts.)
import type { ErrorCode } from '../engine/error_codes.js';
import { ACCEPTED_BODY_TYPES, BodyKind, bodyKindOf, decodeBody, wantsMsgpack } from './http_codec.js';
import { InvalidField } from './request_validation.js';
import { sendError } from './respond.js';
import type { HttpRequestLike as HttpRequest, HttpResponseLike as HttpResponse } from './http_transport.js';

const EMPTY = new ArrayBuffer(0);
const OVERLOADED = 'the server is reading too many request bodies at once (MAX_INFLIGHT_BODY_BYTES); retry';

// Counting a header's repeats: one module-level callback, no closure per request.
let contentLengths = 0;
function countContentLength(key: string): void {
  if (key === 'content-length') contentLengths++;
}

/**
 * More than one Content-Length: uWS frames the body by the first, a proxy in
 * front may frame it by the last, and the difference smuggles a request.
 * node:http refuses these itself; uWS needs this check.
 */
export function repeatsContentLength(req: HttpRequest): boolean {
  contentLengths = 0;
  req.forEach(countContentLength);
  return contentLengths > 1;
}

/** Process-wide body limits (bin/ sets them from the configuration once, before serving). */
const limits = { maxInflightBytes: 256 * 1024 * 1024, discardBytes: 64 * 1024 * 1024 };
/** Bytes reserved by bodies being buffered now, every request together. */
let inflightBytes = 0;
/** Accumulation buffers allocated since start (tests check that 1-byte chunks do not each copy). */
let allocations = 0;

export function configureBodyLimits(maxInflightBytes: number, discardBytes: number): void {
  limits.maxInflightBytes = maxInflightBytes;
  limits.discardBytes = discardBytes;
}

export function bodyBufferStats(): { inflightBytes: number; allocations: number } {
  return { inflightBytes, allocations };
}

interface Refusal { code: ErrorCode; message: string; field: string | undefined }

export abstract class BodyRequest {
  done = false;
  aborted = false;
  protected readonly msgpack: boolean;
  private readonly kind: BodyKind;
  private readonly framingError: boolean;
  /** The body so far, when it comes in more than one chunk: one buffer, grown by doubling (or sized by Content-Length). */
  private buf: Buffer | null = null;
  private size = 0;
  /** Bytes of inflightBytes this request holds. */
  private reserved = 0;
  /** Content-Length, or -1 when not sent. */
  private declared = -1;
  /** Set when the body is refused: the rest of it is read and dropped, then this is answered. */
  private refusal: Refusal | null = null;
  private discarded = 0;

  constructor(protected readonly res: HttpResponse, req: HttpRequest, private readonly maxBodyBytes: number) {
    this.msgpack = wantsMsgpack(req.getHeader('accept'));
    this.kind = bodyKindOf(req.getHeader('content-type'));
    this.framingError = repeatsContentLength(req);
  }

  /** Registers onAborted and onData; call straight from the uWS handler. */
  start(contentLength: string): void {
    this.res.onAborted(() => this.abort());
    if (this.framingError) {
      // Where this body ends is ambiguous: nothing after it on the connection can be trusted. Close.
      this.failRequest('invalid_request', 'more than one Content-Length header', -1, 'content-length', true);
      return;
    }
    if (contentLength.length !== 0) this.declared = Number(contentLength);
    if (this.kind === BodyKind.Unsupported) {
      if (!this.refuse('unsupported_media_type', `send ${ACCEPTED_BODY_TYPES}`)) return;
    } else if (this.declared > this.maxBodyBytes) {
      if (!this.refuse('payload_too_large', `the body exceeds ${this.maxBodyBytes} bytes (MAX_BODY_BYTES)`)) return;
    } else if (this.declared > 0) {
      // Reserved now, before any byte arrives: 2,000 uploads that each declared 1 MiB are 2 GB to come.
      if (inflightBytes + this.declared > limits.maxInflightBytes) {
        if (!this.refuse('overloaded', OVERLOADED)) return;
      } else {
        inflightBytes += this.declared;
        this.reserved = this.declared;
      }
    }
    this.res.onData((chunk, isLast) => this.onChunk(chunk, isLast));
  }

  abort(): void {
    this.aborted = true;
    this.done = true;
    this.release();
  }

  /**
   * Refuses the body. Closing while the client still sends makes its socket
   * fail (EPIPE/ECONNRESET) before it reads the answer, so the rest of the
   * body, up to DISCARD_BODY_BYTES, is read and dropped first and the answer
   * follows it (lingering close). False when it was answered at once.
   */
  private refuse(code: ErrorCode, message: string, field?: string): boolean {
    this.release();
    this.buf = null;
    if (this.declared > this.size + limits.discardBytes) {
      this.failRequest(code, message, -1, field, true);
      return false;
    }
    this.refusal = { code, message, field };
    this.discarded = this.size;
    return true;
  }

  private onChunk(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.done) return;
    const n = chunk.byteLength;
    if (this.refusal !== null) {
      this.discarded += n;
      if (isLast || this.discarded > limits.discardBytes) this.failRequest(this.refusal.code, this.refusal.message, -1, this.refusal.field, true);
      return;
    }
    const size = this.size + n;
    if (size > this.maxBodyBytes) {
      this.size = size;
      if (this.refuse('payload_too_large', `the body exceeds ${this.maxBodyBytes} bytes (MAX_BODY_BYTES)`) && isLast) this.onChunk(EMPTY, true);
      return;
    }
    if (isLast && this.buf === null) {
      // Whole body in one chunk: parse it in place, it is valid until we return.
      this.size = size;
      this.release();
      this.handleBody(Buffer.from(chunk));
      return;
    }
    if (this.buf === null || size > this.buf.length) {
      if (!this.grow(size)) {
        if (this.refuse('overloaded', OVERLOADED) && isLast) this.onChunk(EMPTY, true);
        return;
      }
    }
    this.buf!.set(new Uint8Array(chunk), this.size);
    this.size = size;
    if (isLast) {
      const body = this.buf!.subarray(0, size);
      this.buf = null;
      this.release();
      this.handleBody(body);
    }
  }

  /** A buffer for at least `need` bytes (Content-Length when known, else doubling), reserved against the global bound; false when the bound is reached. */
  private grow(need: number): boolean {
    const cap = this.declared >= need ? this.declared : Math.min(this.maxBodyBytes, Math.max(need, 16 * 1024, this.buf === null ? 0 : this.buf.length * 2));
    const more = cap - this.reserved;
    if (inflightBytes + more > limits.maxInflightBytes) return false;
    inflightBytes += more;
    this.reserved = cap;
    const next = Buffer.allocUnsafe(cap);
    allocations++;
    if (this.buf !== null) this.buf.copy(next, 0, 0, this.size);
    this.buf = next;
    return true;
  }

  private release(): void {
    inflightBytes -= this.reserved;
    this.reserved = 0;
  }

  private handleBody(body: Buffer): void {
    let value: unknown;
    try {
      value = decodeBody(this.kind, body);
    } catch (err) {
      this.failRequest('invalid_request', (err as Error).message, this.errorModel(), 'body');
      return;
    }
    try {
      this.handleValue(value);
    } catch (err) {
      if (err instanceof InvalidField) this.failRequest('invalid_request', err.message, this.errorModel(), err.field);
      else throw err;
    }
  }

  protected abstract handleValue(value: unknown): void;

  /** The model an error counts against, once known; -1 before. */
  protected errorModel(): number {
    return -1;
  }

  /** Counts the error (subclasses); the model index is -1 when none is known. */
  protected onError(_code: ErrorCode, _model: number): void {}

  protected failRequest(code: ErrorCode, message: string, model: number, field?: string, close = false): void {
    if (this.done) return;
    this.done = true;
    this.release();
    this.onError(code, model);
    sendError(this.res, code, message, this.msgpack, field, close);
  }
}
