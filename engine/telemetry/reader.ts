// The reader's half of the seqlock protocol (layout.ts): copy every slot
// consistently, never wait on a writer for long, never return a torn copy.
import { dimsOf, type TelemetryBuffers } from './buffers.js';
import {
  MAIN_SLOT_LEN, WORKER_SLOT_LEN, mainOffset, mainSlot, ownerIndex, claimsIndex, seqIndex,
  workerOffset, workerSlot, type Dims,
} from './layout.js';
import { repairSeq } from './worker_recorder.js';

export interface ReadStats {
  /** Copies discarded because a write overlapped them. */
  retries: number;
  /** Slots whose previous good copy was kept because no consistent copy came within the deadline. */
  stale: number;
  /** Half-open seqlocks of released shards closed by the reader. */
  repaired: number;
}

/** Time a reader spends on one slot before settling for its previous copy. */
const SLOT_DEADLINE_MS = 2;
const nap = new Int32Array(new SharedArrayBuffer(4));

export class ShardReader {
  readonly dims: Dims;
  readonly #ctl: Int32Array;
  readonly #d: Float64Array;
  readonly #main: Float64Array[];
  readonly #worker: Float64Array[];
  /** With several main shards (acceptor threads): each one's last good copy, by shard × (models + 1) + m. */
  readonly #mainShard: Float64Array[];
  readonly #scratchMain: Float64Array;
  readonly #scratchWorker: Float64Array;
  /** Per slot (by seq index): the even sequence number of its last good copy, −1 before the first. */
  readonly #copiedSeq: Float64Array;
  /** Bumped whenever a read() takes a new copy of any slot: equal across two reads means every copy is as it was. */
  #version = 0;

  constructor(buffers: TelemetryBuffers) {
    if (!buffers.enabled) throw new Error('ShardReader: telemetry is disabled');
    this.dims = dimsOf(buffers);
    this.#ctl = new Int32Array(buffers.control);
    this.#d = new Float64Array(buffers.data);
    const { models, workerShards } = this.dims;
    this.#main = Array.from({ length: models + 1 }, () => new Float64Array(MAIN_SLOT_LEN));
    this.#worker = Array.from({ length: workerShards * models }, () => new Float64Array(WORKER_SLOT_LEN));
    const shards = this.dims.mainShards ?? 1;
    this.#mainShard = Array.from({ length: shards === 1 ? 0 : shards * (models + 1) }, () => new Float64Array(MAIN_SLOT_LEN));
    this.#scratchMain = new Float64Array(MAIN_SLOT_LEN);
    this.#scratchWorker = new Float64Array(WORKER_SLOT_LEN);
    this.#copiedSeq = new Float64Array(this.#ctl.length).fill(-1);
  }

  /** Changes whenever a read() found a slot written since its last copy (an idle server's ticks skip the merge). */
  get version(): number {
    return this.#version;
  }

  /**
   * Last consistent copy of main slot m (m = models: unrouted), summed over
   * the main shards (every main field adds up). Valid until the next read().
   */
  main(m: number): Float64Array {
    return this.#main[m];
  }

  /** Last consistent copy of worker shard w's slot for model m. */
  worker(w: number, m: number): Float64Array {
    return this.#worker[w * this.dims.models + m];
  }

  /** Owner threadId of worker shard w (0 = free). */
  owner(w: number): number {
    return Atomics.load(this.#ctl, ownerIndex(w));
  }

  /** Times worker shard w has been claimed. */
  claims(w: number): number {
    return Atomics.load(this.#ctl, claimsIndex(w));
  }

  /** Refresh the copy of every slot written since its last copy. */
  read(): ReadStats {
    const st: ReadStats = { retries: 0, stale: 0, repaired: 0 };
    const dims = this.dims;
    const shards = dims.mainShards ?? 1;
    for (let m = 0; m <= dims.models; m++) {
      if (shards === 1) {
        this.#readSlot(seqIndex(dims, mainSlot(dims, m)), mainOffset(dims, m), this.#scratchMain, this.#main[m], -1, st);
        continue;
      }
      // Acceptor threads (ACCEPTORS > 1): each shard copied consistently on its own (a stale one keeps its own last copy), then added up.
      const before = this.#version;
      for (let a = 0; a < shards; a++) {
        const good = this.#mainShard[a * (dims.models + 1) + m];
        this.#readSlot(seqIndex(dims, mainSlot(dims, m, a)), mainOffset(dims, m, a), this.#scratchMain, good, -1, st);
      }
      if (this.#version === before) continue;
      const sum = this.#main[m];
      sum.fill(0);
      for (let a = 0; a < shards; a++) {
        const good = this.#mainShard[a * (dims.models + 1) + m];
        for (let i = 0; i < good.length; i++) sum[i] += good[i];
      }
    }
    for (let w = 0; w < dims.workerShards; w++) {
      for (let m = 0; m < dims.models; m++) {
        this.#readSlot(seqIndex(dims, workerSlot(dims, w, m)), workerOffset(dims, w, m),
          this.#scratchWorker, this.#worker[w * dims.models + m], w, st);
      }
    }
    return st;
  }

  #readSlot(seq: number, off: number, scratch: Float64Array, good: Float64Array, shard: number, st: ReadStats): void {
    const ctl = this.#ctl, src = this.#d.subarray(off, off + scratch.length);
    const deadline = performance.now() + SLOT_DEADLINE_MS;
    for (;;) {
      const s1 = Atomics.load(ctl, seq);
      // Even and as at the last copy: no write since, the copy stands (the seqlock's counter doubles as a change mark).
      if (s1 === this.#copiedSeq[seq]) return;
      if ((s1 & 1) === 0) {
        scratch.set(src);
        if (Atomics.load(ctl, seq) === s1) {
          good.set(scratch);
          this.#copiedSeq[seq] = s1;
          this.#version++;
          return;
        }
        st.retries++;
      } else if (shard >= 0 && Atomics.load(ctl, ownerIndex(shard)) === 0) {
        // Released shard with an open seqlock: its writer is gone, close it.
        repairSeq(ctl, seq);
        st.repaired++;
        continue;
      }
      if (performance.now() > deadline) {
        st.stale++;
        return;
      }
      if (s1 & 1) Atomics.wait(nap, 0, 0, 0.05);
    }
  }
}
