// Starts the native-free front end: node:http serving api/'s own route
// handlers (through native-free-ts/node_http_app.ts) over the same engine
// core as the uWS server: batcher, Piscina pool, telemetry, coordinator,
// MLflow. With INFERENCE_BACKEND=ts no native addon is loaded at all.
//
// What it lacks: WS /monitoring/stream (node:http has no WebSocket server)
// and so the dashboard, which runs over the stream. Both answer 404
// not_found saying why; the same figures are served by /monitoring/stats,
// /monitoring/health and /metrics.
import type { ServerConfig } from '../engine/config.js';
import { startEngineCore, type RunningServer } from '../engine/engine_core.js';
import { sendError } from '../api/respond.js';
import { wantsMsgpack } from '../api/http_codec.js';
import type { RouterLike } from '../api/http_transport.js';
import { monitoringDeps, registerMonitoringRoutes } from '../api/monitoring_routes.js';
import { appDeps, registerCatchAll, registerServingRoutes } from '../api/server.js';
import { DASHBOARD_PATH } from '../api/dashboard/routes.js';
import { STREAM_PATH } from '../api/stream/hub.js';
import { NodeHttpApp } from './node_http_app.js';

export const FRONT_END_NAME = 'node:http (native-free-ts)';

const STREAM_MISSING = 'needs a WebSocket server and the native-free node:http front end has none; '
  + 'poll GET /monitoring/stats, /monitoring/health or /metrics, or serve with FRONT_END=uws';

/** The stream and the dashboard over it: a spec error that says why, not a silent 404. */
function registerUnavailableRoutes(app: RouterLike): void {
  app.get(STREAM_PATH, (res, req) => sendError(res, 'not_found', `WS ${STREAM_PATH} ${STREAM_MISSING}`, wantsMsgpack(req.getHeader('accept'))));
  app.get(DASHBOARD_PATH, (res, req) =>
    sendError(res, 'not_found', `the dashboard runs over WS ${STREAM_PATH} and so ${STREAM_MISSING}`, wantsMsgpack(req.getHeader('accept'))));
}

export async function startNativeFreeServer(cfg: ServerConfig): Promise<RunningServer> {
  const core = await startEngineCore(cfg);
  const app = new NodeHttpApp();
  registerServingRoutes(app, appDeps(core));
  registerMonitoringRoutes(app, monitoringDeps(core, () => ''));
  registerUnavailableRoutes(app);
  registerCatchAll(app);
  let port: number;
  try {
    port = await app.listen(cfg.host, cfg.port);
  } catch (err) {
    await core.close();
    throw err;
  }
  let closed = false;
  return {
    port,
    host: cfg.host,
    registry: core.registry,
    monitor: core.monitor,
    pool: core.pool,
    frontEnd: FRONT_END_NAME,
    ready: core.ready,
    async close() {
      if (closed) return;
      closed = true;
      core.state.ready = false;
      app.stopListening();
      await core.close();
      app.close();
    },
  };
}
