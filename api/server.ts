// The uWS app: prediction routes, model and liveness endpoints, and the
// spec's error bodies for unknown paths and methods. The routes are written
// against api/http_transport.ts, so the node:http front end
// (native-free-ts/) registers the very same ones.
import type { AbRouter } from '../engine/ab_router.js';
import type { Batcher } from '../engine/batcher.js';
import type { EngineCore, ServingState } from '../engine/engine_core.js';
import type { ModelRegistry } from '../engine/model_registry.js';
import { describeInline, describeModel, failedModels } from './model_description.js';
import type { ServingObserver } from '../engine/serving_observer.js';
import { wantsMsgpack } from './http_codec.js';
import type { HttpRequestLike, HttpResponseLike, RouterLike } from './http_transport.js';
import { registerFeedbackRoutes } from './feedback_handlers.js';
import type { PredictionLog } from '../engine/labels/prediction_log.js';
import { registerPredictRoutes } from './predict_handlers.js';
import { sendError, sendJson } from './respond.js';
import type { TemplatedApp, Uws } from './uws_loader.js';

export interface AppDeps {
  registry: ModelRegistry;
  router: AbRouter;
  batcher: Batcher;
  observer: ServingObserver;
  state: ServingState;
  maxBodyBytes: number;
  maxBatchRequests: number;
  requestDeadlineMs: number;
  labels: PredictionLog | null;
}

/** The routes' dependencies, taken from the engine core (both front ends use this). */
export function appDeps(core: EngineCore): AppDeps {
  const { cfg } = core;
  return {
    registry: core.registry, router: core.router, batcher: core.batcher, observer: core.observer, state: core.state,
    maxBodyBytes: cfg.maxBodyBytes, maxBatchRequests: cfg.maxBatchRequests, requestDeadlineMs: cfg.requestDeadlineMs,
    labels: core.labels,
  };
}

/** Known paths and the methods they answer, for 405 with Allow (test/openapi.test.ts checks each is documented). */
export const ROUTES: Readonly<Record<string, string>> = {
  '/predict_ctr': 'POST',
  '/predict_ctr/batch': 'POST',
  '/feedback': 'POST',
  '/models': 'GET',
  '/health': 'GET',
  '/ready': 'GET',
  '/monitoring/stats': 'GET',
  '/monitoring/health': 'GET',
  '/metrics': 'GET',
  '/monitoring/baseline': 'POST',
  '/ab': 'GET, PUT',
  '/dashboard': 'GET',
  '/monitoring/stream': 'GET',
  '/': 'GET',
  '/docs': 'GET',
  '/openapi.json': 'GET',
};

/** `extraRoutes` registers further routes (monitoring, stream) before the catch-all. */
export function buildApp(uws: Uws, deps: AppDeps, extraRoutes: (app: TemplatedApp) => void = () => {}): TemplatedApp {
  const app = uws.App();
  registerServingRoutes(app, deps);
  extraRoutes(app);
  registerCatchAll(app);
  return app;
}

/** POST /predict_ctr[/batch], GET /models, /health, /ready. */
export function registerServingRoutes(app: RouterLike, deps: AppDeps): void {
  const { registry, router, state, batcher } = deps;
  registerPredictRoutes(app, deps);
  registerFeedbackRoutes(app, deps);

  const modelsBody = () => ({
    models: [
      ...registry.models.map((m) => ({
        name: m.name,
        version: m.version,
        description: m.manifest.description ?? null,
        status: m.failure !== undefined ? 'failed' : state.ready ? 'ready' : 'loading',
        ...(m.failure !== undefined ? { reason: m.failure } : {}),
        ab_weight: router.weights.get(m.name) ?? 0,
        ...(registry.reloads.has(m.name) ? { reload: registry.reloads.get(m.name) } : {}),
        ...describeModel(m),
        inline: describeInline(batcher, m),
      })),
      ...registry.failed.map((f) => ({ name: f.name, folder: f.folder, status: 'failed', reason: f.reason, ab_weight: 0 })),
    ],
    routing_key: router.routingKey,
  });

  app.get('/models', (res, req) => sendJson(res, 200, modelsBody(), wantsMsgpack(req.getHeader('accept'))));
  registerProbeRoutes(app, state, registry);
}

/** GET /health (liveness) and GET /ready; also served alone on the probe port (PROBE_PORT). */
export function registerProbeRoutes(app: RouterLike, state: ServingState, registry: ModelRegistry): void {
  app.get('/health', (res, req) =>
    sendJson(res, 200, { status: 'ok', uptime_s: Math.round((Date.now() - state.startedAt) / 1000) }, wantsMsgpack(req.getHeader('accept'))));
  app.get('/ready', (res, req) => {
    const msgpack = wantsMsgpack(req.getHeader('accept'));
    const alive = state.workersAlive();
    const failed = failedModels(registry);
    if (state.draining) sendError(res, 'not_ready', 'the server is shutting down (draining)', msgpack);
    else if (state.ready && alive > 0) {
      sendJson(res, 200, { ready: true, models: registry.serving().length, workers: alive, ...(failed.length === 0 ? {} : { failed }) }, msgpack);
    }
    else sendError(res, 'not_ready', state.ready ? 'no inference worker is alive' : 'models and workers are still loading', msgpack);
  });
}

/** Register last: 405 with Allow on a known path, 404 elsewhere. */
export function registerCatchAll(app: RouterLike): void {
  app.any('/*', (res: HttpResponseLike, req: HttpRequestLike) => {
    const url = req.getUrl();
    const msgpack = wantsMsgpack(req.getHeader('accept'));
    const allow = ROUTES[url];
    // Answer before the body is read, so close rather than leave it unread on the connection.
    const hasBody = req.getHeader('content-length') !== '' || req.getHeader('transfer-encoding') !== '';
    if (allow !== undefined) {
      sendError(res, 'method_not_allowed', `${req.getMethod().toUpperCase()} is not allowed on ${url}; use ${allow}`, msgpack, undefined, hasBody, 'Allow', allow);
    } else {
      sendError(res, 'not_found', `no route ${url}`, msgpack, undefined, hasBody);
    }
  });
}
