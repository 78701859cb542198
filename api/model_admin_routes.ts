// Admin routes that change what serves, at run time: POST /models/{name}/reload
// (engine/model_reload.ts: load the folder again, switch once every worker
// can run it) and PUT /ab (new A/B weights). Both start with admitAdmin.
import type { ErrorCode } from '../engine/error_codes.js';
import { wantsMsgpack } from './http_codec.js';
import type { RouterLike } from './http_transport.js';
import { admitAdmin, BaselineRequest, modelParam, type MonitoringDeps } from './monitoring_routes.js';
import { sendError, sendJson } from './respond.js';

type Outcome = { status: 200; body: unknown } | { code: ErrorCode; message: string; field?: string };

/** The A/B split as GET /models shows it: each model's share of routed traffic. */
function abBody(deps: MonitoringDeps): unknown {
  const { router, registry } = deps.core;
  return {
    weights: Object.fromEntries(registry.models.map((m) => [m.name, router.weights.get(m.name) ?? 0])),
    configured: router.configuredWeights,
    routing_key: router.routingKey,
  };
}

export function registerModelAdminRoutes(app: RouterLike, deps: MonitoringDeps): void {
  app.post('/models/:name/reload', (res, req) => {
    if (!admitAdmin(res, req, deps)) return;
    const name = modelParam(req);
    const msgpack = wantsMsgpack(req.getHeader('accept'));
    // Any body is ignored; answering without reading it means closing the connection.
    const close = req.getHeader('content-length') !== '' && req.getHeader('content-length') !== '0';
    let aborted = false;
    res.onAborted(() => (aborted = true));
    const started = deps.core.reloader.reload(name, 'api');
    if (started === undefined) {
      const failed = deps.core.registry.failed.find((f) => f.name === name);
      const why = failed === undefined
        ? `no model named ${JSON.stringify(name)} is loaded`
        : `model ${JSON.stringify(name)} failed to load at start (${failed.reason}); a reload replaces a serving model, restart to add one`;
      sendError(res, 'model_not_found', why, msgpack, 'name', close);
      return;
    }
    started.then((status) => {
      if (aborted) return;
      if (status.status === 'failed') sendError(res, 'reload_failed', `model ${name}: the reload failed and version ${status.version} keeps serving: ${status.reason}`, msgpack, undefined, close);
      else sendJson(res, 200, { model: name, reload: status }, msgpack);
    }, (err: unknown) => {
      if (!aborted) sendError(res, 'reload_failed', `model ${name}: ${(err as Error).message}`, msgpack, undefined, close);
    });
  });

  app.get('/ab', (res, req) => sendJson(res, 200, abBody(deps), wantsMsgpack(req.getHeader('accept'))));

  app.put('/ab', (res, req) => {
    if (!admitAdmin(res, req, deps)) return;
    new BaselineRequest(res, req, deps.maxBodyBytes, async (value): Promise<Outcome> => {
      const weights = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>).weights : undefined;
      if (typeof weights !== 'object' || weights === null || Array.isArray(weights)) {
        return { code: 'invalid_request', message: "field 'weights' must be an object of model name → weight, e.g. {\"weights\": {\"xgboost\": 0.7, \"logistic\": 0.3}}", field: 'weights' };
      }
      try {
        await deps.core.setAbWeights(weights as Record<string, number>);
      } catch (err) {
        if (!(err instanceof TypeError)) throw err;
        const field = /^(weights(\.[^:]+)?):/.exec(err.message)?.[1] ?? 'weights';
        return { code: 'invalid_request', message: err.message, field };
      }
      return { status: 200, body: abBody(deps) };
    }).start(req.getHeader('content-length'));
  });
}
