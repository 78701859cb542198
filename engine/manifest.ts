// The model manifest: the request schema a model accepts (`fields`) and how
// a request becomes the model's input row (`features`, column by column),
// plus the ONNX file's signature. Validated once at load with messages that
// name the file and the field, so the request path can trust it. Manifests
// written before `fields` existed (features over user_id, ad_id, device,
// placement and context.*) still load: their fields are derived.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';

export type FieldType = 'string' | 'number' | 'integer' | 'boolean';
export type FieldValue = string | number | boolean;

/** One request field. A dotted name ("context.hour") reads one nested object. */
export interface FieldSpec {
  name: string;
  type: FieldType;
  required: boolean;
  /** Used when the field is absent (or null); without one an absent field encodes as missing (NaN or zeros). */
  default?: FieldValue;
  min?: number;
  max?: number;
}

export type UnknownPolicy = 'zeros' | 'other' | 'reject';

/** Raw number (missing → NaN). Width 1. */
export interface NumberFeature { kind: 'number'; field: string }
/** true → 1, false → 0, missing → NaN. Width 1. */
export interface BooleanFeature { kind: 'boolean'; field: string }
/** sin(2πx/period), cos(2πx/period). Width 2. */
export interface CyclicFeature { kind: 'cyclic'; field: string; period: number }
/**
 * One column per category; `unknown` says what a value outside them does:
 * all zeros, a trailing "other" column (width + 1), or a 400. Missing → all zeros.
 */
export interface OneHotFeature { kind: 'one_hot'; field: string; categories: string[]; unknown: UnknownPolicy }
/** The pattern's one capture group as an integer (mod `modulo`); no match or missing → NaN. Width 1. */
export interface IdPatternFeature { kind: 'id_pattern'; field: string; pattern: string; modulo?: number }
/** A number per value (e.g. an ad's historical CTR), `default` for values not in the table. Width 1. */
export interface LookupFeature { kind: 'lookup'; field: string; table: Record<string, number>; default: number; file?: string }
/**
 * An id mapped to one of `buckets` slots, one-hot. With `prefix`, an id of the
 * form prefix + decimal digits (at most 9) maps to number % buckets; any other
 * id maps to fnv1a32(id) % buckets. Missing → all zeros. Width: buckets.
 */
export interface BucketFeature { kind: 'bucket'; field: string; buckets: number; prefix?: string }
export type FeatureSpec = NumberFeature | BooleanFeature | CyclicFeature | OneHotFeature | IdPatternFeature | LookupFeature | BucketFeature;

export interface ModelManifest {
  name: string;
  version: string;
  description?: string;
  /** ONNX file, relative to the manifest's folder (and inside MODELS_DIR). */
  file: string;
  input: { name: string; dtype: 'float32'; shape: [number, number] };
  /** `column` picks one column of a [batch, k] output (default 0); `kind` says whether to apply a sigmoid. */
  output: { name: string; kind: 'probability' | 'logit'; column?: number };
  /** The request field A/B routing hashes for stickiness (default "user_id"). */
  routing_key: string;
  fields: FieldSpec[];
  features: FeatureSpec[];
  /** "fields" when the manifest declared its fields, "derived" for the older format. */
  format: 'fields' | 'derived';
}

/** Strings are 1 to this many characters. */
export const MAX_STRING_LENGTH = 256;
export const DEFAULT_ROUTING_KEY = 'user_id';

export function featureWidth(f: FeatureSpec): number {
  switch (f.kind) {
    case 'one_hot': return f.categories.length + (f.unknown === 'other' ? 1 : 0);
    case 'bucket': return f.buckets;
    case 'cyclic': return 2;
    default: return 1;
  }
}

export function encodedWidth(m: { features: readonly FeatureSpec[] }): number {
  let w = 0;
  for (const f of m.features) w += featureWidth(f);
  return w;
}

/** A field name's object path: "context.hour" → ["context", "hour"], "device" → [null, "device"]. */
export function fieldPath(name: string): [string | null, string] {
  const dot = name.indexOf('.');
  return dot === -1 ? [null, name] : [name.slice(0, dot), name.slice(dot + 1)];
}

/** The value of field `key` (under `parent` when the name was dotted) in a parsed body; undefined when absent. */
export function fieldValue(body: Readonly<Record<string, unknown>>, parent: string | null, key: string): unknown {
  if (parent === null) return body[key];
  const o = body[parent];
  // A parent that is not an object holds no field (a string's "length" is not one).
  return typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[key] : undefined;
}

const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const FIELD_RE = /^[A-Za-z_][A-Za-z0-9_-]{0,63}(\.[A-Za-z_][A-Za-z0-9_-]{0,63})?$/;
/** Request keys the engine itself reads. */
const RESERVED = new Set(['model']);
const FIELD_TYPES: readonly FieldType[] = ['string', 'number', 'integer', 'boolean'];
/** Which field types each encoder reads. */
const READS: Record<FeatureSpec['kind'], readonly FieldType[]> = {
  number: ['number', 'integer'], boolean: ['boolean'], cyclic: ['number', 'integer'],
  one_hot: ['string'], id_pattern: ['string'], lookup: ['string'], bucket: ['string'],
};

export class ManifestError extends TypeError {}

function fail(where: string, msg: string): never {
  throw new ManifestError(`manifest ${where}: ${msg}`);
}
function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function finite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Where lookup files are read from, and the folder they must stay inside. */
export interface ManifestFiles {
  /** The manifest's folder: `file` and lookup files are relative to it. */
  dir: string;
  /** MODELS_DIR: no path may resolve outside it. */
  root: string;
}

/**
 * Validates an already-parsed manifest; throws a ManifestError naming the
 * place (`where`) and the bad key. Lookup tables named by `file` are read
 * through `files` (without it only inline tables are allowed).
 */
export function validateManifest(raw: unknown, where = '<inline>', files?: ManifestFiles): ModelManifest {
  if (!isObj(raw)) fail(where, 'must be a JSON object');
  const m = raw;
  if (typeof m.name !== 'string' || !NAME_RE.test(m.name)) fail(where, `"name" must match ${NAME_RE}`);
  if (typeof m.version !== 'string' || m.version.length === 0 || m.version.length > 64) fail(where, '"version" must be a non-empty string');
  if (m.description !== undefined && typeof m.description !== 'string') fail(where, '"description" must be a string');
  if (typeof m.file !== 'string' || m.file.length === 0) fail(where, '"file" must name the ONNX file');
  if (files !== undefined) insideRoot(files, m.file, where, '"file"');
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

  let fields: FieldSpec[];
  let features: FeatureSpec[];
  let format: ModelManifest['format'];
  if (m.fields === undefined) {
    format = 'derived';
    ({ fields, features } = deriveOldFormat(m.features, where));
  } else {
    format = 'fields';
    if (!Array.isArray(m.fields) || m.fields.length === 0) fail(where, '"fields" must be a non-empty array');
    fields = m.fields.map((f: unknown, i: number) => validateField(f, `${where} fields[${i}]`));
    checkFieldNames(fields, where);
    const byName = new Map(fields.map((f) => [f.name, f]));
    features = m.features.map((f: unknown, i: number) => validateFeature(f, `${where} features[${i}]`, byName));
  }
  for (let i = 0; i < features.length; i++) {
    const f = features[i];
    if (f.kind === 'lookup' && f.file !== undefined) {
      if (files === undefined) fail(`${where} features[${i}]`, 'a lookup "file" needs the manifest read from disk');
      f.table = readLookupFile(files, f.file, `${where} features[${i}]`);
    }
  }
  const byName = new Map(fields.map((f) => [f.name, f]));
  checkRejectDefaults(features, byName, where);

  let routingKey = DEFAULT_ROUTING_KEY;
  if (m.routing_key !== undefined) {
    if (typeof m.routing_key !== 'string' || !FIELD_RE.test(m.routing_key) || fieldPath(m.routing_key).some((p) => p !== null && p in Object.prototype)) {
      fail(where, '"routing_key" must be a field name');
    }
    routingKey = m.routing_key;
  }
  const manifest: ModelManifest = {
    name: m.name, version: m.version, file: m.file,
    input: { name: input.name, dtype: 'float32', shape: [-1, input.shape[1] as number] },
    output: { name: output.name, kind: output.kind, ...(output.column === undefined ? {} : { column: output.column as number }) },
    routing_key: routingKey, fields, features, format,
    ...(m.description === undefined ? {} : { description: m.description }),
  };
  const width = encodedWidth(manifest);
  if (width !== manifest.input.shape[1]) fail(where, `features encode ${width} columns but input.shape[1] is ${manifest.input.shape[1]}`);
  return manifest;
}

function validateField(f: unknown, where: string): FieldSpec {
  if (!isObj(f)) fail(where, 'must be an object');
  if (typeof f.name !== 'string' || !FIELD_RE.test(f.name)) fail(where, '"name" must be a field name (letters, digits, _ and -, at most one dot for a nested object)');
  where = `${where} (${f.name})`;
  if (RESERVED.has(fieldPath(f.name)[0] ?? f.name)) fail(where, `"${f.name}" is reserved for the engine (the model a request asks for)`);
  // A parsed body inherits these names: an absent field would read as present.
  if (fieldPath(f.name).some((part) => part !== null && part in Object.prototype)) fail(where, `"${f.name}" names a built-in object property; choose another name`);
  const type = f.type as FieldType;
  if (!FIELD_TYPES.includes(type)) fail(where, `"type" must be one of ${FIELD_TYPES.join(', ')}`);
  if (f.required !== undefined && typeof f.required !== 'boolean') fail(where, '"required" must be true or false');
  const required = f.required === true;
  const out: FieldSpec = { name: f.name, type, required };
  for (const k of ['min', 'max'] as const) {
    if (f[k] === undefined) continue;
    if (type !== 'number' && type !== 'integer') fail(where, `"${k}" applies to number and integer fields only`);
    if (!finite(f[k])) fail(where, `"${k}" must be a finite number`);
    out[k] = f[k];
  }
  if (out.min !== undefined && out.max !== undefined && out.min > out.max) fail(where, '"min" is above "max"');
  if (f.default !== undefined && f.default !== null) {
    if (required) fail(where, 'a required field cannot have a "default"');
    const problem = checkValue(out, f.default);
    if (problem !== null) fail(where, `"default" ${problem}`);
    out.default = f.default as FieldValue;
  }
  return out;
}

/** null when `v` is a valid value of field `f`, else what was expected. The request path applies the same rules. */
export function checkValue(f: FieldSpec, v: unknown): string | null {
  switch (f.type) {
    case 'string':
      return typeof v === 'string' && v.length > 0 && v.length <= MAX_STRING_LENGTH ? null : `must be a string of 1 to ${MAX_STRING_LENGTH} characters`;
    case 'boolean':
      return typeof v === 'boolean' ? null : 'must be true or false';
    case 'number':
    case 'integer': {
      const ok = f.type === 'integer' ? Number.isInteger(v) : finite(v);
      if (ok && (f.min === undefined || (v as number) >= f.min) && (f.max === undefined || (v as number) <= f.max)) return null;
      return `must be ${describeNumber(f)}`;
    }
  }
}

/** "an integer in [0, 23]", "a finite number ≥ 0", … */
export function describeNumber(f: FieldSpec): string {
  const what = f.type === 'integer' ? 'an integer' : 'a finite number';
  if (f.min !== undefined && f.max !== undefined) return `${what} in [${f.min}, ${f.max}]`;
  if (f.min !== undefined) return `${what} >= ${f.min}`;
  if (f.max !== undefined) return `${what} <= ${f.max}`;
  return what;
}

function checkFieldNames(fields: FieldSpec[], where: string): void {
  const names = new Set<string>();
  const parents = new Set<string>();
  for (const f of fields) {
    if (names.has(f.name)) fail(where, `field "${f.name}" is declared twice`);
    names.add(f.name);
    const [parent] = fieldPath(f.name);
    if (parent !== null) parents.add(parent);
  }
  for (const p of parents) if (names.has(p)) fail(where, `field "${p}" is both a value and the object of "${p}.…" fields`);
}

function validateFeature(f: unknown, where: string, fields: Map<string, FieldSpec>): FeatureSpec {
  if (!isObj(f)) fail(where, 'must be an object');
  const kind = f.kind as FeatureSpec['kind'];
  if (!(kind in READS)) fail(where, `unknown feature kind ${JSON.stringify(f.kind)} (known: ${Object.keys(READS).join(', ')})`);
  if (typeof f.field !== 'string') fail(where, '"field" must name a declared field');
  const field = fields.get(f.field);
  if (field === undefined) fail(where, `"field" ${JSON.stringify(f.field)} is not declared in "fields"`);
  if (!READS[kind].includes(field.type)) fail(where, `a ${kind} feature reads a ${READS[kind].join(' or ')} field; "${field.name}" is ${field.type}`);
  switch (kind) {
    case 'number':
    case 'boolean':
      return { kind, field: field.name };
    case 'cyclic':
      if (!finite(f.period) || f.period <= 0) fail(where, '"period" must be a number > 0');
      return { kind, field: field.name, period: f.period };
    case 'one_hot': {
      const unknown = (f.unknown ?? 'zeros') as UnknownPolicy;
      if (unknown !== 'zeros' && unknown !== 'other' && unknown !== 'reject') fail(where, '"unknown" must be "zeros", "other" or "reject"');
      return { kind, field: field.name, categories: categories(f.categories, where), unknown };
    }
    case 'id_pattern': {
      if (typeof f.pattern !== 'string') fail(where, '"pattern" must be a regular expression with one capture group');
      let re: RegExp;
      try {
        re = new RegExp(f.pattern);
      } catch (err) {
        fail(where, `"pattern" is not a regular expression: ${(err as Error).message}`);
      }
      // An alternative that always matches reveals the group count.
      const groups = new RegExp(`${re.source}|`).exec('')!.length - 1;
      if (groups !== 1) fail(where, `"pattern" must have exactly one capture group (it has ${groups})`);
      if (f.modulo !== undefined && (!Number.isInteger(f.modulo) || (f.modulo as number) < 1)) fail(where, '"modulo" must be a positive integer');
      return { kind, field: field.name, pattern: f.pattern, ...(f.modulo === undefined ? {} : { modulo: f.modulo as number }) };
    }
    case 'lookup':
      return lookup(f, field.name, where);
    case 'bucket':
      return bucket(f, field.name, where);
  }
}

function categories(v: unknown, where: string): string[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((c) => typeof c === 'string')) fail(where, '"categories" must be a non-empty array of strings');
  if (new Set(v).size !== v.length) fail(where, '"categories" must be distinct');
  return v as string[];
}

function lookup(f: Record<string, unknown>, field: string, where: string): LookupFeature {
  if (!finite(f.default)) fail(where, '"default" must be a finite number (the value for keys not in the table)');
  if ((f.table === undefined) === (f.file === undefined)) fail(where, 'a lookup needs exactly one of "table" (inline) or "file" (a .json or .csv beside the model)');
  if (f.file !== undefined) {
    if (typeof f.file !== 'string' || !/\.(json|csv)$/i.test(f.file)) fail(where, '"file" must name a .json or .csv file');
    return { kind: 'lookup', field, table: {}, default: f.default, file: f.file };
  }
  if (!isObj(f.table) || !Object.values(f.table).every(finite)) fail(where, '"table" must map strings to finite numbers');
  return { kind: 'lookup', field, table: f.table as Record<string, number>, default: f.default };
}

function bucket(f: Record<string, unknown>, field: string, where: string): BucketFeature {
  if (!Number.isInteger(f.buckets) || (f.buckets as number) < 1 || (f.buckets as number) > 1 << 20) fail(where, '"buckets" must be an integer in [1, 2^20]');
  if (f.prefix !== undefined && typeof f.prefix !== 'string') fail(where, '"prefix" must be a string');
  return { kind: 'bucket', field, buckets: f.buckets as number, ...(f.prefix === undefined ? {} : { prefix: f.prefix as string }) };
}

/** A string field's default must be an allowed category of every one-hot that rejects unknowns. */
function checkRejectDefaults(features: FeatureSpec[], fields: Map<string, FieldSpec>, where: string): void {
  for (const f of features) {
    if (f.kind !== 'one_hot' || f.unknown !== 'reject') continue;
    const d = fields.get(f.field)!.default;
    if (d !== undefined && !f.categories.includes(d as string)) fail(where, `field "${f.field}": default ${JSON.stringify(d)} is not one of its categories`);
  }
}

/**
 * The older format: features over request fields with no declared schema. A
 * one_hot / bucket / lookup field is a required string; a "numeric" feature
 * reads the optional number context.<field> (default, min, max as it says)
 * and a one_hot has a trailing "unknown" column ("other").
 */
function deriveOldFormat(raw: unknown[], where: string): { fields: FieldSpec[]; features: FeatureSpec[] } {
  const fields = new Map<string, FieldSpec>();
  const declare = (spec: FieldSpec, at: string) => {
    const had = fields.get(spec.name);
    if (had === undefined) fields.set(spec.name, spec);
    else if (had.type !== spec.type || spec.type !== 'string') fail(at, `field "${spec.name}" is read by two numeric features`);
  };
  const features = raw.map((f: unknown, i: number): FeatureSpec => {
    const at = `${where} features[${i}]`;
    if (!isObj(f)) fail(at, 'must be an object');
    if (f.kind === 'numeric') {
      if (typeof f.field !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(f.field) || f.field in Object.prototype) fail(at, '"field" must be an identifier');
      if (!finite(f.default)) fail(at, '"default" must be a finite number');
      if (f.min !== undefined && !finite(f.min)) fail(at, '"min" must be finite');
      if (f.max !== undefined && !finite(f.max)) fail(at, '"max" must be finite');
      if (f.transform !== undefined && f.transform !== 'none' && f.transform !== 'cyclic') fail(at, '"transform" must be "none" or "cyclic"');
      const name = `context.${f.field}`;
      declare({
        name, type: 'number', required: false, default: f.default,
        ...(f.min === undefined ? {} : { min: f.min as number }), ...(f.max === undefined ? {} : { max: f.max as number }),
      }, at);
      if (f.transform === 'cyclic') {
        if (!finite(f.period) || f.period <= 0) fail(at, '"period" must be > 0 for a cyclic transform');
        return { kind: 'cyclic', field: name, period: f.period };
      }
      return { kind: 'number', field: name };
    }
    if (typeof f.field !== 'string' || !FIELD_RE.test(f.field) || f.field.includes('.') || RESERVED.has(f.field) || f.field in Object.prototype) {
      fail(at, '"field" must name a request field');
    }
    declare({ name: f.field, type: 'string', required: true }, at);
    switch (f.kind) {
      case 'one_hot': return { kind: 'one_hot', field: f.field, categories: categories(f.categories, at), unknown: 'other' };
      case 'bucket': return bucket(f, f.field, at);
      case 'lookup': return lookup(f, f.field, at);
      default: fail(at, `unknown feature kind ${JSON.stringify(f.kind)} (a manifest without "fields" knows one_hot, bucket, lookup, numeric)`);
    }
  });
  return { fields: [...fields.values()], features };
}

/** `rel` resolved against the manifest's folder; refused when it leaves MODELS_DIR. */
export function insideRoot(files: ManifestFiles, rel: string, where: string, what: string): string {
  const path = resolve(files.dir, rel);
  const back = relative(resolve(files.root), path);
  if (back === '' || back.startsWith('..') || isAbsolute(back)) fail(where, `${what} ${JSON.stringify(rel)} resolves outside MODELS_DIR (${files.root})`);
  return path;
}

/** A lookup table from a JSON object {key: number} or a CSV of key,value lines (an optional header line). */
function readLookupFile(files: ManifestFiles, rel: string, where: string): Record<string, number> {
  const path = insideRoot(files, rel, where, 'lookup "file"');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    fail(where, `lookup file ${rel} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const table: Record<string, number> = Object.create(null);
  if (/\.json$/i.test(rel)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      fail(where, `lookup file ${rel}: ${(err as Error).message}`);
    }
    if (!isObj(parsed)) fail(where, `lookup file ${rel} must hold a JSON object of key → number`);
    for (const [k, v] of Object.entries(parsed)) {
      if (!finite(v)) fail(where, `lookup file ${rel}: the value of ${JSON.stringify(k)} is not a finite number`);
      table[k] = v;
    }
    return table;
  }
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    const comma = line.lastIndexOf(',');
    const key = comma === -1 ? '' : unquote(line.slice(0, comma).trim());
    const value = comma === -1 ? NaN : Number(line.slice(comma + 1).trim());
    if (comma !== -1 && Number.isFinite(value) && line.slice(comma + 1).trim() !== '') {
      table[key] = value;
      continue;
    }
    // The first line may be a header (key,value).
    if (i === 0 && comma !== -1) continue;
    fail(where, `lookup file ${rel} line ${i + 1}: expected key,number`);
  }
  return table;
}

function unquote(s: string): string {
  return s.length >= 2 && s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1).replace(/""/g, '"') : s;
}

/** Reads and validates a manifest file; `modelsDir` (default: the folder above the manifest's) bounds every path it names. */
export function readManifest(path: string, modelsDir = resolve(dirname(path), '..')): ModelManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ManifestError(`manifest ${path}: ${(err as Error).message}`);
  }
  return validateManifest(raw, path, { dir: dirname(path), root: modelsDir });
}
