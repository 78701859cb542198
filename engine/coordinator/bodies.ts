// Response bodies of the monitoring endpoints, built from a snapshot with no
// computation beyond reshaping: the API serves them verbatim (JSON or msgpack).
import type { FeedbackStats, ModelQuality } from './quality.js';
import type { DriftReport, Snapshot, StatsBlock } from './snapshot.js';

export interface ModelStatsBody extends StatsBlock {
  model_version: string;
  windows: Record<string, StatsBlock>;
  /** Label-based quality; present when labels are on (LABEL_CAPACITY > 0). */
  quality?: ModelQuality;
}

/** GET /monitoring/stats */
export function statsBody(s: Snapshot): {
  models: Record<string, ModelStatsBody>;
  unrouted: Snapshot['unrouted'];
  workers: { alive: number; expected: number };
  generated_at: string;
  uptime_s: number;
  monitoring_enabled: boolean;
  feedback: FeedbackStats | null;
} {
  const models: Record<string, ModelStatsBody> = {};
  for (const name of s.model_order) {
    const m = s.models[name];
    models[name] = { model_version: m.version, ...m.lifetime, windows: m.windows };
    if (m.quality) models[name].quality = m.quality;
  }
  return {
    models,
    unrouted: s.unrouted,
    workers: { alive: s.workers.alive, expected: s.workers.expected },
    generated_at: s.generated_at,
    uptime_s: s.uptime_s,
    monitoring_enabled: s.monitoring_enabled,
    feedback: s.feedback ?? null,
  };
}

/** GET /monitoring/health */
export function healthBody(s: Snapshot): {
  status: Snapshot['health']['status'];
  serving_status: Snapshot['health']['serving_status'];
  models: Snapshot['health']['models'];
  checks: Snapshot['health']['checks'];
  alerts: Snapshot['health']['alerts'];
  workers: { alive: number; expected: number };
  mlflow: Snapshot['mlflow'];
  generated_at: string;
} {
  return {
    status: s.health.status,
    serving_status: s.health.serving_status,
    models: s.health.models,
    checks: s.health.checks,
    alerts: s.health.alerts,
    workers: { alive: s.workers.alive, expected: s.workers.expected },
    mlflow: s.mlflow,
    generated_at: s.generated_at,
  };
}

/** GET /monitoring/drift/{model_name}; null → 404 model_not_found. */
export function driftBody(s: Snapshot, model: string): DriftReport | null {
  return Object.hasOwn(s.models, model) ? s.models[model].drift : null;
}
