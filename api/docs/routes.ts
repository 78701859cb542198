// GET /, GET /docs and GET /openapi.json: what this server is, its API
// document (built once here, at registration, from the loaded models and the
// configuration) and a page that renders it. No CDN; everything is served
// from memory.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../engine/config.js';
import type { EngineCore } from '../../engine/engine_core.js';
import { buildOpenApi, DOC_PATHS, type OpenApiOptions } from '../openapi.js';
import { exampleRequest } from '../request_schema.js';
import { JSON_TYPE, send } from '../respond.js';
import type { RouterLike } from '../http_transport.js';

const HTML = 'text/html; charset=utf-8';

function rootPage(o: OpenApiOptions): string {
  const models = o.registry.models.map((m) => `<li><code>${m.name}</code> version ${m.version}${m.manifest.description ? ` — ${escapeHtml(m.manifest.description)}` : ''}</li>`).join('');
  // The first model's own example request, without "model": the A/B router picks.
  const { model: _named, ...example } = exampleRequest(o.registry.models[0]);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ctr-engine</title><link rel="icon" href="data:,">
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:760px;margin:32px auto;padding:0 16px;color:#1d2330}code,pre{font-family:ui-monospace,monospace}pre{background:#f0f2f5;padding:8px;white-space:pre-wrap;word-break:break-all}</style>
</head><body>
<h1>ctr-engine ${escapeHtml(o.version)}</h1>
<p>A real-time click-through-rate prediction server with monitoring in the hot path (${escapeHtml(o.frontEnd)}).</p>
<ul>
<li><a href="${DOC_PATHS.docs}">API docs</a> (<a href="${DOC_PATHS.openapi}">openapi.json</a>)</li>
<li><a href="/dashboard">Dashboard</a>${o.stream ? '' : ' (not on this front end: it runs over the WebSocket stream)'}</li>
<li><a href="/monitoring/health">Health</a> · <a href="/monitoring/stats">stats</a> · <a href="/metrics">Prometheus metrics</a> · <a href="/ready">ready</a></li>
<li><a href="/models">Models</a></li>
</ul>
<h2>Models</h2><ul>${models}</ul>
<h2>Try it</h2>
<pre>curl -s localhost:PORT/predict_ctr -d '${escapeHtml(JSON.stringify(example))}'</pre>
</body></html>`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

export function registerDocsRoutes(app: RouterLike, o: OpenApiOptions): void {
  const doc = JSON.stringify(buildOpenApi(o));
  const docs = readFileSync(join(projectRoot(), 'api', 'docs', 'docs.html'));
  const root = rootPage(o).replace('localhost:PORT', 'localhost:8000');
  app.get(DOC_PATHS.openapi, (res) => send(res, 200, JSON_TYPE, doc, 'Cache-Control', 'no-cache'));
  app.get(DOC_PATHS.docs, (res) => send(res, 200, HTML, docs, 'Cache-Control', 'no-cache'));
  app.get(DOC_PATHS.root, (res, req) => {
    // The curl line names the port the client reached.
    const host = req.getHeader('host');
    send(res, 200, HTML, host && /^[A-Za-z0-9.:[\]-]+$/.test(host) ? root.replace('localhost:8000', host) : root);
  });
}

/** The document's inputs from the engine core and the front end serving it. */
export function docsOptions(core: EngineCore, frontEnd: string, stream: boolean): OpenApiOptions {
  const { cfg } = core;
  return {
    registry: core.registry,
    version: String(JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')).version),
    maxBodyBytes: cfg.maxBodyBytes,
    maxBatchRequests: cfg.maxBatchRequests,
    adminTokenSet: cfg.adminToken !== undefined,
    stream,
    frontEnd,
    windows: core.monitor.latest().window_names,
  };
}
