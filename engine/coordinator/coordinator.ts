// One tick of the monitor, independent of the thread it runs on: read every
// shard, merge, keep the ring, derive windows, and build the snapshot (stats,
// drift, health, alerts, Prometheus buckets). Baselines are owned here.
import { dimsOf, type TelemetryBuffers } from '../telemetry/buffers.js';
import { ERROR_CODES, INLINE_SHARD_OWNER, PRED_BIN_SCHEME } from '../telemetry/layout.js';
import { ShardReader, type ReadStats } from '../telemetry/reader.js';
import { stdDev } from '../telemetry/welford.js';
import { loadBaselines, saveBaselines, validateBaseline, type BaselineOutcome } from './baseline.js';
import { DEFAULT_DRIFT, computeDrift, quantileGroups, type DriftConfig, type DriftInput } from './drift.js';
import { AlertTracker, DEFAULT_HEALTH, calibrationCheck, modelHealth, unknownValuesCheck, worstStatus, type HealthConfig } from './health.js';
import { ModelChangeDetector } from './change_detector.js';
import { FeatureTracker, type FeatureDriftConfig } from './feature_drift.js';
import type { FeatureWatchBuffers } from '../features/feature_watch.js';
import { QualityTracker, type CalibrationConfig, type LabelOptions } from './quality.js';
import { mlflowCheck, newLossTracker, type MlflowStatus } from './mlflow_metrics.js';
import type { Baseline, HealthCheck, ModelHealth, ModelSnapshot, Snapshot, StatsBlock } from './snapshot.js';
import { encodeBlock, HISTOGRAM_ENCODING, type HistogramBlock, type HistogramsBody } from './histograms.js';
import { driftInputOf, errorsOf, promOf, statsOf, withDuration } from './stats.js';
import { TickMemo } from './tick_memo.js';
import {
  StepRing, V_ERRORS, V_REQUESTS, V_ROWS, V_SUCCESSES, emptyTotals,
  mergeShards, type Totals,
} from './totals.js';

export interface ModelInfo { name: string; version: string }

export interface CoordinatorOptions {
  buffers: TelemetryBuffers;
  /** Versions by name; names must be those of buffers.models. */
  models: ModelInfo[];
  tickMs?: number;
  /** Window lengths, ms. Default [60 000, 300 000] → "1m", "5m". */
  windowsMs?: number[];
  /** Spacing of the cumulative checkpoints; windows are exact to within one step. Default max(tick, shortest window / 12). */
  ringStepMs?: number;
  drift?: Partial<DriftConfig>;
  health?: Partial<HealthConfig>;
  /** JSON file the baselines persist in; null keeps them in memory only. */
  baselinePath?: string | null;
  /** Workers the pool should have; until told (setWorkers), the most ever seen alive. */
  expectedWorkers?: number;
  /** Baselines already in force (a restarted thread); the file's entries win for the same model. */
  baselines?: Record<string, Baseline>;
  /** The pool's last report of its workers (a restarted thread). */
  workersReported?: { alive: number; expected: number };
  /** Click labels joined on the main thread (engine/labels/); omitted → no quality figures. */
  labels?: LabelOptions | null;
  /** The calibration health check; window defaults to the longest window. */
  calibration?: Partial<CalibrationConfig>;
  /** Request-field counts from the batcher (engine/features/); omitted → no feature drift. */
  features?: FeatureWatchBuffers | null;
  featureDrift?: Partial<FeatureDriftConfig>;
}

export const DEFAULT_CALIBRATION: Omit<CalibrationConfig, 'window'> = { minLabels: 1000, tolerance: 0.25 };

export const windowName = (ms: number): string =>
  ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`;

export class Coordinator {
  readonly tickMs: number;
  readonly windowsMs: number[];
  readonly windowNames: string[];
  readonly drift: DriftConfig;
  readonly health: HealthConfig;
  readonly #buffers: TelemetryBuffers;
  readonly #names: string[];
  readonly #versions: string[];
  readonly #reader: ShardReader | null;
  readonly #totals: Totals[];
  /** The reader's version the totals were merged from (−1: never). */
  #mergedVersion = -1;
  /** Per model × window: the stats and drift input a window gave, while the totals and the window's steps stand. */
  readonly #windowMemo: TickMemo<{ stats: StatsBlock; drift: DriftInput; active: boolean }>;
  /** Per model: the lifetime stats and Prometheus buckets, while the totals stand. */
  readonly #lifetimeMemo: TickMemo<{ stats: StatsBlock; prometheus: ModelSnapshot['prometheus'] }>;
  readonly #ring: StepRing;
  readonly #start: number;
  readonly #baselinePath: string | null;
  readonly #baselines: Map<string, Baseline>;
  readonly #alerts = new AlertTracker();
  readonly #lastActivity: number[];
  readonly #lastUpdated: (string | null)[];
  #workersReported: { alive: number; expected: number } | null = null;
  #maxAlive = 0;
  #seq = 0;
  #lastNow: number;
  #lastWorkers: { alive: number; expected: number } = { alive: 0, expected: 0 };
  #histograms: HistogramsBody | null = null;
  readonly #mlflowLoss = newLossTracker();
  readonly #quality: QualityTracker | null;
  readonly #features: FeatureTracker | null;
  readonly #change: ModelChangeDetector[];
  readonly calibration: CalibrationConfig;
  /** Set by the thread when MLflow logging is on: the sink's state, read at every tick. */
  mlflowStatus: (() => MlflowStatus) | null = null;
  readonly warnings: string[] = [];

  constructor(opts: CoordinatorOptions, now = Date.now()) {
    this.#buffers = opts.buffers;
    this.#names = [...opts.buffers.models];
    const versions = new Map(opts.models.map((m) => [m.name, String(m.version)]));
    for (const m of opts.models) {
      if (!this.#names.includes(m.name)) throw new TypeError(`monitor: model "${m.name}" is not in the telemetry buffers`);
    }
    this.#versions = this.#names.map((n) => versions.get(n) ?? '');
    this.tickMs = positive(opts.tickMs ?? 1000, 'tickMs');
    this.windowsMs = (opts.windowsMs ?? [60_000, 300_000]).map((w) => positive(w, 'windowsMs'));
    if (this.windowsMs.length === 0) throw new TypeError('monitor: windowsMs must name at least one window');
    this.windowNames = this.windowsMs.map(windowName);
    this.drift = { ...DEFAULT_DRIFT, window: this.windowNames[0], ...opts.drift };
    this.health = { ...DEFAULT_HEALTH, window: this.windowNames[0], ...opts.health };
    for (const [what, w] of [['drift', this.drift.window], ['health', this.health.window]] as const) {
      if (!this.windowNames.includes(w)) throw new TypeError(`monitor: ${what} window "${w}" is not one of ${this.windowNames.join(', ')}`);
    }
    this.#reader = opts.buffers.enabled ? new ShardReader(opts.buffers) : null;
    const slots = dimsOf(opts.buffers).models + 1;
    this.#totals = Array.from({ length: slots }, emptyTotals);
    const longest = Math.max(...this.windowsMs);
    const step = opts.ringStepMs ?? Math.max(this.tickMs, Math.min(...this.windowsMs) / 12);
    this.#ring = new StepRing(longest, positive(step, 'ringStepMs'));
    this.#windowMemo = new TickMemo(this.#names.length * this.windowsMs.length);
    this.#lifetimeMemo = new TickMemo(this.#names.length);
    this.#quality = opts.labels ? new QualityTracker(opts.labels, longest, step, now) : null;
    this.#features = opts.features ? new FeatureTracker(opts.features, longest, step, now, opts.featureDrift) : null;
    this.calibration = { ...DEFAULT_CALIBRATION, window: this.windowNames[this.windowNames.length - 1], ...opts.calibration };
    if (this.calibration.window !== 'lifetime' && !this.windowNames.includes(this.calibration.window)) {
      throw new TypeError(`monitor: calibration window "${this.calibration.window}" is not one of ${this.windowNames.join(', ')}, lifetime`);
    }
    this.#start = now;
    this.#lastNow = now;
    // Windows start at zero: traffic before the first tick belongs to them.
    this.#ring.maybePush(now, this.#totals);
    this.#baselinePath = opts.baselinePath ?? null;
    this.#baselines = new Map();
    if (this.#baselinePath) {
      // The main thread checked the file before the first start (startMonitor);
      // a restarted thread that finds it broken keeps the baselines handed over.
      try {
        const { baselines, warning } = loadBaselines(this.#baselinePath, this.#names);
        this.#baselines = baselines;
        if (warning) this.warnings.push(warning);
      } catch (e) {
        this.warnings.push((e as Error).message);
      }
    }
    this.#lastActivity = new Array(this.#names.length).fill(-1);
    this.#change = this.#names.map(() => new ModelChangeDetector());
    this.#lastUpdated = new Array(this.#names.length).fill(null);
    for (const [model, b] of Object.entries(opts.baselines ?? {})) {
      if (this.#names.includes(model) && !this.#baselines.has(model)) this.#baselines.set(model, b);
    }
    if (opts.expectedWorkers !== undefined) this.#workersReported = { alive: -1, expected: opts.expectedWorkers };
    if (opts.workersReported) this.#workersReported = { ...opts.workersReported };
  }

  /** From the main thread (the pool's view); alive < 0 means "count the owner table". */
  setWorkers(alive: number, expected: number): void {
    this.#workersReported = { alive, expected };
  }

  tick(now = Date.now()): Snapshot {
    const t0 = performance.now();
    const read: ReadStats = this.#reader ? this.#reader.read() : { retries: 0, stale: 0, repaired: 0 };
    // An idle server's slots are as they were: the merged totals stand.
    if (this.#reader && this.#reader.version !== this.#mergedVersion) {
      mergeShards(this.#reader, this.#totals);
      this.#mergedVersion = this.#reader.version;
    }
    this.#lastNow = now;
    this.#ring.maybePush(now, this.#totals);
    this.#quality?.tick(now);
    this.#features?.tick(now);
    const nowIso = new Date(now).toISOString();
    const workers = this.#workers();
    this.#lastWorkers = { alive: workers.alive, expected: workers.expected };
    const models: Record<string, ModelSnapshot> = {};
    const health: Record<string, ModelHealth> = {};
    const scratch = emptyTotals();
    this.#names.forEach((name, m) => {
      const total = this.#totals[m];
      const activity = total.vec[V_REQUESTS] + total.vec[V_ROWS] + total.vec[V_SUCCESSES] + sumErrors(total.vec);
      if (activity !== this.#lastActivity[m]) {
        if (this.#lastActivity[m] !== -1 || activity > 0) this.#lastUpdated[m] = nowIso;
        this.#lastActivity[m] = activity;
      }
      const windows: Record<string, StatsBlock> = {};
      let driftInput: DriftInput | null = null;
      const version = this.#mergedVersion, newestT = this.#ring.newestTime;
      this.windowsMs.forEach((ms, i) => {
        const base = this.#ring.baseFor(now, ms);
        const baseT = this.#ring.timeOf(base);
        const slot = m * this.windowsMs.length + i;
        // The same totals from the same base and newest step: the same window (an idle server's every tick).
        const f = this.#windowMemo.get(slot, version, baseT ?? -1, newestT) ?? this.#windowMemo.set(slot, this.#windowFigures(total, m, base, scratch), version, baseT ?? -1, newestT);
        windows[this.windowNames[i]] = withDuration(f.stats, Math.max((now - (baseT ?? this.#start)) / 1000, 0.001), f.active ? this.#lastUpdated[m] : null);
        if (this.windowNames[i] === this.drift.window) driftInput = f.drift;
      });
      const life = this.#lifetimeMemo.get(m, version) ?? this.#lifetimeMemo.set(m, { stats: statsOf(total, 1, null), prometheus: promOf(total) }, version);
      const lifetime = withDuration(life.stats, Math.max((now - this.#start) / 1000, 0.001), this.#lastUpdated[m]);
      lifetime.requests_per_minute = windows[this.windowNames[0]].requests_per_minute;
      const drift = computeDrift(name, driftInput!, this.#baselines.get(name) ?? null, this.drift, new Date(now));
      const errs = sumErrors(total.vec);
      const base = this.#baselines.get(name);
      drift.change = this.#change[m].update(total.pred.n, total.pred.mean * total.pred.n, total.pred.m2, Math.max(total.vec[V_REQUESTS], total.vec[V_SUCCESSES] + errs), errs,
        base ? { mean: base.mean_prediction, std: base.std_prediction } : null, now);
      if (this.#features) {
        const wi = this.windowNames.indexOf(this.drift.window);
        drift.features = this.#features.report(m, now, this.windowsMs[wi], this.drift.window, this.#baselines.get(name)?.features);
      }
      const quality = this.#quality?.model(m, now, this.windowsMs, this.windowNames);
      const extra = [];
      if (quality) extra.push(calibrationCheck(quality, this.calibration));
      if (drift.features) extra.push(unknownValuesCheck(drift.features, this.health));
      const h = modelHealth(windows[this.health.window], drift, workers, this.health, extra);
      health[name] = h;
      models[name] = { name, version: this.#versions[m], lifetime, windows, drift, health: h, prometheus: life.prometheus };
      if (quality) models[name].quality = quality;
    });
    const mlflow = this.mlflowStatus?.() ?? null;
    const checks: { mlflow?: HealthCheck } = {};
    if (mlflow) checks.mlflow = mlflowCheck(mlflow, this.#mlflowLoss, now, this.health.mlflowLossWarnMs);
    const { alerts, events } = this.#alerts.update(health, new Date(now), Object.values(checks));
    const servingStatus = worstStatus(Object.values(health).map((h) => h.status));
    // Top-level checks degrade the overall status at most: MLflow trouble never makes serving unhealthy.
    const topLevel = Object.values(checks).map((c): ModelHealth['status'] => (c.status === 'pass' ? 'healthy' : 'degraded'));
    const unrouted = this.#totals[this.#names.length].vec;
    const errors = errorsOf(unrouted);
    return {
      schema: 1,
      seq: ++this.#seq,
      generated_at: nowIso,
      started_at: new Date(this.#start).toISOString(),
      uptime_s: (now - this.#start) / 1000,
      tick_ms: this.tickMs,
      window_names: this.windowNames,
      model_order: this.#names,
      models,
      unrouted: { total_requests: Math.max(unrouted[V_REQUESTS], sumErrors(unrouted)), error_count: sumErrors(unrouted), errors },
      workers,
      health: { status: worstStatus([servingStatus, ...topLevel]), serving_status: servingStatus, models: health, checks, alerts },
      alert_events: events,
      reader: { ...read, tick_cost_ms: performance.now() - t0 },
      monitoring_enabled: this.#buffers.enabled,
      mlflow,
      feedback: this.#quality?.feedback() ?? null,
    };
  }

  /**
   * The last tick's figures, every model's lifetime and windows, as portable
   * HDR histograms (GET /monitoring/histograms). Encoded on request, at most
   * once per tick, so the per-tick snapshot stays as light as it was.
   */
  histograms(): HistogramsBody {
    if (this.#histograms?.seq === this.#seq) return this.#histograms;
    const now = this.#lastNow;
    const scratch = emptyTotals();
    const models: HistogramsBody['models'] = {};
    this.#names.forEach((name, m) => {
      const total = this.#totals[m];
      const windows: Record<string, HistogramBlock> = {};
      this.windowsMs.forEach((ms, i) => {
        const base = this.#ring.baseFor(now, ms);
        const w = this.#ring.windowOf(total, m, base, scratch);
        const active = w.vec[V_REQUESTS] + w.vec[V_ROWS] > 0;
        windows[this.windowNames[i]] = encodeBlock(w, Math.max((now - (this.#ring.timeOf(base) ?? this.#start)) / 1000, 0.001), active ? this.#lastUpdated[m] : null);
      });
      models[name] = {
        model_version: this.#versions[m],
        lifetime: encodeBlock(total, Math.max((now - this.#start) / 1000, 0.001), this.#lastUpdated[m]),
        windows,
        baseline: this.#baselines.get(name) ?? null,
      };
    });
    const unrouted = this.#totals[this.#names.length].vec;
    this.#histograms = {
      encoding: HISTOGRAM_ENCODING,
      seq: this.#seq,
      generated_at: new Date(now).toISOString(),
      uptime_s: (now - this.#start) / 1000,
      window_names: this.windowNames,
      drift_window: this.drift.window,
      models,
      unrouted: { requests: Math.max(unrouted[V_REQUESTS], sumErrors(unrouted)), errors: errorsOf(unrouted) },
      workers: { ...this.#lastWorkers },
      monitoring_enabled: this.#buffers.enabled,
    };
    return this.#histograms;
  }

  /** Hot reload: model `model` (index) serves `version` from now on (snapshots, stats, /metrics say so). */
  setModelVersion(model: number, version: string): void {
    if (model >= 0 && model < this.#versions.length) this.#versions[model] = version;
  }

  /** The model's name at index `model`. */
  modelName(model: number): string | undefined {
    return this.#names[model];
  }

  /** A version named by model/model_version feedback took a slot (from the main thread). */
  setLabelVersion(model: number, slot: number, version: string): void {
    this.#quality?.setVersion(model, slot, version);
  }

  setBaseline(model: string, input: unknown, now = Date.now()): BaselineOutcome {
    const v = validateBaseline(this.#names, model, input);
    if (!v.ok) return v;
    const baseline: Baseline = { ...v.value, source: 'manual', set_at: new Date(now).toISOString(), model_version: this.#version(model) };
    return this.#store(model, baseline);
  }

  /** Baseline from a window of the last tick's traffic (default: the drift window; "lifetime" allowed). */
  captureBaseline(model: string, window?: string, now = Date.now()): BaselineOutcome {
    const m = this.#names.indexOf(model);
    if (m < 0) return { ok: false, error: { code: 'model_not_found', field: 'model_name', message: `unknown model "${model}"` } };
    const name = window ?? this.drift.window;
    const i = this.windowNames.indexOf(name);
    if (i < 0 && name !== 'lifetime') {
      return { ok: false, error: { code: 'invalid_request', field: 'window', message: `window must be one of ${[...this.windowNames, 'lifetime'].join(', ')}` } };
    }
    const w = i < 0 ? this.#totals[m] : this.#ring.windowOf(this.#totals[m], m, this.#ring.baseFor(this.#lastNow, this.windowsMs[i]), emptyTotals());
    const d = this.#driftInput(w);
    if (d.pred.n < this.drift.minSamples) {
      return { ok: false, error: { code: 'invalid_request', field: 'window', message: `window ${name} holds ${d.pred.n} predictions; a baseline needs at least ${this.drift.minSamples}` } };
    }
    const input = { mean_prediction: d.pred.mean, std_prediction: stdDev(d.pred), mean_latency_ms: d.latency.meanMs, std_latency_ms: d.latency.stdMs };
    const v = validateBaseline(this.#names, model, input);
    if (!v.ok) return { ok: false, error: { ...v.error, message: `window ${name}: ${v.error.message}` } };
    const g = quantileGroups(d.bins, this.drift.psiGroups);
    const baseline: Baseline = {
      ...v.value, source: 'captured', set_at: new Date(now).toISOString(), model_version: this.#version(model),
      window: name, prediction_count: d.pred.n, latency_count: d.latency.count,
      bins: { scheme: PRED_BIN_SCHEME, edges: g.edges, proportions: g.proportions },
    };
    if (this.#features) baseline.features = this.#features.counts(m, this.#lastNow, i < 0 ? null : this.windowsMs[i]);
    return this.#store(model, baseline);
  }

  baseline(model: string): Baseline | null {
    return this.#baselines.get(model) ?? null;
  }

  /** Persisted first, then in force: a baseline that cannot be saved is refused (and the old one stays). */
  #store(model: string, baseline: Baseline): BaselineOutcome {
    const previous = this.#baselines.get(model);
    this.#baselines.set(model, baseline);
    if (this.#baselinePath) {
      try {
        saveBaselines(this.#baselinePath, this.#baselines);
      } catch (e) {
        if (previous === undefined) this.#baselines.delete(model);
        else this.#baselines.set(model, previous);
        const message = `baseline for ${model} not set: it could not be saved to ${this.#baselinePath}: ${(e as Error).message}`;
        this.warnings.push(message);
        return { ok: false, error: { code: 'storage_unavailable', message } };
      }
    }
    return { ok: true, model, baseline };
  }

  #version(model: string): string {
    return this.#versions[this.#names.indexOf(model)] ?? '';
  }

  /** Window `base` of model m's totals: its stats (duration and last update left to the caller), drift input and whether it saw traffic. */
  #windowFigures(total: Totals, m: number, base: number, scratch: Totals): { stats: StatsBlock; drift: DriftInput; active: boolean } {
    const w = this.#ring.windowOf(total, m, base, scratch);
    return { stats: statsOf(w, 1, null), drift: this.#driftInput(w), active: w.vec[V_REQUESTS] + w.vec[V_ROWS] > 0 };
  }

  #driftInput(w: Totals): DriftInput {
    return driftInputOf(w, this.drift.latencyStage);
  }

  #workers(): Snapshot['workers'] {
    const shards: Snapshot['workers']['shards'] = [];
    let owned = 0;
    for (let w = 0; this.#reader && w < this.#reader.dims.workerShards; w++) {
      const owner = this.#reader.owner(w);
      // A request thread's inline shard is not a worker.
      if (owner !== 0 && owner < INLINE_SHARD_OWNER) owned++;
      shards.push({ shard: w, owner, claims: this.#reader.claims(w) });
    }
    this.#maxAlive = Math.max(this.#maxAlive, owned);
    const r = this.#workersReported;
    if (r && r.alive >= 0) return { alive: r.alive, expected: r.expected, source: 'reported', shards };
    return { alive: owned, expected: r ? r.expected : this.#maxAlive, source: 'owner_table', shards };
  }
}

function sumErrors(vec: Float64Array): number {
  let s = 0;
  for (let e = V_ERRORS; e < V_ERRORS + ERROR_CODES.length; e++) s += vec[e];
  return s;
}

function positive(x: number, name: string): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) throw new TypeError(`monitor: ${name} must be a positive number`);
  return x;
}
