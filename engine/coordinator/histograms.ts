// GET /monitoring/histograms: one model's Totals (counters, the three stage
// latency histograms, batch sizes, prediction bins, prediction moments) as a
// portable block, and back. Histograms travel in HdrHistogram's standard V2
// compressed encoding, base64 (what hdr-histogram-js, HdrHistogram (Java),
// HdrHistogram_c and hdrhistogram-go read), so a fleet view can add replicas'
// histograms cell by cell and take exact percentiles of the union.
// Built only when asked (the coordinator thread answers a message); the
// per-tick snapshot carries none of it.
import * as hdr from 'hdr-histogram-js';
import { hdrLoad, hdrOver, type Hdr } from '../telemetry/hdr.js';
import {
  BATCH_CELLS, BATCH_HIGHEST, ERROR_CODES, HDR_DIGITS, LATENCY_CELLS, LATENCY_HIGHEST_US, PRED_BIN_SCHEME, PRED_BINS,
  type ErrorCode,
} from '../telemetry/layout.js';
import type { Moments } from '../telemetry/welford.js';
import type { Baseline } from './snapshot.js';
import {
  STAGES, STAGE_HIST, STAGE_SUM, V_BATCHES, V_BATCH_HIST, V_ERRORS, V_FAILED_BATCHES, V_FAILED_ROWS, V_PRED_BINS,
  V_REQUESTS, V_ROWS, V_SUCCESSES, emptyTotals, type Stage, type Totals,
} from './totals.js';

export const HISTOGRAM_ENCODING = 'HdrHistogram V2 compressed, base64';

/** One stage's latency: an HDR histogram of µs (1 µs … 60 s, 3 significant digits) and the exact sum. */
export interface EncodedLatency { hdr: string; count: number; sum_us: number }

/** Moments with non-finite min/max as null (JSON has no NaN or Infinity). */
export interface PortableMoments { n: number; mean: number; m2: number; min: number | null; max: number | null }

export interface HistogramBlock {
  duration_s: number;
  last_updated: string | null;
  counts: {
    requests: number; successes: number; errors: Record<ErrorCode, number>;
    batches: number; rows: number; failed_batches: number; failed_rows: number;
  };
  latency_us: Record<Stage, EncodedLatency>;
  /** Rows per batch. */
  batch_size: { hdr: string; count: number };
  prediction: {
    /** Welford/Chan moments: pooled across replicas by Chan's combination. Window min/max are null (not recoverable). */
    moments: PortableMoments;
    /** The PSI bins: an HDR histogram whose values are bin indices (exact below 2048), in `scheme`. */
    bins: { scheme: string; hdr: string; count: number };
  };
}

export interface ModelHistograms {
  model_version: string;
  lifetime: HistogramBlock;
  windows: Record<string, HistogramBlock>;
  /** The drift baseline in force, so a fleet view can judge drift on the merged window. */
  baseline: Baseline | null;
}

export interface HistogramsBody {
  encoding: typeof HISTOGRAM_ENCODING;
  /** The tick these figures are from (the same as /monitoring/stats at that tick). */
  seq: number;
  generated_at: string;
  uptime_s: number;
  window_names: string[];
  /** The drift window, whose merged figures a fleet view judges. */
  drift_window: string;
  models: Record<string, ModelHistograms>;
  unrouted: { requests: number; errors: Record<ErrorCode, number> };
  workers: { alive: number; expected: number };
  monitoring_enabled: boolean;
}

// Reused: the coordinator thread is single-threaded, encodes one at a time.
const latencyHdr = hdrOver(new Float64Array(LATENCY_CELLS), LATENCY_HIGHEST_US);
const batchHdr = hdrOver(new Float64Array(BATCH_CELLS), BATCH_HIGHEST);
const predHdr = new hdr.Float64Histogram(1, PRED_BINS, HDR_DIGITS);

const encode = (h: Hdr): string => hdr.encodeIntoCompressedBase64(h);

const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

export function encodeBlock(t: Totals, durationS: number, lastUpdated: string | null): HistogramBlock {
  const v = t.vec;
  const errors = {} as Record<ErrorCode, number>;
  let errorCount = 0;
  ERROR_CODES.forEach((c, i) => { errors[c] = v[V_ERRORS + i]; errorCount += v[V_ERRORS + i]; });
  const latency = {} as Record<Stage, EncodedLatency>;
  for (const s of STAGES) {
    const h = hdrLoad(latencyHdr, v.subarray(STAGE_HIST[s], STAGE_HIST[s] + LATENCY_CELLS));
    latency[s] = { hdr: encode(h), count: h.totalCount, sum_us: v[STAGE_SUM[s]] };
  }
  const b = hdrLoad(batchHdr, v.subarray(V_BATCH_HIST, V_BATCH_HIST + BATCH_CELLS));
  const batch = { hdr: encode(b), count: b.totalCount };
  predHdr.reset();
  let predCount = 0;
  for (let i = 0; i < PRED_BINS; i++) {
    const c = v[V_PRED_BINS + i];
    if (c > 0) { predHdr.recordValueWithCount(i, c); predCount += c; }
  }
  const p = t.pred;
  return {
    duration_s: durationS,
    last_updated: lastUpdated,
    counts: {
      // As statsOf counts them (outcomes bound a request count that was skipped), so replicas' totals add.
      requests: Math.max(v[V_REQUESTS], v[V_SUCCESSES] + errorCount), successes: v[V_SUCCESSES], errors,
      batches: v[V_BATCHES], rows: v[V_ROWS], failed_batches: v[V_FAILED_BATCHES], failed_rows: v[V_FAILED_ROWS],
    },
    latency_us: latency,
    batch_size: batch,
    prediction: {
      moments: { n: p.n, mean: p.mean, m2: p.m2, min: finiteOrNull(p.min), max: finiteOrNull(p.max) },
      bins: { scheme: PRED_BIN_SCHEME, hdr: encode(predHdr), count: predCount },
    },
  };
}

/** Decodes one HDR string (any V2 compressed histogram) into a 64-bit-count histogram. */
export function decodeHdr(b64: string): Hdr {
  return hdr.decodeFromCompressedBase64(b64, 64) as Hdr;
}

const numberOr = (x: unknown, what: string): number => {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) throw new TypeError(`${what} must be a non-negative number`);
  return x;
};

/** Moments from their portable form: a null min/max becomes what the coordinator keeps (±Infinity when empty, NaN in windows). */
export function momentsOf(m: PortableMoments): Moments {
  const n = numberOr(m?.n, 'prediction.moments.n');
  const missing = n === 0 ? [Infinity, -Infinity] : [NaN, NaN];
  return {
    n,
    mean: typeof m.mean === 'number' ? m.mean : 0,
    m2: typeof m.m2 === 'number' ? m.m2 : 0,
    min: typeof m.min === 'number' ? m.min : missing[0],
    max: typeof m.max === 'number' ? m.max : missing[1],
  };
}

/**
 * Adds a block into `into` (a Totals as the coordinator keeps them): counters
 * summed, histograms added cell by cell (exact: both sides use the same HDR
 * layout; a histogram of another layout is re-recorded value by value).
 * Prediction moments are left to the caller (Chan's combination), returned.
 */
export function addBlock(into: Totals, b: HistogramBlock): Moments {
  const v = into.vec;
  const c = b.counts;
  v[V_REQUESTS] += numberOr(c.requests, 'counts.requests');
  v[V_SUCCESSES] += numberOr(c.successes, 'counts.successes');
  ERROR_CODES.forEach((code, i) => { v[V_ERRORS + i] += numberOr(c.errors?.[code] ?? 0, `counts.errors.${code}`); });
  v[V_BATCHES] += numberOr(c.batches, 'counts.batches');
  v[V_ROWS] += numberOr(c.rows, 'counts.rows');
  v[V_FAILED_BATCHES] += numberOr(c.failed_batches, 'counts.failed_batches');
  v[V_FAILED_ROWS] += numberOr(c.failed_rows, 'counts.failed_rows');
  for (const s of STAGES) {
    const e = b.latency_us[s];
    v[STAGE_SUM[s]] += numberOr(e.sum_us, `latency_us.${s}.sum_us`);
    hdrLoad(latencyHdr, v.subarray(STAGE_HIST[s], STAGE_HIST[s] + LATENCY_CELLS)).add(decodeHdr(e.hdr));
  }
  hdrLoad(batchHdr, v.subarray(V_BATCH_HIST, V_BATCH_HIST + BATCH_CELLS)).add(decodeHdr(b.batch_size.hdr));
  if (b.prediction.bins.scheme !== PRED_BIN_SCHEME) {
    throw new TypeError(`prediction bins use scheme ${JSON.stringify(b.prediction.bins.scheme)}, this build ${PRED_BIN_SCHEME}`);
  }
  const bins = decodeHdr(b.prediction.bins.hdr);
  if (bins.maxValue >= PRED_BINS) throw new TypeError(`prediction bins go up to ${bins.maxValue}, this build has ${PRED_BINS}`);
  for (let i = 0; i < PRED_BINS; i++) v[V_PRED_BINS + i] += bins.getCountAtIndex(bins.countsArrayIndex(i));
  return momentsOf(b.prediction.moments);
}

/** A block back into Totals (one replica's view, for tests and single-replica use). */
export function totalsOfBlock(b: HistogramBlock): Totals {
  const t = emptyTotals();
  t.pred = addBlock(t, b);
  return t;
}
