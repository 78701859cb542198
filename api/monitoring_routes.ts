// The monitoring endpoints. Bodies come from the coordinator's latest
// snapshot, reshaped by engine/coordinator/bodies.ts and serialised at most
// once per snapshot and format, so a dashboard polling hard costs a cached
// write, not a recomputation.
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import {
  driftBody, healthBody, prometheusText, PROMETHEUS_CONTENT_TYPE, statsBody, type Monitor, type Snapshot,
} from '../engine/coordinator/index.js';
import type { EngineCore } from '../engine/engine_core.js';
import type { ErrorCode } from '../engine/error_codes.js';
import { BodyRequest } from './body_request.js';
import { BodyKind, bodyKindOf, packr, wantsMsgpack } from './http_codec.js';
import { JSON_TYPE, MSGPACK_TYPE, send, sendError, sendJson } from './respond.js';
import type { HttpRequestLike as HttpRequest, HttpResponseLike as HttpResponse, RouterLike } from './http_transport.js';

export interface MonitoringDeps {
  monitor: Monitor;
  adminToken: string | undefined;
  /** The configured HOST: without a token, admin requests must name it (or an IP literal, or localhost) in Host. */
  host: string;
  maxBodyBytes: number;
  /** Extra Prometheus lines appended to /metrics (stream hub, MLflow, …). */
  extraMetrics: () => string;
  /** Hot reload and run-time A/B weights (api/model_admin_routes.ts). */
  core: Pick<EngineCore, 'reloader' | 'setAbWeights' | 'registry' | 'router'>;
}

/** The monitoring routes' dependencies from the engine core; `extraMetrics` is the front end's own /metrics lines. */
export function monitoringDeps(core: EngineCore, extraMetrics: () => string): MonitoringDeps {
  return { monitor: core.monitor, adminToken: core.cfg.adminToken, host: core.cfg.host, maxBodyBytes: core.cfg.maxBodyBytes, extraMetrics, core };
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
export function modelParam(req: HttpRequest): string {
  const raw = req.getParameter(0) ?? '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

const digest = (b: Buffer | string) => createHash('sha256').update(b).digest();

/** Bearer-token check for admin endpoints; true when allowed. Constant time in the token's length too (digests compared). */
export function authorized(req: HttpRequest, token: string | undefined): boolean {
  if (token === undefined) return true;
  const header = req.getHeader('authorization');
  const m = /^Bearer\s+(.+)$/i.exec(header);
  if (!m) return false;
  return timingSafeEqual(digest(m[1].trim()), digest(token));
}

/** The host name of a Host header or URL authority, lower case, without port or IPv6 brackets. */
function hostName(authority: string): string {
  const a = authority.trim().toLowerCase();
  if (a.startsWith('[')) return a.slice(1, a.indexOf(']') === -1 ? undefined : a.indexOf(']'));
  const colon = a.lastIndexOf(':');
  return colon === -1 ? a : a.slice(0, colon);
}

/**
 * Without ADMIN_TOKEN, an admin request must not come from a web page
 * (CSRF) or through a DNS name rebound to this address: the Host header must
 * name an IP literal, localhost or the configured HOST, and an Origin, when
 * sent, must be that same host. null when allowed, else why not.
 */
export function crossSiteRefusal(req: HttpRequest, configuredHost: string): string | null {
  const host = req.getHeader('host');
  if (host !== '') {
    const name = hostName(host);
    if (isIP(name) === 0 && name !== 'localhost' && name !== configuredHost.toLowerCase()) {
      return `Host ${JSON.stringify(host)} is not this server's address (${configuredHost}); admin requests without ADMIN_TOKEN must name it`;
    }
  }
  const origin = req.getHeader('origin');
  if (origin !== '') {
    let originHost: string | null = null;
    try {
      originHost = new URL(origin).host.toLowerCase();
    } catch {
      originHost = null;
    }
    if (originHost === null || originHost !== host.trim().toLowerCase()) {
      return `cross-origin admin request from ${JSON.stringify(origin)} refused; set ADMIN_TOKEN to administer from elsewhere`;
    }
  }
  return null;
}

/** Admin bodies must say JSON or msgpack: a form or text/plain post (what a page can send without a preflight) gets 415. */
export function adminContentTypeOk(req: HttpRequest): boolean {
  // Only the types a cross-site page cannot send without a CORS preflight: not
  // the lenient text/plain or form bodies prediction routes accept as JSON.
  const type = req.getHeader('content-type');
  if (type === '') return false;
  const kind = bodyKindOf(type);
  return kind === BodyKind.Json || kind === BodyKind.Msgpack;
}

/**
 * Every admin POST/PUT starts here (call it first in the handler): the token,
 * or without one the same-site check, then the Content-Type. Answers and
 * returns false when the request may not go on.
 */
export function admitAdmin(res: HttpResponse, req: HttpRequest, guard: { adminToken: string | undefined; host: string }): boolean {
  const msgpack = wantsMsgpack(req.getHeader('accept'));
  // Refused before the body is read: close rather than leave it on the connection.
  const close = req.getHeader('content-length') !== '' || req.getHeader('transfer-encoding') !== '';
  if (!authorized(req, guard.adminToken)) {
    sendError(res, 'unauthorized', 'this endpoint needs Authorization: Bearer <ADMIN_TOKEN>', msgpack, undefined, close, 'WWW-Authenticate', 'Bearer');
    return false;
  }
  if (guard.adminToken === undefined) {
    const why = crossSiteRefusal(req, guard.host);
    if (why !== null) {
      sendError(res, 'unauthorized', why, msgpack, undefined, close);
      return false;
    }
  }
  if (!adminContentTypeOk(req)) {
    sendError(res, 'unsupported_media_type', 'admin endpoints need Content-Type: application/json or application/msgpack', msgpack, undefined, close);
    return false;
  }
  return true;
}

/** Admin POST with a body whose handling is asynchronous (the coordinator answers). */
export class BaselineRequest extends BodyRequest {
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

  app.post('/monitoring/baseline', (res, req) => {
    if (!admitAdmin(res, req, deps)) return;
    new BaselineRequest(res, req, deps.maxBodyBytes, async (value) => {
      const name = typeof value === 'object' && value !== null ? (value as Record<string, unknown>).model_name : undefined;
      if (typeof name !== 'string') return { code: 'invalid_request', message: "field 'model_name' must be a string", field: 'model_name' };
      const out = await monitor.setBaseline(name, value);
      return out.ok ? { status: 200, body: { model_name: out.model, baseline: out.baseline } } : out.error;
    }).start(req.getHeader('content-length'));
  });

  app.post('/monitoring/baseline/:model/capture', (res, req) => {
    if (!admitAdmin(res, req, deps)) return;
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
