// Request → one row of the model's float32 input, written in place into a
// batch buffer. Compiled once per manifest into flat steps (column offset,
// the field's object path, precomputed Maps and the columns an absent field
// writes), so encoding a row is a few property reads, Map lookups and stores.
// The request was checked against the model's RequestSchema first
// (engine/request_schema.ts), so every present value has its declared type.
import { fnv1a32 } from './feature_hash.js';
import { encodedWidth, fieldPath, fieldValue, type FieldSpec, type ModelManifest } from './manifest.js';

/** A request body as parsed (JSON or msgpack, a plain object); encoding reads the fields the manifest declares. */
export type PredictFields = object;

const enum Step { OneHot, Bucket, Lookup, Number, Boolean, Cyclic, IdPattern }

interface CompiledStep {
  step: Step;
  /** The field's object ("context" of "context.hour"), or null for a top-level field. */
  parent: string | null;
  key: string;
  offset: number;
  /** One-hot kinds: the column an absent field sets (relative to offset), -1 for none. */
  missingCol: number;
  /** Value kinds: what an absent field writes (the default encoded, or NaN). */
  missing: number;
  missing2: number;
  index: Map<string, number> | null;
  /** one_hot: the column of an unknown category, -1 for all zeros (a rejecting one-hot never sees one). */
  unknown: number;
  buckets: number;
  prefix: string | undefined;
  table: Map<string, number> | null;
  fallback: number;
  period: number;
  pattern: RegExp | null;
  modulo: number;
}

/** Parses prefix + up to 9 decimal digits; -1 when the id has another form. */
export function parsePrefixedId(id: string, prefix: string): number {
  const n = id.length - prefix.length;
  if (n < 1 || n > 9 || !id.startsWith(prefix)) return -1;
  let v = 0;
  for (let i = prefix.length; i < id.length; i++) {
    const c = id.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

export function bucketOf(id: string, buckets: number, prefix: string | undefined): number {
  if (prefix !== undefined) {
    const n = parsePrefixedId(id, prefix);
    if (n >= 0) return n % buckets;
  }
  return fnv1a32(id) % buckets;
}

/** The integer an id_pattern feature reads from `id`: its capture group (mod `modulo`), NaN when it does not match. */
export function idPatternValue(id: string, pattern: RegExp, modulo: number): number {
  const m = pattern.exec(id);
  if (m === null || m[1] === undefined || m[1] === '') return NaN;
  const v = Number(m[1]);
  if (!Number.isInteger(v)) return NaN;
  return modulo > 0 ? v % modulo : v;
}

function cyclic(v: number, period: number): [number, number] {
  const a = (2 * Math.PI * v) / period;
  return [Math.sin(a), Math.cos(a)];
}

export class FeatureEncoder {
  readonly width: number;
  private readonly steps: CompiledStep[];

  constructor(manifest: ModelManifest) {
    this.width = encodedWidth(manifest);
    const fields = new Map<string, FieldSpec>(manifest.fields.map((f) => [f.name, f]));
    const steps: CompiledStep[] = [];
    let offset = 0;
    for (const f of manifest.features) {
      const [parent, key] = fieldPath(f.field);
      const d = fields.get(f.field)?.default;
      const s: CompiledStep = {
        step: Step.Number, parent, key, offset, missingCol: -1, missing: NaN, missing2: NaN, index: null, unknown: -1,
        buckets: 0, prefix: undefined, table: null, fallback: 0, period: 1, pattern: null, modulo: 0,
      };
      switch (f.kind) {
        case 'one_hot':
          s.step = Step.OneHot;
          s.index = new Map(f.categories.map((c, i) => [c, i]));
          s.unknown = f.unknown === 'other' ? f.categories.length : -1;
          if (typeof d === 'string') s.missingCol = s.index.get(d) ?? s.unknown;
          break;
        case 'bucket':
          s.step = Step.Bucket;
          s.buckets = f.buckets;
          s.prefix = f.prefix;
          if (typeof d === 'string') s.missingCol = bucketOf(d, f.buckets, f.prefix);
          break;
        case 'lookup':
          s.step = Step.Lookup;
          s.table = new Map(Object.entries(f.table));
          s.fallback = f.default;
          s.missing = typeof d === 'string' ? s.table.get(d) ?? f.default : f.default;
          break;
        case 'number':
          s.step = Step.Number;
          if (typeof d === 'number') s.missing = d;
          break;
        case 'boolean':
          s.step = Step.Boolean;
          if (typeof d === 'boolean') s.missing = d ? 1 : 0;
          break;
        case 'cyclic':
          s.step = Step.Cyclic;
          s.period = f.period;
          if (typeof d === 'number') [s.missing, s.missing2] = cyclic(d, f.period);
          break;
        case 'id_pattern':
          s.step = Step.IdPattern;
          s.pattern = new RegExp(f.pattern);
          s.modulo = f.modulo ?? 0;
          if (typeof d === 'string') s.missing = idPatternValue(d, s.pattern, s.modulo);
          break;
      }
      steps.push(s);
      offset += f.kind === 'one_hot' ? s.index!.size + (s.unknown === -1 ? 0 : 1) : f.kind === 'bucket' ? f.buckets : f.kind === 'cyclic' ? 2 : 1;
    }
    this.steps = steps;
  }

  /**
   * Writes one row at `out[row * width …]`. The row must be zeroed already
   * (fresh or reset buffers are), and `req` must have passed the model's
   * RequestSchema. Returns null (kept for callers that check it).
   */
  encodeInto(fields: PredictFields, out: Float32Array, row: number): null {
    const req = fields as Readonly<Record<string, unknown>>;
    const base = row * this.width;
    const steps = this.steps;
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i];
      const v = fieldValue(req, s.parent, s.key);
      const at = base + s.offset;
      if (v === undefined || v === null) {
        if (s.step === Step.OneHot || s.step === Step.Bucket) {
          if (s.missingCol !== -1) out[at + s.missingCol] = 1;
        } else {
          out[at] = s.missing;
          if (s.step === Step.Cyclic) out[at + 1] = s.missing2;
        }
        continue;
      }
      switch (s.step) {
        case Step.OneHot: {
          const k = s.index!.get(v as string);
          const col = k === undefined ? s.unknown : k;
          if (col !== -1) out[at + col] = 1;
          break;
        }
        case Step.Bucket:
          out[at + bucketOf(v as string, s.buckets, s.prefix)] = 1;
          break;
        case Step.Lookup: {
          const x = s.table!.get(v as string);
          out[at] = x === undefined ? s.fallback : x;
          break;
        }
        case Step.Number:
          out[at] = v as number;
          break;
        case Step.Boolean:
          out[at] = v === true ? 1 : 0;
          break;
        case Step.Cyclic: {
          const a = (2 * Math.PI * (v as number)) / s.period;
          out[at] = Math.sin(a);
          out[at + 1] = Math.cos(a);
          break;
        }
        case Step.IdPattern:
          out[at] = idPatternValue(v as string, s.pattern!, s.modulo);
          break;
      }
    }
    return null;
  }

  /** Convenience for tests and tools: one row in a fresh array. */
  encode(req: PredictFields): Float32Array {
    const out = new Float32Array(this.width);
    this.encodeInto(req, out, 0);
    return out;
  }
}
