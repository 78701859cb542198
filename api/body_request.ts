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

export abstract class BodyRequest {
  done = false;
  aborted = false;
  protected readonly msgpack: boolean;
  private readonly kind: BodyKind;
  private chunks: Buffer[] | null = null;
  private size = 0;

  constructor(protected readonly res: HttpResponse, req: HttpRequest, private readonly maxBodyBytes: number) {
    this.msgpack = wantsMsgpack(req.getHeader('accept'));
    this.kind = bodyKindOf(req.getHeader('content-type'));
  }

  /** Registers onAborted and onData; call straight from the uWS handler. */
  start(contentLength: string): void {
    this.res.onAborted(() => this.abort());
    if (this.kind === BodyKind.Unsupported) {
      this.failRequest('unsupported_media_type', `send ${ACCEPTED_BODY_TYPES}`, -1, undefined, true);
      return;
    }
    if (contentLength.length !== 0 && Number(contentLength) > this.maxBodyBytes) {
      this.failRequest('payload_too_large', `the body exceeds ${this.maxBodyBytes} bytes (MAX_BODY_BYTES)`, -1, undefined, true);
      return;
    }
    this.res.onData((chunk, isLast) => this.onChunk(chunk, isLast));
  }

  abort(): void {
    this.aborted = true;
    this.done = true;
  }

  private onChunk(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.done) return;
    this.size += chunk.byteLength;
    if (this.size > this.maxBodyBytes) {
      this.failRequest('payload_too_large', `the body exceeds ${this.maxBodyBytes} bytes (MAX_BODY_BYTES)`, -1, undefined, true);
      return;
    }
    if (isLast && this.chunks === null) {
      // Whole body in one chunk: parse it in place, it is valid until we return.
      this.handleBody(Buffer.from(chunk));
      return;
    }
    (this.chunks ??= []).push(Buffer.from(chunk.slice(0)));
    if (isLast) {
      const body = Buffer.concat(this.chunks, this.size);
      this.chunks = null;
      this.handleBody(body);
    }
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
    this.onError(code, model);
    sendError(this.res, code, message, this.msgpack, field, close);
  }
}
