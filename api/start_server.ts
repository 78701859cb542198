// Wires the engine and the front end together and starts listening. Used by
// api/main.ts and by tests that need the real server in-process.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AbRouter } from '../engine/ab_router.js';
import { Batcher, type InFlightTask } from '../engine/batcher.js';
import { projectRoot, type ServerConfig } from '../engine/config.js';
import { startMonitor, type Monitor } from '../engine/coordinator/index.js';
import { InferencePool } from '../engine/inference_pool.js';
import { loadModelRegistry, type ModelRegistry } from '../engine/model_registry.js';
import { createMainRecorder, createTelemetry, releaseWorkerShard, type ErrorCode as TelemetryCode } from '../engine/telemetry/index.js';
import { registerMonitoringRoutes } from './monitoring_routes.js';
import { registerDashboardRoutes, registerStreamRoutes, streamPrometheusText, type StreamHub } from './stream/index.js';
import { buildApp, type ServerState } from './server.js';
import type { ServingObserver } from './serving_observer.js';
import { loadUws, type us_listen_socket } from './uws_loader.js';

export interface RunningServer {
  port: number;
  host: string;
  registry: ModelRegistry;
  monitor: Monitor;
  /** The inference workers (tests kill one to check that serving survives it). */
  pool: InferencePool<InFlightTask>;
  uwsSource: string;
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
  };
}

export async function startServer(cfg: ServerConfig): Promise<RunningServer> {
  const { uws, source } = loadUws();
  const registry = loadModelRegistry(cfg.modelsDir);
  const router = new AbRouter(registry.models, cfg.abWeights);
  // Shards for replacements too: a new worker may start before its predecessor's shard is released.
  const telemetry = createTelemetry({ models: registry.models.map((m) => m.name), workerShards: cfg.workers + 2, enabled: cfg.monitoring });
  const recorder = createMainRecorder(telemetry);
  const observer: ServingObserver = {
    rowsServed: (model, rows, e2eMs) => recorder.recordSuccess(model, e2eMs * 1000, rows),
    requestFailed: (model, code, rows) => recorder.countError(model, code as TelemetryCode, rows),
  };
  const monitor = await startMonitor({
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
  const pool = new InferencePool<InFlightTask>(registry, {
    workers: cfg.workers,
    tasksPerWorker: cfg.tasksPerWorker,
    intraOpThreads: cfg.intraOpThreads,
    injectInferenceDelayMs: cfg.injectInferenceDelayMs,
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
  const state: ServerState = {
    ready: false,
    startedAt: Date.now(),
    workersAlive: () => pool.threadsAlive,
  };
  let hub: StreamHub | undefined;
  const app = buildApp(uws, {
    registry, router, batcher, observer, state,
    maxBodyBytes: cfg.maxBodyBytes, maxBatchRequests: cfg.maxBatchRequests, requestDeadlineMs: cfg.requestDeadlineMs,
  }, (a) => {
    hub = registerStreamRoutes(a, uws, {
      monitor,
      models: registry.models.map((m) => ({ name: m.name, version: m.version })),
      settings: { ...runParams(cfg), ab_weights: Object.fromEntries(router.weights), tick_ms: cfg.monitorTickMs },
      opts: {
        defaultIntervalMs: cfg.streamIntervalMs,
        minIntervalMs: 100,
        maxBackpressureBytes: cfg.streamMaxBackpressureBytes,
        maxPayloadLength: 1024,
        idleTimeoutS: 64,
        slowCloseAfterSkips: cfg.streamSlowCloseAfterSkips,
      },
    });
    registerDashboardRoutes(a);
    registerMonitoringRoutes(a, {
      monitor, adminToken: cfg.adminToken, maxBodyBytes: cfg.maxBodyBytes,
      extraMetrics: () => streamPrometheusText(hub!.metrics()),
    });
  });
  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(cfg.host, cfg.port, (sock) => (sock ? resolve(sock) : reject(new Error(`cannot listen on ${cfg.host}:${cfg.port}`))));
  });
  const port = uws.us_socket_local_port(listenSocket as never);
  const ready = pool.warmUp().then(() => {
    state.ready = true;
    reportWorkers();
  });
  // A failed warm-up is reported through `ready`; keep it from being unhandled here.
  ready.catch(() => {});
  let closed = false;
  return {
    port,
    host: cfg.host,
    registry,
    monitor,
    pool,
    uwsSource: source,
    ready,
    async close() {
      if (closed) return;
      closed = true;
      state.ready = false;
      uws.us_listen_socket_close(listenSocket);
      hub?.close();
      await batcher.close();
      await pool.close();
      // A final tick and MLflow flush, runs FINISHED, within the deadline.
      await monitor.close({ deadlineMs: cfg.shutdownDeadlineMs });
      // close() exists at runtime in uWS v20.30 but is missing from its typings.
      (app as unknown as { close(): void }).close();
    },
  };
}
