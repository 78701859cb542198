// POST /feedback: click labels for earlier predictions, JSON or msgpack.
//   {"request_id": "…", "clicked": true}                      — the id a prediction answered with (a batch row's own id)
//   {"model": "…", "model_version": "…", "ctr": 0.021, "clicked": false}  — for callers that keep the prediction, not our id
//   {"feedback": [ …either form… ]}                             — a batch, at most MAX_BATCH_REQUESTS items
// Every item is validated before any is applied, so a 400 leaves nothing
// counted. Unknown, duplicate and expired ids are outcomes, not errors: the
// answer counts them ({"received", "accepted", "unknown", "duplicate",
// "expired", "unattributed"}), and the label ring never grows for them.
import type { FeedbackOutcome, PredictionLog } from '../engine/labels/prediction_log.js';
import { BodyRequest } from './body_request.js';
import { InvalidField } from './request_validation.js';
import { sendError, sendJson } from './respond.js';
import type { HttpRequestLike as HttpRequest, HttpResponseLike as HttpResponse, RouterLike } from './http_transport.js';

export interface FeedbackContext {
  labels: PredictionLog | null;
  maxBodyBytes: number;
  maxBatchRequests: number;
}

const MAX_ID = 256;

type Item =
  | { id: string; clicked: boolean }
  | { id: null; model: string; version: string; ctr: number; clicked: boolean };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

function validateItem(v: unknown, prefix: string): Item {
  const where = prefix === '' ? 'body' : prefix.slice(0, -1);
  if (!isObject(v)) throw new InvalidField(where, `'${where}' must be an object`);
  const clicked = v.clicked;
  if (typeof clicked !== 'boolean') throw new InvalidField(prefix + 'clicked', `field '${prefix}clicked' must be true or false`);
  const id = v.request_id;
  if (id !== undefined && id !== null) {
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID) {
      throw new InvalidField(prefix + 'request_id', `field '${prefix}request_id' must be a string of 1 to ${MAX_ID} characters`);
    }
    return { id, clicked };
  }
  const model = v.model;
  if (typeof model !== 'string' || model.length === 0 || model.length > MAX_ID) {
    throw new InvalidField(prefix + 'request_id', `field '${prefix}request_id' is required (or model, model_version and ctr)`);
  }
  const ver = v.model_version;
  if (!((typeof ver === 'string' && ver.length > 0 && ver.length <= MAX_ID) || (typeof ver === 'number' && Number.isFinite(ver)))) {
    throw new InvalidField(prefix + 'model_version', `field '${prefix}model_version' must be a non-empty string`);
  }
  const ctr = v.ctr;
  if (typeof ctr !== 'number' || !(ctr >= 0 && ctr <= 1)) throw new InvalidField(prefix + 'ctr', `field '${prefix}ctr' must be a number in [0, 1]`);
  return { id: null, model, version: String(ver), ctr, clicked };
}

class FeedbackRequest extends BodyRequest {
  constructor(res: HttpResponse, req: HttpRequest, private readonly ctx: FeedbackContext, private readonly labels: PredictionLog) {
    super(res, req, ctx.maxBodyBytes);
  }

  protected handleValue(value: unknown): void {
    let items: Item[];
    if (isObject(value) && Object.hasOwn(value, 'feedback')) {
      const list = value.feedback;
      if (!Array.isArray(list) || list.length === 0) throw new InvalidField('feedback', "field 'feedback' must be a non-empty array");
      if (list.length > this.ctx.maxBatchRequests) {
        this.failRequest('payload_too_large', `a feedback batch holds at most ${this.ctx.maxBatchRequests} items, got ${list.length}`, -1, 'feedback');
        return;
      }
      items = list.map((v, i) => validateItem(v, `feedback[${i}].`));
    } else {
      items = [validateItem(value, '')];
    }
    const counts: Record<FeedbackOutcome, number> = { accepted: 0, unknown: 0, duplicate: 0, expired: 0, unattributed: 0 };
    const labels = this.labels;
    // Windows that ended by now are closed first, so a late click is seen as late.
    const now = performance.now();
    labels.sweep(now);
    for (const it of items) {
      const out = it.id !== null ? labels.feedback(it.id, it.clicked, now) : labels.feedbackByValue(it.model, it.version, it.ctr, it.clicked);
      counts[out]++;
    }
    this.done = true;
    if (this.aborted) return;
    sendJson(this.res, 200, { received: items.length, ...counts }, this.msgpack);
  }
}

export function registerFeedbackRoutes(app: RouterLike, ctx: FeedbackContext): void {
  app.post('/feedback', (res, req) => {
    const labels = ctx.labels;
    if (labels === null) {
      const close = req.getHeader('content-length') !== '';
      sendError(res, 'not_found', 'feedback is off on this server (LABEL_CAPACITY=0)', req.getHeader('accept').includes('msgpack'), undefined, close);
      return;
    }
    new FeedbackRequest(res, req, ctx, labels).start(req.getHeader('content-length'));
  });
}
