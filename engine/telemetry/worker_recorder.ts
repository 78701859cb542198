// The worker side: claim a worker shard, then record one batch per call with a
// handful of stores inside the slot's seqlock (protocol in layout.ts).
import { dimsOf, type TelemetryBuffers } from './buffers.js';
import { hdrOver, type Hdr } from './hdr.js';
import {
  BATCH_CELLS, BATCH_HIGHEST, LATENCY_CELLS, LATENCY_HIGHEST_US, W_BATCHES, W_BATCH_HIST,
  W_FAILED_BATCHES, W_FAILED_ROWS, W_INF_HIST, W_INF_SUM_US, W_PRED_BINS, W_PRED_M2, W_PRED_MAX,
  W_PRED_MEAN, W_PRED_MIN, W_PRED_N, W_QW_HIST, W_QW_SUM_US, W_ROWS, claimsIndex, ownerIndex,
  predBin, seqIndex, workerOffset, workerSlot, type Dims,
} from './layout.js';

export interface WorkerRecorder {
  /** Worker shard index claimed, or -1 when monitoring is off. */
  readonly shard: number;
  /** One inferred batch: latencies in µs, ctr[0..rows) the predictions. */
  recordBatch(modelIndex: number, rows: number, queueWaitUs: number, inferenceUs: number, ctr: Float32Array): void;
  /** A batch whose inference failed. */
  recordFailure(modelIndex: number, rows: number): void;
}

const nap = new Int32Array(new SharedArrayBuffer(4));

const NOOP_WORKER: WorkerRecorder = {
  shard: -1,
  recordBatch() {},
  recordFailure() {},
};

/**
 * Claim a free worker shard for `threadId` (worker_threads' threadId) and return its recorder.
 * If this thread already owns a shard, that one is returned. When every shard is owned it
 * waits up to `waitMs` (default 2000) for a release — a replacement worker can start before
 * the main thread has released its predecessor — then throws.
 */
export function claimWorkerShard(buffers: TelemetryBuffers, threadId: number, opts: { waitMs?: number } = {}): WorkerRecorder {
  if (!buffers.enabled) return NOOP_WORKER;
  if (!Number.isInteger(threadId) || threadId <= 0) {
    throw new TypeError('claimWorkerShard: threadId must be a positive integer (a worker thread id)');
  }
  const ctl = new Int32Array(buffers.control);
  const dims = dimsOf(buffers);
  const deadline = Date.now() + (dims.workerShards > 0 ? opts.waitMs ?? 2000 : 0);
  let shard = tryClaim(ctl, dims, threadId);
  while (shard < 0 && Date.now() < deadline) {
    // Startup only, never the request path: a short sleep beats failing the worker.
    Atomics.wait(nap, 0, 0, 10);
    shard = tryClaim(ctl, dims, threadId);
  }
  if (shard < 0) {
    throw new Error(`claimWorkerShard: all ${dims.workerShards} worker shards are owned; allocate more workerShards`);
  }
  Atomics.add(ctl, claimsIndex(shard), 1);
  repairShard(ctl, dims, shard);
  return new ShardRecorder(ctl, new Float64Array(buffers.data), dims, shard);
}

function tryClaim(ctl: Int32Array, dims: Dims, threadId: number): number {
  for (let w = 0; w < dims.workerShards; w++) {
    if (Atomics.load(ctl, ownerIndex(w)) === threadId) return w;
  }
  for (let w = 0; w < dims.workerShards; w++) {
    if (Atomics.compareExchange(ctl, ownerIndex(w), 0, threadId) === 0) return w;
  }
  return -1;
}

/**
 * Main thread, on Piscina's 'workerDestroy' (worker.id is the threadId): close any
 * seqlock the dead writer left open and free its shard for a replacement, which
 * continues accumulating into it. Returns the shard freed, or -1 if none was owned.
 */
export function releaseWorkerShard(buffers: TelemetryBuffers, threadId: number): number {
  if (!buffers.enabled) return -1;
  const ctl = new Int32Array(buffers.control);
  const dims = dimsOf(buffers);
  for (let w = 0; w < dims.workerShards; w++) {
    if (Atomics.load(ctl, ownerIndex(w)) !== threadId) continue;
    repairShard(ctl, dims, w);
    Atomics.compareExchange(ctl, ownerIndex(w), threadId, 0);
    return w;
  }
  return -1;
}

/** Close every half-open seqlock of shard w. Only call once its writer is known dead or gone. */
export function repairShard(ctl: Int32Array, dims: Dims, w: number): void {
  for (let m = 0; m < dims.models; m++) repairSeq(ctl, seqIndex(dims, workerSlot(dims, w, m)));
}

export function repairSeq(ctl: Int32Array, i: number): void {
  const s = Atomics.load(ctl, i);
  if (s & 1) Atomics.compareExchange(ctl, i, s, s + 1);
}

const clampUs = (us: number): number => (us > 0 ? (us < LATENCY_HIGHEST_US ? Math.round(us) : LATENCY_HIGHEST_US) : 0);

class ShardRecorder implements WorkerRecorder {
  readonly shard: number;
  readonly #ctl: Int32Array;
  readonly #d: Float64Array;
  readonly #base: Int32Array;  // data offset per model
  readonly #seq: Int32Array;   // seqlock index per model
  readonly #qw: Hdr[];
  readonly #inf: Hdr[];
  readonly #batch: Hdr[];

  constructor(ctl: Int32Array, d: Float64Array, dims: Dims, shard: number) {
    this.shard = shard;
    this.#ctl = ctl;
    this.#d = d;
    this.#base = new Int32Array(dims.models);
    this.#seq = new Int32Array(dims.models);
    this.#qw = [];
    this.#inf = [];
    this.#batch = [];
    for (let m = 0; m < dims.models; m++) {
      const b = workerOffset(dims, shard, m);
      this.#base[m] = b;
      this.#seq[m] = seqIndex(dims, workerSlot(dims, shard, m));
      this.#qw.push(hdrOver(d.subarray(b + W_QW_HIST, b + W_QW_HIST + LATENCY_CELLS), LATENCY_HIGHEST_US));
      this.#inf.push(hdrOver(d.subarray(b + W_INF_HIST, b + W_INF_HIST + LATENCY_CELLS), LATENCY_HIGHEST_US));
      this.#batch.push(hdrOver(d.subarray(b + W_BATCH_HIST, b + W_BATCH_HIST + BATCH_CELLS), BATCH_HIGHEST));
    }
  }

  recordBatch(modelIndex: number, rows: number, queueWaitUs: number, inferenceUs: number, ctr: Float32Array): void {
    if (!(rows > 0) || modelIndex < 0 || modelIndex >= this.#base.length) return;
    // The batch's own moments first, in locals, so the bracket holds one combine.
    let n = 0, mean = 0, m2 = 0, min = Infinity, max = -Infinity;
    const len = rows < ctr.length ? rows : ctr.length;
    for (let i = 0; i < len; i++) {
      const x = ctr[i];
      if (!(x >= 0 && x <= 1)) continue; // NaN or out of range: not a probability, not a statistic
      n++;
      const dx = x - mean;
      mean += dx / n;
      m2 += dx * (x - mean);
      if (x < min) min = x;
      if (x > max) max = x;
    }
    const qw = clampUs(queueWaitUs), inf = clampUs(inferenceUs);
    const d = this.#d, b = this.#base[modelIndex], ctl = this.#ctl, s = this.#seq[modelIndex];
    Atomics.add(ctl, s, 1);
    d[b + W_BATCHES] += 1;
    d[b + W_ROWS] += rows;
    d[b + W_QW_SUM_US] += qw * rows;
    d[b + W_INF_SUM_US] += inf * rows;
    this.#qw[modelIndex].recordValueWithCount(qw, rows);
    this.#inf[modelIndex].recordValueWithCount(inf, rows);
    this.#batch[modelIndex].recordValue(rows < BATCH_HIGHEST ? rows : BATCH_HIGHEST);
    if (n > 0) {
      const na = d[b + W_PRED_N], tot = na + n, delta = mean - d[b + W_PRED_MEAN];
      d[b + W_PRED_MEAN] += delta * (n / tot);
      d[b + W_PRED_M2] += m2 + delta * delta * (na * n / tot);
      if (na === 0 || min < d[b + W_PRED_MIN]) d[b + W_PRED_MIN] = min;
      if (na === 0 || max > d[b + W_PRED_MAX]) d[b + W_PRED_MAX] = max;
      d[b + W_PRED_N] = tot;
      const bins = b + W_PRED_BINS;
      for (let i = 0; i < len; i++) {
        const x = ctr[i];
        if (x >= 0 && x <= 1) d[bins + predBin(x)] += 1;
      }
    }
    Atomics.add(ctl, s, 1);
  }

  recordFailure(modelIndex: number, rows: number): void {
    if (!(rows > 0) || modelIndex < 0 || modelIndex >= this.#base.length) return;
    const d = this.#d, b = this.#base[modelIndex], ctl = this.#ctl, s = this.#seq[modelIndex];
    Atomics.add(ctl, s, 1);
    d[b + W_FAILED_BATCHES] += 1;
    d[b + W_FAILED_ROWS] += rows;
    Atomics.add(ctl, s, 1);
  }
}
