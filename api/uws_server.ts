// The uWebSockets.js front end over an engine core: every route, the
// WebSocket stream and the dashboard, then listen. The composition root
// (bin/start_server.ts) starts the core and calls this.
import { configureBodyLimits } from './body_request.js';
import { runParams, type EngineCore, type RunningServer } from '../engine/engine_core.js';
import { monitoringDeps, registerMonitoringRoutes } from './monitoring_routes.js';
import { registerModelAdminRoutes } from './model_admin_routes.js';
import { registerDashboardRoutes, registerStreamRoutes, streamPrometheusText, type StreamHub } from './stream/index.js';
import { docsOptions, registerDocsRoutes } from './docs/routes.js';
import { appDeps, buildApp } from './server.js';
import { drain } from './drain.js';
import { listenError } from './http_transport.js';
import { registerStreamPlainGet } from './stream/plain_get.js';
import type { LoadedUws, us_listen_socket } from './uws_loader.js';

/** Serves `core` with uWS (`loaded` by the caller, who probes it to choose a front end); the caller closes the core if this throws. */
export async function serveWithUws(core: EngineCore, loaded: LoadedUws): Promise<RunningServer> {
  const { uws, source } = loaded;
  const { registry, monitor, cfg } = core;
  let hub: StreamHub | undefined;
  configureBodyLimits(cfg.maxInflightBodyBytes, cfg.discardBodyBytes);
  const app = buildApp(uws, appDeps(core), (a) => {
    // Live for each new client's hello: a hot reload changes a version, PUT /ab the weights.
    const settings: Record<string, unknown> = { ...runParams(cfg), ab_weights: Object.fromEntries(core.router.weights), tick_ms: cfg.monitorTickMs };
    core.onAbWeights.push((weights) => {
      settings.ab_weights = weights;
      settings.ab_weights_set_at = new Date().toISOString();
      hub?.settingsChanged();
    });
    hub = registerStreamRoutes(a, uws, {
      monitor,
      models: registry.models.map((m) => ({ name: m.name, get version() { return registry.models[m.index].version; } })),
      settings,
      opts: {
        defaultIntervalMs: cfg.streamIntervalMs,
        minIntervalMs: 100,
        maxBackpressureBytes: cfg.streamMaxBackpressureBytes,
        maxPayloadLength: 1024,
        idleTimeoutS: 64,
        slowCloseAfterSkips: cfg.streamSlowCloseAfterSkips,
        maxConnections: cfg.streamMaxConnections,
      },
    });
    registerStreamPlainGet(a);
    registerDashboardRoutes(a);
    registerDocsRoutes(a, docsOptions(core, `uWebSockets.js from ${source}`, true));
    const monitoring = monitoringDeps(core, () => streamPrometheusText(hub!.metrics()));
    registerMonitoringRoutes(a, monitoring);
    registerModelAdminRoutes(a, monitoring);
  });
  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    // Exclusively: with uWS's default SO_REUSEPORT a second server on the same
    // port would start and silently take half the connections. The
    // (host, port, options, cb) form exists at runtime but not in the typings.
    const listen = app.listen as unknown as (host: string, port: number, options: number, cb: (s: us_listen_socket | false) => void) => void;
    listen.call(app, cfg.host, cfg.port, (uws as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT?: number }).LIBUS_LISTEN_EXCLUSIVE_PORT ?? 1, (sock) => (sock ? resolve(sock) : reject(listenError(cfg.host, cfg.port))));
  });
  const port = uws.us_socket_local_port(listenSocket as never);
  let closed = false;
  let listening = true;
  const stopListening = () => {
    if (!listening) return;
    listening = false;
    uws.us_listen_socket_close(listenSocket);
  };
  const running: RunningServer = {
    port,
    host: cfg.host,
    registry,
    monitor,
    pool: core.pool,
    frontEnd: `uWebSockets.js from ${source}`,
    ready: core.ready,
    drain(graceMs, log) {
      return drain({ core, stopListening, close: () => running.close() }, graceMs, log);
    },
    async close() {
      if (closed) return;
      closed = true;
      core.state.ready = false;
      stopListening();
      hub?.close();
      await core.close();
      // close() exists at runtime in uWS v20.30 but is missing from its typings.
      (app as unknown as { close(): void }).close();
    },
  };
  return running;
}
