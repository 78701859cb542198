// The REST path against the fake MLflow server: happy path, MLflow's rules,
// auth, retries, Retry-After, stalls, and an outage with nothing lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { request } from 'undici';
import { FakeMlflowServer } from './support/fake_mlflow_server.js';
import { createMlflowSink, type MlflowSinkOptions } from '../engine/mlflow/index.js';
import { RestTrackingStore } from '../engine/mlflow/rest_store.js';
import { MlflowError } from '../engine/mlflow/types.js';

const FAST = { maxRetries: 2, backoffFactorMs: 5, backoffJitterMs: 5, timeoutMs: 1000, retryAfterMaxMs: 5000 };

function sinkFor(server: FakeMlflowServer, extra: Partial<MlflowSinkOptions> = {}) {
  return createMlflowSink({ trackingUri: server.url, experimentName: 'ctr_prediction_production', host: 'h1',
    env: {}, retryPolicy: FAST, retryIntervalMs: { initialMs: 10, maxMs: 40 }, ...extra });
}

const logBatches = (s: FakeMlflowServer) => s.requests.filter((r) => r.path.endsWith('/runs/log-batch'));
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function post(server: FakeMlflowServer, endpoint: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const res = await request(`${server.url}/api/2.0/mlflow/${endpoint}`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.statusCode, body: await res.body.json() as { error_code?: string; message?: string } };
}

test('happy path: experiment, one run per model, params, tags, metrics per flush, FINISHED on close', async () => {
  const server = await FakeMlflowServer.start();
  try {
    const sink = sinkFor(server, { engineVersion: '0.1.0' });
    await sink.startRuns([{ name: 'xgboost', version: '1' }, { name: 'lightgbm', version: '3' }], { workers: '2' }, { env: 'test' });
    for (let i = 0; i < 3; i++) {
      sink.record('xgboost', { 'requests/window_1m': 10 + i, 'latency_ms/end_to_end/p99': NaN }, 1_000 + i * 10_000);
      sink.record('lightgbm', { 'requests/window_1m': 20 + i, 'latency_ms/end_to_end/p99': Infinity }, 1_000 + i * 10_000);
    }
    await sink.idle();
    assert.deepEqual({ ...sink.stats(), lastDeliveryAt: 0 }, { pending: 0, dropped: 0, delivered: 6, rejected: 0, lastError: null,
      lastErrorAt: null, lastDeliveryAt: 0, state: 'ok', backend: 'rest' });
    const runs = server.runsOf('ctr_prediction_production');
    assert.equal(runs.length, 2);
    const xgb = runs.find((r) => r.tags.get('model') === 'xgboost');
    assert.ok(xgb);
    assert.equal(xgb.tags.get('model_version'), '1');
    assert.equal(xgb.tags.get('host'), 'h1');
    assert.equal(xgb.tags.get('engine_version'), '0.1.0');
    assert.equal(xgb.tags.get('env'), 'test');
    assert.match(xgb.info.run_name, /^xgboost-v1@h1-\d{8}T\d{6}Z$/);
    assert.equal(xgb.params.get('workers'), '2');
    const win = xgb.metrics.filter((m) => m.key === 'requests/window_1m');
    assert.deepEqual(win.map((m) => [m.value, m.step, m.timestamp]), [[10, 0, 1000], [11, 1, 11000], [12, 2, 21000]]);
    assert.ok(xgb.metrics.filter((m) => m.key === 'latency_ms/end_to_end/p99').every((m) => Number.isNaN(m.value)));
    assert.ok(logBatches(server).some((r) => r.raw.includes('"value":"NaN"')), 'NaN goes as the string "NaN"');
    assert.ok(logBatches(server).some((r) => r.raw.includes('"value":"Infinity"')));
    assert.ok(server.requests.every((r) => r.method === 'GET' || r.headers['content-type'] === 'application/json'));
    const final = await sink.close({ deadlineMs: 2000 });
    assert.equal(final.state, 'closed');
    for (const r of runs) { assert.equal(r.info.status, 'FINISHED'); assert.ok(r.info.end_time); }
  } finally { await server.close(); }
});

test('fake server applies MLflow validation with its codes and messages', async () => {
  const server = await FakeMlflowServer.start();
  try {
    const noCt = await post(server, 'experiments/create', { name: 'x' }, {});
    assert.deepEqual([noCt.status, noCt.body.error_code, noCt.body.message], [400, 'INVALID_PARAMETER_VALUE', 'Bad Request. Content-Type header is missing.']);
    const wrongCt = await post(server, 'experiments/create', { name: 'x' }, { 'content-type': 'text/plain' });
    assert.equal(wrongCt.body.message, "Bad Request. Content-Type must be one of ['application/json'].");
    assert.equal((await post(server, 'experiments/create', { name: 'dup' })).status, 200);
    const dup = await post(server, 'experiments/create', { name: 'dup' });
    assert.deepEqual([dup.status, dup.body.error_code], [400, 'RESOURCE_ALREADY_EXISTS']);
    const missingExp = await request(`${server.url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=nope`);
    assert.equal(missingExp.statusCode, 404);
    assert.equal(((await missingExp.body.json()) as { error_code: string }).error_code, 'RESOURCE_DOES_NOT_EXIST');
    const run = await post(server, 'runs/create', { experiment_id: '0', start_time: 1 }) as unknown as { body: { run: { info: { run_id: string } } } };
    const runId = run.body.run.info.run_id;
    const m = (n: number) => Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: 1, timestamp: 1, step: 0 }));
    const tooMany = await post(server, 'runs/log-batch', { run_id: runId, metrics: m(1001) });
    assert.equal(tooMany.status, 400);
    assert.equal(tooMany.body.message, 'A batch logging request can contain at most 1000 metrics. Got 1001 metrics. Please split up metrics across multiple requests and try again.');
    const tooManyParams = await post(server, 'runs/log-batch', { run_id: runId, params: Array.from({ length: 101 }, (_, i) => ({ key: `p${i}`, value: 'v' })) });
    assert.match(tooManyParams.body.message ?? '', /at most 100 params/);
    const total = await post(server, 'runs/log-batch', { run_id: runId, metrics: m(950), tags: Array.from({ length: 51 }, (_, i) => ({ key: `t${i}`, value: 'v' })) });
    assert.match(total.body.message ?? '', /at most 1000 metrics, params, and tags/);
    const noTs = await post(server, 'runs/log-batch', { run_id: runId, metrics: [{ key: 'a', value: 1, step: 0 }] });
    assert.equal(noTs.body.message, "Missing value for required parameter 'metrics[0].timestamp'. See the API docs for more information about request parameters.");
    const badKey = await post(server, 'runs/log-batch', { run_id: runId, metrics: [{ key: 'a//b', value: 1, timestamp: 1 }] });
    assert.match(badKey.body.message ?? '', /^Invalid metric name: 'a\/\/b'\. Names may be treated as files/);
    const longKey = await post(server, 'runs/log-batch', { run_id: runId, params: [{ key: 'k'.repeat(251), value: 'v' }] });
    assert.match(longKey.body.message ?? '', /had length 251, which exceeded length limit of 250$/);
    assert.equal((await post(server, 'runs/log-batch', { run_id: runId, params: [{ key: 'p', value: '1' }] })).status, 200);
    const changed = await post(server, 'runs/log-batch', { run_id: runId, params: [{ key: 'p', value: '2' }] });
    assert.deepEqual([changed.status, changed.body.error_code], [400, 'INVALID_PARAMETER_VALUE']);
    assert.match(changed.body.message ?? '', /^Changing param values is not allowed\. Param with key='p' was already logged with value='1'/);
    const unknown = await post(server, 'runs/log-batch', { run_id: 'f'.repeat(32), metrics: m(1) });
    assert.deepEqual([unknown.status, unknown.body.error_code, unknown.body.message], [404, 'RESOURCE_DOES_NOT_EXIST', `Run '${'f'.repeat(32)}' not found`]);
    const nan = await post(server, 'runs/log-batch', { run_id: runId, metrics: [{ key: 'n', value: 'NaN', timestamp: 1, step: 0 }] });
    assert.equal(nan.status, 200);
  } finally { await server.close(); }
});

test('experiment create race: 404, then RESOURCE_ALREADY_EXISTS, then found', async () => {
  const server = await FakeMlflowServer.start();
  try {
    await post(server, 'experiments/create', { name: 'race' });
    server.hideExperimentOnce('race');
    server.requests.length = 0;
    const store = new RestTrackingStore({ trackingUri: server.url, policy: { ...FAST, timeoutMs: 1000, backoffMaxMs: 10 } });
    const id = await store.getOrCreateExperiment('race');
    assert.equal(id, '1');
    assert.deepEqual(server.requests.map((r) => r.path.split('/mlflow/')[1]), ['experiments/get-by-name', 'experiments/create', 'experiments/get-by-name']);
    await store.close();
  } finally { await server.close(); }
});

test('auth: Basic from username/password, Bearer from token, 401 keeps the data', async () => {
  for (const [auth, env] of [
    [{ username: 'u', password: 'p' }, { MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p' }],
    [{ token: 't0k' }, { MLFLOW_TRACKING_TOKEN: 't0k' }],
  ] as const) {
    const server = await FakeMlflowServer.start({ auth });
    try {
      const sink = sinkFor(server, { env: { ...env } });
      await sink.startRuns([{ name: 'm', version: '1' }], {}, {});
      sink.record('m', { a: 1 }, 1);
      await sink.idle();
      assert.equal(sink.stats().delivered, 1);
      await sink.close({ deadlineMs: 1000 });
    } finally { await server.close(); }
  }
  const server = await FakeMlflowServer.start({ auth: { token: 'right' } });
  try {
    const sink = sinkFor(server, { env: { MLFLOW_TRACKING_TOKEN: 'wrong' } });
    await sink.startRuns([{ name: 'm', version: '1' }], {}, {});
    sink.record('m', { a: 1 }, 1);
    await delay(100);
    const s = sink.stats();
    assert.equal(s.pending, 1);
    assert.equal(s.state, 'retrying');
    assert.match(s.lastError ?? '', /401/);
    const closed = await sink.close({ deadlineMs: 300 });
    assert.equal(closed.dropped, 1, 'what could not be delivered by the deadline is counted');
  } finally { await server.close(); }
});

test('503 with Retry-After is retried (POST included) after the server-given delay', async () => {
  const server = await FakeMlflowServer.start();
  try {
    const sink = sinkFor(server);
    await sink.startRuns([{ name: 'm', version: '1' }], {}, {});
    server.failNext(1, 503, 1);
    const t0 = Date.now();
    sink.record('m', { a: 1 }, 1);
    await sink.idle();
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 950, `waited ${elapsed} ms for Retry-After: 1`);
    assert.equal(sink.stats().delivered, 1);
    assert.equal(logBatches(server).length, 2, 'the same POST was sent again');
    for (const status of [408, 429, 500, 502, 504]) server.failNext(1, status);
    for (let i = 0; i < 5; i++) sink.record('m', { a: i }, 2 + i);
    await sink.idle();
    assert.equal(sink.stats().delivered, 6);
    assert.equal(sink.stats().dropped, 0);
    await sink.close({ deadlineMs: 1000 });
  } finally { await server.close(); }
});

test('a stalled server times out per request and the batch is delivered once it answers', async () => {
  const server = await FakeMlflowServer.start();
  try {
    const sink = sinkFor(server, { retryPolicy: { ...FAST, timeoutMs: 150, maxRetries: 0 } });
    await sink.startRuns([{ name: 'm', version: '1' }], {}, {});
    server.stall();
    sink.record('m', { a: 1 }, 1);
    await delay(400);
    assert.match(sink.stats().lastError ?? '', /timed out/);
    assert.equal(sink.stats().pending, 1);
    server.unstall();
    await sink.idle();
    assert.equal(sink.stats().delivered, 1);
    const run = server.runsOf('ctr_prediction_production')[0];
    assert.equal(run.metrics.filter((m) => m.key === 'a').length, 1, 'timed-out requests were not applied twice');
    await sink.close({ deadlineMs: 1000 });
  } finally { await server.close(); }
});

test('5-minute outage (compressed): nothing lost, order kept, then delivered when MLflow returns', async () => {
  const server = await FakeMlflowServer.start();
  try {
    const sink = sinkFor(server);
    await sink.startRuns([{ name: 'a', version: '1' }, { name: 'b', version: '1' }], {}, {});
    const t0 = 1_700_000_000_000;
    let step = 0;
    const flush = () => {
      for (const m of ['a', 'b']) sink.record(m, { 'requests/window_1m': step, 'latency_ms/end_to_end/p99': step / 10 }, t0 + step * 10_000);
      step++;
    };
    flush(); flush();
    await sink.idle();
    await server.down();
    // 30 flushes at a 10 s interval = 5 minutes of outage, compressed to ~10 ms per flush.
    for (let i = 0; i < 30; i++) { flush(); await delay(10); }
    const during = sink.stats();
    assert.equal(during.state, 'retrying');
    assert.ok(during.pending >= 58, `pending ${during.pending}`);
    assert.match(during.lastError ?? '', /unreachable|ECONNREFUSED|closed/i);
    await server.up();
    await sink.idle();
    const after = sink.stats();
    assert.equal(after.pending, 0);
    assert.equal(after.dropped, 0);
    assert.equal(after.delivered, 64);
    for (const run of server.runsOf('ctr_prediction_production')) {
      const pts = run.metrics.filter((m) => m.key === 'requests/window_1m');
      assert.deepEqual(pts.map((m) => m.step), Array.from({ length: 32 }, (_, i) => i), 'every step once, in order');
      assert.deepEqual(pts.map((m) => m.timestamp), Array.from({ length: 32 }, (_, i) => t0 + i * 10_000));
    }
    await sink.close({ deadlineMs: 1000 });
  } finally { await server.close(); }
});

test('buffer overflow drops the oldest batches and counts them', async () => {
  const server = await FakeMlflowServer.start();
  try {
    const sink = sinkFor(server, { flushBufferLimit: 5 });
    await sink.startRuns([{ name: 'm', version: '1' }], {}, {});
    await server.down();
    for (let i = 0; i < 8; i++) sink.record('m', { a: i }, 1000 + i);
    assert.equal(sink.stats().dropped, 3);
    await server.up();
    await sink.idle();
    const pts = server.runsOf('ctr_prediction_production')[0].metrics.filter((m) => m.key === 'a');
    assert.deepEqual(pts.map((m) => m.value), [3, 4, 5, 6, 7]);
    await sink.close({ deadlineMs: 1000 });
  } finally { await server.close(); }
});

test('a 4xx retrying cannot fix is logged once and the rest of the batch still goes', async () => {
  const server = await FakeMlflowServer.start();
  try {
    const store = new RestTrackingStore({ trackingUri: server.url, policy: { ...FAST, backoffMaxMs: 10 } });
    const exp = await store.getOrCreateExperiment('e');
    const run = await store.createRun({ experimentId: exp, runName: 'r', startTime: 1, userId: 'u', tags: [] });
    const metrics = Array.from({ length: 40 }, (_, i) => ({ key: i === 17 ? 'bad?key' : `k${i}`, value: i, timestamp: 1, step: 0 }));
    const rejected = await store.logBatch(run.runId, metrics, [], []);
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0].key, 'bad?key');
    assert.match(rejected[0].message, /^INVALID_PARAMETER_VALUE: Invalid metric name: 'bad\?key'/);
    assert.equal(server.runs.get(run.runId)?.metrics.length, 39);
    // A run-level refusal (deleted run) costs three requests, not one per entity.
    server.runs.get(run.runId)!.info.lifecycle_stage = 'deleted';
    const before = logBatches(server).length;
    const all = await store.logBatch(run.runId, metrics.slice(0, 16), [], []);
    assert.deepEqual(all.map((r) => [r.kind, r.key]), [['batch', '16 entities']]);
    assert.equal(logBatches(server).length - before, 3);
    await assert.rejects(store.logBatch('a'.repeat(32), metrics.slice(0, 1), [], []),
      (e: unknown) => e instanceof MlflowError && e.status === 404 && e.errorCode === 'RESOURCE_DOES_NOT_EXIST');
    await store.close();

    // Through the sink: a param MLflow refuses (changed server-side) is logged once, counted, and metrics still land.
    class SeededStore extends RestTrackingStore {
      override async createRun(input: Parameters<RestTrackingStore['createRun']>[0]) {
        const ref = await super.createRun(input);
        server.runs.get(ref.runId)?.params.set('p', 'other');
        return ref;
      }
    }
    const warnings: string[] = [];
    const sink = sinkFor(server, { store: new SeededStore({ trackingUri: server.url, policy: { ...FAST, backoffMaxMs: 10 } }),
      logger: { info: () => undefined, warn: (m) => warnings.push(m) } });
    await sink.startRuns([{ name: 'm', version: '1' }], { p: '1', q: '2' }, {});
    sink.record('m', { x: 1 }, 1);
    sink.record('m', { x: 2 }, 2);
    await sink.idle();
    const st = sink.stats();
    assert.equal(st.delivered, 2);
    assert.equal(st.rejected, 1);
    assert.match(st.lastError ?? '', /Changing param values is not allowed/);
    assert.equal(warnings.filter((w) => w.includes('Changing param values')).length, 1);
    const sinkRun = server.runsOf('ctr_prediction_production')[0];
    assert.equal(sinkRun.params.get('q'), '2', 'the rest of the batch still went');
    assert.equal(sinkRun.metrics.length, 2);
    await sink.close({ deadlineMs: 1000 });
  } finally { await server.close(); }
});

test('a run deleted under us is recreated and the batch delivered there', async () => {
  const server = await FakeMlflowServer.start();
  try {
    const sink = sinkFor(server);
    await sink.startRuns([{ name: 'm', version: '1' }], {}, {});
    const first = server.runsOf('ctr_prediction_production')[0];
    server.runs.delete(first.info.run_id);
    sink.record('m', { a: 1 }, 1);
    await sink.idle();
    const runs = server.runsOf('ctr_prediction_production');
    assert.equal(runs.length, 1);
    assert.notEqual(runs[0].info.run_id, first.info.run_id);
    assert.equal(runs[0].metrics.length, 1);
    await sink.close({ deadlineMs: 1000 });
  } finally { await server.close(); }
});

test('large batches are chunked within MLflow limits', async () => {
  const server = await FakeMlflowServer.start();
  try {
    const sink = sinkFor(server);
    const params = Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`p${i}`, 'v']));
    await sink.startRuns([{ name: 'm', version: '1' }], params, {});
    sink.record('m', Object.fromEntries(Array.from({ length: 2500 }, (_, i) => [`k${i}`, i])), 1);
    await sink.idle();
    const run = server.runsOf('ctr_prediction_production')[0];
    assert.equal(run.params.size, 250);
    assert.equal(run.metrics.length, 2500);
    for (const r of logBatches(server)) {
      const b = r.body as { metrics?: unknown[]; params?: unknown[]; tags?: unknown[] };
      assert.ok((b.metrics?.length ?? 0) <= 1000 && (b.params?.length ?? 0) <= 100);
    }
    assert.equal(sink.stats().rejected, 0);
    await sink.close({ deadlineMs: 1000 });
  } finally { await server.close(); }
});

test('REST: a RUNNING run of a dead process on this host is ended KILLED at start', async () => {
  const server = await FakeMlflowServer.start();
  try {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
    const store = new RestTrackingStore({ trackingUri: server.url, policy: FAST as never });
    const exp = await store.getOrCreateExperiment('ctr_prediction_production');
    const old = await store.createRun({ experimentId: exp, runName: 'old', startTime: 1, userId: 'u',
      tags: [{ key: 'host', value: 'h1' }, { key: 'model', value: 'm' }, { key: 'pid', value: String(dead) }] });
    await store.close();
    const sink = sinkFor(server);
    await sink.startRuns([{ name: 'm', version: '1' }], {}, {});
    assert.equal(server.runs.get(old.runId)?.info.status, 'KILLED');
    assert.ok(server.requests.some((r) => r.path.endsWith('/runs/search') && String((r.body as { filter: string }).filter).includes("tags.`host` = 'h1'")));
    await sink.close({ deadlineMs: 1000 });
  } finally { await server.close(); }
});

test('record never throws and startRuns never rejects while MLflow is down', async () => {
  const server = await FakeMlflowServer.start();
  await server.down();
  try {
    const sink = sinkFor(server);
    await sink.startRuns([{ name: 'm', version: '1' }], {}, {});
    assert.doesNotThrow(() => sink.record('m', { a: 1, b: 'x' as unknown as number }, NaN));
    assert.equal(sink.stats().state, 'retrying');
    await server.up();
    await sink.idle();
    assert.equal(sink.stats().delivered, 1);
    await sink.close({ deadlineMs: 1000 });
  } finally { await server.close(); }
});
