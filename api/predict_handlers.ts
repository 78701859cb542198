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
import type { PredictionLog } from '../engine/labels/prediction_log.js';
import { BodyRequest } from './body_request.js';
import { packr } from './http_codec.js';
import { explicitModel, validateBatchEnvelope, validateEnvelope, validateForModel } from './request_validation.js';
import { JSON_TYPE, MSGPACK_TYPE, send } from './respond.js';
import type { ServingObserver } from '../engine/serving_observer.js';
import type { HttpRequestLike as HttpRequest, HttpResponseLike as HttpResponse, RouterLike } from './http_transport.js';

export interface PredictContext {
  registry: ModelRegistry;
  router: AbRouter;
  batcher: Batcher;
  observer: ServingObserver;
  maxBodyBytes: number;
  maxBatchRequests: number;
  requestDeadlineMs: number;
  /**
   * Recent predictions kept for click feedback (POST /feedback); null when
   * labels are off. On an acceptor thread (ACCEPTORS > 1) it hands them to
   * the main thread's log (api/acceptors/label_forwarder.ts).
   */
  labels: Pick<PredictionLog, 'record'> | null;
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

/** What both prediction endpoints share: deadline, request id, the batcher's failure path. */
abstract class PredictRequest extends BodyRequest implements RowOwner {
  readonly deadline: number;
  protected readonly requestId: string;

  constructor(res: HttpResponse, req: HttpRequest, protected readonly ctx: PredictContext, protected readonly started: number) {
    super(res, req, ctx.maxBodyBytes);
    this.deadline = started + ctx.requestDeadlineMs;
    this.requestId = requestIdFrom(req.getHeader('x-request-id'));
  }

  abstract deliver(slot: number, ctr: number, model: LoadedModel): void;

  /** The batcher's failure path: the request's model is known by then. */
  fail(code: ErrorCode, message: string): void {
    this.failRequest(code, message, this.errorModel());
  }

  /** Predictions this request stood for, so errors and successes count in the same unit. */
  protected rowCount(): number {
    return 1;
  }

  protected override onError(code: ErrorCode, model: number): void {
    this.ctx.observer.requestFailed(model, code, this.rowCount());
  }

  /** Resolves the model: the explicit one, or the A/B router's pick by routing key. The name when no such model is loaded. */
  protected resolve(body: Record<string, unknown>): LoadedModel | string {
    const name = explicitModel(body);
    const model = name === undefined ? this.ctx.router.routeRequest(body) : this.ctx.registry.get(name);
    return model === undefined ? name! : model;
  }
}

export class SinglePrediction extends PredictRequest {
  private model: LoadedModel | null = null;
  /** Label variant: 0 routed by A/B, 1 named by the caller (engine/labels/quality_layout.ts). */
  private variant = 0;

  protected handleValue(value: unknown): void {
    validateEnvelope(value);
    const p = value;
    this.variant = p.model === undefined ? 0 : 1;
    const model = this.resolve(p);
    if (typeof model === 'string') {
      this.failRequest('model_not_found', `field 'model': no model named ${JSON.stringify(model)} is loaded`, -1, 'model');
      return;
    }
    this.model = model;
    if (model.failure !== undefined) {
      this.failRequest('not_ready', `model ${model.name} failed to load: ${model.failure}`, model.index);
      return;
    }
    // Known by now, so a field error counts against the model.
    validateForModel(model, p, '');
    if (!this.ctx.batcher.hasRoom(model, 1)) {
      this.failRequest('overloaded', `model ${model.name} has too many requests waiting`, model.index);
      return;
    }
    this.ctx.batcher.enqueue(model, p, this, 0, this.started);
  }

  protected override errorModel(): number {
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
    const now = performance.now();
    this.ctx.observer.rowsServed(model.index, 1, now - this.started);
    // Held for its click: the id it answered with is the feedback key.
    if (this.ctx.labels !== null) this.ctx.labels.record(this.requestId, model.index, this.variant, ctr, now);
  }
}

// How a failed batch counts (README, "Errors"): one error per item, the unit
// a successful batch counts in, so requests = successes + errors holds in rows.
// Once every item is routed, each counts under its own model; when item i is
// refused, all count under the model item i names (or would be routed to),
// else the first item's that resolved, else `unrouted`.
export class BatchPrediction extends PredictRequest {
  private ctrs: Float64Array = new Float64Array(0);
  private models: LoadedModel[] = [];
  private variants: Uint8Array = new Uint8Array(0);
  private remaining = 0;
  /** The batch's items once its envelope parsed; `at` the one being validated. */
  private items: readonly unknown[] = [];
  private at = -1;
  private firstModel: LoadedModel | null = null;

  protected handleValue(value: unknown): void {
    const items = validateBatchEnvelope(value);
    this.items = items;
    const n = items.length;
    if (n > this.ctx.maxBatchRequests) {
      this.failRequest('payload_too_large', `a batch holds at most ${this.ctx.maxBatchRequests} requests, got ${n}`, -1, 'requests');
      return;
    }
    // Validate and route every item before enqueueing any, so a bad item
    // leaves nothing behind in the batchers.
    const valid: Record<string, unknown>[] = new Array(n);
    const models: LoadedModel[] = new Array(n);
    const perModel = new Map<LoadedModel, number>();
    for (let i = 0; i < n; i++) {
      const prefix = `requests[${i}].`;
      this.at = i;
      const p = items[i];
      validateEnvelope(p, prefix);
      const model = this.resolve(p);
      if (typeof model === 'string') {
        this.failRequest('model_not_found', `field '${prefix}model': no model named ${JSON.stringify(model)} is loaded`, this.errorModel(), prefix + 'model');
        return;
      }
      this.firstModel ??= model;
      if (model.failure !== undefined) {
        this.failRequest('not_ready', `field '${prefix}model': model ${model.name} failed to load: ${model.failure}`, model.index, prefix + 'model');
        return;
      }
      validateForModel(model, p, prefix);
      valid[i] = p;
      models[i] = model;
      perModel.set(model, (perModel.get(model) ?? 0) + 1);
    }
    this.models = models;
    for (const [model, rows] of perModel) {
      if (!this.ctx.batcher.hasRoom(model, rows)) {
        this.failRequest('overloaded', `model ${model.name} has too many requests waiting`, model.index);
        return;
      }
    }
    this.ctrs = new Float64Array(n);
    this.models = models;
    this.variants = new Uint8Array(n);
    for (let i = 0; i < n; i++) this.variants[i] = valid[i].model === undefined ? 0 : 1;
    this.remaining = n;
    for (let i = 0; i < n; i++) this.ctx.batcher.enqueue(models[i], valid[i], this, i, this.started);
  }

  protected override errorModel(): number {
    if (this.models.length !== 0) return this.models[0].index;
    const item = this.items[this.at] as Record<string, unknown> | null | undefined;
    let m: LoadedModel | undefined;
    if (typeof item === 'object' && item !== null && !Array.isArray(item)) {
      if (typeof item.model === 'string') m = this.ctx.registry.get(item.model);
      // Only a row that carries its routing key has a model it would be routed to (without one, routing is random).
      else if (item[this.ctx.router.routingKey] !== undefined) m = this.ctx.router.routeRequest(item);
    }
    m ??= this.firstModel ?? undefined;
    return m === undefined ? -1 : m.index;
  }

  protected override rowCount(): number {
    return Math.max(1, this.items.length);
  }

  protected override onError(code: ErrorCode, model: number): void {
    const models = this.models;
    if (models.length === 0) {
      this.ctx.observer.requestFailed(model, code, this.rowCount());
      return;
    }
    const perModel = new Int32Array(this.ctx.registry.models.length);
    for (let i = 0; i < models.length; i++) perModel[models[i].index]++;
    for (let m = 0; m < perModel.length; m++) if (perModel[m] !== 0) this.ctx.observer.requestFailed(m, code, perModel[m]);
  }

  deliver(slot: number, ctr: number): void {
    this.ctrs[slot] = ctr;
    if (--this.remaining !== 0) return;
    this.done = true;
    if (this.aborted) return;
    const e2e = performance.now() - this.started;
    const n = this.ctrs.length;
    // Each row has an id of its own for POST /feedback: the request's id, '.', the row's position.
    const rowId = this.requestId + '.';
    if (this.msgpack) {
      const predictions = new Array(n);
      for (let i = 0; i < n; i++) predictions[i] = { ctr: this.ctrs[i], model: this.models[i].name, model_version: this.models[i].version, request_id: rowId + i };
      send(this.res, 200, MSGPACK_TYPE, packr.pack({ predictions, request_id: this.requestId, latency_ms: roundMs(e2e) }));
    } else {
      let body = '{"predictions":[';
      for (let i = 0; i < n; i++) body += (i === 0 ? '{"ctr":' : ',{"ctr":') + this.ctrs[i] + this.models[i].jsonFragment + ',"request_id":"' + rowId + i + '"}';
      send(this.res, 200, JSON_TYPE, body + '],"request_id":"' + this.requestId + '","latency_ms":' + roundMs(e2e) + '}');
    }
    const labels = this.ctx.labels;
    if (labels !== null) {
      const now = performance.now();
      for (let i = 0; i < n; i++) labels.record(rowId + i, this.models[i].index, this.variants[i], this.ctrs[i], now);
    }
    const done = performance.now() - this.started;
    const perModel = new Int32Array(this.ctx.registry.models.length);
    for (let i = 0; i < n; i++) perModel[this.models[i].index]++;
    for (let m = 0; m < perModel.length; m++) if (perModel[m] !== 0) this.ctx.observer.rowsServed(m, perModel[m], done);
  }
}

export function registerPredictRoutes(app: RouterLike, ctx: PredictContext): void {
  app.post('/predict_ctr', (res, req) => {
    new SinglePrediction(res, req, ctx, performance.now()).start(req.getHeader('content-length'));
  });
  app.post('/predict_ctr/batch', (res, req) => {
    new BatchPrediction(res, req, ctx, performance.now()).start(req.getHeader('content-length'));
  });
}
