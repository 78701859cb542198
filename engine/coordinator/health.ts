// Health per model from its checks, the overall status, and alerts that
// remember since when they have been active.
import type { CalibrationConfig, ModelQuality } from './quality.js';
import { wilson } from './quality_metrics.js';
import type { FeatureDriftReport } from './feature_drift.js';
import type {
  Alert, AlertEvent, CheckStatus, DriftReport, HealthCheck, HealthStatus, ModelHealth, StatsBlock,
} from './snapshot.js';

export interface HealthConfig {
  /** Window the error-rate and p99 checks look at. */
  window: string;
  errorRateDegraded: number;
  errorRateUnhealthy: number;
  /** Fewer requests than this in the window: the error-rate check passes (too few to judge). */
  minRequests: number;
  /** Fewer end-to-end latencies than this in the window: the p99 check passes (a p99 of a handful is their maximum). */
  latencyMinRequests: number;
  /** p99 end-to-end objective; above it degraded, above factor × it unhealthy. */
  p99ObjectiveMs: number;
  p99UnhealthyFactor: number;
  /** The MLflow check stays degraded this long after batches were dropped or entities refused. */
  mlflowLossWarnMs: number;
  /** Share of a category field's sampled values outside the manifest's categories that makes a model degraded. */
  unknownRateDegraded: number;
  /** Fewer sampled values of a field than this in the window: its unknown rate is not judged. */
  unknownMinSamples: number;
}

export const DEFAULT_HEALTH: Omit<HealthConfig, 'window'> = {
  errorRateDegraded: 0.01, errorRateUnhealthy: 0.05, minRequests: 20, latencyMinRequests: 100, p99ObjectiveMs: 50, p99UnhealthyFactor: 2,
  mlflowLossWarnMs: 600_000, unknownRateDegraded: 0.01, unknownMinSamples: 100,
};

export interface Workers { alive: number; expected: number }

/** `extra`: checks only some configurations have (calibration, when labels are on). */
export function modelHealth(w: StatsBlock, drift: DriftReport, workers: Workers, cfg: HealthConfig, extra: HealthCheck[] = []): ModelHealth {
  const checks: HealthCheck[] = [errorRate(w, cfg), latencyP99(w, cfg), driftCheck(drift), workersCheck(workers), ...extra];
  const status: HealthStatus = checks.some((c) => c.status === 'fail') ? 'unhealthy'
    : checks.some((c) => c.status === 'warn') ? 'degraded' : 'healthy';
  return { status, checks };
}

function errorRate(w: StatsBlock, cfg: HealthConfig): HealthCheck {
  const threshold = { degraded: cfg.errorRateDegraded, unhealthy: cfg.errorRateUnhealthy, min_requests: cfg.minRequests, window: cfg.window };
  if (w.total_requests < cfg.minRequests) {
    return { name: 'error_rate', status: 'pass', value: w.error_rate, threshold, detail: `${w.total_requests} requests in ${cfg.window}: too few to judge` };
  }
  const status: CheckStatus = w.error_rate >= cfg.errorRateUnhealthy ? 'fail' : w.error_rate >= cfg.errorRateDegraded ? 'warn' : 'pass';
  return { name: 'error_rate', status, value: w.error_rate, threshold, detail: `${w.error_count} errors of ${w.total_requests} requests in ${cfg.window}` };
}

function latencyP99(w: StatsBlock, cfg: HealthConfig): HealthCheck {
  const objective = cfg.p99ObjectiveMs, hard = objective * cfg.p99UnhealthyFactor;
  const threshold = { degraded_ms: objective, unhealthy_ms: hard, min_requests: cfg.latencyMinRequests, window: cfg.window };
  const l = w.latency_ms;
  if (l.count === 0) return { name: 'latency_p99', status: 'pass', value: null, threshold, detail: `no requests in ${cfg.window}` };
  if (l.count < cfg.latencyMinRequests) {
    return { name: 'latency_p99', status: 'pass', value: l.p99, threshold, detail: `end-to-end p99 ${l.p99} ms over ${l.count} requests in ${cfg.window}: too few to judge` };
  }
  const status: CheckStatus = l.p99 > hard ? 'fail' : l.p99 > objective ? 'warn' : 'pass';
  return { name: 'latency_p99', status, value: l.p99, threshold, detail: `end-to-end p99 ${l.p99} ms over ${l.count} requests` };
}

function driftCheck(d: DriftReport): HealthCheck {
  const threshold = { window: d.window, degraded_at: 'medium' };
  const status: CheckStatus = d.severity === 'none' ? 'pass' : 'warn';
  return { name: 'drift', status, value: d.severity, threshold, detail: d.message };
}

/**
 * Values outside a one-hot field's categories are encoded by the manifest's
 * `unknown` policy (an `other` column, or all zeros), never rejected: one new
 * device type must not turn a slice of traffic into errors. That is exactly
 * why it must not be silent: the model scores inputs it never saw, so past
 * `unknownRateDegraded` of a field's sampled values in the drift window the
 * model is degraded, with an alert naming the field.
 */
export function unknownValuesCheck(f: FeatureDriftReport, cfg: HealthConfig): HealthCheck {
  const threshold = { degraded: cfg.unknownRateDegraded, min_samples: cfg.unknownMinSamples, window: f.window };
  let worst = 0;
  const seen: string[] = [];
  const bad: string[] = [];
  for (const fd of f.fields) {
    if (fd.unknown_rate === undefined || fd.unknown_rate === null) continue;
    if (fd.samples < cfg.unknownMinSamples) continue;
    seen.push(fd.field);
    worst = Math.max(worst, fd.unknown_rate);
    if (fd.unknown_rate > cfg.unknownRateDegraded) bad.push(`${fd.field} ${(fd.unknown_rate * 100).toFixed(1)} % of ${fd.samples} sampled values`);
  }
  if (seen.length === 0) {
    return { name: 'unknown_values', status: 'pass', value: null, threshold, detail: `no category field has ${cfg.unknownMinSamples} sampled values in ${f.window}: too few to judge` };
  }
  if (bad.length > 0) {
    return { name: 'unknown_values', status: 'warn', value: worst, threshold, detail: `values outside the manifest's categories in ${f.window}: ${bad.join('; ')}` };
  }
  return { name: 'unknown_values', status: 'pass', value: worst, threshold, detail: `category fields within their manifest's categories in ${f.window}: ${seen.join(', ')}` };
}

function workersCheck(w: Workers): HealthCheck {
  const threshold = { expected: w.expected };
  const status: CheckStatus = w.expected > 0 && w.alive === 0 ? 'fail' : w.alive < w.expected ? 'warn' : 'pass';
  return { name: 'workers', status, value: w.alive, threshold, detail: `${w.alive} of ${w.expected} inference workers alive` };
}

const order: Record<HealthStatus, number> = { healthy: 0, degraded: 1, unhealthy: 2 };
export const worstStatus = (all: HealthStatus[]): HealthStatus =>
  all.reduce<HealthStatus>((a, b) => (order[b] > order[a] ? b : a), 'healthy');

/** Tracks active alerts across ticks so `since` survives, and reports what was raised or resolved. */
export class AlertTracker {
  readonly #active = new Map<string, Alert>();

  /** `global` checks (mlflow) raise alerts with model "". */
  update(models: Record<string, ModelHealth>, now: Date, global: HealthCheck[] = []): { alerts: Alert[]; events: AlertEvent[] } {
    const at = now.toISOString();
    const events: AlertEvent[] = [];
    const seen = new Set<string>();
    const all: Array<[string, HealthCheck[]]> = [...Object.entries(models).map(([m, h]) => [m, h.checks] as [string, HealthCheck[]]), ['', global]];
    for (const [model, checks] of all) {
      for (const c of checks) {
        if (c.status === 'pass') continue;
        const key = `${model}\u0000${c.name}`;
        seen.add(key);
        const severity = c.status === 'fail' ? 'critical' : 'warning';
        const prev = this.#active.get(key);
        const alert: Alert = { model, kind: c.name, severity, since: prev?.since ?? at, message: c.detail };
        if (!prev || prev.severity !== severity) events.push({ event: 'raised', alert, at });
        this.#active.set(key, alert);
      }
    }
    for (const [key, alert] of this.#active) {
      if (!seen.has(key)) {
        this.#active.delete(key);
        events.push({ event: 'resolved', alert, at });
      }
    }
    return { alerts: [...this.#active.values()], events };
  }
}

/**
 * Calibration per version in the check's window: warn when a version with
 * enough labels is off by more than the tolerance and its 99.9 % Wilson
 * interval excludes 1 (stricter than the 95 % one shown: the check runs every
 * tick on overlapping windows, and a few dozen clicks are noisy). Never worse
 * than warn: a miscalibrated model still serves.
 */
const Z999 = 3.2905267314919255;

export function calibrationCheck(q: ModelQuality, cfg: CalibrationConfig): HealthCheck {
  const threshold = { tolerance: cfg.tolerance, min_labels: cfg.minLabels, window: cfg.window };
  const g = cfg.window === 'lifetime' ? q.lifetime : q.windows[cfg.window];
  const bad: string[] = [];
  const judged: string[] = [];
  let worst: number | null = null;
  let worstFactor = 0;
  for (const [version, b] of Object.entries(g?.by_version ?? {})) {
    if (b.labelled < cfg.minLabels || b.calibration_ratio === null || b.calibration_ratio_ci95 === null) continue;
    const r = b.calibration_ratio;
    const factor = r > 0 ? Math.max(r, 1 / r) : Infinity;
    judged.push(`v${version} ${r.toFixed(3)} (${b.labelled} labels)`);
    if (factor > worstFactor) { worstFactor = factor; worst = r; }
    const pred = b.mean_predicted_ctr!;
    const [wlo, whi] = wilson(b.clicks, b.labelled, Z999);
    const lo = wlo / pred, hi = whi / pred;
    if (factor > 1 + cfg.tolerance && (lo > 1 || hi < 1)) {
      bad.push(`version ${version}: observed/predicted CTR ${r.toFixed(3)} (99.9 % CI ${lo.toFixed(3)}–${hi.toFixed(3)}) over ${b.labelled} labels`);
    }
  }
  if (judged.length === 0) {
    return { name: 'calibration', status: 'pass', value: null, threshold, detail: `no version has ${cfg.minLabels} labels in ${cfg.window}: too few to judge` };
  }
  if (bad.length > 0) return { name: 'calibration', status: 'warn', value: worst, threshold, detail: `miscalibrated in ${cfg.window}: ${bad.join('; ')}` };
  return { name: 'calibration', status: 'pass', value: worst, threshold, detail: `calibrated within ${cfg.tolerance} in ${cfg.window}: ${judged.join(', ')}` };
}
