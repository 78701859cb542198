// The fleet view: several replicas' GET /monitoring/histograms merged into the
// shape of GET /monitoring/stats. Counters add; HDR histograms add cell by
// cell, so merged percentiles are exactly those of one histogram holding every
// replica's observations (not an average of percentiles); prediction moments
// pool by Chan's combination; drift is judged on the merged drift window.
// The merged Totals go through the same statsOf() a single server uses, so the
// two views cannot drift apart in meaning.
import { computeDrift, DEFAULT_DRIFT, type DriftConfig } from '../coordinator/drift.js';
import { addBlock, type HistogramBlock, type HistogramsBody } from '../coordinator/histograms.js';
import type { ModelStatsBody } from '../coordinator/bodies.js';
import type { Baseline, DriftReport, StatsBlock } from '../coordinator/snapshot.js';
import { driftInputOf, statsOf } from '../coordinator/stats.js';
import { emptyTotals, type Totals } from '../coordinator/totals.js';
import { ERROR_CODES, type ErrorCode } from '../telemetry/layout.js';
import { combine, emptyMoments } from '../telemetry/welford.js';

/** One replica's answer: its histograms, or why there are none. */
export interface ReplicaResult { url: string; body?: HistogramsBody; error?: string }

export interface FleetModelBody extends ModelStatsBody {
  /** Drift on the merged drift window, against the first replica's baseline in force (null: none set anywhere). */
  drift: DriftReport;
  /** Replicas that serve this model. */
  replicas: number;
}

export interface FleetStatsBody {
  models: Record<string, FleetModelBody>;
  unrouted: { total_requests: number; error_count: number; errors: Record<ErrorCode, number> };
  workers: { alive: number; expected: number };
  generated_at: string;
  /** The longest replica uptime. */
  uptime_s: number;
  monitoring_enabled: boolean;
  fleet: {
    replicas: { url: string; ok: boolean; error?: string; seq?: number; uptime_s?: number }[];
    replicas_ok: number;
    replicas_total: number;
  };
}

/** Rate of one replica's block, as statsOf computes it. */
function rpmOf(b: HistogramBlock): number {
  let errors = 0;
  for (const c of ERROR_CODES) errors += b.counts.errors?.[c] ?? 0;
  const total = Math.max(b.counts.requests, b.counts.successes + errors);
  return b.duration_s > 0 ? (total / b.duration_s) * 60 : 0;
}

const latest = (a: string | null, b: string | null): string | null => (a === null ? b : b === null ? a : a > b ? a : b);

/** The blocks merged: exact histograms, summed counters, pooled moments; the rate is the sum of the replicas' rates. */
export function mergeBlocks(blocks: HistogramBlock[]): { stats: StatsBlock; totals: Totals } {
  const t = emptyTotals();
  let pred = emptyMoments();
  let duration = 0;
  let lastUpdated: string | null = null;
  let rpm = 0;
  for (const b of blocks) {
    pred = combine(pred, addBlock(t, b));
    duration = Math.max(duration, b.duration_s);
    lastUpdated = latest(lastUpdated, b.last_updated);
    rpm += rpmOf(b);
  }
  t.pred = pred;
  const stats = statsOf(t, Math.max(duration, 0.001), lastUpdated);
  stats.requests_per_minute = rpm;
  return { stats, totals: t };
}

export interface MergeOptions {
  now?: Date;
  /** Drift thresholds (window: the drift window; default the replicas' drift window). */
  drift?: Partial<DriftConfig>;
}

export function mergeFleet(results: ReplicaResult[], opts: MergeOptions = {}): FleetStatsBody {
  const now = opts.now ?? new Date();
  const ok = results.filter((r): r is ReplicaResult & { body: HistogramsBody } => r.body !== undefined);
  const names: string[] = [];
  for (const r of ok) for (const n of Object.keys(r.body.models)) if (!names.includes(n)) names.push(n);
  const models: Record<string, FleetModelBody> = {};
  for (const name of names) {
    const having = ok.filter((r) => Object.hasOwn(r.body.models, name)).map((r) => r.body.models[name]);
    const windowNames: string[] = [];
    for (const m of having) for (const w of Object.keys(m.windows)) if (!windowNames.includes(w)) windowNames.push(w);
    const windows: Record<string, StatsBlock> = {};
    const windowTotals: Record<string, Totals> = {};
    for (const w of windowNames) {
      const merged = mergeBlocks(having.flatMap((m) => (m.windows[w] ? [m.windows[w]] : [])));
      windows[w] = merged.stats;
      windowTotals[w] = merged.totals;
    }
    const lifetime = mergeBlocks(having.map((m) => m.lifetime)).stats;
    // As on one server: the lifetime rate is the current one (the shortest window's).
    if (windowNames.length > 0) lifetime.requests_per_minute = windows[windowNames[0]].requests_per_minute;
    const versions = [...new Set(having.map((m) => m.model_version))];
    const window = opts.drift?.window ?? ok.find((r) => r.body.drift_window)?.body.drift_window ?? windowNames[0];
    const cfg: DriftConfig = { ...DEFAULT_DRIFT, ...opts.drift, window };
    const baseline: Baseline | null = having.find((m) => m.baseline)?.baseline ?? null;
    const driftTotals = windowTotals[window] ?? emptyTotals();
    models[name] = {
      model_version: versions.join(','),
      ...lifetime,
      windows,
      drift: computeDrift(name, driftInputOf(driftTotals, cfg.latencyStage), baseline, cfg, now),
      replicas: having.length,
    };
  }
  const errors = {} as Record<ErrorCode, number>;
  for (const c of ERROR_CODES) errors[c] = 0;
  let unroutedRequests = 0;
  for (const r of ok) {
    unroutedRequests += r.body.unrouted.requests;
    for (const c of ERROR_CODES) errors[c] += r.body.unrouted.errors?.[c] ?? 0;
  }
  const errorCount = ERROR_CODES.reduce((s, c) => s + errors[c], 0);
  return {
    models,
    unrouted: { total_requests: Math.max(unroutedRequests, errorCount), error_count: errorCount, errors },
    workers: {
      alive: ok.reduce((s, r) => s + r.body.workers.alive, 0),
      expected: ok.reduce((s, r) => s + r.body.workers.expected, 0),
    },
    generated_at: now.toISOString(),
    uptime_s: ok.reduce((s, r) => Math.max(s, r.body.uptime_s), 0),
    monitoring_enabled: ok.length > 0 && ok.every((r) => r.body.monitoring_enabled),
    fleet: {
      replicas: results.map((r) => (r.body
        ? { url: r.url, ok: true, seq: r.body.seq, uptime_s: r.body.uptime_s }
        : { url: r.url, ok: false, error: r.error ?? 'no answer' })),
      replicas_ok: ok.length,
      replicas_total: results.length,
    },
  };
}
