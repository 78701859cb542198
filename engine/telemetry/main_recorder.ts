// The main thread's side: main shard 0, end-to-end latency and request
// outcome counters, one seqlock bracket per call (protocol in layout.ts).
// With ACCEPTORS > 1 each acceptor thread writes its own main shard (one
// writer per shard); the reader sums them.
import { dimsOf, type TelemetryBuffers } from './buffers.js';
import { hdrOver, type Hdr } from './hdr.js';
import {
  ERROR_INDEX, LATENCY_CELLS, LATENCY_HIGHEST_US, M_E2E_HIST, M_E2E_SUM_US, M_ERRORS, M_REQUESTS,
  M_SUCCESSES, mainOffset, mainSlot, seqIndex, type ErrorCode,
} from './layout.js';

/** modelIndex for requests that fail before a model is known (bad JSON, unknown model…). */
export const UNROUTED = -1;

export interface MainRecorder {
  readonly enabled: boolean;
  /** Server-side end-to-end latency of one request, µs. */
  recordEndToEnd(modelIndex: number, us: number): void;
  countRequest(modelIndex: number, n?: number): void;
  countSuccess(modelIndex: number, n?: number): void;
  /** Unknown codes count as `other`. modelIndex UNROUTED (-1) when no model is known. */
  countError(modelIndex: number, code: ErrorCode, n?: number): void;
  /** countSuccess(n) and recordEndToEnd(us) for n requests in one bracket (the common response path). */
  recordSuccess(modelIndex: number, us: number, n?: number): void;
}

const NOOP_MAIN: MainRecorder = {
  enabled: false,
  recordEndToEnd() {},
  countRequest() {},
  countSuccess() {},
  countError() {},
  recordSuccess() {},
};

/** The recorder of main shard `shard` (0: the main thread; a: acceptor thread a). Only that thread may call it. */
export function createMainRecorder(buffers: TelemetryBuffers, shard = 0): MainRecorder {
  if (!(Number.isInteger(shard) && shard >= 0 && shard < (buffers.mainShards ?? 1))) {
    throw new RangeError(`createMainRecorder: main shard ${shard} does not exist (${buffers.mainShards ?? 1} allocated)`);
  }
  return buffers.enabled ? new MainShardRecorder(buffers, shard) : NOOP_MAIN;
}

const clampUs = (us: number): number => (us > 0 ? (us < LATENCY_HIGHEST_US ? Math.round(us) : LATENCY_HIGHEST_US) : 0);

class MainShardRecorder implements MainRecorder {
  readonly enabled = true;
  readonly #ctl: Int32Array;
  readonly #d: Float64Array;
  readonly #models: number;
  readonly #base: Int32Array; // per model, then the unrouted slot last
  readonly #seq: Int32Array;
  readonly #e2e: Hdr[];

  constructor(buffers: TelemetryBuffers, shard: number) {
    const dims = dimsOf(buffers);
    this.#ctl = new Int32Array(buffers.control);
    this.#d = new Float64Array(buffers.data);
    this.#models = dims.models;
    this.#base = new Int32Array(dims.models + 1);
    this.#seq = new Int32Array(dims.models + 1);
    this.#e2e = [];
    for (let m = 0; m <= dims.models; m++) {
      const b = mainOffset(dims, m, shard);
      this.#base[m] = b;
      this.#seq[m] = seqIndex(dims, mainSlot(dims, m, shard));
      this.#e2e.push(hdrOver(this.#d.subarray(b + M_E2E_HIST, b + M_E2E_HIST + LATENCY_CELLS), LATENCY_HIGHEST_US));
    }
  }

  /** Slot for a modelIndex; out-of-range indexes land in the unrouted slot rather than being lost. */
  #slot(modelIndex: number): number {
    return modelIndex >= 0 && modelIndex < this.#models ? modelIndex : this.#models;
  }

  recordEndToEnd(modelIndex: number, us: number): void {
    const m = this.#slot(modelIndex), d = this.#d, b = this.#base[m], ctl = this.#ctl, s = this.#seq[m];
    const v = clampUs(us);
    Atomics.add(ctl, s, 1);
    d[b + M_E2E_SUM_US] += v;
    this.#e2e[m].recordValue(v);
    Atomics.add(ctl, s, 1);
  }

  countRequest(modelIndex: number, n = 1): void {
    this.#bump(this.#slot(modelIndex), M_REQUESTS, n);
  }

  countSuccess(modelIndex: number, n = 1): void {
    this.#bump(this.#slot(modelIndex), M_SUCCESSES, n);
  }

  countError(modelIndex: number, code: ErrorCode, n = 1): void {
    this.#bump(this.#slot(modelIndex), M_ERRORS + (ERROR_INDEX[code] ?? ERROR_INDEX.other), n);
  }

  recordSuccess(modelIndex: number, us: number, n = 1): void {
    const m = this.#slot(modelIndex), d = this.#d, b = this.#base[m], ctl = this.#ctl, s = this.#seq[m];
    const v = clampUs(us);
    Atomics.add(ctl, s, 1);
    d[b + M_SUCCESSES] += n;
    d[b + M_E2E_SUM_US] += v * n;
    this.#e2e[m].recordValueWithCount(v, n);
    Atomics.add(ctl, s, 1);
  }

  #bump(m: number, field: number, n: number): void {
    const ctl = this.#ctl, s = this.#seq[m];
    Atomics.add(ctl, s, 1);
    this.#d[this.#base[m] + field] += n;
    Atomics.add(ctl, s, 1);
  }
}
