// The monitoring API the server uses: start the coordinator thread, serve its snapshots.
export { startMonitor, DEFAULT_CLOSE_DEADLINE_MS, type Monitor, type MonitorOptions } from './monitor.js';
export { DEFAULT_FLUSH_INTERVAL_MS, type MlflowMonitorOptions } from './mlflow_flusher.js';
export { modelMetrics, mlflowCheck } from './mlflow_metrics.js';
export { statsBody, healthBody, driftBody } from './bodies.js';
export {
  HISTOGRAM_ENCODING, addBlock, decodeHdr, encodeBlock, totalsOfBlock,
  type HistogramBlock, type HistogramsBody, type ModelHistograms,
} from './histograms.js';
export { prometheusText, PROMETHEUS_CONTENT_TYPE } from './prometheus.js';
export { validateBaseline, type BaselineOutcome, type BaselineError } from './baseline.js';
export { DEFAULT_DRIFT, type DriftConfig } from './drift.js';
export { DEFAULT_HEALTH, type HealthConfig } from './health.js';
export type { ModelInfo } from './coordinator.js';
export type * from './snapshot.js';
