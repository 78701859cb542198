// The probe port (PROBE_PORT): GET /health and GET /ready served by node:http
// beside the main front end. uWS v20.30 never answers an HTTP/1.0 request
// (uWebSockets#1547), and several probes and proxies speak HTTP/1.0 by
// default (HAProxy's `option httpchk`, nginx's proxy_pass); node:http
// answers them. Same handlers and bodies as the main port, so /ready turns
// 503 here too while the server drains.
import type { EngineCore } from '../engine/engine_core.js';
import { registerProbeRoutes } from '../api/server.js';
import { sendError } from '../api/respond.js';
import { NodeHttpApp } from '../native-free-ts/transport/node_http_app.js';

export interface ProbeServer {
  port: number;
  close(): void;
}

export async function startProbeServer(core: EngineCore, host: string, port: number): Promise<ProbeServer> {
  const app = new NodeHttpApp();
  registerProbeRoutes(app, core.state, core.registry);
  app.any('/*', (res, req) => {
    const close = req.getHeader('content-length') !== '' || req.getHeader('transfer-encoding') !== '';
    sendError(res, 'not_found', `the probe port serves GET /health and GET /ready only; ${req.getUrl()} is on the main port`, false, undefined, close);
  });
  const bound = await app.listen(host, port);
  return { port: bound, close: () => app.close() };
}
