// Everything a front end serves from, wired once for every front end (the
// composition root, bin/, puts one in front of it): the model registry and A/B
// router, the shared-memory telemetry and the coordinator thread (windows,
// drift, health, MLflow), the Piscina inference pool and the batcher. A front
// end adds routes and a listening socket; nothing here knows the transport.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AbRouter } from './ab_router.js';
import { Batcher, type InFlightTask } from './batcher.js';
import { projectRoot, type ServerConfig } from './config.js';
import { startMonitor, type Monitor } from './coordinator/index.js';
import type { InferenceBackendRef } from './inference_backend.js';
import { InferencePool } from './inference_pool.js';
import { inlineSummary, openInline } from './inline_setup.js';
import { FeatureWatch, createFeatureWatchBuffers } from './features/feature_watch.js';
import { PredictionLog } from './labels/prediction_log.js';
import { createQualityBuffers } from './labels/quality_layout.js';
import { loadModelRegistry, type ModelRegistry } from './model_registry.js';
import { ModelReloader } from './model_reload.js';
import { abWeightsPath, readAbWeights, writeAbWeights } from './ab_weights_file.js';
import type { ServingObserver } from './serving_observer.js';
import { AlertWebhook } from './alert_webhook.js';
import { logger } from './logger.js';
import { watchOperatorEvents } from './operator_events.js';
import { createMainRecorder, createTelemetry, releaseWorkerShard, type ErrorCode as TelemetryCode, type TelemetryBuffers } from './telemetry/index.js';

/** What /ready and /models read. */
export interface ServingState {
  ready: boolean;
  /** Set on SIGTERM: /ready answers 503 so balancers stop sending, while requests are still served (api/drain.ts). */
  draining: boolean;
  startedAt: number;
  workersAlive: () => number;
}

export interface EngineCore {
  cfg: ServerConfig;
  /** The inference backend the workers (and inline inference) run. */
  backend: InferenceBackendRef;
  registry: ModelRegistry;
  router: AbRouter;
  batcher: Batcher;
  /** The inference workers (tests kill one to check that serving survives it). */
  pool: InferencePool<InFlightTask>;
  /** The shared telemetry memory: main shard a belongs to acceptor thread a (ACCEPTORS > 1). */
  telemetry: TelemetryBuffers;
  monitor: Monitor;
  observer: ServingObserver;
  /** Recent predictions awaiting click feedback (POST /feedback); null when LABEL_CAPACITY is 0. */
  labels: PredictionLog | null;
  /** Hot reload (POST /models/{name}/reload, MODELS_WATCH). */
  reloader: ModelReloader;
  /**
   * PUT /ab: validates and applies new A/B weights (throws a TypeError naming
   * the field), tells the stream, and saves them when AB_WEIGHTS_PERSIST is on.
   */
  setAbWeights(weights: Record<string, number>): Promise<void>;
  /** Listeners told the new split after PUT /ab (the stream). */
  onAbWeights: ((weights: Record<string, number>) => void)[];
  state: ServingState;
  /** Already resolved: startEngineCore resolves only once every worker has run every model once. */
  ready: Promise<void>;
  /**
   * Stops serving: queued rows answered 503, in-flight batches finished, final
   * tick and MLflow flush, then workers ended. `failed`: the server failed to
   * start (e.g. it could not listen), so the MLflow runs end FAILED.
   */
  close(opts?: { failed?: boolean }): Promise<void>;
}

/** A listening server, whichever front end it has. */
export interface RunningServer {
  port: number;
  host: string;
  registry: ModelRegistry;
  monitor: Monitor;
  pool: InferencePool<InFlightTask>;
  /** The front end and where its code came from, printed at start-up. */
  frontEnd: string;
  /** Resolves once every worker has run every model once. */
  ready: Promise<void>;
  /** The optional HTTP/1.0-capable probe port (PROBE_PORT), when one listens. */
  probePort?: number;
  /** Graceful stop (SIGTERM): /ready 503 and keep serving for `graceMs`, then stop listening, finish, flush, close. */
  drain(graceMs: number, log: (line: string) => void): Promise<void>;
  close(): Promise<void>;
}

function engineVersion(): string {
  return String(JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')).version);
}

/** Settings recorded with each MLflow run, so runs compare with their configuration. */
export function runParams(cfg: ServerConfig): Record<string, string> {
  return {
    workers: String(cfg.workers), tasks_per_worker: String(cfg.tasksPerWorker), ort_intra_op_threads: String(cfg.intraOpThreads),
    batch_max_size: String(cfg.batchMaxSize), batch_max_delay_ms: String(cfg.batchMaxDelayMs), queue_bound: String(cfg.queueBound),
    request_deadline_ms: String(cfg.requestDeadlineMs), ab_weights: JSON.stringify(cfg.abWeights), monitoring: String(cfg.monitoring),
    monitor_tick_ms: String(cfg.monitorTickMs), monitor_windows_s: cfg.monitorWindowsS.join(','),
    drift_z_medium: String(cfg.driftZMedium), drift_z_high: String(cfg.driftZHigh), drift_min_samples: String(cfg.driftMinSamples),
    latency_objective_ms: String(cfg.latencyObjectiveMs), latency_min_requests: String(cfg.latencyMinRequests), error_rate_degraded: String(cfg.errorRateDegraded),
    error_rate_unhealthy: String(cfg.errorRateUnhealthy), unknown_rate_degraded: String(cfg.unknownRateDegraded), mlflow_flush_interval_ms: String(cfg.mlflowFlushIntervalMs),
    inference_backend: cfg.inferenceBackend, front_end: cfg.frontEnd,
    label_capacity: String(cfg.labelCapacity), label_window_s: String(cfg.labelWindowS), label_implicit_nonclicks: String(cfg.labelImplicitNonclicks),
    calibration_min_labels: String(cfg.calibrationMinLabels), calibration_tolerance: String(cfg.calibrationTolerance),
    feature_watch_sample: String(cfg.featureWatchSample),
    inline_max_us: String(cfg.inlineMaxUs), inline_max_loop_utilization: String(cfg.inlineMaxLoopUtilization),
  };
}

/** `backend` is the inference backend the composition root chose for cfg.inferenceBackend. */
export async function startEngineCore(cfg: ServerConfig, backend: InferenceBackendRef): Promise<EngineCore> {
  const registry = loadModelRegistry(cfg.modelsDir);
  const startLog = logger('server');
  let abWeights = cfg.abWeights;
  if (cfg.abWeightsPersist) {
    try {
      const saved = readAbWeights(abWeightsPath(cfg.dataDir));
      if (saved !== null) {
        new AbRouter(registry.models, saved); // throws naming a model no longer loaded
        abWeights = saved;
        startLog.info(`A/B weights from ${abWeightsPath(cfg.dataDir)} (saved by PUT /ab): ${JSON.stringify(saved)}`);
      }
    } catch (err) {
      startLog.warn(`saved A/B weights ignored, AB_WEIGHTS applies: ${(err as Error).message}`);
    }
  }
  const router = new AbRouter(registry.models, abWeights);
  // Shards for replacements too (a new worker may start before its
  // predecessor's shard is released), and one per acceptor thread for the
  // batches it runs inline.
  const telemetry = createTelemetry({ models: registry.models.map((m) => m.name), workerShards: cfg.workers + 2 + cfg.acceptors, mainShards: cfg.acceptors, enabled: cfg.monitoring });
  const recorder = createMainRecorder(telemetry);
  const observer: ServingObserver = {
    rowsServed: (model, rows, e2eMs) => recorder.recordSuccess(model, e2eMs * 1000, rows),
    requestFailed: (model, code, rows) => recorder.countError(model, code as TelemetryCode, rows),
  };
  // Click labels: the ring of recent predictions lives here (main thread), the counts it joins go to a shared block the coordinator reads.
  const quality = cfg.labelCapacity > 0 ? createQualityBuffers(registry.models.map((m) => m.name)) : null;
  const labels = quality === null ? null : new PredictionLog(quality, registry.models.map((m) => m.version), {
    capacity: cfg.labelCapacity, windowMs: cfg.labelWindowS * 1000, implicitNonclicks: cfg.labelImplicitNonclicks,
  });
  // Per-field counts, sampled on the main thread as rows are batched; compared with the baseline in the coordinator.
  const featureBuffers = cfg.featureWatchSample > 0 ? createFeatureWatchBuffers(registry.models.map((m) => ({ name: m.name, manifest: m.manifest }))) : null;
  const pool = new InferencePool<InFlightTask>(registry, {
    workers: cfg.workers,
    tasksPerWorker: cfg.tasksPerWorker,
    batchMaxSize: cfg.batchMaxSize,
    intraOpThreads: cfg.intraOpThreads,
    injectInferenceDelayMs: cfg.injectInferenceDelayMs,
    backend,
    telemetry,
  });
  // Warm first: the server listens, and MLflow runs open, only once every
  // worker has run every model (a start that cannot serve opens no runs).
  // Workers and the coordinator thread are unref'd (they never hold a server
  // open); until a socket listens, this timer keeps the process waiting for them.
  const starting = setInterval(() => {}, 60_000);
  try {
    const failed = await pool.warmUp();
    // A model no worker can run is reported failed and routed around; the others serve.
    if (failed.size === registry.models.length) throw new Error([...failed.values()].join('; '));
    for (const [index, reason] of failed) {
      const model = registry.models[index];
      registry.markFailed(model, reason);
      router.exclude(model, registry.models);
    }
  } catch (err) {
    clearInterval(starting);
    await pool.close();
    throw new Error(`models failed to warm up: ${(err as Error).message}`);
  }
  let monitor: Monitor;
  const monitorLog = logger('monitor');
  try {
    monitor = await startMonitor({
      onInfo: (m) => monitorLog.info(m),
      onWarning: (m) => monitorLog.warn(m),
      features: featureBuffers,
      labels: quality === null ? null : {
        buffers: quality, windowMs: labels!.windowMs, capacity: labels!.capacity, ringBytes: labels!.bytes,
        implicitNonclicks: labels!.implicitNonclicks, versions: labels!.versions.map((v) => [...v]),
      },
      calibration: { minLabels: cfg.calibrationMinLabels, tolerance: cfg.calibrationTolerance },
      buffers: telemetry,
      models: registry.models.map((m) => ({ name: m.name, version: m.version })),
      tickMs: cfg.monitorTickMs,
      windows: cfg.monitorWindowsS.map((s) => s * 1000),
      driftConfig: { zMedium: cfg.driftZMedium, zHigh: cfg.driftZHigh, minSamples: cfg.driftMinSamples },
      healthConfig: { p99ObjectiveMs: cfg.latencyObjectiveMs, latencyMinRequests: cfg.latencyMinRequests, errorRateDegraded: cfg.errorRateDegraded, errorRateUnhealthy: cfg.errorRateUnhealthy, unknownRateDegraded: cfg.unknownRateDegraded },
      baselinePath: join(cfg.dataDir, 'baselines.json'),
      expectedWorkers: cfg.workers,
      // Flushed from the coordinator thread: MLflow never touches the request path.
      mlflow: {
        trackingUri: cfg.mlflowTrackingUri,
        experimentName: cfg.mlflowExperimentName,
        flushIntervalMs: cfg.mlflowFlushIntervalMs,
        flushBufferLimit: cfg.mlflowBufferLimit > 0 ? cfg.mlflowBufferLimit : undefined,
        params: runParams(cfg),
        tags: {},
        engineVersion: engineVersion(),
      },
    });
  } catch (err) {
    await pool.close();
    throw err;
  } finally {
    clearInterval(starting);
  }
  if (labels) labels.onNewVersion = (m, slot, version) => monitor.setLabelVersion(m, slot, version);
  const reportWorkers = () => monitor.setWorkersAlive(pool.threadsAlive, cfg.workers);
  pool.onWorkersChanged = reportWorkers;
  // The dead worker's shard keeps its counts; freeing it lets the replacement carry on in it.
  pool.onWorkerLost = (threadId) => releaseWorkerShard(telemetry, threadId);
  const batcher = new Batcher(registry, pool, {
    batchMaxSize: cfg.batchMaxSize,
    batchMaxDelayMs: cfg.batchMaxDelayMs,
    queueBound: cfg.queueBound,
    requestDeadlineMs: cfg.requestDeadlineMs,
  });
  if (featureBuffers) batcher.featureWatch = new FeatureWatch(featureBuffers, cfg.featureWatchSample);
  batcher.inline = await openInline(cfg, backend, registry, telemetry, 0);
  if (batcher.inline !== null) startLog.info(`inline inference (INLINE_MAX_US=${cfg.inlineMaxUs}): ${inlineSummary(batcher.inline, registry)}`);
  const state: ServingState = { ready: true, draining: false, startedAt: Date.now(), workersAlive: () => pool.threadsAlive };
  const reloader = new ModelReloader({ modelsDir: cfg.modelsDir, registry, router, batcher, pool, monitor, labels });
  if (cfg.modelsWatch) reloader.watch(cfg.modelsWatchDebounceMs);
  const onAbWeights: ((weights: Record<string, number>) => void)[] = [];
  // PUT /ab writes one at a time, so the file ends with the last split applied.
  let abSaving: Promise<void> = Promise.resolve();
  const setAbWeights = async (weights: Record<string, number>): Promise<void> => {
    router.setWeights(weights, registry.models);
    const split = Object.fromEntries(router.weights);
    for (const l of onAbWeights) l(split);
    startLog.info(`A/B weights set: ${JSON.stringify(weights)}`);
    if (cfg.abWeightsPersist) {
      const saved = { ...router.configuredWeights };
      abSaving = abSaving.catch(() => undefined).then(() => writeAbWeights(abWeightsPath(cfg.dataDir), cfg.dataDir, saved));
      await abSaving;
    }
  };
  reportWorkers();
  const ready = Promise.resolve();
  // Alerts and health changes: a log line each, and the webhook when configured (off: no listener cost beyond a tick's compare).
  const alertsLog = logger('alerts');
  const webhook = cfg.alertWebhookUrl === undefined ? null : new AlertWebhook(cfg.alertWebhookUrl, { log: alertsLog });
  const operatorEvents = watchOperatorEvents(monitor, alertsLog, webhook, ready);
  let closed = false;
  return {
    cfg, backend, registry, router, batcher, pool, telemetry, monitor, observer, labels, reloader, setAbWeights, onAbWeights, state, ready,
    async close(opts = {}) {
      if (closed) return;
      closed = true;
      reloader.close();
      state.ready = false;
      // Workers stopping is not news: stop reporting now; queued webhook posts go on meanwhile, within a bound.
      const eventsClosed = operatorEvents.close(Math.min(2000, cfg.shutdownDeadlineMs));
      await batcher.close();
      // The final tick and MLflow flush (runs FINISHED, or FAILED when the
      // start failed, within the deadline) before the pool closes: the last
      // point shows the workers that served (workers/alive = N, health
      // healthy), not a pool already gone.
      await monitor.close({ deadlineMs: cfg.shutdownDeadlineMs, failed: opts.failed });
      await pool.close();
      labels?.close();
      await eventsClosed;
    },
  };
}
