// The telemetry API the rest of the engine uses: allocate, record, read.
export { createTelemetry, type TelemetryBuffers, type TelemetryOptions } from './buffers.js';
export { claimWorkerShard, releaseWorkerShard, type WorkerRecorder } from './worker_recorder.js';
export { createMainRecorder, UNROUTED, type MainRecorder } from './main_recorder.js';
export { ERROR_CODES, INLINE_SHARD_OWNER, type ErrorCode } from './layout.js';
export { ShardReader, type ReadStats } from './reader.js';
