// Wires the engine and the front end together and starts listening. Used by
// api/main.ts and by tests that need the real server in-process.
import { AbRouter } from '../engine/ab_router.js';
import { Batcher } from '../engine/batcher.js';
import type { ServerConfig } from '../engine/config.js';
import { InferencePool } from '../engine/inference_pool.js';
import { loadModelRegistry, type ModelRegistry } from '../engine/model_registry.js';
import { buildApp, type ServerState } from './server.js';
import { NO_OBSERVER, type ServingObserver } from './serving_observer.js';
import { loadUws, type us_listen_socket } from './uws_loader.js';

export interface RunningServer {
  port: number;
  host: string;
  registry: ModelRegistry;
  uwsSource: string;
  /** Resolves once every worker has run every model once. */
  ready: Promise<void>;
  close(): Promise<void>;
}

export async function startServer(cfg: ServerConfig, observer: ServingObserver = NO_OBSERVER): Promise<RunningServer> {
  const { uws, source } = loadUws();
  const registry = loadModelRegistry(cfg.modelsDir);
  const router = new AbRouter(registry.models, cfg.abWeights);
  const pool = new InferencePool(registry, {
    workers: cfg.workers,
    tasksPerWorker: cfg.tasksPerWorker,
    intraOpThreads: cfg.intraOpThreads,
    injectInferenceDelayMs: cfg.injectInferenceDelayMs,
  });
  const batcher = new Batcher(registry, pool, {
    batchMaxSize: cfg.batchMaxSize,
    batchMaxDelayMs: cfg.batchMaxDelayMs,
    queueBound: cfg.queueBound,
    maxInFlight: cfg.workers * cfg.tasksPerWorker,
    requestDeadlineMs: cfg.requestDeadlineMs,
  });
  const state: ServerState = {
    ready: false,
    startedAt: Date.now(),
    workersAlive: () => pool.threadsAlive,
    workersExpected: cfg.workers,
  };
  const app = buildApp(uws, {
    registry, router, batcher, observer, state,
    maxBodyBytes: cfg.maxBodyBytes, maxBatchRequests: cfg.maxBatchRequests, requestDeadlineMs: cfg.requestDeadlineMs,
  });
  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(cfg.host, cfg.port, (sock) => (sock ? resolve(sock) : reject(new Error(`cannot listen on ${cfg.host}:${cfg.port}`))));
  });
  const port = uws.us_socket_local_port(listenSocket as never);
  const ready = pool.warmUp().then(() => {
    state.ready = true;
  });
  // A failed warm-up is reported through `ready`; keep it from being unhandled here.
  ready.catch(() => {});
  let closed = false;
  return {
    port,
    host: cfg.host,
    registry,
    uwsSource: source,
    ready,
    async close() {
      if (closed) return;
      closed = true;
      state.ready = false;
      uws.us_listen_socket_close(listenSocket);
      batcher.close();
      await pool.close();
      // close() exists at runtime in uWS v20.30 but is missing from its typings.
      (app as unknown as { close(): void }).close();
    },
  };
}
