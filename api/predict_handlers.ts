// POST /predict_ctr and POST /predict_ctr/batch.
//
// Each request is one object that reads its body, validates it, enqueues its
// rows and, as the batcher's RowOwner, writes the answer. Headers are read
// and onAborted registered synchronously in the uWS handler, before anything
// else can happen; the body is parsed straight from uWS's chunk when it
// arrives whole (no copy).
import type { Batcher, RowOwner } from '../engine/batcher.js';
import type { AbRouter } from '../engine/ab_router.js';
import type { ErrorCode } from '../engine/error_codes.js';
import type { LoadedModel, ModelRegistry } from '../engine/model_registry.js';
import { BodyKind, bodyKindOf, decodeBody, packr, wantsMsgpack } from './http_codec.js';
import { InvalidField, validateBatchEnvelope, validatePredict, type ValidPredict } from './request_validation.js';
import { JSON_TYPE, MSGPACK_TYPE, send, sendError } from './respond.js';
import type { ServingObserver } from './serving_observer.js';
import type { HttpRequest, HttpResponse } from './uws_loader.js';

export interface PredictContext {
  registry: ModelRegistry;
  router: AbRouter;
  batcher: Batcher;
  observer: ServingObserver;
  maxBodyBytes: number;
  maxBatchRequests: number;
  requestDeadlineMs: number;
}

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const ID_PREFIX = Math.floor(Math.random() * 0xffffffff).toString(36);
let idCounter = 0;

/** The client's X-Request-Id when it is safe to echo unescaped, else a fresh one. */
function requestIdFrom(header: string): string {
  if (header.length !== 0 && REQUEST_ID_RE.test(header)) return header;
  idCounter = (idCounter + 1) % Number.MAX_SAFE_INTEGER;
  return ID_PREFIX + '-' + idCounter.toString(36);
}

const roundMs = (ms: number) => Math.round(ms * 1000) / 1000;

/** Body reading shared by both endpoints. */
abstract class PostRequest implements RowOwner {
  done = false;
  aborted = false;
  readonly deadline: number;
  protected readonly msgpack: boolean;
  protected readonly requestId: string;
  private readonly kind: BodyKind;
  private chunks: Buffer[] | null = null;
  private size = 0;

  constructor(protected readonly res: HttpResponse, req: HttpRequest, protected readonly ctx: PredictContext, protected readonly started: number) {
    this.deadline = started + ctx.requestDeadlineMs;
    this.msgpack = wantsMsgpack(req.getHeader('accept'));
    this.requestId = requestIdFrom(req.getHeader('x-request-id'));
    this.kind = bodyKindOf(req.getHeader('content-type'));
  }

  abort(): void {
    this.aborted = true;
    this.done = true;
  }

  /** Answers at once when the headers already rule the request out; true if it did. */
  rejectEarly(contentLength: string): boolean {
    if (this.kind === BodyKind.Unsupported) {
      this.failRequest('unsupported_media_type', 'send application/json or application/msgpack', -1, undefined, true);
      return true;
    }
    if (contentLength.length !== 0 && Number(contentLength) > this.ctx.maxBodyBytes) {
      this.failRequest('payload_too_large', `the body exceeds ${this.ctx.maxBodyBytes} bytes`, -1, undefined, true);
      return true;
    }
    return false;
  }

  onChunk(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.done) return;
    this.size += chunk.byteLength;
    if (this.size > this.ctx.maxBodyBytes) {
      this.failRequest('payload_too_large', `the body exceeds ${this.ctx.maxBodyBytes} bytes`, -1, undefined, true);
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
      this.failRequest('invalid_request', (err as Error).message, -1, 'body');
      return;
    }
    try {
      this.handleValue(value);
    } catch (err) {
      if (err instanceof InvalidField) this.failRequest('invalid_request', err.message, -1, err.field);
      else throw err;
    }
  }

  protected abstract handleValue(value: unknown): void;
  abstract deliver(slot: number, ctr: number, model: LoadedModel): void;

  /** The batcher's failure path: the request's model is known by then. */
  fail(code: ErrorCode, message: string): void {
    this.failRequest(code, message, this.modelIndexForErrors());
  }

  protected modelIndexForErrors(): number {
    return -1;
  }

  protected failRequest(code: ErrorCode, message: string, model: number, field?: string, close = false): void {
    if (this.done) return;
    this.done = true;
    this.ctx.observer.requestFailed(model, code, 1);
    sendError(this.res, code, message, this.msgpack, field, close);
  }

  /** Resolves the model (explicit or A/B) and checks the row can be encoded; throws InvalidField. */
  protected resolve(p: ValidPredict, prefix: string): LoadedModel | string {
    const model = p.model === undefined ? this.ctx.router.route(p.user_id) : this.ctx.registry.get(p.model);
    if (model === undefined) return p.model!;
    const bad = model.encoder.checkContext(p);
    if (bad !== null) throw new InvalidField(prefix + bad, `field '${prefix}${bad}' must be a finite number within the model's range`);
    return model;
  }
}

export class SinglePrediction extends PostRequest {
  private model: LoadedModel | null = null;

  protected handleValue(value: unknown): void {
    const p = validatePredict(value);
    const model = this.resolve(p, '');
    if (typeof model === 'string') {
      this.failRequest('model_not_found', `field 'model': no model named ${JSON.stringify(model)} is loaded`, -1, 'model');
      return;
    }
    this.model = model;
    if (!this.ctx.batcher.hasRoom(model, 1)) {
      this.failRequest('overloaded', `model ${model.name} has too many requests waiting`, model.index);
      return;
    }
    this.ctx.batcher.enqueue(model, p, this, 0, this.started);
  }

  protected override modelIndexForErrors(): number {
    return this.model === null ? -1 : this.model.index;
  }

  deliver(_slot: number, ctr: number, model: LoadedModel): void {
    this.done = true;
    if (this.aborted) return;
    const e2e = performance.now() - this.started;
    if (this.msgpack) {
      send(this.res, 200, MSGPACK_TYPE, packr.pack({
        ctr, model: model.name, model_version: model.version, request_id: this.requestId, latency_ms: roundMs(e2e),
      }));
    } else {
      send(this.res, 200, JSON_TYPE,
        '{"ctr":' + ctr + model.jsonFragment + ',"request_id":"' + this.requestId + '","latency_ms":' + roundMs(e2e) + '}');
    }
    this.ctx.observer.rowsServed(model.index, 1, performance.now() - this.started);
  }
}

export class BatchPrediction extends PostRequest {
  private ctrs: Float64Array = new Float64Array(0);
  private models: LoadedModel[] = [];
  private remaining = 0;

  protected handleValue(value: unknown): void {
    const items = validateBatchEnvelope(value);
    const n = items.length;
    if (n > this.ctx.maxBatchRequests) {
      this.failRequest('payload_too_large', `a batch holds at most ${this.ctx.maxBatchRequests} requests, got ${n}`, -1, 'requests');
      return;
    }
    // Validate and route every item before enqueueing any, so a bad item
    // leaves nothing behind in the batchers.
    const valid: ValidPredict[] = new Array(n);
    const models: LoadedModel[] = new Array(n);
    const perModel = new Map<LoadedModel, number>();
    for (let i = 0; i < n; i++) {
      const prefix = `requests[${i}].`;
      const p = validatePredict(items[i], prefix);
      const model = this.resolve(p, prefix);
      if (typeof model === 'string') {
        this.failRequest('model_not_found', `field '${prefix}model': no model named ${JSON.stringify(model)} is loaded`, -1, prefix + 'model');
        return;
      }
      valid[i] = p;
      models[i] = model;
      perModel.set(model, (perModel.get(model) ?? 0) + 1);
    }
    for (const [model, rows] of perModel) {
      if (!this.ctx.batcher.hasRoom(model, rows)) {
        this.failRequest('overloaded', `model ${model.name} has too many requests waiting`, model.index);
        return;
      }
    }
    this.ctrs = new Float64Array(n);
    this.models = models;
    this.remaining = n;
    for (let i = 0; i < n; i++) this.ctx.batcher.enqueue(models[i], valid[i], this, i, this.started);
  }

  protected override modelIndexForErrors(): number {
    return this.models.length === 0 ? -1 : this.models[0].index;
  }

  deliver(slot: number, ctr: number): void {
    this.ctrs[slot] = ctr;
    if (--this.remaining !== 0) return;
    this.done = true;
    if (this.aborted) return;
    const e2e = performance.now() - this.started;
    const n = this.ctrs.length;
    if (this.msgpack) {
      const predictions = new Array(n);
      for (let i = 0; i < n; i++) predictions[i] = { ctr: this.ctrs[i], model: this.models[i].name, model_version: this.models[i].version };
      send(this.res, 200, MSGPACK_TYPE, packr.pack({ predictions, request_id: this.requestId, latency_ms: roundMs(e2e) }));
    } else {
      let body = '{"predictions":[';
      for (let i = 0; i < n; i++) body += (i === 0 ? '{"ctr":' : ',{"ctr":') + this.ctrs[i] + this.models[i].jsonFragment + '}';
      send(this.res, 200, JSON_TYPE, body + '],"request_id":"' + this.requestId + '","latency_ms":' + roundMs(e2e) + '}');
    }
    const done = performance.now() - this.started;
    for (let i = 0; i < n; i++) this.ctx.observer.rowsServed(this.models[i].index, 1, done);
  }
}

export function registerPredictRoutes(app: import('./uws_loader.js').TemplatedApp, ctx: PredictContext): void {
  app.post('/predict_ctr', (res, req) => {
    const p = new SinglePrediction(res, req, ctx, performance.now());
    res.onAborted(() => p.abort());
    if (p.rejectEarly(req.getHeader('content-length'))) return;
    res.onData((chunk, isLast) => p.onChunk(chunk, isLast));
  });
  app.post('/predict_ctr/batch', (res, req) => {
    const p = new BatchPrediction(res, req, ctx, performance.now());
    res.onAborted(() => p.abort());
    if (p.rejectEarly(req.getHeader('content-length'))) return;
    res.onData((chunk, isLast) => p.onChunk(chunk, isLast));
  });
}
