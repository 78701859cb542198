// Issue 14 item 3: uWS v20.30 never answers HTTP/1.0, so behind proxies that
// speak it by default the server looked dead. What an operator gets instead:
// - PROBE_PORT, a node:http port answering GET /ready and /health to HTTP/1.0
//   probes (same bodies; 503 while draining);
// - deploy/haproxy.cfg and deploy/nginx.conf, which speak HTTP/1.1 upstream
//   and in health checks — run here with the real haproxy and nginx against
//   the real server on loopback ports (skipped, saying so, when a program is
//   not installed).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { rawExchange, rawGet, rawPost } from './support/raw_http.js';
import { GOOD } from './support/request_errors.js';

const DEPLOY = fileURLToPath(new URL('../../deploy/', import.meta.url));
const HAPROXY = '/usr/sbin/haproxy';
const NGINX = '/usr/sbin/nginx';

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Polls `probe` until it returns a value; rejects with `what` (and the logs) after `guardMs`, so a broken setup fails rather than hangs. */
async function until<T>(probe: () => Promise<T | undefined>, what: () => string, guardMs = 20_000): Promise<T> {
  const end = Date.now() + guardMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`gave up waiting: ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function run(bin: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, output: () => out };
}

const stopChild = (c: ChildProcess) =>
  new Promise<void>((r) => {
    if (c.exitCode !== null || c.signalCode !== null) return r();
    c.once('exit', () => r());
    c.kill('SIGTERM');
  });

const body = JSON.stringify(GOOD);

describe('HTTP/1.0 probes and HTTP/1.1 proxies in front of the uWS server', () => {
  let server: ServerProcess;
  let probePort: number;
  let scratch: string;

  before(async () => {
    server = await startServerProcess({ PROBE_PORT: '0', WORKERS: '1' }, 60_000);
    probePort = Number(/probe port .* on http:\/\/[^:]+:(\d+)/.exec(server.output())![1]);
    scratch = mkdtempSync(join(tmpdir(), 'ctr-proxies-'));
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
    rmSync(scratch, { recursive: true, force: true });
  });

  test('PROBE_PORT answers HTTP/1.0 GET /ready and /health (the uWS port never does)', async () => {
    assert.notEqual(probePort, server.port);
    const ready = await rawExchange(probePort, [rawGet('/ready', 'HTTP/1.0')], 1);
    assert.equal(ready.responses[0].status, 200, ready.raw);
    assert.equal(JSON.parse(ready.responses[0].body).ready, true);
    const health = await rawExchange(probePort, [`GET /health HTTP/1.0\r\n\r\n`], 1);
    assert.equal(health.responses[0].status, 200, health.raw);
    assert.equal(JSON.parse(health.responses[0].body).status, 'ok');
    // Only the probes: predictions are the main port's.
    const other = await rawExchange(probePort, [rawPost('/predict_ctr', body, '', 'HTTP/1.0')], 1);
    assert.equal(other.responses[0].status, 404);
    assert.match(JSON.parse(other.responses[0].body).error.message, /probe port/);
  });

  test('deploy/haproxy.cfg: the HTTP/1.1 health check marks the server UP and predictions pass through', { skip: existsSync(HAPROXY) ? false : `${HAPROXY} is not installed` }, async () => {
    const port = await freePort();
    const sock = join(scratch, 'haproxy.sock');
    const cfg = readFileSync(join(DEPLOY, 'haproxy.cfg'), 'utf8');
    assert.match(cfg, /http-check send meth GET uri \/ready ver HTTP\/1\.1 hdr Host localhost/);
    const patched = cfg
      .replace('bind :8080', `bind 127.0.0.1:${port}`)
      .replace('server s1 127.0.0.1:8000 check', `server s1 127.0.0.1:${server.port} check`)
      .replace('global\n', `global\n    stats socket ${sock} level admin\n`);
    assert.notEqual(patched, cfg);
    const file = join(scratch, 'haproxy.cfg');
    writeFileSync(file, patched);
    const hap = run(HAPROXY, ['-f', file, '-db']);
    try {
      // The server's state as HAProxy's own health check sees it, from its stats socket.
      const row = await until(async () => {
        const csv = await new Promise<string>((resolve, reject) => {
          const c = net.connect(sock, () => c.write('show stat\n'));
          let out = '';
          c.on('data', (d) => (out += d));
          c.on('end', () => resolve(out));
          c.on('error', reject);
        });
        const [header, ...rows] = csv.split('\n');
        const cols = header.replace(/^# /, '').split(',');
        const s1 = rows.map((r) => r.split(',')).find((r) => r[0] === 'ctr_engine' && r[1] === 's1');
        if (s1 === undefined) return undefined;
        const rec = Object.fromEntries(cols.map((c, i) => [c, s1[i]]));
        // Wait for a finished check (an initial or in-progress one is "INI" or starts with "* ").
        return /^L[4-7]/.test(rec.check_status) ? rec : undefined;
      }, () => hap.output());
      assert.equal(row.check_status, 'L7OK', JSON.stringify(row));
      assert.equal(row.status, 'UP');
      for (let i = 0; i < 5; i++) {
        const r = await rawExchange(port, [rawPost('/predict_ctr', body)], 1);
        assert.equal(r.responses[0].status, 200, r.raw);
        assert.ok(JSON.parse(r.responses[0].body).ctr > 0);
      }
      // Not tested: an HTTP/1.0 client through HAProxy. HAProxy forwards the
      // client's version, so uWS holds that request too (README says so).
    } finally {
      await stopChild(hap.child);
    }
  });

  test('deploy/nginx.conf: HTTP/1.1 upstream, predictions pass through (HTTP/1.0 clients too)', { skip: existsSync(NGINX) ? false : `${NGINX} is not installed` }, async () => {
    const port = await freePort();
    const dir = join(scratch, 'nginx');
    mkdirSync(dir, { recursive: true });
    const snippet = readFileSync(join(DEPLOY, 'nginx.conf'), 'utf8');
    assert.match(snippet, /proxy_http_version 1\.1;/);
    const patched = snippet
      .replace(/listen 8080;/, `listen 127.0.0.1:${port};`)
      .replace(/server 127\.0\.0\.1:8000 /, `server 127.0.0.1:${server.port} `);
    assert.notEqual(patched, snippet);
    writeFileSync(join(dir, 'ctr-engine.conf'), patched);
    // The main configuration an nginx install provides, reduced to what runs from a scratch folder.
    const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
    writeFileSync(join(dir, 'nginx-main.conf'), `daemon off;
master_process on;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 256; }
http {
  access_log off;
  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}
  include ${join(dir, 'ctr-engine.conf')};
}
`);
    const ngx = run(NGINX, ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx-main.conf')]);
    try {
      await until(() => new Promise<true>((resolve, reject) => {
        const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); });
        c.on('error', reject);
      }), () => ngx.output() + (existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : ''));
      for (let i = 0; i < 5; i++) {
        const r = await rawExchange(port, [rawPost('/predict_ctr', body)], 1);
        assert.equal(r.responses[0].status, 200, r.raw);
        assert.ok(JSON.parse(r.responses[0].body).ctr > 0);
      }
      const old = await rawExchange(port, [rawPost('/predict_ctr', body, '', 'HTTP/1.0')], 1);
      assert.equal(old.responses[0].status, 200, old.raw);
      const ready = await rawExchange(port, [rawGet('/ready', 'HTTP/1.0')], 1);
      assert.equal(ready.responses[0].status, 200, ready.raw);
    } finally {
      await stopChild(ngx.child);
    }
  });
});

describe('a rolling restart behind deploy/haproxy.cfg', () => {
  test('SIGTERM to one of two replicas under steady traffic: every request answered 200', { skip: existsSync(HAPROXY) ? false : `${HAPROXY} is not installed` }, async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'ctr-rolling-'));
    // A grace of several check intervals, so HAProxy marks the replica down while it still serves.
    const env = { WORKERS: '1', DRAIN_GRACE_MS: '3000', REQUEST_DEADLINE_MS: '10000' };
    const [a, b] = await Promise.all([startServerProcess(env, 60_000), startServerProcess(env, 60_000)]);
    const port = await freePort();
    const sock = join(scratch, 'haproxy.sock');
    const cfg = readFileSync(join(DEPLOY, 'haproxy.cfg'), 'utf8')
      .replace('bind :8080', `bind 127.0.0.1:${port}`)
      .replace('server s1 127.0.0.1:8000 check', `server s1 127.0.0.1:${a.port} check\n    server s2 127.0.0.1:${b.port} check`)
      // Checks more often than the shipped 1 s, so the test is short; the same rule: inter × fall < DRAIN_GRACE_MS.
      .replace('default-server inter 1s fall 2 rise 2', 'default-server inter 300ms fall 2 rise 1')
      .replace('global\n', `global\n    stats socket ${sock} level admin\n`);
    writeFileSync(join(scratch, 'haproxy.cfg'), cfg);
    const hap = run(HAPROXY, ['-f', join(scratch, 'haproxy.cfg'), '-db']);
    const { Pool } = await import('undici');
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 8 });
    try {
      await until(async () => {
        const r = await pool.request({ method: 'GET', path: '/ready' });
        await r.body.dump();
        return r.statusCode === 200 ? true : undefined;
      }, () => hap.output());
      const statuses = new Map<number | string, number>();
      let stop = false;
      // Eight clients in closed loops over keep-alive connections, as a balancer's users.
      const loops = Array.from({ length: 8 }, async () => {
        while (!stop) {
          let key: number | string;
          try {
            const r = await pool.request({ method: 'POST', path: '/predict_ctr', body, headers: { 'content-type': 'application/json' } });
            await r.body.dump();
            key = r.statusCode;
          } catch (err) {
            key = (err as NodeJS.ErrnoException).code ?? String(err);
          }
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
        }
      });
      await until(async () => ((statuses.get(200) ?? 0) > 200 ? true : undefined), () => JSON.stringify([...statuses]));
      a.child.kill('SIGTERM');
      const exited = new Promise<number | null>((r) => a.child.once('exit', (c) => r(c)));
      assert.equal(await exited, 0, a.output());
      // Traffic continues on the other replica after the first is gone.
      const atExit = statuses.get(200) ?? 0;
      await until(async () => ((statuses.get(200) ?? 0) > atExit + 100 ? true : undefined), () => JSON.stringify([...statuses]));
      stop = true;
      await Promise.all(loops);
      assert.match(a.output(), /drain 4\/4/);
      assert.deepEqual([...statuses.keys()], [200], `every request answered 200: ${JSON.stringify([...statuses])}`);
    } finally {
      await pool.close();
      await stopChild(hap.child);
      await Promise.all([a.stop(), b.stop()]);
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
