// The monitoring endpoints. Bodies come from the coordinator's latest
// snapshot, reshaped by engine/coordinator/bodies.ts and serialised at most
// once per snapshot and format, so a dashboard polling hard costs a cached
// write, not a recomputation.
import { timingSafeEqual } from 'node:crypto';
import {
  driftBody, healthBody, prometheusText, PROMETHEUS_CONTENT_TYPE, statsBody, type Monitor, type Snapshot,
} from '../engine/coordinator/index.js';
import type { EngineCore } from '../engine/engine_core.js';
import type { ErrorCode } from '../engine/error_codes.js';
import { BodyRequest } from './body_request.js';
import { packr, wantsMsgpack } from './http_codec.js';
import { JSON_TYPE, MSGPACK_TYPE, send, sendError, sendJson } from './respond.js';
import type { HttpRequestLike as HttpRequest, HttpResponseLike as HttpResponse, RouterLike } from './http_transport.js';

export interface MonitoringDeps {
  monitor: Monitor;
  adminToken: string | undefined;
  maxBodyBytes: number;
  /** Extra Prometheus lines appended to /metrics (stream hub, MLflow, …). */
  extraMetrics: () => string;
}

/** The monitoring routes' dependencies from the engine core; `extraMetrics` is the front end's own /metrics lines. */
export function monitoringDeps(core: EngineCore, extraMetrics: () => string): MonitoringDeps {
  return { monitor: core.monitor, adminToken: core.cfg.adminToken, maxBodyBytes: core.cfg.maxBodyBytes, extraMetrics };
}

type Cached = string | Uint8Array;

/** Per-snapshot memo of serialised bodies. */
class BodyCache {
  private snapshot: Snapshot | null = null;
  private readonly entries = new Map<string, Cached>();
  get(s: Snapshot, key: string, build: () => Cached): Cached {
    if (s !== this.snapshot) {
      this.snapshot = s;
      this.entries.clear();
    }
    let v = this.entries.get(key);
    if (v === undefined) {
      v = build();
      this.entries.set(key, v);
    }
    return v;
  }
}

/** The route's model name, percent-decoded; a malformed escape stays as sent (and names no model). */
function modelParam(req: HttpRequest): string {
  const raw = req.getParameter(0) ?? '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** Bearer-token check for admin endpoints; true when allowed. Constant-time compare. */
export function authorized(req: HttpRequest, token: string | undefined): boolean {
  if (token === undefined) return true;
  const header = req.getHeader('authorization');
  const m = /^Bearer\s+(.+)$/i.exec(header);
  if (!m) return false;
  const given = Buffer.from(m[1].trim());
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** Admin POST with a body whose handling is asynchronous (the coordinator answers). */
class BaselineRequest extends BodyRequest {
  constructor(res: HttpResponse, req: HttpRequest, maxBodyBytes: number, private readonly handle: (value: unknown) => Promise<{ status: 200; body: unknown } | { code: ErrorCode; message: string; field?: string }>) {
    super(res, req, maxBodyBytes);
  }

  protected handleValue(value: unknown): void {
    this.handle(value).then(
      (out) => {
        if (this.done) return;
        if ('code' in out) this.failRequest(out.code, out.message, -1, out.field);
        else {
          this.done = true;
          sendJson(this.res, 200, out.body, this.msgpack);
        }
      },
      (err: unknown) => this.failRequest('inference_failed', `the monitor failed: ${(err as Error).message}`, -1),
    );
  }
}

export function registerMonitoringRoutes(app: RouterLike, deps: MonitoringDeps): void {
  const { monitor } = deps;
  const cache = new BodyCache();

  const serveCached = (res: HttpResponse, req: HttpRequest, key: string, build: (s: Snapshot) => unknown) => {
    const msgpack = wantsMsgpack(req.getHeader('accept'));
    const s = monitor.latest();
    const body = cache.get(s, msgpack ? key + ':m' : key, () => (msgpack ? packr.pack(build(s)) : JSON.stringify(build(s))));
    send(res, 200, msgpack ? MSGPACK_TYPE : JSON_TYPE, body);
  };

  app.get('/monitoring/stats', (res, req) => serveCached(res, req, 'stats', statsBody));
  app.get('/monitoring/health', (res, req) => serveCached(res, req, 'health', healthBody));
  app.get('/monitoring/drift/:model', (res, req) => {
    const model = modelParam(req);
    const s = monitor.latest();
    if (driftBody(s, model) === null) {
      sendError(res, 'model_not_found', `no model named ${JSON.stringify(model)} is loaded`, wantsMsgpack(req.getHeader('accept')), 'model_name');
      return;
    }
    serveCached(res, req, 'drift:' + model, (snap) => driftBody(snap, model));
  });
  // Portable HDR histograms for fleet views: encoded by the coordinator thread on
  // request (once per tick at most), so only callers of this route pay for them.
  app.get('/monitoring/histograms', (res, req) => {
    const msgpack = wantsMsgpack(req.getHeader('accept'));
    let aborted = false;
    res.onAborted(() => (aborted = true));
    monitor.histograms().then(
      (body) => { if (!aborted) sendJson(res, 200, body, msgpack); },
      (err: unknown) => { if (!aborted) sendError(res, 'not_ready', `histograms unavailable: ${(err as Error).message}`, msgpack); },
    );
  });
  app.get('/metrics', (res) => {
    const s = monitor.latest();
    const body = cache.get(s, 'metrics', () => prometheusText(s)) as string;
    send(res, 200, PROMETHEUS_CONTENT_TYPE, body + deps.extraMetrics());
  });

  const unauthorized = (res: HttpResponse, req: HttpRequest) => {
    const close = req.getHeader('content-length') !== '';
    sendError(res, 'unauthorized', 'this endpoint needs Authorization: Bearer <ADMIN_TOKEN>', wantsMsgpack(req.getHeader('accept')), undefined, close, 'WWW-Authenticate', 'Bearer');
  };

  app.post('/monitoring/baseline', (res, req) => {
    if (!authorized(req, deps.adminToken)) return unauthorized(res, req);
    new BaselineRequest(res, req, deps.maxBodyBytes, async (value) => {
      const name = typeof value === 'object' && value !== null ? (value as Record<string, unknown>).model_name : undefined;
      if (typeof name !== 'string') return { code: 'invalid_request', message: "field 'model_name' must be a string", field: 'model_name' };
      const out = await monitor.setBaseline(name, value);
      return out.ok ? { status: 200, body: { model_name: out.model, baseline: out.baseline } } : out.error;
    }).start(req.getHeader('content-length'));
  });

  app.post('/monitoring/baseline/:model/capture', (res, req) => {
    if (!authorized(req, deps.adminToken)) return unauthorized(res, req);
    const model = modelParam(req);
    const query = new URLSearchParams(req.getQuery() ?? '');
    const window = query.get('window') ?? undefined;
    const msgpack = wantsMsgpack(req.getHeader('accept'));
    // Any body is ignored; answering without reading it means closing the connection.
    const close = req.getHeader('content-length') !== '';
    let aborted = false;
    res.onAborted(() => (aborted = true));
    monitor.captureBaseline(model, window).then(
      (out) => {
        if (aborted) return;
        if (out.ok) sendJson(res, 200, { model_name: out.model, baseline: out.baseline }, msgpack);
        else sendError(res, out.error.code, out.error.message, msgpack, out.error.field, close);
      },
      (err: unknown) => {
        if (!aborted) sendError(res, 'inference_failed', `the monitor failed: ${(err as Error).message}`, msgpack);
      },
    );
  });
}
