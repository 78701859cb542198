// Every slot of the telemetry shared memory, named once (thread-stream's
// indexes.js style), with the writer's and the reader's protocol beside it.
//
// Two SharedArrayBuffers:
//
//   control  Int32Array   header | worker-shard owner table | one seqlock per slot
//   data     Float64Array main slots (shard 0) | worker slots (shards 1..W)
//
//   data:  [ main m0 | main m1 | … | main unrouted ] × mainShards [ w0 m0 | w0 m1 | … ][ w1 m0 | … ] …
//
// A *shard* is everything one writer thread owns: main shard 0 is the main
// thread (end-to-end latency, request/success/error counters), main shard a
// is acceptor thread a when ACCEPTORS > 1 (engine/acceptors/), each worker
// claims one worker shard (queue wait, inference, batch sizes, predictions).
// Every main field is a sum (counters, sums, HDR cells), so the reader adds
// the main shards up into one view per model. A *slot* is
// one model inside one shard and has its own seqlock, so a reader copying one
// model's block only races that model's writes.
//
// Writer protocol (one writer per slot, never blocks, never allocates):
//   Atomics.add(seq, 1)            // odd: write in progress
//   plain stores into the slot     // counters +=, HDR cells +=, Welford combine
//   Atomics.add(seq, 1)            // even again: slot consistent
// Reader protocol (coordinator thread):
//   s1 = Atomics.load(seq); if odd → wait briefly, retry
//   copy the slot (one memcpy)
//   s2 = Atomics.load(seq); if s1 !== s2 → retry; else the copy is consistent
//   bounded retries; on exhaustion keep the slot's previous good copy.
// Dead writer: a worker killed between the two adds leaves seq odd. Whoever
// learns the owner is dead (releaseWorkerShard on the main thread, the next
// claimer, or the reader once the owner cell is 0) repairs it with
// Atomics.compareExchange(seq, odd, odd + 1); values only grow, so there is
// no ABA. At most that one interrupted batch is partially applied.
// Owner table: 0 = free, otherwise the owning worker's threadId. Claimed with
// compareExchange(0 → threadId); released by storing 0. Slot contents are never
// cleared, so a replacement worker keeps accumulating where the dead one left.
import * as hdr from 'hdr-histogram-js';

/** HDR range for latencies, in µs: 1 µs … 60 s at 3 significant digits. Fixed: never resizes. */
export const LATENCY_LOWEST_US = 1;
export const LATENCY_HIGHEST_US = 60_000_000;
export const HDR_DIGITS = 3;
/** HDR range for batch sizes (rows per batch); exact below 2048. */
export const BATCH_HIGHEST = 65_536;

/** Number of count cells hdr-histogram-js allocates for a range (its `countsArrayLength`). */
export function hdrCells(highest: number): number {
  return new hdr.Float64Histogram(1, highest, HDR_DIGITS).countsArrayLength;
}
export const LATENCY_CELLS = hdrCells(LATENCY_HIGHEST_US);
export const BATCH_CELLS = hdrCells(BATCH_HIGHEST);

/**
 * Prediction bins for PSI and the kurtosis estimate: uniform in logit(p) over
 * [PRED_LOGIT_LO, PRED_LOGIT_HI] (p ≈ 4.5e-5 … 0.9975; ~3 % of p wide at CTR
 * scale), ends clamped.
 */
export const PRED_BINS = 512;
export const PRED_LOGIT_LO = -10;
export const PRED_LOGIT_HI = 6;
const PRED_BIN_WIDTH = (PRED_LOGIT_HI - PRED_LOGIT_LO) / PRED_BINS;
/** Identifies the bin scheme inside persisted baselines, so a changed scheme invalidates stored bins. */
export const PRED_BIN_SCHEME = `logit${PRED_BINS}[${PRED_LOGIT_LO},${PRED_LOGIT_HI}]`;

export function predBin(p: number): number {
  const q = p < 1e-9 ? 1e-9 : p > 1 - 1e-9 ? 1 - 1e-9 : p;
  const i = Math.floor((Math.log(q / (1 - q)) - PRED_LOGIT_LO) / PRED_BIN_WIDTH);
  return i < 0 ? 0 : i >= PRED_BINS ? PRED_BINS - 1 : i;
}
/** Centre of a prediction bin, back in probability space. */
export function predBinCentre(i: number): number {
  const x = PRED_LOGIT_LO + (i + 0.5) * PRED_BIN_WIDTH;
  return 1 / (1 + Math.exp(-x));
}

/** Error codes counted per model; anything else is counted as `other`. */
export const ERROR_CODES = [
  'invalid_request', 'model_not_found', 'payload_too_large', 'unsupported_media_type',
  'overloaded', 'deadline_exceeded', 'inference_failed', 'other',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];
export const ERROR_INDEX: Readonly<Record<string, number>> =
  Object.fromEntries(ERROR_CODES.map((c, i) => [c, i]));

// ── control (Int32Array) ──────────────────────────────────────────────────
export const CTL_MAGIC = 0;          // MAGIC once initialised
export const CTL_MODELS = 1;         // model count M
export const CTL_WORKER_SHARDS = 2;  // worker shard count W
export const CTL_MAIN_SHARDS = 3;    // main shard count A (one per acceptor thread; 1 by default)
export const CTL_OWNER_BASE = 16;    // per worker shard w: [owner threadId, claims so far]
export const OWNER_STRIDE = 2;
// Owner id of a worker shard written by a request thread's inline inference
// (engine/inline_inference.ts): this + the acceptor index. Above any
// worker_threads threadId a process will reach, so it never collides with one.
export const INLINE_SHARD_OWNER = 0x4000_0000;
export const MAGIC = 0x43545231;     // "CTR1"
/** One seqlock per slot, each on its own 64-byte line so writers on different cores don't false-share. */
export const SEQ_STRIDE = 16;

// ── main slot (Float64, main shards 0..A-1; M model slots + 1 unrouted slot each) ──
export const M_REQUESTS = 0;
export const M_SUCCESSES = 1;
export const M_ERRORS = 2;                               // ERROR_CODES.length cells
export const M_E2E_SUM_US = M_ERRORS + ERROR_CODES.length; // exact sum, so the mean is exact
export const M_E2E_HIST = 16;                            // LATENCY_CELLS, counts requests
export const MAIN_SLOT_LEN = M_E2E_HIST + LATENCY_CELLS;

// ── worker slot (Float64, shards 1..W, one per model) ──────────────────────
export const W_BATCHES = 0;
export const W_ROWS = 1;
export const W_FAILED_BATCHES = 2;
export const W_FAILED_ROWS = 3;
export const W_QW_SUM_US = 4;     // Σ queueWaitUs × rows
export const W_INF_SUM_US = 5;    // Σ inferenceUs × rows
export const W_PRED_N = 6;        // Welford accumulator of predicted CTR
export const W_PRED_MEAN = 7;
export const W_PRED_M2 = 8;
export const W_PRED_MIN = 9;
export const W_PRED_MAX = 10;
export const W_QW_HIST = 16;                              // counts rows
export const W_INF_HIST = W_QW_HIST + LATENCY_CELLS;      // counts rows
export const W_BATCH_HIST = W_INF_HIST + LATENCY_CELLS;   // counts batches
export const W_PRED_BINS = W_BATCH_HIST + BATCH_CELLS;    // counts predictions
export const WORKER_SLOT_LEN = W_PRED_BINS + PRED_BINS;

/** Dimensions every party derives the same way from (models, workerShards, mainShards). */
export interface Dims { models: number; workerShards: number; /** Writers of main slots (acceptor threads); default 1. */ mainShards?: number }

/** Main slots in all: (models + 1) per main shard. */
export const mainSlots = (d: Dims): number => (d.models + 1) * (d.mainShards ?? 1);
/** Slot number (for the seqlock) of main shard `a`'s slot m; m = models is the unrouted slot. */
export const mainSlot = (d: Dims, m: number, a = 0): number => a * (d.models + 1) + m;
export const workerSlot = (d: Dims, w: number, m: number): number => mainSlots(d) + w * d.models + m;
export const slotCount = (d: Dims): number => mainSlots(d) + d.workerShards * d.models;

export const seqIndex = (d: Dims, slot: number): number =>
  alignUp(CTL_OWNER_BASE + d.workerShards * OWNER_STRIDE, SEQ_STRIDE) + slot * SEQ_STRIDE;
export const ownerIndex = (w: number): number => CTL_OWNER_BASE + w * OWNER_STRIDE;
export const claimsIndex = (w: number): number => CTL_OWNER_BASE + w * OWNER_STRIDE + 1;
export const controlLength = (d: Dims): number => seqIndex(d, slotCount(d));

/** Offset (in Float64 elements) of main shard a's slot m / worker slot (w, m) in data. */
export const mainOffset = (d: Dims, m: number, a = 0): number => mainSlot(d, m, a) * MAIN_SLOT_LEN;
export const workerOffset = (d: Dims, w: number, m: number): number =>
  mainSlots(d) * MAIN_SLOT_LEN + (w * d.models + m) * WORKER_SLOT_LEN;
export const dataLength = (d: Dims): number => workerOffset(d, d.workerShards, 0);

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
