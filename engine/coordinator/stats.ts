// Totals → the stats block of the SPEC (counts, rates, latency percentiles per
// stage, batch sizes, prediction moments) and the Prometheus buckets.
import { hdrLoad, hdrOver, hdrStdDeviation, type Hdr } from '../telemetry/hdr.js';
import { BATCH_CELLS, BATCH_HIGHEST, ERROR_CODES, LATENCY_CELLS, LATENCY_HIGHEST_US, PRED_BINS, type ErrorCode } from '../telemetry/layout.js';
import type { DriftInput } from './drift.js';
import { stdDev } from '../telemetry/welford.js';
import type { BatchSizeBlock, LatencyBlock, PromHistogram, StatsBlock } from './snapshot.js';
import {
  STAGES, STAGE_HIST, STAGE_SUM, V_BATCHES, V_BATCH_HIST, V_ERRORS, V_FAILED_ROWS, V_PRED_BINS, V_REQUESTS, V_ROWS,
  V_SUCCESSES, type Stage, type Totals,
} from './totals.js';

/** Prometheus `le` bounds for stage latency, seconds. */
export const LATENCY_LE_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Prometheus `le` bounds for batch size, rows. */
export const BATCH_LE = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

// Reused across calls: the coordinator is single-threaded and these only read.
const latencyHdr = hdrOver(new Float64Array(LATENCY_CELLS), LATENCY_HIGHEST_US);
const batchHdr = hdrOver(new Float64Array(BATCH_CELLS), BATCH_HIGHEST);

export function errorsOf(vec: Float64Array): Record<ErrorCode, number> {
  const out = {} as Record<ErrorCode, number>;
  ERROR_CODES.forEach((c, i) => { out[c] = vec[V_ERRORS + i]; });
  return out;
}

export function latencyOf(t: Totals, stage: Stage): LatencyBlock {
  const at = STAGE_HIST[stage];
  const h = hdrLoad(latencyHdr, t.vec.subarray(at, at + LATENCY_CELLS));
  return latencyBlock(h, t.vec[STAGE_SUM[stage]]);
}

/** Percentiles of an HDR histogram (µs) as ms; avg from the exact sum. */
export function latencyBlock(h: Hdr, sumUs: number): LatencyBlock {
  const n = h.totalCount;
  if (n === 0) return { count: 0, avg: 0, p50: 0, p95: 0, p99: 0, p999: 0, min: 0, max: 0 };
  const ms = (us: number): number => Math.round(us) / 1000;
  const min = h.getCountAtIndex(0) > 0 ? 0 : h.minNonZeroValue;
  return {
    count: n,
    avg: sumUs / n / 1000,
    p50: ms(h.getValueAtPercentile(50)),
    p95: ms(h.getValueAtPercentile(95)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    min: ms(min),
    max: ms(h.maxValue),
  };
}

function batchOf(t: Totals): BatchSizeBlock {
  const h = hdrLoad(batchHdr, t.vec.subarray(V_BATCH_HIST, V_BATCH_HIST + BATCH_CELLS));
  const n = h.totalCount;
  if (n === 0) return { count: 0, avg: 0, p50: 0, p95: 0, p99: 0, max: 0 };
  return {
    count: n,
    avg: t.vec[V_ROWS] / t.vec[V_BATCHES],
    p50: h.getValueAtPercentile(50),
    p95: h.getValueAtPercentile(95),
    p99: h.getValueAtPercentile(99),
    max: h.maxValue,
  };
}

export function statsOf(t: Totals, durationS: number, lastUpdated: string | null): StatsBlock {
  const v = t.vec;
  const errors = errorsOf(v);
  let errorCount = 0;
  for (const c of ERROR_CODES) errorCount += errors[c];
  const successes = v[V_SUCCESSES];
  // A request is counted when it arrives; if a caller skipped countRequest, outcomes still bound it.
  const total = Math.max(v[V_REQUESTS], successes + errorCount);
  const stages = {
    queue_wait: latencyOf(t, 'queue_wait'),
    inference: latencyOf(t, 'inference'),
    end_to_end: latencyOf(t, 'end_to_end'),
  };
  const p = t.pred;
  return {
    total_requests: total,
    successful_requests: successes,
    error_count: errorCount,
    error_rate: total > 0 ? errorCount / total : 0,
    errors,
    latency_ms: stages.end_to_end,
    stages,
    batch_size: batchOf(t),
    requests_per_minute: perMinute(total, durationS),
    prediction: {
      count: p.n,
      mean: p.n > 0 ? p.mean : 0,
      std: stdDev(p),
      min: p.n > 0 && Number.isFinite(p.min) ? p.min : null,
      max: p.n > 0 && Number.isFinite(p.max) ? p.max : null,
    },
    inference_failures: v[V_FAILED_ROWS],
    duration_s: durationS,
    last_updated: lastUpdated,
  };
}

const perMinute = (total: number, durationS: number): number => (durationS > 0 ? (total / durationS) * 60 : 0);

/** `block` (from statsOf) as it reads over another duration: the same counts and percentiles, its own rate. */
export function withDuration(block: StatsBlock, durationS: number, lastUpdated: string | null): StatsBlock {
  return { ...block, requests_per_minute: perMinute(block.total_requests, durationS), duration_s: durationS, last_updated: lastUpdated };
}

/** What the drift checks read from a window: prediction moments and bins, and one stage's latency (inference when end to end has none). */
export function driftInputOf(w: Totals, latencyStage: 'end_to_end' | 'inference'): DriftInput {
  let stage = latencyStage;
  let block = latencyOf(w, stage);
  if (block.count === 0 && stage === 'end_to_end') {
    stage = 'inference';
    block = latencyOf(w, stage);
  }
  const at = STAGE_HIST[stage];
  const stdUs = block.count > 1 ? hdrStdDeviation(latencyHdr, w.vec.subarray(at, at + LATENCY_CELLS)) : 0;
  return {
    pred: { ...w.pred },
    bins: w.vec.slice(V_PRED_BINS, V_PRED_BINS + PRED_BINS),
    latency: { stage, count: block.count, meanMs: block.avg, stdMs: stdUs / 1000 },
  };
}

/** Cumulative Prometheus buckets for every stage and for batch sizes. A cell counts toward `le` when its whole range is ≤ le. */
export function promOf(t: Totals): { stages: Record<Stage, PromHistogram>; batch_size: PromHistogram } {
  const stages = {} as Record<Stage, PromHistogram>;
  for (const s of STAGES) {
    const at = STAGE_HIST[s];
    const le = bucketize(t.vec, at, LATENCY_CELLS, latencyCellBucket, LATENCY_LE_S.length);
    stages[s] = { le_counts: le.counts, sum: t.vec[STAGE_SUM[s]] / 1e6, count: le.total };
  }
  const b = bucketize(t.vec, V_BATCH_HIST, BATCH_CELLS, batchCellBucket, BATCH_LE.length);
  return { stages, batch_size: { le_counts: b.counts, sum: t.vec[V_ROWS], count: b.total } };
}

function bucketize(vec: Float64Array, at: number, cells: number, map: Uint8Array, nb: number): { counts: number[]; total: number } {
  const per = new Array<number>(nb + 1).fill(0);
  let total = 0;
  for (let i = 0; i < cells; i++) {
    const c = vec[at + i];
    if (c !== 0) { per[map[i]] += c; total += c; }
  }
  // per[k] counts cells first fitting bound k (k = bounds.length: only +Inf); make them cumulative.
  const counts: number[] = [];
  let acc = 0;
  for (let k = 0; k < nb; k++) { acc += per[k]; counts.push(acc); }
  return { counts, total };
}

/** For every HDR cell, the first bound index whose value covers the cell's highest value. */
function cellBuckets(h: Hdr, cells: number, bounds: number[]): Uint8Array {
  const map = new Uint8Array(cells);
  for (let i = 0; i < cells; i++) {
    const hi = h.highestEquivalentValue(h.valueFromIndex(i));
    let k = 0;
    while (k < bounds.length && bounds[k] < hi) k++;
    map[i] = k;
  }
  return map;
}
const latencyCellBucket = cellBuckets(latencyHdr, LATENCY_CELLS, LATENCY_LE_S.map((s) => Math.round(s * 1e6)));
const batchCellBucket = cellBuckets(batchHdr, BATCH_CELLS, BATCH_LE);
