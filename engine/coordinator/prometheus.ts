// GET /metrics: Prometheus text exposition (format 0.0.4) of a snapshot.
// Histograms are real: cumulative buckets summed from the HDR cells.
import { ERROR_CODES } from '../telemetry/layout.js';
import type { PromHistogram, Snapshot, StatsBlock } from './snapshot.js';
import { BATCH_LE, LATENCY_LE_S } from './stats.js';
import { STAGES } from './totals.js';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const num = (x: number): string => (Number.isFinite(x) ? String(x) : Number.isNaN(x) ? 'NaN' : x > 0 ? '+Inf' : '-Inf');
const STATUS_VALUE = { healthy: 0, degraded: 1, unhealthy: 2 } as const;
const CHECK_VALUE = { pass: 0, warn: 1, fail: 2 } as const;
const SEVERITY_VALUE = { none: 0, medium: 1, high: 2 } as const;

export function prometheusText(s: Snapshot): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  const models = s.model_order.map((n) => s.models[n]);

  // The version serving now: a hot reload moves the label (join on model to tag other series).
  family('ctr_model_info', 'gauge', 'The model version serving now (value 1).');
  for (const m of models) out.push(`ctr_model_info{model="${esc(m.name)}",version="${esc(m.version)}"} 1`);

  family('ctr_requests_total', 'counter', 'Prediction requests received.');
  for (const m of models) out.push(`ctr_requests_total{model="${esc(m.name)}"} ${num(m.lifetime.total_requests)}`);
  out.push(`ctr_requests_total{model=""} ${num(s.unrouted.total_requests)}`);

  family('ctr_successes_total', 'counter', 'Requests answered with a prediction.');
  for (const m of models) out.push(`ctr_successes_total{model="${esc(m.name)}"} ${num(m.lifetime.successful_requests)}`);

  family('ctr_errors_total', 'counter', 'Requests answered with an error, by error code (model="" before a model was known).');
  for (const m of models) {
    for (const c of ERROR_CODES) out.push(`ctr_errors_total{model="${esc(m.name)}",code="${c}"} ${num(m.lifetime.errors[c])}`);
  }
  for (const c of ERROR_CODES) out.push(`ctr_errors_total{model="",code="${c}"} ${num(s.unrouted.errors[c])}`);

  family('ctr_inference_failures_total', 'counter', 'Rows whose inference failed in a worker.');
  for (const m of models) out.push(`ctr_inference_failures_total{model="${esc(m.name)}"} ${num(m.lifetime.inference_failures)}`);

  family('ctr_stage_latency_seconds', 'histogram', 'Server-side latency per request by stage (queue_wait, inference, end_to_end).');
  for (const m of models) {
    for (const st of STAGES) histogram(out, 'ctr_stage_latency_seconds', `model="${esc(m.name)}",stage="${st}"`, m.prometheus.stages[st], LATENCY_LE_S);
  }

  family('ctr_batch_size', 'histogram', 'Rows per inference batch.');
  for (const m of models) histogram(out, 'ctr_batch_size', `model="${esc(m.name)}"`, m.prometheus.batch_size, BATCH_LE);

  family('ctr_predictions_total', 'counter', 'Predictions made.');
  for (const m of models) out.push(`ctr_predictions_total{model="${esc(m.name)}"} ${num(m.lifetime.prediction.count)}`);
  for (const [metric, help, pick] of [
    ['ctr_prediction_mean', 'Mean predicted CTR over the window ("lifetime" or a window name).', (b: StatsBlock) => b.prediction.mean],
    ['ctr_prediction_std', 'Standard deviation of predicted CTR over the window.', (b: StatsBlock) => b.prediction.std],
  ] as const) {
    family(metric, 'gauge', help);
    for (const m of models) {
      for (const [w, b] of [['lifetime', m.lifetime] as const, ...Object.entries(m.windows)]) {
        out.push(`${metric}{model="${esc(m.name)}",window="${w}"} ${num(pick(b))}`);
      }
    }
  }

  family('ctr_drift_severity', 'gauge', 'Drift severity of the model: 0 none, 1 medium, 2 high.');
  for (const m of models) out.push(`ctr_drift_severity{model="${esc(m.name)}"} ${SEVERITY_VALUE[m.drift.severity]}`);
  family('ctr_model_health', 'gauge', 'Model health: 0 healthy, 1 degraded, 2 unhealthy.');
  for (const m of models) out.push(`ctr_model_health{model="${esc(m.name)}"} ${STATUS_VALUE[m.health.status]}`);
  family('ctr_health_check', 'gauge', 'One health check of a model: 0 pass, 1 warn, 2 fail.');
  for (const m of models) for (const c of m.health.checks) out.push(`ctr_health_check{model="${esc(m.name)}",check="${c.name}"} ${CHECK_VALUE[c.status]}`);
  family('ctr_workers_alive', 'gauge', 'Inference workers alive.');
  out.push(`ctr_workers_alive ${s.workers.alive}`);
  family('ctr_workers_expected', 'gauge', 'Inference workers the pool should have.');
  out.push(`ctr_workers_expected ${s.workers.expected}`);
  family('ctr_alerts_active', 'gauge', 'Active monitoring alerts.');
  out.push(`ctr_alerts_active ${s.health.alerts.length}`);
  family('ctr_change_alarm', 'gauge', 'Page-Hinkley change alarm (1 while held) on the prediction mean and the error rate.');
  for (const m of models) {
    if (!m.drift.change) continue;
    out.push(`ctr_change_alarm{model="${esc(m.name)}",signal="prediction_mean"} ${m.drift.change.prediction_mean.alarm ? 1 : 0}`);
    out.push(`ctr_change_alarm{model="${esc(m.name)}",signal="error_rate"} ${m.drift.change.error_rate.alarm ? 1 : 0}`);
  }
  if (models.some((m) => m.drift.features)) {
    family('ctr_feature_psi', 'gauge', 'PSI of a watched request field, drift window against the baseline.');
    for (const m of models) for (const f of m.drift.features?.fields ?? []) if (f.psi !== null) out.push(`ctr_feature_psi{model="${esc(m.name)}",field="${esc(f.field)}"} ${num(f.psi)}`);
    family('ctr_feature_drift_severity', 'gauge', 'Drift of a watched request field: 0 none, 1 medium, 2 high.');
    for (const m of models) for (const f of m.drift.features?.fields ?? []) out.push(`ctr_feature_drift_severity{model="${esc(m.name)}",field="${esc(f.field)}"} ${SEVERITY_VALUE[f.severity]}`);
    family('ctr_feature_unknown_rate', 'gauge', "Share of watched rows in the drift window whose value was outside the field's categories.");
    for (const m of models) for (const f of m.drift.features?.fields ?? []) if (f.unknown_rate !== undefined && f.unknown_rate !== null) out.push(`ctr_feature_unknown_rate{model="${esc(m.name)}",field="${esc(f.field)}"} ${num(f.unknown_rate)}`);
    family('ctr_feature_missing_rate', 'gauge', 'Share of watched rows in the drift window where the field was missing.');
    for (const m of models) for (const f of m.drift.features?.fields ?? []) if (f.missing_rate !== null) out.push(`ctr_feature_missing_rate{model="${esc(m.name)}",field="${esc(f.field)}"} ${num(f.missing_rate)}`);
  }
  if (s.feedback) qualityFamilies(s, models, family, out);
  if (s.mlflow) mlflowFamilies(s.mlflow, family, out);
  return out.join('\n') + '\n';
}

/** Feedback outcomes and label-based quality per model and version (lifetime and windows), per variant (lifetime). */
function qualityFamilies(s: Snapshot, models: Snapshot['models'][string][], family: (n: string, t: string, h: string) => void, out: string[]): void {
  const f = s.feedback!;
  family('ctr_feedback_total', 'counter', 'Feedback items and label outcomes (received, joined, unknown, duplicate, expired, late_clicks, implicit_nonclicks, …).');
  for (const [k, v] of Object.entries(f.counters)) out.push(`ctr_feedback_total{outcome="${k}"} ${num(v)}`);
  family('ctr_label_ring_capacity', 'gauge', 'Predictions the label ring holds at once.');
  out.push(`ctr_label_ring_capacity ${f.capacity}`);
  family('ctr_label_ring_bytes', 'gauge', 'Bytes of the label ring and its hash table (fixed).');
  out.push(`ctr_label_ring_bytes ${f.ring_bytes}`);
  const metrics = [
    ['ctr_quality_labelled', 'Labelled impressions in the window.', 'labelled'],
    ['ctr_quality_observed_ctr', 'Observed CTR of labelled impressions.', 'observed_ctr'],
    ['ctr_quality_mean_predicted_ctr', 'Mean predicted CTR of labelled impressions.', 'mean_predicted_ctr'],
    ['ctr_quality_calibration_ratio', 'Observed over mean predicted CTR (1 is calibrated).', 'calibration_ratio'],
    ['ctr_quality_log_loss', 'Mean log loss of labelled impressions.', 'log_loss'],
    ['ctr_quality_brier', 'Brier score of labelled impressions.', 'brier'],
    ['ctr_quality_auc', 'AUC over predicted-CTR buckets.', 'auc'],
    ['ctr_quality_ece', 'Expected calibration error over equal-count groups.', 'ece'],
  ] as const;
  for (const [name, help, key] of metrics) {
    family(name, 'gauge', help);
    for (const m of models) {
      const q = m.quality;
      if (!q) continue;
      for (const [w, g] of [['lifetime', q.lifetime] as const, ...Object.entries(q.windows)]) {
        const v = g[key];
        if (v !== null) out.push(`${name}{model="${esc(m.name)}",version="",variant="",window="${w}"} ${num(v)}`);
        for (const [ver, b] of Object.entries(g.by_version)) {
          if (b[key] !== null) out.push(`${name}{model="${esc(m.name)}",version="${esc(ver)}",variant="",window="${w}"} ${num(b[key]!)}`);
        }
        if (w !== 'lifetime') continue;
        for (const [variant, b] of Object.entries(g.by_variant)) {
          if (b[key] !== null) out.push(`${name}{model="${esc(m.name)}",version="",variant="${variant}",window="${w}"} ${num(b[key]!)}`);
        }
      }
    }
  }
}

/** MLflow sink families; only present when MLflow logging is on. */
function mlflowFamilies(m: NonNullable<Snapshot['mlflow']>, family: (n: string, t: string, h: string) => void, out: string[]): void {
  const labels = `{backend="${m.backend}"}`;
  for (const [name, type, help, value] of [
    ['ctr_mlflow_up', 'gauge', 'MLflow reachable: 1 when the last delivery attempt worked (or none failed yet), 0 while retrying or after close.',
      m.state === 'ok' || m.state === 'starting' ? 1 : 0],
    ['ctr_mlflow_pending_batches', 'gauge', 'Metric batches waiting for delivery to MLflow, all models.', m.pending],
    ['ctr_mlflow_delivered_batches_total', 'counter', 'Metric batches delivered to MLflow.', m.delivered],
    ['ctr_mlflow_dropped_batches_total', 'counter', 'Metric batches lost: buffer full during an outage, or still pending at the shutdown deadline.', m.dropped],
    ['ctr_mlflow_rejected_total', 'counter', 'Metrics, params and tags MLflow refused with an error retrying cannot fix.', m.rejected],
    ['ctr_mlflow_flushes_total', 'counter', 'Flush intervals recorded (one batch per model each).', m.flushes],
  ] as const) {
    family(name, type, help);
    out.push(`${name}${labels} ${num(value)}`);
  }
}

function histogram(out: string[], name: string, labels: string, h: PromHistogram, bounds: number[]): void {
  bounds.forEach((le, i) => out.push(`${name}_bucket{${labels},le="${le}"} ${num(h.le_counts[i] ?? 0)}`));
  out.push(`${name}_bucket{${labels},le="+Inf"} ${num(h.count)}`);
  out.push(`${name}_sum{${labels}} ${num(h.sum)}`);
  out.push(`${name}_count{${labels}} ${num(h.count)}`);
}
