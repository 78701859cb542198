// ACCEPTORS=2 (issue 17): a second uWS app in an acceptor thread on the same
// port (SO_REUSEPORT), with its own batcher and links to the same inference
// workers. Against the real server process, real ORT and real workers:
// predictions over many connections reach both threads (the per-acceptor
// counters in /metrics say so) and are all answered 200; /monitoring/stats
// counts exactly what was sent (one view over both threads' shards); routes
// the acceptor forwards to the main thread (probes, models, feedback, admin,
// 404/405) answer the same wherever a connection lands, and the stream runs
// on both; a killed worker's replacement is linked to both threads again; a
// second server on the port fails with the clear message; SIGTERM drains
// every thread and exits 0.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient, type Reply } from './support/http_client.js';
import { rawExchange, rawGet, rawPost } from './support/raw_http.js';
import { GOOD } from './support/request_errors.js';
import { WsClient } from '../bench/lib/ws_client.js';

/** A Prometheus sample's value from /metrics text; NaN when absent. */
function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}

const served = (m: string, a: number) => sample(m, `ctr_acceptor_rows_served_total{acceptor="${a}"}`);
const links = (m: string, a: number) => sample(m, `ctr_acceptor_worker_links{acceptor="${a}"}`);

/** Polls /metrics until `ok` holds (the acceptor's figures arrive each monitor tick); fails with the last text after `guardMs`. */
async function metricsUntil(client: TestClient, ok: (text: string) => boolean, guardMs = 20_000): Promise<string> {
  const started = Date.now();
  for (;;) {
    const text = (await client.get('/metrics')).body as string;
    if (ok(text)) return text;
    if (Date.now() - started > guardMs) assert.fail(`/metrics never satisfied the condition:\n${text.split('\n').filter((l) => l.startsWith('ctr_acceptor')).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every request in `n` sent over `connections` connections at once; each answer checked for the spec's shape. */
async function predictMany(url: string, n: number, connections: number): Promise<{ ids: string[]; rows: number }> {
  // A fresh pool of many connections: SO_REUSEPORT spreads connections (not requests) across the threads.
  const client = new TestClient(url, connections);
  const ids: string[] = [];
  let rows = 0;
  try {
    const replies = await Promise.all(Array.from({ length: n }, (_, i): Promise<[number, Reply]> => {
      // One in ten is a batch of three, so rows and requests differ.
      if (i % 10 === 9) return client.postJson('/predict_ctr/batch', { requests: [GOOD, { ...GOOD, user_id: `user_${i}` }, { ...GOOD, model: 'logistic' }] }).then((r) => [3, r]);
      return client.postJson('/predict_ctr', { ...GOOD, user_id: `user_${i}` }).then((r) => [1, r]);
    }));
    for (const [k, r] of replies) {
      assert.equal(r.status, 200, JSON.stringify(r.body));
      rows += k;
      if (k === 1) {
        assert.ok(typeof r.body.ctr === 'number' && r.body.ctr > 0 && r.body.ctr < 1, JSON.stringify(r.body));
        assert.equal(typeof r.body.model, 'string');
        assert.equal(typeof r.body.model_version, 'string');
        assert.equal(typeof r.body.latency_ms, 'number');
        ids.push(r.body.request_id);
      } else {
        assert.equal(r.body.predictions.length, 3);
        assert.equal(r.body.predictions[2].model, 'logistic');
        for (const p of r.body.predictions) {
          assert.ok(p.ctr > 0 && p.ctr < 1);
          ids.push(p.request_id);
        }
      }
    }
  } finally {
    await client.close();
  }
  return { ids, rows };
}

describe('ACCEPTORS=2: two threads accepting on one port', () => {
  let server: ServerProcess;
  let client: TestClient;
  /** Rows answered so far by the whole server. */
  let rowsSent = 0;

  before(async () => {
    server = await startServerProcess({ ACCEPTORS: '2', WORKERS: '2', INJECT_WORKER_KILL: 'true', MONITOR_TICK_MS: '100', DRAIN_GRACE_MS: '3000' }, 90_000);
    client = new TestClient(server.url, 2);
  });
  after(async () => {
    await client?.close();
    if (server && server.child.exitCode === null) await server.stop();
  });

  test('the start-up line names the acceptor threads', () => {
    assert.match(server.output(), /2 acceptor threads on the port \(SO_REUSEPORT\)/);
  });

  test('predictions over many connections: every one 200, both threads served some, and /monitoring/stats counts exactly what was sent', async () => {
    const { rows } = await predictMany(server.url, 600, 32);
    rowsSent += rows;
    const m = await metricsUntil(client, (t) => served(t, 0) + served(t, 1) === rowsSent);
    assert.ok(served(m, 0) > 0, 'the main thread served predictions');
    assert.ok(served(m, 1) > 0, 'the acceptor thread served predictions');
    assert.equal(sample(m, 'ctr_acceptors'), 2);
    // One view: both threads' end-to-end shards summed by the coordinator.
    const stats = await client.freshStats();
    let total = 0, ok = 0, latencies = 0;
    for (const s of Object.values(stats.models) as any[]) {
      total += s.total_requests;
      ok += s.successful_requests;
      latencies += s.latency_ms.count;
    }
    assert.equal(total, rowsSent);
    assert.equal(ok, rowsSent);
    assert.equal(latencies, rowsSent);
    assert.equal(stats.unrouted.total_requests ?? 0, 0);
  });

  test('forwarded routes answer from the main thread whichever thread the connection lands on; clicks join predictions served by either', async () => {
    const { ids, rows } = await predictMany(server.url, 200, 16);
    rowsSent += rows;
    const many = new TestClient(server.url, 16);
    try {
      const replies = await Promise.all(Array.from({ length: 64 }, (_, i) => {
        switch (i % 8) {
          case 0: return many.get('/ready').then((r) => { assert.equal(r.status, 200); assert.equal(r.body.workers, 2); });
          case 1: return many.get('/models').then((r) => { assert.equal(r.status, 200); assert.deepEqual(r.body.models.map((x: any) => x.name).sort(), ['logistic', 'xgboost']); });
          case 2: return many.get('/nope').then((r) => { assert.equal(r.status, 404); assert.equal(r.body.error.code, 'not_found'); });
          case 3: return many.get('/predict_ctr').then((r) => { assert.equal(r.status, 405); assert.equal(r.headers.allow, 'POST'); });
          case 4: return many.get('/monitoring/stats').then((r) => { assert.equal(r.status, 200); assert.ok(r.body.models.xgboost); });
          case 5: return many.get('/monitoring/drift/nope').then((r) => { assert.equal(r.status, 404); assert.equal(r.body.error.field, 'model_name'); });
          case 6: return many.postJson('/predict_ctr', { ...GOOD, device: 42 }).then((r) => { assert.equal(r.status, 400); assert.equal(r.body.error.code, 'invalid_request'); });
          default: return many.get('/health').then((r) => { assert.equal(r.status, 200); assert.equal(r.body.status, 'ok'); });
        }
      }));
      assert.equal(replies.length, 64);
      // Labels recorded on the acceptor thread reach the main thread's log: every id is known.
      const fb = await many.postJson('/feedback', { feedback: ids.slice(0, 100).map((id, i) => ({ request_id: id, clicked: i % 3 === 0 })) });
      assert.equal(fb.status, 200, JSON.stringify(fb.body));
      assert.equal(fb.body.accepted, 100, JSON.stringify(fb.body));
      assert.equal(fb.body.unknown, 0);
      // Admin over a forwarded connection changes what both threads route: all traffic to logistic.
      const ab = await Promise.all(Array.from({ length: 8 }, () => many.request('PUT', '/ab', { body: JSON.stringify({ weights: { logistic: 1, xgboost: 0 } }), headers: { 'content-type': 'application/json' } })));
      for (const r of ab) assert.equal(r.status, 200, JSON.stringify(r.body));
    } finally {
      await many.close();
    }
    const routed = new TestClient(server.url, 16);
    try {
      const after = await Promise.all(Array.from({ length: 64 }, (_, i) => routed.postJson('/predict_ctr', { ...GOOD, user_id: `user_${i}` })));
      for (const r of after) assert.equal(r.body.model, 'logistic');
      rowsSent += after.length;
      await routed.request('PUT', '/ab', { body: JSON.stringify({ weights: { logistic: 1, xgboost: 1 } }), headers: { 'content-type': 'application/json' } });
    } finally {
      await routed.close();
    }
    const m = await metricsUntil(client, (t) => served(t, 0) + served(t, 1) === rowsSent);
    assert.ok(sample(m, 'ctr_acceptor_forwarded_total{acceptor="1"}') > 0, 'the acceptor forwarded requests');
  });

  test('the stream runs on both threads and /metrics counts its connections as one', async () => {
    const clients = await Promise.all(Array.from({ length: 8 }, () => WsClient.connect(server.url.replace('http', 'ws') + '/monitoring/stream?interval=100&format=json')));
    try {
      for (const c of clients) {
        assert.equal(JSON.parse((await c.next()).data.toString()).type, 'hello');
        const frame = JSON.parse((await c.next()).data.toString());
        assert.equal(frame.type, 'snapshot');
      }
      await metricsUntil(client, (t) => sample(t, 'ctr_stream_connections') === 8);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  test('a killed worker is replaced and linked to both threads again; both keep serving', async () => {
    server.child.kill('SIGUSR2');
    const started = Date.now();
    while (!/fault injection: terminating inference worker/.test(server.output())) {
      assert.ok(Date.now() - started < 15_000, server.output());
      await new Promise((r) => setTimeout(r, 20));
    }
    // The replacement is linked to the main thread and to the acceptor.
    const before = await metricsUntil(client, (t) => links(t, 0) === 2 && links(t, 1) === 2);
    const { rows } = await predictMany(server.url, 400, 32);
    rowsSent += rows;
    const m = await metricsUntil(client, (t) => served(t, 0) + served(t, 1) === rowsSent);
    assert.ok(served(m, 0) > served(before, 0), 'the main thread served after the kill');
    assert.ok(served(m, 1) > served(before, 1), 'the acceptor thread served after the kill');
  });

  test('a second server on the port exits 1 saying the port is in use', async () => {
    for (const acceptors of ['2', '1']) {
      const err = await startServerProcess({ ACCEPTORS: acceptors, WORKERS: '1', PORT: String(server.port) }, 60_000).then(
        async (s) => {
          await s.stop();
          return null;
        },
        (e: Error) => e,
      );
      assert.ok(err !== null, `a second server (ACCEPTORS=${acceptors}) started on a port in use`);
      assert.match(err.message, /exited with 1 before ready/);
      assert.match(err.message, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${server.port}: the port is already in use`));
      assert.doesNotMatch(err.message, /\n\s+at /, 'a clear message, not a stack trace');
    }
    assert.equal((await client.get('/ready')).status, 200);
  });

  test('SIGTERM drains every thread: /ready 503 and Connection: close on new connections, predictions still served, then exit 0', async () => {
    server.child.kill('SIGTERM');
    const started = Date.now();
    while (!/drain 1\/4/.test(server.output())) {
      assert.ok(Date.now() - started < 15_000, server.output());
      await new Promise((r) => setTimeout(r, 20));
    }
    // New connections land on either thread: each is told to close, /ready is 503 everywhere.
    const body = JSON.stringify(GOOD);
    const exchanges = await Promise.all(Array.from({ length: 16 }, (_, i) => rawExchange(server.port, [i % 2 === 0 ? rawGet('/ready') : rawPost('/predict_ctr', body)], 1)));
    exchanges.forEach((x, i) => {
      const r = x.responses[0];
      assert.equal(r.status, i % 2 === 0 ? 503 : 200, x.raw);
      assert.equal(r.headers.connection, 'close', x.raw);
    });
    const code = await new Promise<number | null>((r) => (server.child.exitCode !== null ? r(server.child.exitCode) : server.child.once('exit', (c) => r(c))));
    assert.equal(code, 0, server.output());
    assert.match(server.output(), /drain 4\/4: flushed and closed/);
    assert.doesNotMatch(server.output(), /acceptor 1 exited with/);
  });
});

describe('ACCEPTORS=2: a hot reload switches both threads', () => {
  const MODELS = fileURLToPath(new URL('../../engine/models', import.meta.url));
  let dir: string;
  let server: ServerProcess;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ctr-acceptors-models-'));
    cpSync(MODELS, dir, { recursive: true });
    server = await startServerProcess({ ACCEPTORS: '2', WORKERS: '2', MODELS_DIR: dir, MODELS_WATCH: 'off', MONITOR_TICK_MS: '100' }, 90_000);
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
    rmSync(dir, { recursive: true, force: true });
  });

  test('after POST /models/logistic/reload every connection, on either thread, answers with the new version', async () => {
    const manifest = JSON.parse(readFileSync(join(dir, 'logistic', 'manifest.json'), 'utf8'));
    manifest.version = '2';
    writeFileSync(join(dir, 'logistic', 'manifest.json'), JSON.stringify(manifest, null, 2));
    const admin = new TestClient(server.url, 1);
    try {
      const r = await admin.request('POST', '/models/logistic/reload', { headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.reload.version, '2');
      // The acceptor switches when the main thread's message arrives; each connection's first answer may precede it, so poll until both threads have answered with version 2.
      const before = (await admin.get('/metrics')).body as string;
      let versions: string[] = [];
      for (let attempt = 0; attempt < 50; attempt++) {
        const many = new TestClient(server.url, 32);
        try {
          const replies = await Promise.all(Array.from({ length: 96 }, (_, i) => many.postJson('/predict_ctr', { ...GOOD, user_id: `user_${i}`, model: 'logistic' })));
          for (const x of replies) assert.equal(x.status, 200);
          versions = replies.map((x) => x.body.model_version);
        } finally {
          await many.close();
        }
        if (versions.every((v) => v === '2')) break;
        await new Promise((res) => setTimeout(res, 50));
      }
      assert.deepEqual([...new Set(versions)], ['2']);
      const m = await metricsUntil(admin, (t) => served(t, 1) > served(before, 1) && served(t, 0) > served(before, 0));
      assert.ok(served(m, 1) > 0);
    } finally {
      await admin.close();
    }
  });
});

describe('ACCEPTORS=2 with inline inference: each thread runs its own small batches', () => {
  let server: ServerProcess;
  let reference: ServerProcess;
  let admin: TestClient;
  let ref: TestClient;
  const inlineRows = (m: string, a: number) => sample(m, `ctr_acceptor_inline_rows_total{acceptor="${a}"}`);

  before(async () => {
    // A generous budget and no load gate, so every lone batch runs inline on the thread that read it; one worker for the rest.
    [server, reference] = await Promise.all([
      startServerProcess({ ACCEPTORS: '2', WORKERS: '1', INLINE_MAX_US: '2000', INLINE_MAX_LOOP_UTILIZATION: '1', MONITOR_TICK_MS: '100' }, 90_000),
      // The default worker path, for the CTRs every row must get.
      startServerProcess({ WORKERS: '1', MONITOR_TICK_MS: '100' }, 60_000),
    ]);
    admin = new TestClient(server.url, 1);
    ref = new TestClient(reference.url, 8);
  });
  after(async () => {
    await admin?.close();
    await ref?.close();
    if (server && server.child.exitCode === null) assert.equal(await server.stop(), 0);
    if (reference) assert.equal(await reference.stop(), 0);
  });

  test('lone requests on connections spread over both threads run inline on each; every CTR equals the worker path\'s; one stats view counts every row', async () => {
    const bodyOf = (i: number) => ({ ...GOOD, user_id: `user_${i}`, ad_id: `ad_${(i * 7) % 50}`, context: { hour: i % 24 }, model: i % 2 === 0 ? 'xgboost' : 'logistic' });
    const got: number[] = [];
    // 40 fresh connections, 3 requests each, one after another: each request is a batch of one on an idle thread.
    for (let c = 0; c < 40; c++) {
      const one = new TestClient(server.url, 1);
      try {
        for (let k = 0; k < 3; k++) {
          const r = await one.postJson('/predict_ctr', bodyOf(c * 3 + k));
          assert.equal(r.status, 200, JSON.stringify(r.body));
          got.push(r.body.ctr);
        }
      } finally {
        await one.close();
      }
    }
    // And a concurrent burst over 32 connections, where inline and worker batches mix on both threads.
    const burst = new TestClient(server.url, 32);
    try {
      const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => burst.postJson('/predict_ctr', bodyOf(120 + i))));
      for (const r of replies) {
        assert.equal(r.status, 200, JSON.stringify(r.body));
        got.push(r.body.ctr);
      }
    } finally {
      await burst.close();
    }
    const want: number[] = [];
    for (let i = 0; i < got.length; i++) want.push((await ref.postJson('/predict_ctr', bodyOf(i))).body.ctr);
    assert.deepEqual(got, want, 'a row gets the same CTR, bit for bit, on either thread, inline or in the worker');

    const sent = got.length;
    const m = await metricsUntil(admin, (t) => served(t, 0) + served(t, 1) === sent);
    assert.ok(inlineRows(m, 0) > 0, 'the main thread ran rows inline');
    assert.ok(inlineRows(m, 1) > 0, 'the acceptor thread ran rows inline');
    assert.ok(inlineRows(m, 0) + inlineRows(m, 1) >= 120, `every lone request ran inline (${inlineRows(m, 0)} + ${inlineRows(m, 1)})`);
    assert.ok(inlineRows(m, 0) + inlineRows(m, 1) <= sent);

    let stats = await admin.freshStats();
    const counted = (s: any) => (Object.values(s.models) as any[]).reduce((n, x) => n + x.prediction.count, 0);
    for (let i = 0; i < 40 && counted(stats) < sent; i++) stats = await admin.freshStats();
    let total = 0, ok = 0, sum = 0;
    for (const x of Object.values(stats.models) as any[]) {
      total += x.total_requests;
      ok += x.successful_requests;
      sum += x.prediction.mean * x.prediction.count;
    }
    assert.equal(total, sent);
    assert.equal(ok, sent);
    assert.equal(counted(stats), sent, 'every row, inline on either thread or in the worker, is in the moments');
    const mean = got.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - mean) < 1e-4, `the moments add up to the answers: ${sum} vs ${mean}`);
    assert.equal(stats.workers.alive, 1, "neither thread's inline shard counts as a worker");
  });
});

test('ACCEPTORS > 1 with the node:http front end exits 2 naming the option, before starting anything', () => {
  const entry = fileURLToPath(new URL('../bin/ctr-engine.js', import.meta.url));
  const r = spawnSync(process.execPath, [entry], { env: { ...process.env, ACCEPTORS: '2', FRONT_END: 'native-free', PORT: '0' }, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /ACCEPTORS=2 needs the uWS front end/);
});
