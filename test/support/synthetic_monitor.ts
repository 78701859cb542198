// A stand-in for the coordinator: a Monitor that emits plausible snapshots at
// a fast tick from a scenario per model (traffic, latency, errors,
// predictions, drift), with health and alerts judged by the engine's own
// rules. For the stream's tests, the dashboard's browser test, and looking at
// the dashboard without load (`node dist/test/support/stream_harness.js`).
import { AlertTracker, DEFAULT_HEALTH, modelHealth, worstStatus } from '../../engine/coordinator/health.js';
import type { Monitor } from '../../engine/coordinator/monitor.js';
import type {
  Baseline, DriftCheck, DriftReport, LatencyBlock, ModelHealth, ModelSnapshot, PromHistogram, Severity, Snapshot, StatsBlock,
} from '../../engine/coordinator/snapshot.js';
import { ERROR_CODES, type ErrorCode } from '../../engine/telemetry/layout.js';

export interface ModelScenario {
  /** Requests per second. */
  rps: number;
  /** End-to-end p50 and p99, ms (queue wait and inference are fractions of them). */
  p50Ms: number;
  p99Ms: number;
  errorRate: number;
  predMean: number;
  predStd: number;
  /** Drift severity to report (with a PSI to match); 'none' unless induced. */
  drift: Severity;
  /** Adds a string of this many bytes to the model's snapshot (to make frames large). */
  padBytes: number;
}

export const DEFAULT_SCENARIO: ModelScenario = {
  rps: 400, p50Ms: 1.2, p99Ms: 4.5, errorRate: 0.001, predMean: 0.025, predStd: 0.012, drift: 'none', padBytes: 0,
};

export interface SyntheticMonitor extends Monitor {
  /** Change a model's scenario from the next tick on. */
  set(model: string, patch: Partial<ModelScenario>): void;
  /** Build and emit one snapshot now. */
  tick(): Snapshot;
  /** Snapshots emitted so far. */
  readonly ticks: number;
}

export interface SyntheticOptions {
  models: { name: string; version: string }[];
  /** Tick period, ms; 0 → only on tick(). */
  tickMs: number;
  scenarios?: Record<string, Partial<ModelScenario>>;
  /** Deterministic noise. */
  seed?: number;
}

const WINDOWS = ['1m', '5m'];
const PSI_OF: Record<Severity, number> = { none: 0.02, medium: 0.16, high: 0.41 };

export function startSyntheticMonitor(o: SyntheticOptions): SyntheticMonitor {
  const scen = new Map<string, ModelScenario>(o.models.map((m) => [m.name, { ...DEFAULT_SCENARIO, ...o.scenarios?.[m.name] }]));
  const totals = new Map(o.models.map((m) => [m.name, { requests: 0, errors: 0, preds: 0 }]));
  const ewma = new Map(o.models.map((m) => [m.name, { rps: -1, mean: -1 }]));
  const listeners = new Set<(s: Snapshot) => void>();
  const tracker = new AlertTracker();
  const startedAt = Date.now();
  const baselines = new Map<string, Baseline>();
  let seq = 0;
  let rnd = o.seed ?? 42;
  const rand = (): number => {
    rnd = (rnd * 1103515245 + 12345) & 0x7fffffff;
    return rnd / 0x7fffffff;
  };
  const jitter = (x: number, f: number): number => x * (1 + f * (rand() * 2 - 1));
  let last: Snapshot;
  let timer: NodeJS.Timeout | null = null;
  const tickS = (o.tickMs || 1000) / 1000;

  for (const m of o.models) {
    const sc = scen.get(m.name)!;
    baselines.set(m.name, {
      mean_prediction: sc.predMean, std_prediction: sc.predStd, mean_latency_ms: sc.p50Ms * 1.1, std_latency_ms: sc.p50Ms * 0.5,
      source: 'captured', set_at: new Date(startedAt).toISOString(), model_version: m.version, window: '5m',
      prediction_count: 100_000, latency_count: 100_000,
    });
  }

  function latency(p50: number, p99: number, count: number): LatencyBlock {
    if (count === 0) return { count: 0, avg: 0, p50: 0, p95: 0, p99: 0, p999: 0, min: 0, max: 0 };
    const a = jitter(p50, 0.05), c = Math.max(jitter(p99, 0.08), a * 1.2);
    const r3 = (x: number): number => Math.round(x * 1000) / 1000;
    return { count, avg: r3(a * 1.15), p50: r3(a), p95: r3((a + c) / 2), p99: r3(c), p999: r3(c * 1.6), min: r3(a * 0.3), max: r3(c * 2.5) };
  }

  function block(name: string, durationS: number, rps: number, sc: ModelScenario, now: string): StatsBlock {
    const total = Math.round(rps * durationS);
    const errCount = Math.round(total * sc.errorRate);
    const errors = Object.fromEntries(ERROR_CODES.map((c) => [c, 0])) as Record<ErrorCode, number>;
    errors.deadline_exceeded = errCount;
    const count = total - errCount;
    const e2e = latency(sc.p50Ms, sc.p99Ms, count);
    const mean = ewma.get(name)!.mean;
    return {
      total_requests: total,
      successful_requests: count,
      error_count: errCount,
      error_rate: total > 0 ? errCount / total : 0,
      errors,
      latency_ms: e2e,
      stages: { queue_wait: latency(sc.p50Ms * 0.25, sc.p99Ms * 0.45, count), inference: latency(sc.p50Ms * 0.55, sc.p99Ms * 0.5, count), end_to_end: e2e },
      batch_size: { count: Math.ceil(count / 16), avg: 16, p50: 16, p95: 32, p99: 64, max: 64 },
      requests_per_minute: rps * 60,
      prediction: { count, mean, std: sc.predStd, min: count > 0 ? 0.0005 : null, max: count > 0 ? 0.31 : null },
      inference_failures: 0,
      duration_s: durationS,
      last_updated: total > 0 ? now : null,
    };
  }

  function drift(name: string, sc: ModelScenario, w: StatsBlock, now: string): DriftReport {
    const b = baselines.get(name) ?? null;
    const check = (n: DriftCheck['name'], stat: number, sev: Severity, detail: string): DriftCheck => ({
      name: n, statistic: Math.round(stat * 1e4) / 1e4, threshold: n === 'psi' ? { medium: 0.1, high: 0.25 } : { medium: 2, high: 3 },
      effect: null, min_effect: null, samples: w.prediction.count, verdict: sev === 'none' ? 'ok' : 'drift', severity: sev, detail,
    });
    const sev = b ? sc.drift : 'none';
    const checks = b ? [
      check('mean_shift', sev === 'none' ? jitter(0.8, 0.5) : sev === 'medium' ? 2.5 : 6.2, sev, `mean ${w.prediction.mean.toFixed(4)} vs baseline ${b.mean_prediction}`),
      check('variance_change', jitter(0.6, 0.5), 'none', 'std within bounds'),
      check('latency_anomaly', 0, 'none', 'latency within bounds'),
      check('psi', jitter(PSI_OF[sev], 0.1), sev, '10 groups of the captured baseline'),
    ] : [];
    return {
      model: name, drift_detected: sev !== 'none', severity: sev, window: WINDOWS[0], baseline: b,
      message: b ? (sev === 'none' ? 'no drift' : 'drift: mean_shift, psi') : 'no baseline set for this model',
      current: { prediction: { count: w.prediction.count, mean: w.prediction.mean, std: w.prediction.std }, latency_ms: { stage: 'end_to_end', count: w.latency_ms.count, mean: w.latency_ms.avg, std: w.latency_ms.avg / 2 } },
      checks, evaluated_at: now,
    };
  }

  const hist = (count: number, sum: number): PromHistogram => ({ le_counts: new Array(16).fill(count), sum, count });

  function build(): Snapshot {
    const nowMs = Date.now();
    const now = new Date(nowMs).toISOString();
    const models: Record<string, ModelSnapshot> = {};
    const health: Record<string, ModelHealth> = {};
    for (const { name, version } of o.models) {
      const sc = scen.get(name)!;
      const e = ewma.get(name)!;
      const targetMean = sc.drift === 'none' ? sc.predMean : sc.predMean * (sc.drift === 'medium' ? 1.35 : 1.9);
      e.rps = e.rps < 0 ? sc.rps : e.rps + (sc.rps - e.rps) * 0.2;
      e.mean = e.mean < 0 ? targetMean : e.mean + (targetMean - e.mean) * 0.25;
      const rps = Math.max(0, jitter(e.rps, 0.06));
      const t = totals.get(name)!;
      const n = Math.round(rps * tickS);
      t.requests += n;
      t.errors += Math.round(n * sc.errorRate);
      t.preds += n - Math.round(n * sc.errorRate);
      const windows: Record<string, StatsBlock> = {};
      for (const [i, w] of WINDOWS.entries()) windows[w] = block(name, Math.min((nowMs - startedAt) / 1000, 60 * (i === 0 ? 1 : 5)), e.rps, sc, now);
      const lifetime = block(name, (nowMs - startedAt) / 1000, e.rps, sc, now);
      lifetime.total_requests = t.requests;
      lifetime.error_count = t.errors;
      lifetime.successful_requests = t.requests - t.errors;
      lifetime.error_rate = t.requests > 0 ? t.errors / t.requests : 0;
      lifetime.prediction.count = t.preds;
      const d = drift(name, sc, windows[WINDOWS[0]], now);
      const h = modelHealth(windows[WINDOWS[0]], d, { alive: 2, expected: 2 }, { ...DEFAULT_HEALTH, window: WINDOWS[0] });
      health[name] = h;
      const stageHist = hist(lifetime.successful_requests, lifetime.latency_ms.avg * lifetime.successful_requests / 1000);
      const ms: ModelSnapshot & { padding?: string } = {
        name, version, lifetime, windows, drift: d, health: h,
        prometheus: { stages: { queue_wait: stageHist, inference: stageHist, end_to_end: stageHist }, batch_size: hist(0, 0) },
      };
      if (sc.padBytes > 0) ms.padding = 'x'.repeat(sc.padBytes);
      models[name] = ms;
    }
    const { alerts, events } = tracker.update(health, new Date(nowMs));
    const status = worstStatus(Object.values(health).map((h) => h.status));
    return {
      schema: 1, seq: seq++, generated_at: now, started_at: new Date(startedAt).toISOString(), uptime_s: (nowMs - startedAt) / 1000,
      tick_ms: o.tickMs || 1000, window_names: WINDOWS, model_order: o.models.map((m) => m.name), models,
      unrouted: { total_requests: 0, error_count: 0, errors: Object.fromEntries(ERROR_CODES.map((c) => [c, 0])) as Record<ErrorCode, number> },
      workers: { alive: 2, expected: 2, source: 'reported', shards: [] },
      // (serving_status and checks: the snapshot's newer fields, harmless where they are not declared yet)
      health: { status, serving_status: status, models: health, checks: {}, alerts } as Snapshot['health'],
      alert_events: events, reader: { retries: 0, stale: 0, repaired: 0, tick_cost_ms: 0.1 }, monitoring_enabled: true, mlflow: null,
    } as Snapshot;
  }

  const mon: SyntheticMonitor = {
    get ticks() { return seq; },
    latest: () => last,
    onSnapshot(cb) {
      listeners.add(cb);
      return () => { listeners.delete(cb); };
    },
    setLabelVersion() {},
    setModelVersion() {},
    set(model, patch) {
      const sc = scen.get(model);
      if (!sc) throw new Error(`synthetic monitor: no model ${model}`);
      Object.assign(sc, patch);
    },
    tick() {
      last = build();
      for (const cb of listeners) cb(last);
      return last;
    },
    async setBaseline() { return { ok: false, error: { code: 'invalid_request', message: 'synthetic monitor: baselines are fixed' } }; },
    async captureBaseline() { return { ok: false, error: { code: 'invalid_request', message: 'synthetic monitor: baselines are fixed' } }; },
    async histograms() { throw new Error('synthetic monitor: no histograms'); },
    setWorkersAlive() {},
    async close() {
      if (timer) clearInterval(timer);
      timer = null;
      listeners.clear();
    },
  };
  last = build();
  if (o.tickMs > 0) timer = setInterval(() => mon.tick(), o.tickMs);
  return mon;
}
