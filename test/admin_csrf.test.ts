// Issue 14 item 5: admin POSTs without ADMIN_TOKEN were open to CSRF and DNS
// rebinding (a page in the operator's browser could set baselines; a body
// without Content-Type was parsed as JSON). Now: admin routes need
// Content-Type JSON or msgpack (415), and without a token the Host must name
// this server (IP literal, localhost or HOST) and any Origin must match it
// (401 unauthorized otherwise, the spec's body); a non-loopback HOST with no
// token warns loudly; tokens compare in constant time whatever their length.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { rawExchange, type RawResponse } from './support/raw_http.js';
import { authorized } from '../api/monitoring_routes.js';
import { warnIfAdminOpen } from '../bin/serve.js';
import { loadConfig } from '../engine/config.js';

const BASELINE = JSON.stringify({ model_name: 'xgboost', mean_prediction: 0.02, std_prediction: 0.01, mean_latency_ms: 5, std_latency_ms: 1 });

function post(port: number, path: string, headers: Record<string, string>, body = BASELINE, method = 'POST'): Promise<RawResponse> {
  const lines = Object.entries({ 'content-length': String(Buffer.byteLength(body)), ...headers })
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return rawExchange(port, [`${method} ${path} HTTP/1.1\r\n${lines}\r\n${body}`], 1).then((ex) => {
    assert.equal(ex.responses.length, 1, ex.raw);
    return ex.responses[0];
  });
}

function assertRefused(r: RawResponse, status: number, code: string): void {
  assert.equal(r.status, status, r.body);
  const err = JSON.parse(r.body).error;
  assert.equal(err.code, code);
  assert.ok(err.message.length > 0);
}

for (const entry of ['api', 'native-free'] as const) {
  describe(`admin routes without ADMIN_TOKEN (${entry === 'api' ? 'uWS' : 'node:http'})`, () => {
    let server: ServerProcess;
    let host: string;
    before(async () => {
      server = await startServerProcess({ WORKERS: '1' }, 60_000, { entry });
      host = `127.0.0.1:${server.port}`;
    });
    after(async () => {
      assert.equal(await server.stop(), 0);
    });

    test('a body without Content-Type, or as a form or text, gets 415', async () => {
      for (const type of ['', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
        assertRefused(await post(server.port, '/monitoring/baseline', { host, 'content-type': type }), 415, 'unsupported_media_type');
      }
      assertRefused(await post(server.port, '/monitoring/baseline/xgboost/capture', { host }, ''), 415, 'unsupported_media_type');
    });

    test('a foreign Host (DNS rebinding) or a cross-site Origin gets 401', async () => {
      const json = { 'content-type': 'application/json' };
      assertRefused(await post(server.port, '/monitoring/baseline', { ...json, host: `evil.example:${server.port}` }), 401, 'unauthorized');
      assertRefused(await post(server.port, '/monitoring/baseline', { ...json, host, origin: 'http://evil.example' }), 401, 'unauthorized');
      assertRefused(await post(server.port, '/monitoring/baseline', { ...json, host, origin: 'null' }), 401, 'unauthorized');
      assertRefused(await post(server.port, '/monitoring/baseline/xgboost/capture', { ...json, host: 'rebound.example' }, '{}'), 401, 'unauthorized');
    });

    test('the routes that change what serves (model reload, PUT /ab) are admin routes too', async () => {
      const json = { 'content-type': 'application/json' };
      const weights = JSON.stringify({ weights: { xgboost: 1 } });
      assertRefused(await post(server.port, '/ab', { host, 'content-type': 'text/plain' }, weights, 'PUT'), 415, 'unsupported_media_type');
      assertRefused(await post(server.port, '/ab', { ...json, host, origin: 'http://evil.example' }, weights, 'PUT'), 401, 'unauthorized');
      assertRefused(await post(server.port, '/models/xgboost/reload', { host }, ''), 415, 'unsupported_media_type');
      assertRefused(await post(server.port, '/models/xgboost/reload', { ...json, host: 'rebound.example' }, ''), 401, 'unauthorized');
      assert.equal((await post(server.port, '/ab', { ...json, host }, JSON.stringify({ weights: { xgboost: 1, logistic: 1 } }), 'PUT')).status, 200);
    });

    test('the same host, by IP or localhost, same-origin or with no Origin: accepted', async () => {
      const json = { 'content-type': 'application/json' };
      for (const headers of [{ host }, { host: `localhost:${server.port}` }, { host, origin: `http://${host}` }] as Record<string, string>[]) {
        const r = await post(server.port, '/monitoring/baseline', { ...json, ...headers });
        assert.equal(r.status, 200, `${JSON.stringify(headers)}: ${r.body}`);
      }
      const pack = await post(server.port, '/monitoring/baseline', { host, 'content-type': 'application/msgpack' }, '\x80');
      assert.equal(pack.status, 400, 'msgpack is admitted (and this one is then refused for its content)');
    });
  });
}

test('a non-loopback HOST with no ADMIN_TOKEN warns loudly; loopback or a token does not', () => {
  // The warning goes through the logger, at level warn: to standard error.
  const lines: string[] = [];
  const orig = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => { lines.push(String(chunk)); return true; }) as typeof process.stderr.write;
  try {
    warnIfAdminOpen(loadConfig({ HOST: '0.0.0.0' }, []));
    assert.equal(lines.length, 1);
    assert.match(lines[0], /!!! WARNING: HOST=0\.0\.0\.0 .*ADMIN_TOKEN is unset/);
    lines.length = 0;
    warnIfAdminOpen(loadConfig({ HOST: '0.0.0.0', ADMIN_TOKEN: 't' }, []));
    warnIfAdminOpen(loadConfig({ HOST: '127.0.0.1' }, []));
    warnIfAdminOpen(loadConfig({ HOST: '::1' }, []));
    assert.deepEqual(lines, []);
  } finally {
    process.stderr.write = orig;
  }
});

test('tokens of any length compare as digests: right token passes, shorter, longer and prefixes do not', () => {
  const req = (auth: string) => ({ getHeader: (k: string) => (k === 'authorization' ? auth : ''), getUrl: () => '/', getMethod: () => 'post', getParameter: () => undefined, getQuery: () => undefined, forEach: () => {} });
  assert.equal(authorized(req('Bearer s3cret-token'), 's3cret-token'), true);
  for (const given of ['s3cret', 's3cret-token-and-more', 'x', 's3cret-tokeN']) assert.equal(authorized(req(`Bearer ${given}`), 's3cret-token'), false, given);
  assert.equal(authorized(req(''), 's3cret-token'), false);
});
