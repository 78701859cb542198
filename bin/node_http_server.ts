// The native-free front end: node:http (native-free-ts/transport/) serving
// api/'s own route handlers over an engine core, the same batcher, workers,
// telemetry, coordinator and MLflow as the uWS server. This file is where
// the two meet, so neither imports the other: the transport implements
// api/http_transport.ts and the routes are written against it.
//
// What it lacks: WS /monitoring/stream (node:http has no WebSocket server)
// and so the dashboard, which runs over the stream. Both answer 404
// not_found saying why; the same figures are served by /monitoring/stats,
// /monitoring/health and /metrics.
import { configureBodyLimits } from '../api/body_request.js';
import type { EngineCore, RunningServer } from '../engine/engine_core.js';
import { monitoringDeps, registerMonitoringRoutes } from '../api/monitoring_routes.js';
import { registerModelAdminRoutes } from '../api/model_admin_routes.js';
import { drain } from '../api/drain.js';
import { docsOptions, registerDocsRoutes } from '../api/docs/routes.js';
import { appDeps, registerCatchAll, registerServingRoutes } from '../api/server.js';
import { registerStreamUnavailableRoutes } from '../api/stream/unavailable.js';
import { NodeHttpApp } from '../native-free-ts/transport/node_http_app.js';

export const FRONT_END_NAME = 'node:http (native-free-ts)';

/** Serves `core` with node:http; the caller closes the core if this throws. */
export async function serveWithNodeHttp(core: EngineCore): Promise<RunningServer> {
  const { cfg } = core;
  configureBodyLimits(cfg.maxInflightBodyBytes, cfg.discardBodyBytes);
  const app = new NodeHttpApp();
  registerServingRoutes(app, appDeps(core));
  const monitoring = monitoringDeps(core, () => '');
  registerMonitoringRoutes(app, monitoring);
  registerModelAdminRoutes(app, monitoring);
  registerStreamUnavailableRoutes(app, 'the native-free node:http front end has none; poll GET /monitoring/stats, /monitoring/health or /metrics, or serve with FRONT_END=uws');
  registerDocsRoutes(app, docsOptions(core, FRONT_END_NAME, false));
  registerCatchAll(app);
  const port = await app.listen(cfg.host, cfg.port);
  let closed = false;
  const running: RunningServer = {
    port,
    host: cfg.host,
    registry: core.registry,
    monitor: core.monitor,
    pool: core.pool,
    frontEnd: FRONT_END_NAME,
    ready: core.ready,
    drain(graceMs, log) {
      return drain({ core, stopListening: () => app.stopListening(), close: () => running.close() }, graceMs, log);
    },
    async close() {
      if (closed) return;
      closed = true;
      core.state.ready = false;
      app.stopListening();
      await core.close();
      app.close();
    },
  };
  return running;
}
