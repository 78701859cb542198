// The snapshot the coordinator posts every tick (msgpack) and the main thread
// serves from. Types only: one shape shared by the thread, the monitor and the
// body builders.
import type { ErrorCode } from '../telemetry/layout.js';
import type { MlflowSinkStats } from '../mlflow/index.js';
import type { FeedbackStats, ModelQuality } from './quality.js';
import type { FeatureBaseline, FeatureDriftReport } from './feature_drift.js';
import type { ModelChange } from './change_detector.js';

/** The MLflow sink as the snapshot reports it. */
export interface MlflowStatus extends MlflowSinkStats {
  experimentName: string;
  flushIntervalMs: number;
  /** Pending batches kept per model before the oldest is dropped. */
  bufferLimit: number;
  /** Flushes recorded so far (the next step number of every run). */
  flushes: number;
  lastFlushAt: number | null;
}

/** Latency of one stage, in ms. avg is exact (kept as a sum); the rest are HDR values within 0.1 %. */
export interface LatencyBlock {
  count: number; avg: number; p50: number; p95: number; p99: number; p999: number; min: number; max: number;
}

export interface BatchSizeBlock { count: number; avg: number; p50: number; p95: number; p99: number; max: number }

export interface PredictionBlock { count: number; mean: number; std: number; min: number | null; max: number | null }

export interface StatsBlock {
  total_requests: number;
  successful_requests: number;
  error_count: number;
  error_rate: number;
  errors: Record<ErrorCode, number>;
  /** End to end, as the server measures it. */
  latency_ms: LatencyBlock;
  stages: { queue_wait: LatencyBlock; inference: LatencyBlock; end_to_end: LatencyBlock };
  batch_size: BatchSizeBlock;
  /** Over the block's own duration for windows; lifetime blocks carry the shortest window's rate (the current rate). */
  requests_per_minute: number;
  prediction: PredictionBlock;
  /** Rows whose inference failed in a worker (the main thread counts the requests as inference_failed errors). */
  inference_failures: number;
  duration_s: number;
  last_updated: string | null;
}

export type Severity = 'none' | 'medium' | 'high';
export type CheckVerdict = 'ok' | 'drift' | 'below_min_effect' | 'insufficient_data';

export interface PsiBins { scheme: string; edges: number[]; proportions: number[] }

export interface Baseline {
  mean_prediction: number;
  std_prediction: number;
  mean_latency_ms: number;
  std_latency_ms: number;
  source: 'manual' | 'captured';
  set_at: string;
  model_version: string;
  /** Captured baselines: the window, sample counts and the prediction distribution (for PSI). */
  window?: string;
  prediction_count?: number;
  latency_count?: number;
  bins?: PsiBins;
  /** Captured baselines with feature watching on: counts per bin of every watched request field. */
  features?: FeatureBaseline;
}

export interface DriftCheck {
  name: 'mean_shift' | 'variance_change' | 'latency_anomaly' | 'psi';
  statistic: number | null;
  threshold: { medium: number; high: number };
  /** The effect size the minimum-effect guard looks at, and its floor. */
  effect: number | null;
  min_effect: number | null;
  samples: number;
  verdict: CheckVerdict;
  severity: Severity;
  detail: string;
}

export interface DriftReport {
  model: string;
  drift_detected: boolean;
  severity: Severity;
  window: string;
  baseline: Baseline | null;
  message: string;
  current: {
    prediction: { count: number; mean: number; std: number };
    latency_ms: { stage: string; count: number; mean: number; std: number };
  };
  checks: DriftCheck[];
  evaluated_at: string;
  /** Which input moved: every watched request field against the baseline, ranked by PSI (feature watching on). */
  features?: FeatureDriftReport;
  /** Page-Hinkley detectors on the prediction mean and the error rate, one observation per tick. */
  change?: ModelChange;
}

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';
export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface HealthCheck {
  name: 'error_rate' | 'latency_p99' | 'drift' | 'workers' | 'mlflow' | 'calibration' | 'unknown_values';
  status: CheckStatus;
  value: number | string | null;
  threshold: Record<string, number | string>;
  detail: string;
}

export interface ModelHealth { status: HealthStatus; checks: HealthCheck[] }

export interface Alert {
  /** "" for process-wide checks (mlflow). */
  model: string;
  kind: HealthCheck['name'];
  severity: 'warning' | 'critical';
  since: string;
  message: string;
}

export interface AlertEvent { event: 'raised' | 'resolved'; alert: Alert; at: string }

/** Prometheus histogram of one stage: cumulative counts at each bound in LATENCY_LE_S, then +Inf = count. */
export interface PromHistogram { le_counts: number[]; sum: number; count: number }

export interface ModelSnapshot {
  name: string;
  version: string;
  lifetime: StatsBlock;
  windows: Record<string, StatsBlock>;
  drift: DriftReport;
  health: ModelHealth;
  prometheus: { stages: Record<'queue_wait' | 'inference' | 'end_to_end', PromHistogram>; batch_size: PromHistogram };
  /** Label-based quality (POST /feedback joined to predictions); absent when labels are off. */
  quality?: ModelQuality;
}

export interface Snapshot {
  schema: 1;
  seq: number;
  generated_at: string;
  started_at: string;
  uptime_s: number;
  tick_ms: number;
  window_names: string[];
  model_order: string[];
  models: Record<string, ModelSnapshot>;
  unrouted: { total_requests: number; error_count: number; errors: Record<ErrorCode, number> };
  workers: { alive: number; expected: number; source: 'owner_table' | 'reported'; shards: { shard: number; owner: number; claims: number }[] };
  health: {
    /** Worst of the models' statuses and the top-level checks (which are never worse than degraded). */
    status: HealthStatus;
    /** Worst of the models' statuses only: what serving looks like. */
    serving_status: HealthStatus;
    models: Record<string, ModelHealth>;
    /** Process-wide checks: `mlflow` when MLflow logging is on. */
    checks: { mlflow?: HealthCheck };
    alerts: Alert[];
  };
  /** Alerts raised or resolved at this tick, for the live stream. */
  alert_events: AlertEvent[];
  reader: { retries: number; stale: number; repaired: number; tick_cost_ms: number };
  monitoring_enabled: boolean;
  /** The MLflow sink's state (null when MLflow logging is off). */
  mlflow: MlflowStatus | null;
  /** Feedback counters and the label ring's size; null when labels are off. */
  feedback?: FeedbackStats | null;
}
