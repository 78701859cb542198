// Per model, per request field the manifest reads: counts of what the field
// held, in a fixed shared-memory block the coordinator compares with the
// baseline (engine/coordinator/feature_drift.ts). Categories count per
// category plus "unknown"; ids (high-cardinality, hashed or bucketed features)
// count per hash bin; numbers count per bin of their range; every field counts
// "missing". One row in every `sample` is looked at (a countdown, no random
// draw), so the hot path pays a decrement for the others. One writer (the
// main thread, from the batcher), one reader, under the same seqlock as the
// label block.
import { fnv1a32 } from '../feature_hash.js';
import { fieldPath, fieldValue, type ModelManifest } from '../manifest.js';

export const ID_BINS = 64;
export const NUMBER_BINS = 32;

export type WatchedKind = 'category' | 'id' | 'number';

export interface WatchedField {
  name: string;
  kind: WatchedKind;
  /** Bin labels: the categories then "unknown"; "bin_k" for ids; the lower edge of each number bin. Then "missing". */
  bins: string[];
  /** Offset of the field's first bin in its model's segment. */
  offset: number;
  categories?: string[];
  min?: number;
  max?: number;
}

export interface WatchedModel { name: string; fields: WatchedField[]; length: number }

export interface FeatureWatchBuffers {
  models: WatchedModel[];
  seq: Int32Array;
  data: Float64Array;
  /** Offset of each model's segment. */
  offsets: number[];
}

/**
 * The request fields a manifest declares, once each, with how to count them:
 * a string one-hot encoded is counted per category (+ "unknown"); any other
 * string (an id) per hash bin; a boolean as false/true; a number per bin of
 * its declared range (±1e6 when it declares none).
 */
export function watchedFields(manifest: ModelManifest): WatchedField[] {
  const out: WatchedField[] = [];
  for (const f of manifest.fields) {
    const oneHot = manifest.features.find((x) => x.kind === 'one_hot' && x.field === f.name);
    if (f.type === 'string' && oneHot !== undefined && oneHot.kind === 'one_hot') {
      out.push({ name: f.name, kind: 'category', categories: [...oneHot.categories], bins: [...oneHot.categories, 'unknown', 'missing'], offset: 0 });
    } else if (f.type === 'boolean') {
      out.push({ name: f.name, kind: 'category', categories: ['false', 'true'], bins: ['false', 'true', 'unknown', 'missing'], offset: 0 });
    } else if (f.type === 'string') {
      out.push({ name: f.name, kind: 'id', bins: [...Array.from({ length: ID_BINS }, (_, i) => `bin_${i}`), 'missing'], offset: 0 });
    } else {
      const min = Number.isFinite(f.min) ? f.min! : -1e6, max = Number.isFinite(f.max) && f.max! > min ? f.max! : min + 2e6;
      const w = (max - min) / NUMBER_BINS;
      out.push({ name: f.name, kind: 'number', min, max, bins: [...Array.from({ length: NUMBER_BINS }, (_, i) => String(min + i * w)), 'missing'], offset: 0 });
    }
  }
  return out;
}

export function createFeatureWatchBuffers(models: { name: string; manifest: ModelManifest }[]): FeatureWatchBuffers {
  let total = 0;
  const offsets: number[] = [];
  const watched = models.map((m) => {
    const fields = watchedFields(m.manifest);
    let len = 0;
    for (const f of fields) { f.offset = len; len += f.bins.length; }
    offsets.push(total);
    total += len;
    return { name: m.name, fields, length: len };
  });
  return { models: watched, seq: new Int32Array(new SharedArrayBuffer(4)), data: new Float64Array(new SharedArrayBuffer(Math.max(1, total) * 8)), offsets };
}

const enum K { Category, Id, Number }

interface Compiled { kind: K; parent: string | null; field: string; at: number; index?: Map<string, number>; unknown?: number; missing: number; min?: number; scale?: number }

export class FeatureWatch {
  private readonly compiled: Compiled[][];
  private countdown: number;

  constructor(readonly buffers: FeatureWatchBuffers, readonly sample: number) {
    if (!Number.isInteger(sample) || sample < 1) throw new RangeError('feature watch: sample must be a positive integer');
    this.countdown = sample;
    this.compiled = buffers.models.map((m, i) => m.fields.map((f): Compiled => {
      const at = buffers.offsets[i] + f.offset;
      const missing = at + f.bins.length - 1;
      const [parent, field] = fieldPath(f.name);
      if (f.kind === 'category') return { kind: K.Category, parent, field, at, index: new Map(f.categories!.map((c, j) => [c, j])), unknown: f.categories!.length, missing };
      if (f.kind === 'id') return { kind: K.Id, parent, field, at, missing };
      return { kind: K.Number, parent, field, at, missing, min: f.min, scale: NUMBER_BINS / (f.max! - f.min!) };
    }));
  }

  /** Hot path: called for every row; looks at one in `sample`. */
  observe(model: number, fields: object): void {
    const row = fields as Readonly<Record<string, unknown>>;
    if (--this.countdown !== 0) return;
    this.countdown = this.sample;
    const d = this.buffers.data, seq = this.buffers.seq;
    const steps = this.compiled[model];
    Atomics.add(seq, 0, 1);
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i];
      const v = fieldValue(row, s.parent, s.field);
      if (s.kind === K.Number) {
        const raw = v;
        if (typeof raw !== 'number' || raw - raw !== 0) { d[s.missing]++; continue; }
        let b = Math.floor((raw - s.min!) * s.scale!);
        if (b < 0) b = 0; else if (b >= NUMBER_BINS) b = NUMBER_BINS - 1;
        d[s.at + b]++;
        continue;
      }
      if (v === undefined || v === null) { d[s.missing]++; continue; }
      if (s.kind === K.Category) {
        const k = s.index!.get(typeof v === 'string' ? v : String(v));
        d[s.at + (k === undefined ? s.unknown! : k)]++;
      } else {
        if (typeof v !== 'string' || v.length === 0) { d[s.missing]++; continue; }
        d[s.at + (fnv1a32(v, 0x77a1) % ID_BINS)]++;
      }
    }
    Atomics.add(seq, 0, 1);
  }
}
