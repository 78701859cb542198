// Inline inference (issue 17, engine/inline_inference.ts): small batches of a
// cheap model run on the thread that read them instead of in a worker.
// Against real server processes, real ORT and real workers:
// - /models says where each model's small batches run, and counts them;
// - a row gets the very same CTR inline as in a worker (same backend, same
//   options), single and batch requests, sequential and concurrent (where
//   inline and worker batches mix);
// - /monitoring/stats counts and describes every inline row like a worker's;
// - a hot reload reopens the new generation inline;
// - inline runs pause while the main thread is busy and resume when idle;
// - a budget no model fits (INLINE_MAX_US=1) sends everything to the workers;
// - the native-free backend (a synchronous run) serves inline too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';
import { GOOD } from './support/request_errors.js';

const DEMO_MODELS = fileURLToPath(new URL('../../engine/models', import.meta.url));
const MODELS = ['xgboost', 'logistic'] as const;

/** Request i: varied enough that rows differ in every encoded column family. */
function body(i: number, model: string): Record<string, unknown> {
  const devices = ['mobile', 'desktop', 'tablet'];
  const placements = ['header', 'sidebar', 'footer', 'in_feed', 'interstitial'];
  return { ...GOOD, user_id: `user_${i}`, ad_id: `ad_${(i * 7) % 50}`, device: devices[i % 3], placement: placements[i % 5], context: { hour: i % 24 }, model };
}

async function inlineOf(client: TestClient, model: string): Promise<{ max_rows: number; active: boolean; loop_utilization: number; one_row_us: number; batches: number; rows: number } | null> {
  const r = await client.get('/models');
  assert.equal(r.status, 200);
  const m = r.body.models.find((x: { name: string }) => x.name === model);
  assert.ok(m, `model ${model} in /models`);
  assert.ok('inline' in m, '/models has an inline field for every model');
  return m.inline;
}

/** CTRs of `n` single requests sent one after another (each its own batch). */
async function sequential(client: TestClient, model: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await client.postJson('/predict_ctr', body(i, model));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.model, model);
    out.push(r.body.ctr);
  }
  return out;
}

/** CTRs of `n` single requests sent at once over the client's connections (batches form). */
async function concurrent(client: TestClient, n: number): Promise<number[]> {
  const replies = await Promise.all(Array.from({ length: n }, (_, i) => client.postJson('/predict_ctr', body(i, MODELS[i % 2]))));
  return replies.map((r) => {
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.ctr;
  });
}

async function batchCtrs(client: TestClient, rows: number): Promise<number[]> {
  const r = await client.postJson('/predict_ctr/batch', { requests: Array.from({ length: rows }, (_, i) => body(100 + i, MODELS[i % 2])) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.predictions.map((p: { ctr: number }) => p.ctr);
}

describe('inline inference against the worker path (real servers, real ORT)', () => {
  let inline: ServerProcess;
  let workers: ServerProcess;
  let a: TestClient;
  let w: TestClient;
  before(async () => {
    // A generous budget, so that multi-row batches run inline too; one worker, so the worker path is one thread.
    [inline, workers] = await Promise.all([
      startServerProcess({ WORKERS: '1', INLINE_MAX_US: '2000', INLINE_MAX_LOOP_UTILIZATION: '1', MONITOR_TICK_MS: '100' }, 60_000),
      // The default: inline inference off, every batch to a worker.
      startServerProcess({ WORKERS: '1', MONITOR_TICK_MS: '100' }, 60_000),
    ]);
    a = new TestClient(inline.url, 16);
    w = new TestClient(workers.url, 16);
  });
  after(async () => {
    await a?.close();
    await w?.close();
    if (inline) assert.equal(await inline.stop(), 0);
    if (workers) assert.equal(await workers.stop(), 0);
  });

  test('/models says which rows run on the request thread: measured at start; none by default (inline inference is opt-in)', async () => {
    for (const m of MODELS) {
      const s = await inlineOf(a, m);
      assert.ok(s !== null, `${m} runs inline within 2000 µs`);
      assert.ok(s.max_rows >= 2, `${m}: several rows fit 2000 µs (${JSON.stringify(s)})`);
      assert.ok(s.one_row_us > 0 && s.one_row_us <= 2000, JSON.stringify(s));
      assert.equal(await inlineOf(w, m), null);
    }
    assert.match(inline.output(), /inline inference \(INLINE_MAX_US=2000\): .*xgboost ≤ \d+ rows here/);
  });

  test('one request at a time: the same CTR, bit for bit, inline as in a worker; /models counts the inline batches', async () => {
    for (const m of MODELS) {
      const before = (await inlineOf(a, m))!;
      const here = await sequential(a, m, 40);
      const there = await sequential(w, m, 40);
      assert.deepEqual(here, there);
      assert.equal(new Set(here).size > 10, true, 'the requests differ, so do their CTRs');
      const after = (await inlineOf(a, m))!;
      // A request sent after the previous answer is a batch of one on an idle server: every one ran inline.
      assert.equal(after.batches - before.batches, 40, JSON.stringify({ before, after }));
      assert.equal(after.rows - before.rows, 40);
    }
  });

  test('concurrent singles and batch requests: inline and worker batches mix, every CTR equal to the worker path\'s, in order', async () => {
    for (let round = 0; round < 3; round++) {
      assert.deepEqual(await concurrent(a, 300), await concurrent(w, 300));
      assert.deepEqual(await batchCtrs(a, 37), await batchCtrs(w, 37));
    }
  });

  test('/monitoring/stats counts every inline row, and its prediction moments match the answers', async () => {
    const fresh = await startServerProcess({ WORKERS: '1', INLINE_MAX_US: '2000', INLINE_MAX_LOOP_UTILIZATION: '1', MONITOR_TICK_MS: '100' }, 60_000);
    const c = new TestClient(fresh.url, 4);
    try {
      const ctrs = await sequential(c, 'xgboost', 60);
      const inl = (await inlineOf(c, 'xgboost'))!;
      assert.equal(inl.rows, 60, 'every row ran inline');
      let s = await c.freshStats();
      for (let i = 0; i < 40 && s.models.xgboost.prediction.count < 60; i++) s = await c.freshStats();
      const life = s.models.xgboost; // GET /monitoring/stats: the lifetime block's fields at the model's top level
      assert.equal(life.total_requests, 60);
      assert.equal(life.successful_requests, 60);
      assert.equal(life.prediction.count, 60);
      assert.equal(life.inference_failures, 0);
      const mean = ctrs.reduce((x, y) => x + y, 0) / ctrs.length;
      assert.ok(Math.abs(life.prediction.mean - mean) < 1e-6, `${life.prediction.mean} vs ${mean}`);
      assert.ok(Math.abs(life.prediction.min - Math.min(...ctrs)) < 1e-6);
      assert.ok(Math.abs(life.prediction.max - Math.max(...ctrs)) < 1e-6);
      assert.ok(life.stages.inference.count > 0, 'inline batches carry an inference latency');
      assert.equal(s.workers.alive, 1, 'the inline shard is not counted as a worker');
    } finally {
      await c.close();
      assert.equal(await fresh.stop(), 0);
    }
  });
});

describe('inline inference across a hot reload, a budget nothing fits, and the native-free backend', () => {
  test('after POST /models/xgboost/reload the new generation runs inline again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctr-inline-'));
    cpSync(DEMO_MODELS, dir, { recursive: true });
    const server = await startServerProcess({ WORKERS: '1', INLINE_MAX_US: '2000', INLINE_MAX_LOOP_UTILIZATION: '1', MODELS_DIR: dir, MODELS_WATCH: 'off' }, 60_000);
    const c = new TestClient(server.url, 1);
    try {
      const first = await sequential(c, 'xgboost', 5);
      const manifest = JSON.parse(readFileSync(join(dir, 'xgboost', 'manifest.json'), 'utf8'));
      manifest.version = '2';
      writeFileSync(join(dir, 'xgboost', 'manifest.json'), JSON.stringify(manifest, null, 2));
      const r = await c.request('POST', '/models/xgboost/reload', { headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      // The inline session of the new generation opens (and is timed) after the switch; meanwhile the workers serve.
      let s = await inlineOf(c, 'xgboost');
      for (let i = 0; i < 100 && s === null; i++) {
        await new Promise((res) => setTimeout(res, 50));
        s = await inlineOf(c, 'xgboost');
      }
      assert.ok(s !== null && s.max_rows >= 1, 'the new generation runs inline');
      const batches = s.batches;
      const again = await sequential(c, 'xgboost', 5);
      assert.deepEqual(again, first, 'the same model file: the same CTRs');
      const v = await c.postJson('/predict_ctr', body(0, 'xgboost'));
      assert.equal(v.body.model_version, '2');
      assert.ok((await inlineOf(c, 'xgboost'))!.batches >= batches + 5);
    } finally {
      await c.close();
      assert.equal(await server.stop(), 0);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('INLINE_MAX_LOOP_UTILIZATION: inline runs pause while the main thread is busy, every row still answered and counted, and resume once it is idle', async () => {
    const server = await startServerProcess({ WORKERS: '1', INLINE_MAX_US: '2000', INLINE_MAX_LOOP_UTILIZATION: '0.05', MONITOR_TICK_MS: '100' }, 60_000);
    const c = new TestClient(server.url, 32);
    try {
      const start = (await inlineOf(c, 'xgboost'))!;
      // Sustained load for a second and a half; /models read while it goes on.
      let sent = 0;
      let during: Awaited<ReturnType<typeof inlineOf>> = null;
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        const load = Promise.all(Array.from({ length: 64 }, (_, i) => c.postJson('/predict_ctr', body(i, 'xgboost'))));
        if (sent >= 640) during = await inlineOf(c, 'xgboost');
        for (const r of await load) assert.equal(r.status, 200);
        sent += 64;
      }
      assert.ok(during !== null);
      assert.equal(during.active, false, `busy (loop utilization ${during.loop_utilization}): inline paused`);
      assert.ok(during.loop_utilization > 0.05);
      // Idle again: the next check (every 100 ms) resumes inline runs.
      let s = await inlineOf(c, 'xgboost');
      for (let i = 0; i < 50 && !s!.active; i++) {
        await new Promise((res) => setTimeout(res, 100));
        s = await inlineOf(c, 'xgboost');
      }
      assert.equal(s!.active, true);
      for (let i = 0; i < 5; i++) {
        assert.equal((await c.postJson('/predict_ctr', body(i, 'xgboost'))).status, 200);
        await new Promise((res) => setTimeout(res, 30));
      }
      const end = (await inlineOf(c, 'xgboost'))!;
      assert.ok(end.rows - s!.rows >= 1, 'inline runs again once the thread is idle');
      assert.ok(end.rows - start.rows < sent + 5, 'while paused, batches went to the worker');
      let st = await c.freshStats();
      for (let i = 0; i < 40 && st.models.xgboost.prediction.count < sent + 5; i++) st = await c.freshStats();
      assert.equal(st.models.xgboost.total_requests, sent + 5, 'every row counted, inline or not');
      assert.equal(st.models.xgboost.prediction.count, sent + 5);
    } finally {
      await c.close();
      assert.equal(await server.stop(), 0);
    }
  });

  test('INLINE_MAX_US=1: no model runs in 1 µs, so every batch goes to a worker and /models says so', async () => {
    const server = await startServerProcess({ WORKERS: '1', INLINE_MAX_US: '1' }, 60_000);
    const c = new TestClient(server.url, 4);
    try {
      for (const m of MODELS) assert.equal(await inlineOf(c, m), null);
      assert.equal((await concurrent(c, 50)).length, 50);
      assert.doesNotMatch(server.output(), /inline inference \(/);
    } finally {
      await c.close();
      assert.equal(await server.stop(), 0);
    }
  });

  test('INFERENCE_BACKEND=ts runs inline synchronously, within 1e-6 of onnxruntime-node in a worker', async () => {
    const [ts, ort] = await Promise.all([
      startServerProcess({ WORKERS: '1', INFERENCE_BACKEND: 'ts', INLINE_MAX_US: '2000', INLINE_MAX_LOOP_UTILIZATION: '1' }, 60_000),
      startServerProcess({ WORKERS: '1', INLINE_MAX_US: '0' }, 60_000),
    ]);
    const t = new TestClient(ts.url, 16), o = new TestClient(ort.url, 16);
    try {
      for (const m of MODELS) {
        const here = await sequential(t, m, 20), there = await sequential(o, m, 20);
        for (let i = 0; i < here.length; i++) assert.ok(Math.abs(here[i] - there[i]) <= 1e-6, `${m} row ${i}: ${here[i]} vs ${there[i]}`);
        assert.equal((await inlineOf(t, m))!.rows, 20);
      }
      const here = await concurrent(t, 200), there = await concurrent(o, 200);
      for (let i = 0; i < here.length; i++) assert.ok(Math.abs(here[i] - there[i]) <= 1e-6, `row ${i}`);
    } finally {
      await t.close();
      await o.close();
      assert.equal(await ts.stop(), 0);
      assert.equal(await ort.stop(), 0);
    }
  });
});
