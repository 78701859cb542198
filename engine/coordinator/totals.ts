// One model's cumulative figures, merged over every shard: a flat Float64Array
// (counters + histogram cells, which add and subtract cell by cell) plus the
// prediction moments (which combine by Chan's formula). Windows are the
// difference of two such states; the ring keeps them sparse.
import type { ShardReader } from '../telemetry/reader.js';
import {
  BATCH_CELLS, ERROR_CODES, LATENCY_CELLS, M_E2E_HIST, M_E2E_SUM_US, M_ERRORS, M_REQUESTS, M_SUCCESSES,
  PRED_BINS, W_BATCHES, W_BATCH_HIST, W_FAILED_BATCHES, W_FAILED_ROWS, W_INF_HIST, W_INF_SUM_US,
  W_PRED_BINS, W_PRED_M2, W_PRED_MAX, W_PRED_MEAN, W_PRED_MIN, W_PRED_N, W_QW_HIST, W_QW_SUM_US, W_ROWS,
} from '../telemetry/layout.js';
import { combine, emptyMoments, subtract, type Moments } from '../telemetry/welford.js';

// ── merged vector layout ────────────────────────────────────────────────────
export const V_REQUESTS = 0;
export const V_SUCCESSES = 1;
export const V_ERRORS = 2;                              // ERROR_CODES.length cells
export const V_E2E_SUM_US = V_ERRORS + ERROR_CODES.length;
export const V_BATCHES = V_E2E_SUM_US + 1;
export const V_ROWS = V_BATCHES + 1;
export const V_FAILED_BATCHES = V_ROWS + 1;
export const V_FAILED_ROWS = V_FAILED_BATCHES + 1;
export const V_QW_SUM_US = V_FAILED_ROWS + 1;
export const V_INF_SUM_US = V_QW_SUM_US + 1;
export const V_E2E_HIST = 32;
export const V_QW_HIST = V_E2E_HIST + LATENCY_CELLS;
export const V_INF_HIST = V_QW_HIST + LATENCY_CELLS;
export const V_BATCH_HIST = V_INF_HIST + LATENCY_CELLS;
export const V_PRED_BINS = V_BATCH_HIST + BATCH_CELLS;
export const V_LEN = V_PRED_BINS + PRED_BINS;

export const STAGES = ['queue_wait', 'inference', 'end_to_end'] as const;
export type Stage = (typeof STAGES)[number];
export const STAGE_HIST: Record<Stage, number> = { queue_wait: V_QW_HIST, inference: V_INF_HIST, end_to_end: V_E2E_HIST };
export const STAGE_SUM: Record<Stage, number> = { queue_wait: V_QW_SUM_US, inference: V_INF_SUM_US, end_to_end: V_E2E_SUM_US };

export interface Totals { vec: Float64Array; pred: Moments }

export const emptyTotals = (): Totals => ({ vec: new Float64Array(V_LEN), pred: emptyMoments() });

/** Merge every shard's last consistent copy into one Totals per model, plus the unrouted slot last. */
export function mergeShards(reader: ShardReader, out: Totals[]): void {
  const { models, workerShards } = reader.dims;
  for (let m = 0; m <= models; m++) {
    const v = out[m].vec;
    v.fill(0);
    const s = reader.main(m);
    v[V_REQUESTS] = s[M_REQUESTS];
    v[V_SUCCESSES] = s[M_SUCCESSES];
    for (let e = 0; e < ERROR_CODES.length; e++) v[V_ERRORS + e] = s[M_ERRORS + e];
    v[V_E2E_SUM_US] = s[M_E2E_SUM_US];
    v.set(s.subarray(M_E2E_HIST, M_E2E_HIST + LATENCY_CELLS), V_E2E_HIST);
    let pred = emptyMoments();
    for (let w = 0; m < models && w < workerShards; w++) {
      const x = reader.worker(w, m);
      v[V_BATCHES] += x[W_BATCHES];
      v[V_ROWS] += x[W_ROWS];
      v[V_FAILED_BATCHES] += x[W_FAILED_BATCHES];
      v[V_FAILED_ROWS] += x[W_FAILED_ROWS];
      v[V_QW_SUM_US] += x[W_QW_SUM_US];
      v[V_INF_SUM_US] += x[W_INF_SUM_US];
      addCells(v, V_QW_HIST, x, W_QW_HIST, LATENCY_CELLS);
      addCells(v, V_INF_HIST, x, W_INF_HIST, LATENCY_CELLS);
      addCells(v, V_BATCH_HIST, x, W_BATCH_HIST, BATCH_CELLS);
      addCells(v, V_PRED_BINS, x, W_PRED_BINS, PRED_BINS);
      if (x[W_PRED_N] > 0) {
        pred = combine(pred, { n: x[W_PRED_N], mean: x[W_PRED_MEAN], m2: x[W_PRED_M2], min: x[W_PRED_MIN], max: x[W_PRED_MAX] });
      }
    }
    out[m].pred = pred;
  }
}

function addCells(dst: Float64Array, at: number, src: Float64Array, from: number, len: number): void {
  for (let i = 0; i < len; i++) {
    const c = src[from + i];
    if (c !== 0) dst[at + i] += c;
  }
}

/** A cumulative state kept in the ring: only the non-zero cells. */
export interface Checkpoint { t: number; models: { idx: Int32Array; val: Float64Array; pred: Moments }[] }

export function checkpointOf(t: number, totals: Totals[]): Checkpoint {
  return {
    t,
    models: totals.map(({ vec, pred }) => {
      let nz = 0;
      for (let i = 0; i < vec.length; i++) if (vec[i] !== 0) nz++;
      const idx = new Int32Array(nz), val = new Float64Array(nz);
      for (let i = 0, k = 0; i < vec.length; i++) {
        if (vec[i] !== 0) { idx[k] = i; val[k++] = vec[i]; }
      }
      return { idx, val, pred: { ...pred } };
    }),
  };
}

/** The figures recorded between `from` and `now`: now − from, cell by cell; moments by inverse Chan. */
export function windowOf(now: Totals, from: Checkpoint['models'][number] | undefined, out: Totals): Totals {
  out.vec.set(now.vec);
  if (!from) {
    out.pred = { ...now.pred };
    return out;
  }
  for (let k = 0; k < from.idx.length; k++) out.vec[from.idx[k]] -= from.val[k];
  out.pred = subtract(now.pred, from.pred);
  return out;
}

/** Bounded ring of checkpoints, oldest first, at most one per `stepMs`. */
export class CheckpointRing {
  readonly #items: Checkpoint[] = [];
  readonly #cap: number;
  readonly stepMs: number;

  constructor(longestWindowMs: number, stepMs: number) {
    this.stepMs = stepMs;
    this.#cap = Math.ceil(longestWindowMs / stepMs) + 2;
  }

  /** Push when a step has elapsed since the newest checkpoint; `make` runs only then. */
  maybePush(t: number, make: () => Checkpoint): void {
    const last = this.#items[this.#items.length - 1];
    if (last && t - last.t < this.stepMs) return;
    this.#items.push(make());
    if (this.#items.length > this.#cap) this.#items.shift();
  }

  /** Newest checkpoint at or before t − windowMs, else the oldest (a window still filling). */
  baseFor(t: number, windowMs: number): Checkpoint | undefined {
    const edge = t - windowMs;
    for (let i = this.#items.length - 1; i >= 0; i--) if (this.#items[i].t <= edge) return this.#items[i];
    return this.#items[0];
  }

  get length(): number {
    return this.#items.length;
  }
}
