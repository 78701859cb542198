// Validates prediction requests as they arrive (JSON or msgpack), naming the
// offending field in the 400 message. The engine fields (`model`) are checked
// here; the model's own fields by its manifest's request schema
// (engine/request_schema.ts), so the model must be known first: the explicit
// `model`, else the A/B router's pick by routing key.
import type { LoadedModel } from '../engine/model_registry.js';

export class InvalidField extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/**
 * The engine's own checks: the body is an object, `model` (optional) a
 * non-empty string; throws InvalidField otherwise. `prefix` is '' for
 * /predict_ctr and 'requests[i].' for batch items.
 */
export function validateEnvelope(body: unknown, prefix = ''): asserts body is Record<string, unknown> {
  if (!isPlainObject(body)) throw new InvalidField(prefix === '' ? 'body' : prefix.slice(0, -1), `${prefix === '' ? 'the body' : `'${prefix.slice(0, -1)}'`} must be an object`);
  const m = body.model;
  if (m !== undefined && m !== null && (typeof m !== 'string' || m.length === 0)) {
    throw new InvalidField(prefix + 'model', `field '${prefix}model' must be a non-empty string`);
  }
}

/** The explicit model's name, undefined when the request leaves it to the A/B router. */
export function explicitModel(body: Record<string, unknown>): string | undefined {
  const m = body.model;
  return typeof m === 'string' ? m : undefined;
}

/** Checks the body against `model`'s request schema; throws InvalidField naming the field and what was expected. */
export function validateForModel(model: LoadedModel, body: Record<string, unknown>, prefix = ''): void {
  const problem = model.schema.check(body);
  if (problem !== null) throw new InvalidField(prefix + problem.field, `field '${prefix}${problem.field}' ${problem.expected} for model ${model.name}`);
}

/** The batch envelope: {"requests": [...]} with 1..max items. */
export function validateBatchEnvelope(body: unknown): unknown[] {
  if (!isPlainObject(body)) throw new InvalidField('body', 'the body must be an object with a "requests" array');
  const r = body.requests;
  if (!Array.isArray(r)) throw new InvalidField('requests', "field 'requests' must be an array");
  if (r.length === 0) throw new InvalidField('requests', "field 'requests' must hold at least one request");
  return r;
}
