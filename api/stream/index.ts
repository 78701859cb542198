// The live stats stream (WS /monitoring/stream) and the dashboard (GET /dashboard).
export { registerStreamRoutes, STREAM_PATH, SLOW_CLOSE_CODE, type StreamHub, type StreamMetrics, type StreamDeps } from './hub.js';
export { DEFAULT_STREAM_OPTIONS, MAX_INTERVAL_MS, streamOptions, type StreamOptions } from './options.js';
export { streamPrometheusText } from './prometheus.js';
export type { Frame, HelloFrame, SnapshotFrame, AlertFrame, StatusChange, StreamFormat } from './frames.js';
export { registerDashboardRoutes, DASHBOARD_PATH } from '../dashboard/routes.js';
