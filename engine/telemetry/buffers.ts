// Allocation of the telemetry shared memory. The result is a plain object of
// SharedArrayBuffers and dimensions, so it travels in workerData unchanged.
import {
  CTL_MAGIC, CTL_MAIN_SHARDS, CTL_MODELS, CTL_WORKER_SHARDS, MAGIC, controlLength, dataLength, type Dims,
} from './layout.js';

export interface TelemetryOptions {
  /** Model names; a model's index in this list is its modelIndex everywhere. */
  models: string[];
  /** Worker shards to allocate: the pool's maxThreads plus a spare or two, since a replacement may start before its predecessor is released. */
  workerShards: number;
  /** Main shards: one per acceptor thread (ACCEPTORS), each written by its thread only. Default 1. */
  mainShards?: number;
  /** false = monitoring off: no memory, every recorder is a no-op of the same shape. Default true. */
  enabled?: boolean;
}

export interface TelemetryBuffers {
  enabled: boolean;
  models: string[];
  workerShards: number;
  /** Writers of end-to-end slots: main shard a belongs to acceptor thread a (0 = the main thread). */
  mainShards: number;
  /** Int32 header, owner table, seqlocks (see layout.ts). */
  control: SharedArrayBuffer;
  /** Float64 slots (see layout.ts). */
  data: SharedArrayBuffer;
}

export function createTelemetry(opts: TelemetryOptions): TelemetryBuffers {
  if (!Array.isArray(opts.models) || opts.models.some((m) => typeof m !== 'string' || m === '')) {
    throw new TypeError('createTelemetry: models must be an array of non-empty strings');
  }
  if (new Set(opts.models).size !== opts.models.length) {
    throw new TypeError('createTelemetry: model names must be unique');
  }
  if (!Number.isInteger(opts.workerShards) || opts.workerShards < 0 || opts.workerShards > 1024) {
    throw new TypeError('createTelemetry: workerShards must be an integer in [0, 1024]');
  }
  const mainShards = opts.mainShards ?? 1;
  if (!Number.isInteger(mainShards) || mainShards < 1 || mainShards > 256) {
    throw new TypeError('createTelemetry: mainShards must be an integer in [1, 256]');
  }
  const enabled = opts.enabled ?? true;
  const dims: Dims = { models: opts.models.length, workerShards: opts.workerShards, mainShards };
  const control = new SharedArrayBuffer(enabled ? controlLength(dims) * 4 : 64);
  const data = new SharedArrayBuffer(enabled ? dataLength(dims) * 8 : 8);
  const ctl = new Int32Array(control);
  ctl[CTL_MODELS] = dims.models;
  ctl[CTL_WORKER_SHARDS] = dims.workerShards;
  ctl[CTL_MAIN_SHARDS] = mainShards;
  Atomics.store(ctl, CTL_MAGIC, MAGIC);
  return { enabled, models: [...opts.models], workerShards: opts.workerShards, mainShards, control, data };
}

export function dimsOf(b: TelemetryBuffers): Dims {
  return { models: b.models.length, workerShards: b.workerShards, mainShards: b.mainShards ?? 1 };
}
