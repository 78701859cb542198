// How monitoring figures become MLflow metrics, so every flush names and
// encodes them the same way: hierarchical keys ("latency_ms/end_to_end/p99")
// and categorical states as numbers MLflow can chart.
import { toMetricKey } from './keys.js';

/** Health as a number: higher is worse, so a chart spikes on trouble. */
export const HEALTH_VALUE = { healthy: 0, degraded: 1, unhealthy: 2 } as const;
/** Drift severity as a number. */
export const DRIFT_SEVERITY_VALUE = { none: 0, medium: 1, high: 2 } as const;

/**
 * Flattens a nested figures object into metric keys, e.g.
 * { latency_ms: { end_to_end: { p99: 4.2 } }, requests: { window_1m: 120 } } →
 * { "latency_ms/end_to_end/p99": 4.2, "requests/window_1m": 120 }.
 * Non-numeric leaves are skipped; booleans become 0/1.
 */
export function flattenMetrics(figures: unknown, prefix: string[] = [], out: Record<string, number> = {}): Record<string, number> {
  if (typeof figures === 'number') out[toMetricKey(prefix)] = figures;
  else if (typeof figures === 'boolean') out[toMetricKey(prefix)] = figures ? 1 : 0;
  else if (figures && typeof figures === 'object' && !Array.isArray(figures)) {
    for (const [k, v] of Object.entries(figures as Record<string, unknown>)) flattenMetrics(v, [...prefix, k], out);
  }
  return out;
}
