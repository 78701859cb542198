// Public surface of the MLflow sink for the coordinator.
export { createMlflowSink, defaultFlushBufferLimit, DEFAULT_FLUSH_BUFFER_LIMIT } from './sink.js';
export type { MlflowSink, MlflowSinkOptions, MlflowSinkStats } from './sink.js';
export { toMetricKey, sanitizeKey, isValidKey, MAX_KEY_LENGTH } from './keys.js';
export { pythonFloatRepr, restDouble } from './values.js';
export { resolveFileStoreRoot } from './file_store.js';
export { isRestUri } from './store_factory.js';
export { RUN_TAG } from './run_identity.js';
export type { Clock, MlflowLogger } from './types.js';
export { flattenMetrics, HEALTH_VALUE, DRIFT_SEVERITY_VALUE } from './metric_keys.js';
