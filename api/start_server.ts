// Starts the uWebSockets.js front end over the engine core and listens. Used
// by api/main.ts and by tests that need the real server in-process.
import type { ServerConfig } from '../engine/config.js';
import { runParams, startEngineCore, type RunningServer } from '../engine/engine_core.js';
import { monitoringDeps, registerMonitoringRoutes } from './monitoring_routes.js';
import { registerDashboardRoutes, registerStreamRoutes, streamPrometheusText, type StreamHub } from './stream/index.js';
import { appDeps, buildApp } from './server.js';
import { loadUws, type LoadedUws, type us_listen_socket } from './uws_loader.js';

/** `loaded` is uWS already loaded by the caller (api/main.ts probes it to choose a front end). */
export async function startServer(cfg: ServerConfig, loaded: LoadedUws = loadUws()): Promise<RunningServer> {
  const { uws, source } = loaded;
  const core = await startEngineCore(cfg);
  const { registry, monitor } = core;
  let hub: StreamHub | undefined;
  const app = buildApp(uws, appDeps(core), (a) => {
    hub = registerStreamRoutes(a, uws, {
      monitor,
      models: registry.models.map((m) => ({ name: m.name, version: m.version })),
      settings: { ...runParams(cfg), ab_weights: Object.fromEntries(core.router.weights), tick_ms: cfg.monitorTickMs },
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
    registerMonitoringRoutes(a, monitoringDeps(core, () => streamPrometheusText(hub!.metrics())));
  });
  let listenSocket: us_listen_socket;
  try {
    listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
      app.listen(cfg.host, cfg.port, (sock) => (sock ? resolve(sock) : reject(new Error(`cannot listen on ${cfg.host}:${cfg.port}`))));
    });
  } catch (err) {
    await core.close();
    throw err;
  }
  const port = uws.us_socket_local_port(listenSocket as never);
  let closed = false;
  return {
    port,
    host: cfg.host,
    registry,
    monitor,
    pool: core.pool,
    frontEnd: `uWebSockets.js from ${source}`,
    ready: core.ready,
    async close() {
      if (closed) return;
      closed = true;
      core.state.ready = false;
      uws.us_listen_socket_close(listenSocket);
      hub?.close();
      await core.close();
      // close() exists at runtime in uWS v20.30 but is missing from its typings.
      (app as unknown as { close(): void }).close();
    },
  };
}
