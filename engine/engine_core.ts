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
import { loadModelRegistry, type ModelRegistry } from './model_registry.js';
import type { ServingObserver } from './serving_observer.js';
import { AlertWebhook } from './alert_webhook.js';
import { logger } from './logger.js';
import { watchOperatorEvents } from './operator_events.js';
import { createMainRecorder, createTelemetry, releaseWorkerShard, type ErrorCode as TelemetryCode } from './telemetry/index.js';

/** What /ready and /models read. */
export interface ServingState {
  ready: boolean;
  startedAt: number;
  workersAlive: () => number;
}

export interface EngineCore {
  cfg: ServerConfig;
  registry: ModelRegistry;
  router: AbRouter;
  batcher: Batcher;
  /** The inference workers (tests kill one to check that serving survives it). */
  pool: InferencePool<InFlightTask>;
  monitor: Monitor;
  observer: ServingObserver;
  state: ServingState;
  /** Resolves once every worker has run every model once (state.ready is set by then). */
  ready: Promise<void>;
  /** Stops serving: queued rows answered 503, in-flight batches finished, workers ended, final tick and MLflow flush. */
  close(): Promise<void>;
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
    latency_objective_ms: String(cfg.latencyObjectiveMs), error_rate_degraded: String(cfg.errorRateDegraded),
    error_rate_unhealthy: String(cfg.errorRateUnhealthy), mlflow_flush_interval_ms: String(cfg.mlflowFlushIntervalMs),
    inference_backend: cfg.inferenceBackend, front_end: cfg.frontEnd,
  };
}

/** `backend` is the inference backend the composition root chose for cfg.inferenceBackend. */
export async function startEngineCore(cfg: ServerConfig, backend: InferenceBackendRef): Promise<EngineCore> {
  const registry = loadModelRegistry(cfg.modelsDir);
  const router = new AbRouter(registry.models, cfg.abWeights);
  // Shards for replacements too: a new worker may start before its predecessor's shard is released.
  const telemetry = createTelemetry({ models: registry.models.map((m) => m.name), workerShards: cfg.workers + 2, enabled: cfg.monitoring });
  const recorder = createMainRecorder(telemetry);
  const observer: ServingObserver = {
    rowsServed: (model, rows, e2eMs) => recorder.recordSuccess(model, e2eMs * 1000, rows),
    requestFailed: (model, code, rows) => recorder.countError(model, code as TelemetryCode, rows),
  };
  const monitorLog = logger('monitor');
  const monitor = await startMonitor({
    onInfo: (m) => monitorLog.info(m),
    onWarning: (m) => monitorLog.warn(m),
    buffers: telemetry,
    models: registry.models.map((m) => ({ name: m.name, version: m.version })),
    tickMs: cfg.monitorTickMs,
    windows: cfg.monitorWindowsS.map((s) => s * 1000),
    driftConfig: { zMedium: cfg.driftZMedium, zHigh: cfg.driftZHigh, minSamples: cfg.driftMinSamples },
    healthConfig: { p99ObjectiveMs: cfg.latencyObjectiveMs, errorRateDegraded: cfg.errorRateDegraded, errorRateUnhealthy: cfg.errorRateUnhealthy },
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
  // Alerts and health changes: a log line each, and the webhook when configured (off: no listener cost beyond a tick's compare).
  const alertsLog = logger('alerts');
  const webhook = cfg.alertWebhookUrl === undefined ? null : new AlertWebhook(cfg.alertWebhookUrl, { log: alertsLog });
  const pool = new InferencePool<InFlightTask>(registry, {
    workers: cfg.workers,
    tasksPerWorker: cfg.tasksPerWorker,
    batchMaxSize: cfg.batchMaxSize,
    intraOpThreads: cfg.intraOpThreads,
    injectInferenceDelayMs: cfg.injectInferenceDelayMs,
    backend,
    telemetry,
  });
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
  const state: ServingState = { ready: false, startedAt: Date.now(), workersAlive: () => pool.threadsAlive };
  const ready = pool.warmUp().then(() => {
    state.ready = true;
    reportWorkers();
  });
  const operatorEvents = watchOperatorEvents(monitor, alertsLog, webhook, ready);
  // A failed warm-up is reported through `ready`; keep it from being unhandled here.
  ready.catch(() => {});
  let closed = false;
  return {
    cfg, registry, router, batcher, pool, monitor, observer, state, ready,
    async close() {
      if (closed) return;
      closed = true;
      state.ready = false;
      // Workers stopping is not news: stop reporting now; queued webhook posts go on meanwhile, within a bound.
      const eventsClosed = operatorEvents.close(Math.min(2000, cfg.shutdownDeadlineMs));
      await batcher.close();
      await pool.close();
      // A final tick and MLflow flush, runs FINISHED, within the deadline.
      await monitor.close({ deadlineMs: cfg.shutdownDeadlineMs });
      await eventsClosed;
    },
  };
}
