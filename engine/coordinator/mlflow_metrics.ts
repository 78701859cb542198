// What the coordinator hands MLflow each flush, and the MLflow health check.
// Pure functions over a snapshot, so the key set is testable without a thread.
import { DRIFT_SEVERITY_VALUE, HEALTH_VALUE, toMetricKey } from '../mlflow/index.js';
import type { QualityBlock } from './quality_metrics.js';
import type { CheckStatus, HealthCheck, LatencyBlock, MlflowStatus, ModelSnapshot, Snapshot, StatsBlock } from './snapshot.js';

export type { MlflowStatus } from './snapshot.js';

/** The sink's stats plus the coordinator's own flush bookkeeping, as carried in snapshot.mlflow. */

const STAGES = ['queue_wait', 'inference', 'end_to_end'] as const;
const LATENCY_FIELDS = ['avg', 'p50', 'p95', 'p99', 'p999', 'max'] as const;

/**
 * One model's figures for one flush, keyed hierarchically:
 *   lifetime/total_requests, window_1m/error_rate, window_1m/latency_ms/end_to_end/p99,
 *   window_5m/prediction/mean, drift/mean_shift/z, drift/severity, health, …
 * No key is a prefix folder of another ("a" and "a/b"): MLflow's file store
 * keeps keys as paths and could not hold both.
 * Latency of a stage with no samples, and prediction moments with no predictions,
 * are left out rather than logged as misleading zeros.
 */
export function modelMetrics(m: ModelSnapshot, s: Snapshot): Record<string, number> {
  const out: Record<string, number> = {};
  const put = (parts: Array<string | number>, v: number | null | undefined): void => {
    if (typeof v === 'number') out[toMetricKey(parts)] = v;
  };
  block(put, 'lifetime', m.lifetime, false);
  for (const w of s.window_names) {
    const b = m.windows[w];
    if (b) block(put, `window_${w}`, b, true);
  }

  const d = m.drift;
  put(['drift', 'severity'], DRIFT_SEVERITY_VALUE[d.severity]);
  put(['drift', 'detected'], d.drift_detected ? 1 : 0);
  put(['drift', 'has_baseline'], d.baseline ? 1 : 0);
  for (const c of d.checks) {
    put(['drift', c.name, c.name === 'psi' ? 'value' : 'z'], c.statistic);
    put(['drift', c.name, 'effect'], c.effect);
    put(['drift', c.name, 'severity'], DRIFT_SEVERITY_VALUE[c.severity]);
  }
  if (d.current.prediction.count > 0) {
    put(['drift', 'current', 'prediction_mean'], d.current.prediction.mean);
    put(['drift', 'current', 'prediction_std'], d.current.prediction.std);
  }
  if (d.current.latency_ms.count > 0) {
    put(['drift', 'current', 'latency_mean_ms'], d.current.latency_ms.mean);
    put(['drift', 'current', 'latency_std_ms'], d.current.latency_ms.std);
  }

  if (d.change) {
    for (const sig of ['prediction_mean', 'error_rate'] as const) {
      put(['change', sig, 'alarm'], d.change[sig].alarm ? 1 : 0);
      put(['change', sig, 'statistic'], d.change[sig].statistic);
    }
  }
  for (const f of d.features?.fields ?? []) {
    put(['feature_drift', f.field, 'psi'], f.psi);
    put(['feature_drift', f.field, 'severity'], DRIFT_SEVERITY_VALUE[f.severity]);
  }
  if (m.quality) {
    // quality/<lifetime|window_1m>/<figure>, and per variant quality/<…>/variant_<ab|explicit|by_value>/<figure>.
    for (const [scope, g] of [['lifetime', m.quality.lifetime] as const, ...Object.entries(m.quality.windows).map(([w, g]) => [`window_${w}`, g] as const)]) {
      qualityFigures(put, ['quality', scope], g);
      for (const [variant, b] of Object.entries(g.by_variant)) if (b.labelled > 0) qualityFigures(put, ['quality', scope, `variant_${variant}`], b);
    }
  }

  put(['health'], HEALTH_VALUE[m.health.status]);
  // Not "health/<check>": "health" is a leaf, and a key cannot also be another key's folder.
  for (const c of m.health.checks) put(['health_check', c.name], CHECK_VALUE[c.status]);
  put(['workers', 'alive'], s.workers.alive);
  put(['workers', 'expected'], s.workers.expected);
  return out;
}

const QUALITY_FIGURES = ['labelled', 'late_clicks', 'observed_ctr', 'mean_predicted_ctr', 'calibration_ratio', 'log_loss', 'brier', 'auc', 'ece'] as const;

function qualityFigures(put: Put, parts: string[], b: QualityBlock): void {
  for (const f of QUALITY_FIGURES) put([...parts, f], b[f]);
  if (b.calibration_ratio_ci95) {
    put([...parts, 'calibration_ratio_ci95_low'], b.calibration_ratio_ci95[0]);
    put([...parts, 'calibration_ratio_ci95_high'], b.calibration_ratio_ci95[1]);
  }
}

/** Check status as a number, like HEALTH_VALUE: 0 pass, 1 warn, 2 fail. */
const CHECK_VALUE: Record<CheckStatus, number> = { pass: 0, warn: 1, fail: 2 };

type Put = (parts: Array<string | number>, v: number | null | undefined) => void;

function block(put: Put, prefix: string, b: StatsBlock, withRate: boolean): void {
  put([prefix, 'total_requests'], b.total_requests);
  put([prefix, 'successful_requests'], b.successful_requests);
  put([prefix, 'error_count'], b.error_count);
  put([prefix, 'error_rate'], b.error_rate);
  if (withRate) put([prefix, 'requests_per_minute'], b.requests_per_minute);
  for (const st of STAGES) latency(put, [prefix, 'latency_ms', st], b.stages[st]);
  put([prefix, 'prediction', 'count'], b.prediction.count);
  if (b.prediction.count > 0) {
    put([prefix, 'prediction', 'mean'], b.prediction.mean);
    put([prefix, 'prediction', 'std'], b.prediction.std);
  }
}

function latency(put: Put, parts: string[], l: LatencyBlock): void {
  if (l.count === 0) return;
  for (const f of LATENCY_FIELDS) put([...parts, f], l[f]);
}

/** When the MLflow check last saw batches dropped or entities refused (tracked across ticks). */
export interface MlflowLossTracker { dropped: number; rejected: number; lastDropAt: number | null; lastRejectAt: number | null }

export const newLossTracker = (): MlflowLossTracker => ({ dropped: 0, rejected: 0, lastDropAt: null, lastRejectAt: null });

/**
 * The top-level MLflow check. Never worse than `warn`: MLflow being down
 * degrades the monitoring history, not serving.
 * - warn while MLflow is unavailable and batches are waiting;
 * - warn for `recentLossMs` after batches were dropped or entities refused.
 */
export function mlflowCheck(s: MlflowStatus, loss: MlflowLossTracker, now: number, recentLossMs: number): HealthCheck {
  if (s.dropped > loss.dropped) loss.lastDropAt = now;
  if (s.rejected > loss.rejected) loss.lastRejectAt = now;
  loss.dropped = s.dropped;
  loss.rejected = s.rejected;
  const threshold = {
    pending_while_retrying: 0,
    recent_loss_window_s: recentLossMs / 1000,
    buffer_limit_per_model: s.bufferLimit,
  };
  const problems: string[] = [];
  if (s.state === 'retrying' && s.pending > 0) {
    problems.push(`MLflow (${s.backend}) unavailable, retrying: ${s.pending} batches pending` +
      (s.lastError ? ` (last error: ${s.lastError})` : ''));
  }
  const recent = (t: number | null): boolean => t !== null && now - t < recentLossMs;
  if (recent(loss.lastDropAt)) problems.push(`${s.dropped} batches dropped since start, the last at ${new Date(loss.lastDropAt!).toISOString()}`);
  if (recent(loss.lastRejectAt)) problems.push(`${s.rejected} metrics/params/tags refused by MLflow since start, the last at ${new Date(loss.lastRejectAt!).toISOString()}`);
  const detail = problems.length > 0 ? problems.join('; ')
    : `MLflow (${s.backend}) ${s.state}: ${s.delivered} batches delivered, ${s.pending} pending, ${s.dropped} dropped, ${s.rejected} refused`;
  return { name: 'mlflow', status: problems.length > 0 ? 'warn' : 'pass', value: s.pending, threshold, detail };
}
