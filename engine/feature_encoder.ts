// Raw request → one row of the model's float32 input, written in place into a
// batch buffer. Compiled once per manifest into flat steps with precomputed
// column offsets and Maps, so encoding a row is a few Map lookups and stores.
import { fnv1a32 } from './feature_hash.js';
import { encodedWidth, type ModelManifest, type StringField } from './manifest.js';

/** The request fields encoding reads; the API validates their types first. */
export interface PredictFields {
  user_id: string;
  ad_id: string;
  device: string;
  placement: string;
  context?: Record<string, unknown> | undefined;
}

const enum Step { OneHot, Bucket, Lookup, Numeric, Cyclic }

interface CompiledStep {
  step: Step;
  field: string;
  offset: number;
  index?: Map<string, number>;
  unknown?: number;
  buckets?: number;
  prefix?: string;
  table?: Map<string, number>;
  fallback?: number;
  min?: number;
  max?: number;
  period?: number;
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

export class FeatureEncoder {
  readonly width: number;
  private readonly steps: CompiledStep[];
  private readonly numericSteps: CompiledStep[];

  constructor(manifest: ModelManifest) {
    this.width = encodedWidth(manifest);
    const steps: CompiledStep[] = [];
    let offset = 0;
    for (const f of manifest.features) {
      switch (f.kind) {
        case 'one_hot':
          steps.push({ step: Step.OneHot, field: f.field, offset, index: new Map(f.categories.map((c, i) => [c, i])), unknown: f.categories.length });
          offset += f.categories.length + 1;
          break;
        case 'bucket':
          steps.push({ step: Step.Bucket, field: f.field, offset, buckets: f.buckets, prefix: f.prefix });
          offset += f.buckets;
          break;
        case 'lookup':
          steps.push({ step: Step.Lookup, field: f.field, offset, table: new Map(Object.entries(f.table)), fallback: f.default });
          offset += 1;
          break;
        case 'numeric': {
          const cyclic = f.transform === 'cyclic';
          steps.push({
            step: cyclic ? Step.Cyclic : Step.Numeric, field: f.field, offset, fallback: f.default,
            min: f.min ?? -Infinity, max: f.max ?? Infinity, period: f.period,
          });
          offset += cyclic ? 2 : 1;
          break;
        }
      }
    }
    this.steps = steps;
    this.numericSteps = steps.filter((s) => s.step === Step.Numeric || s.step === Step.Cyclic);
  }

  /**
   * Checks the numeric context fields without writing: null, or the name of
   * the first invalid one (`context.<name>`). A row that passes cannot fail
   * encodeInto.
   */
  checkContext(req: PredictFields): string | null {
    const ctx = req.context;
    if (ctx === undefined) return null;
    const steps = this.numericSteps;
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i];
      const raw = ctx[s.field];
      if (raw === undefined) continue;
      // raw - raw !== 0 rejects NaN and ±Infinity (msgpack can carry them)
      if (typeof raw !== 'number' || raw - raw !== 0 || raw < s.min! || raw > s.max!) return 'context.' + s.field;
    }
    return null;
  }

  /**
   * Writes one row at `out[row * width …]`. The row must be zeroed already
   * (fresh or reset buffers are). Returns null, or the name of the field that
   * made the row invalid (`context.<name>` out of range or not a number); in
   * that case the row's contents are unspecified and must be re-zeroed.
   */
  encodeInto(req: PredictFields, out: Float32Array, row: number): string | null {
    const base = row * this.width;
    const steps = this.steps;
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i];
      switch (s.step) {
        case Step.OneHot: {
          const k = s.index!.get(req[s.field as StringField]);
          out[base + s.offset + (k === undefined ? s.unknown! : k)] = 1;
          break;
        }
        case Step.Bucket:
          out[base + s.offset + bucketOf(req[s.field as StringField], s.buckets!, s.prefix)] = 1;
          break;
        case Step.Lookup: {
          const v = s.table!.get(req[s.field as StringField]);
          out[base + s.offset] = v === undefined ? s.fallback! : v;
          break;
        }
        case Step.Numeric:
        case Step.Cyclic: {
          let v = s.fallback!;
          const ctx = req.context;
          if (ctx !== undefined) {
            const raw = ctx[s.field];
            if (raw !== undefined) {
              // raw - raw !== 0 rejects NaN and ±Infinity (msgpack can carry them)
              if (typeof raw !== 'number' || raw - raw !== 0 || raw < s.min! || raw > s.max!) return 'context.' + s.field;
              v = raw;
            }
          }
          if (s.step === Step.Numeric) {
            out[base + s.offset] = v;
          } else {
            const a = (2 * Math.PI * v) / s.period!;
            out[base + s.offset] = Math.sin(a);
            out[base + s.offset + 1] = Math.cos(a);
          }
          break;
        }
      }
    }
    return null;
  }

  /** Convenience for tests and tools: one row in a fresh array. */
  encode(req: PredictFields): Float32Array {
    const out = new Float32Array(this.width);
    const bad = this.encodeInto(req, out, 0);
    if (bad !== null) throw new RangeError(`invalid ${bad}`);
    return out;
  }
}
