// Validates prediction requests as they arrive (JSON or msgpack), naming the
// offending field in the 400 message. Returns the fields the encoder reads.
import type { PredictFields } from '../engine/feature_encoder.js';

export const MAX_ID_LENGTH = 256;

export interface ValidPredict extends PredictFields {
  model: string | undefined;
}

export class InvalidField extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

function str(obj: Record<string, unknown>, key: string, prefix: string): string {
  const v = obj[key];
  if (v === undefined || v === null) throw new InvalidField(prefix + key, `field '${prefix}${key}' is required`);
  if (typeof v !== 'string') throw new InvalidField(prefix + key, `field '${prefix}${key}' must be a string`);
  if (v.length === 0 || v.length > MAX_ID_LENGTH) throw new InvalidField(prefix + key, `field '${prefix}${key}' must be 1 to ${MAX_ID_LENGTH} characters`);
  return v;
}

/** `prefix` is '' for /predict_ctr and 'requests[i].' for batch items. */
export function validatePredict(body: unknown, prefix = ''): ValidPredict {
  if (!isPlainObject(body)) throw new InvalidField(prefix === '' ? 'body' : prefix.slice(0, -1), `${prefix === '' ? 'the body' : `'${prefix.slice(0, -1)}'`} must be an object`);
  const user_id = str(body, 'user_id', prefix);
  const ad_id = str(body, 'ad_id', prefix);
  const device = str(body, 'device', prefix);
  const placement = str(body, 'placement', prefix);
  const m = body.model;
  let model: string | undefined;
  if (m !== undefined && m !== null) {
    if (typeof m !== 'string' || m.length === 0) throw new InvalidField(prefix + 'model', `field '${prefix}model' must be a non-empty string`);
    model = m;
  }
  const c = body.context;
  let context: Record<string, unknown> | undefined;
  if (c !== undefined && c !== null) {
    if (!isPlainObject(c)) throw new InvalidField(prefix + 'context', `field '${prefix}context' must be an object`);
    context = c;
  }
  return { user_id, ad_id, device, placement, model, context };
}

/** The batch envelope: {"requests": [...]} with 1..max items. */
export function validateBatchEnvelope(body: unknown): unknown[] {
  if (!isPlainObject(body)) throw new InvalidField('body', 'the body must be an object with a "requests" array');
  const r = body.requests;
  if (!Array.isArray(r)) throw new InvalidField('requests', "field 'requests' must be an array");
  if (r.length === 0) throw new InvalidField('requests', "field 'requests' must hold at least one request");
  return r;
}
