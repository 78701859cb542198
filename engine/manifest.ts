// The model manifest: everything the engine needs to turn a raw prediction
// request into the model's input tensor and its output back into a CTR.
// Validated once at load time with precise messages, so the request path can
// trust it.
import { readFileSync } from 'node:fs';

/** Request fields a categorical feature can read. */
export const STRING_FIELDS = ['user_id', 'ad_id', 'device', 'placement'] as const;
export type StringField = (typeof STRING_FIELDS)[number];

/** One-hot over known categories plus a trailing "unknown" slot. Width: categories.length + 1. */
export interface OneHotFeature { kind: 'one_hot'; field: StringField; categories: string[] }
/**
 * An id mapped to one of `buckets` slots, one-hot. With `prefix`, an id of the
 * form prefix + decimal digits (at most 9) maps to number % buckets; any other
 * id maps to fnv1a32(id) % buckets. Width: buckets.
 */
export interface BucketFeature { kind: 'bucket'; field: StringField; buckets: number; prefix?: string }
/** A learned per-value number (e.g. an ad's historical CTR), `default` when absent. Width 1. */
export interface LookupFeature { kind: 'lookup'; field: StringField; table: Record<string, number>; default: number }
/**
 * A numeric `context` field. Missing → `default`; present but outside
 * [min, max] → the request is invalid. transform "cyclic" emits
 * sin(2πx/period), cos(2πx/period) (width 2); otherwise the raw value (width 1).
 */
export interface NumericFeature {
  kind: 'numeric'; field: string; default: number; min?: number; max?: number;
  transform?: 'none' | 'cyclic'; period?: number;
}
export type FeatureSpec = OneHotFeature | BucketFeature | LookupFeature | NumericFeature;

export interface ModelManifest {
  name: string;
  version: string;
  description?: string;
  /** ONNX file, relative to the manifest's folder. */
  file: string;
  input: { name: string; dtype: 'float32'; shape: [number, number] };
  /** `column` picks one column of a [batch, k] output (default 0); `kind` says whether to apply a sigmoid. */
  output: { name: string; kind: 'probability' | 'logit'; column?: number };
  features: FeatureSpec[];
}

export function featureWidth(f: FeatureSpec): number {
  switch (f.kind) {
    case 'one_hot': return f.categories.length + 1;
    case 'bucket': return f.buckets;
    case 'lookup': return 1;
    case 'numeric': return f.transform === 'cyclic' ? 2 : 1;
  }
}

export function encodedWidth(m: ModelManifest): number {
  let w = 0;
  for (const f of m.features) w += featureWidth(f);
  return w;
}

const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;

function fail(where: string, msg: string): never {
  throw new TypeError(`manifest ${where}: ${msg}`);
}
function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function finite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Validates an already-parsed manifest; throws a TypeError naming the bad field. */
export function validateManifest(raw: unknown, where = '<inline>'): ModelManifest {
  if (!isObj(raw)) fail(where, 'must be a JSON object');
  const m = raw as Record<string, unknown>;
  if (typeof m.name !== 'string' || !NAME_RE.test(m.name)) fail(where, `"name" must match ${NAME_RE}`);
  if (typeof m.version !== 'string' || m.version.length === 0 || m.version.length > 64) fail(where, '"version" must be a non-empty string');
  if (typeof m.file !== 'string' || m.file.length === 0) fail(where, '"file" must name the ONNX file');
  const input = m.input;
  if (!isObj(input) || typeof input.name !== 'string') fail(where, '"input.name" must be a string');
  if (input.dtype !== 'float32') fail(where, '"input.dtype" must be "float32"');
  if (!Array.isArray(input.shape) || input.shape.length !== 2 || !Number.isInteger(input.shape[1]) || (input.shape[1] as number) < 1) {
    fail(where, '"input.shape" must be [-1, width]');
  }
  const output = m.output;
  if (!isObj(output) || typeof output.name !== 'string') fail(where, '"output.name" must be a string');
  if (output.kind !== 'probability' && output.kind !== 'logit') fail(where, '"output.kind" must be "probability" or "logit"');
  if (output.column !== undefined && (!Number.isInteger(output.column) || (output.column as number) < 0)) fail(where, '"output.column" must be a non-negative integer');
  if (!Array.isArray(m.features) || m.features.length === 0) fail(where, '"features" must be a non-empty array');
  m.features.forEach((f: unknown, i: number) => validateFeature(f, `${where} features[${i}]`));
  const manifest = raw as unknown as ModelManifest;
  const width = encodedWidth(manifest);
  if (width !== manifest.input.shape[1]) fail(where, `features encode ${width} columns but input.shape[1] is ${manifest.input.shape[1]}`);
  return manifest;
}

function validateFeature(f: unknown, where: string): void {
  if (!isObj(f)) fail(where, 'must be an object');
  const stringField = () => {
    if (!(STRING_FIELDS as readonly unknown[]).includes(f.field)) fail(where, `"field" must be one of ${STRING_FIELDS.join(', ')}`);
  };
  switch (f.kind) {
    case 'one_hot':
      stringField();
      if (!Array.isArray(f.categories) || !f.categories.every((c) => typeof c === 'string')) fail(where, '"categories" must be strings');
      if (new Set(f.categories).size !== f.categories.length) fail(where, '"categories" must be distinct');
      return;
    case 'bucket':
      stringField();
      if (!Number.isInteger(f.buckets) || (f.buckets as number) < 1 || (f.buckets as number) > 1 << 20) fail(where, '"buckets" must be an integer in [1, 2^20]');
      if (f.prefix !== undefined && typeof f.prefix !== 'string') fail(where, '"prefix" must be a string');
      return;
    case 'lookup':
      stringField();
      if (!isObj(f.table) || !Object.values(f.table).every(finite)) fail(where, '"table" must map strings to finite numbers');
      if (!finite(f.default)) fail(where, '"default" must be a finite number');
      return;
    case 'numeric':
      if (typeof f.field !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(f.field)) fail(where, '"field" must be an identifier');
      if (!finite(f.default)) fail(where, '"default" must be a finite number');
      if (f.min !== undefined && !finite(f.min)) fail(where, '"min" must be finite');
      if (f.max !== undefined && !finite(f.max)) fail(where, '"max" must be finite');
      if (f.transform !== undefined && f.transform !== 'none' && f.transform !== 'cyclic') fail(where, '"transform" must be "none" or "cyclic"');
      if (f.transform === 'cyclic' && (!finite(f.period) || (f.period as number) <= 0)) fail(where, '"period" must be > 0 for a cyclic transform');
      return;
    default:
      fail(where, `unknown feature kind ${JSON.stringify(f.kind)}`);
  }
}

export function readManifest(path: string): ModelManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new TypeError(`manifest ${path}: ${(err as Error).message}`);
  }
  return validateManifest(raw, path);
}
