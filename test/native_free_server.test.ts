// The native-free server (node:http front end, pure-TypeScript evaluator) as
// a child process: the HTTP contract of api/ (predictions in JSON and
// msgpack, batches, every request error, admin token, monitoring), the
// stream refused with a spec error saying why, no native addon in the
// process, its statistics intact after bad input; and FRONT_END's choices in
// bin/ctr-engine.ts when a native addon cannot load.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describeConfig, loadConfig } from '../engine/config.js';
import { createTrafficSampler } from '../bench/lib/traffic_sampler.js';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient, type Reply } from './support/http_client.js';
import { assertError, assertStillServing, describeRequestErrors, GOOD } from './support/request_errors.js';
import { WsClient, WsHandshakeError } from '../bench/lib/ws_client.js';

const TOKEN = 'native-free-admin';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const BLOCKER = new URL('./support/block_native_addons.js', import.meta.url).href;

const startNativeFree = (env: Record<string, string> = {}) => startServerProcess(env, 60_000, { entry: 'native-free' });

/** The native addons mapped into a process (Linux); null where /proc is not there. */
function nativeAddons(pid: number): string[] | null {
  const maps = `/proc/${pid}/maps`;
  if (!existsSync(maps)) return null;
  const files = readFileSync(maps, 'utf8').split('\n').map((l) => l.split(/\s+/)[5] ?? '').filter((f) => f.endsWith('.node'));
  return [...new Set(files)];
}

describeRequestErrors('native-free: request errors', startNativeFree);

describe('native-free: serving', () => {
  let server: ServerProcess;
  let client: TestClient;

  before(async () => {
    // A generous deadline: this suite checks answers, and a busy machine must not turn them into 504s.
    server = await startNativeFree({ ADMIN_TOKEN: TOKEN, MAX_BODY_BYTES: '4096', MONITOR_TICK_MS: '200', REQUEST_DEADLINE_MS: '10000' });
    client = new TestClient(server.url, 8);
  });
  after(async () => {
    await client.close();
    assert.equal(await server.stop(), 0, 'the server exits cleanly on SIGTERM');
  });

  test('node:http and the TypeScript evaluator: neither uWebSockets.js nor onnxruntime-node is loaded', () => {
    assert.match(server.output(), /ctr-engine: node:http \(native-free-ts\); inference backend ts/);
    const addons = nativeAddons(server.child.pid!);
    // msgpackr's optional string decoder (msgpackr-extract) loads where it can; msgpackr works without it (see FRONT_END=auto below).
    if (addons !== null) assert.deepEqual(addons.filter((a) => !a.includes('msgpackr-extract')), [], `native addons in the process: ${addons.join(', ')}`);
  });

  test('POST /predict_ctr: JSON and msgpack, X-Request-Id echoed', async () => {
    const r = await client.postJson('/predict_ctr', { ...GOOD, model: 'xgboost' }, { 'x-request-id': 'nf-req.42' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.deepEqual(Object.keys(r.body), ['ctr', 'model', 'model_version', 'request_id', 'latency_ms']);
    assert.ok(r.body.ctr > 0 && r.body.ctr < 1);
    assert.equal(r.body.model, 'xgboost');
    assert.equal(r.body.model_version, '1');
    assert.equal(r.body.request_id, 'nf-req.42');
    assert.ok(r.body.latency_ms >= 0 && r.body.latency_ms < 1000);

    const m = await client.postMsgpack('/predict_ctr', { ...GOOD, model: 'xgboost' }, { accept: 'application/msgpack', 'x-request-id': 'bad id!' });
    assert.equal(m.status, 200);
    assert.match(String(m.headers['content-type']), /msgpack/);
    assert.equal(m.body.ctr, r.body.ctr, 'the same row gives the same ctr in either format');
    assert.notEqual(m.body.request_id, 'bad id!', 'an unsafe request id is replaced');
    assert.equal(typeof m.body.request_id, 'string');

    // without a model the A/B router picks one, sticky per user
    const routed = await Promise.all(Array.from({ length: 5 }, () => client.postJson('/predict_ctr', { ...GOOD, user_id: 'user_77' })));
    assert.equal(new Set(routed.map((x) => x.body.model)).size, 1);
  });

  test('POST /predict_ctr/batch: request order, models mixed, same ctr as single calls', async () => {
    const sampler = createTrafficSampler({ seed: 31 });
    const items = Array.from({ length: 20 }, (_, i) => ({ ...sampler.next(), model: i % 3 === 0 ? 'logistic' : 'xgboost' }));
    const r = await client.postJson('/predict_ctr/batch', { requests: items });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.predictions.length, items.length);
    assert.equal(typeof r.body.request_id, 'string');
    const singles = await Promise.all(items.map((it) => client.postJson('/predict_ctr', it)));
    items.forEach((it, i) => {
      // Each row also carries its own id for POST /feedback: the request's id and the row's position.
      assert.deepEqual(Object.keys(r.body.predictions[i]), ['ctr', 'model', 'model_version', 'request_id']);
      assert.equal(r.body.predictions[i].request_id, `${r.body.request_id}.${i}`);
      assert.equal(r.body.predictions[i].model, it.model);
      assert.equal(r.body.predictions[i].ctr, singles[i].body.ctr, `item ${i}`);
    });
    const m = await client.postMsgpack('/predict_ctr/batch', { requests: items }, { accept: 'application/msgpack' });
    assert.equal(m.status, 200);
    const withoutIds = (ps: any[]) => ps.map(({ request_id: _id, ...rest }) => rest);
    assert.deepEqual(withoutIds(m.body.predictions), withoutIds(r.body.predictions));
    m.body.predictions.forEach((p: any, i: number) => assert.equal(p.request_id, `${m.body.request_id}.${i}`));
  });

  test('GET /models, /health, /ready', async () => {
    const models = await client.get('/models');
    assert.equal(models.status, 200);
    assert.deepEqual(models.body.models.map((x: { name: string }) => x.name), ['logistic', 'xgboost']);
    for (const x of models.body.models) {
      assert.equal(x.status, 'ready');
      assert.equal(x.input.dtype, 'float32');
      assert.equal(x.input.shape[0], -1);
    }
    const health = await client.get('/health');
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    const ready = await client.get('/ready', { accept: 'application/msgpack' });
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { ready: true, models: 2, workers: 2 });
  });

  test('WS /monitoring/stream and /dashboard: 404 not_found saying why', async () => {
    const r = await client.get('/monitoring/stream?interval=1000');
    assertError(r, 404, 'not_found');
    assert.match(r.body.error.message, /WebSocket/);
    await assert.rejects(WsClient.connect(`ws://127.0.0.1:${server.port}/monitoring/stream`), (err: unknown) => {
      assert.ok(err instanceof WsHandshakeError);
      assert.equal(err.status, 404);
      assert.equal(JSON.parse(err.body).error.code, 'not_found');
      return true;
    });
    const d = await client.get('/dashboard');
    assertError(d, 404, 'not_found');
    assert.match(d.body.error.message, /monitoring\/stream/);
  });

  test('admin endpoints need the bearer token; drift and baselines answer as on uWS', async () => {
    const baseline = { model_name: 'xgboost', mean_prediction: 0.02, std_prediction: 0.01, mean_latency_ms: 5, std_latency_ms: 1 };
    const denied = await client.postJson('/monitoring/baseline', baseline);
    assertError(denied, 401, 'unauthorized');
    assert.equal(denied.headers['www-authenticate'], 'Bearer');
    assertError(await client.postJson('/monitoring/baseline', baseline, { authorization: 'Bearer nope' }), 401, 'unauthorized');
    assertError(await client.postJson('/monitoring/baseline/xgboost/capture', {}), 401, 'unauthorized');
    assertError(await client.postJson('/monitoring/baseline', { ...baseline, std_prediction: 0 }, AUTH), 400, 'invalid_request', 'std_prediction');
    assertError(await client.postJson('/monitoring/baseline', { ...baseline, model_name: 'nope' }, AUTH), 404, 'model_not_found');
    const set = await client.postJson('/monitoring/baseline', baseline, AUTH);
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.model_name, 'xgboost');
    assertError(await client.postJson('/monitoring/baseline/nope/capture?window=1m', {}, AUTH), 404, 'model_not_found');

    const drift = await client.get('/monitoring/drift/xgboost');
    assert.equal(drift.status, 200);
    assert.equal(drift.body.baseline.mean_prediction, 0.02);
    for (const path of ['/monitoring/drift/nope', '/monitoring/drift/%E0%A4%A']) {
      const r = await client.get(path);
      assertError(r, 404, 'model_not_found');
      assert.equal(r.body.error.field, 'model_name');
    }
  });

  test('a chunked body over MAX_BODY_BYTES → 413; another method on a known path → 405 with Allow; /metrics', async () => {
    const big = Buffer.from(JSON.stringify({ ...GOOD, padding: 'x'.repeat(6000) }));
    const chunks = [big.subarray(0, 3000), big.subarray(3000)];
    const r = await client.request('POST', '/predict_ctr', { body: Readable.from(chunks) as never, headers: { 'content-type': 'application/json' } });
    assertError(r, 413, 'payload_too_large');
    const del = await client.request('DELETE', '/models');
    assertError(del, 405, 'method_not_allowed');
    assert.equal(del.headers.allow, 'GET');
    const metrics = await client.get('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(String(metrics.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(metrics.body, /^ctr_requests_total\{model="xgboost"\} \d+$/m);
  });

  test('after bad input the server still serves, and /monitoring/stats counts every answer', async () => {
    const before = await client.freshStats();
    const sampler = createTrafficSampler({ seed: 32 });
    const sent = { xgboost: 0, logistic: 0 };
    const replies: Reply[] = [];
    for (let i = 0; i < 40; i++) {
      const model = i % 4 === 0 ? 'logistic' : 'xgboost';
      sent[model]++;
      replies.push(await client.postJson('/predict_ctr', { ...sampler.next(), model }));
    }
    replies.push(await client.postJson('/predict_ctr/batch', { requests: [{ ...GOOD, model: 'logistic' }, { ...GOOD, model: 'xgboost' }] }));
    sent.logistic++;
    sent.xgboost++;
    for (const r of replies) assert.equal(r.status, 200, JSON.stringify(r.body));
    // errors before a model is known count as unrouted; one after counts against its model
    for (let i = 0; i < 3; i++) assertError(await client.request('POST', '/predict_ctr', { body: '{oops', headers: { 'content-type': 'application/json' } }), 400, 'invalid_request');
    for (let i = 0; i < 2; i++) assertError(await client.postJson('/predict_ctr', { ...GOOD, model: 'gbdt_v9' }), 404, 'model_not_found');
    assertError(await client.request('POST', '/predict_ctr', { body: 'x'.repeat(5000), headers: { 'content-type': 'application/json' } }), 413, 'payload_too_large');
    assertError(await client.postJson('/predict_ctr', { ...GOOD, model: 'xgboost', context: { hour: 40 } }), 400, 'invalid_request', 'context.hour');
    const after = await client.freshStats();
    for (const name of ['xgboost', 'logistic'] as const) {
      assert.equal(after.models[name].successful_requests - before.models[name].successful_requests, sent[name], `${name}: every 200 counted once`);
    }
    assert.equal(after.models.xgboost.total_requests - before.models.xgboost.total_requests, sent.xgboost + 1);
    assert.equal(after.models.xgboost.errors.invalid_request - before.models.xgboost.errors.invalid_request, 1);
    assert.equal(after.models.logistic.error_count - before.models.logistic.error_count, 0);
    assert.equal(after.unrouted.errors.invalid_request - before.unrouted.errors.invalid_request, 3);
    assert.equal(after.unrouted.errors.model_not_found - before.unrouted.errors.model_not_found, 2);
    assert.equal(after.unrouted.errors.payload_too_large - before.unrouted.errors.payload_too_large, 1);
    await assertStillServing(client);
    for (const name of ['xgboost', 'logistic']) {
      const m = after.models[name];
      assert.equal(m.prediction.count, m.successful_requests, name);
      assert.equal(m.latency_ms.count, m.successful_requests, name);
      for (const stage of ['queue_wait', 'inference', 'end_to_end']) assert.ok(m.stages[stage].count > 0, `${name} ${stage}`);
    }
  });
});

describe('FRONT_END: choosing and falling back', () => {
  test('INFERENCE_BACKEND and FRONT_END: defaults, an entry point\'s own default, refused values', () => {
    const cfg = loadConfig({}, []);
    assert.equal(cfg.inferenceBackend, 'ort');
    assert.equal(cfg.frontEnd, 'uws');
    assert.match(describeConfig(cfg), /INFERENCE_BACKEND\s+ort\s.*\n\s+FRONT_END\s+uws\s/);
    const nativeFree = loadConfig({}, [], { inferenceBackend: 'ts' });
    assert.equal(nativeFree.inferenceBackend, 'ts');
    assert.equal(loadConfig({ INFERENCE_BACKEND: 'ORT' }, [], { inferenceBackend: 'ts' }).inferenceBackend, 'ort', 'the environment wins over an entry point default');
    assert.equal(loadConfig({ FRONT_END: 'uws' }, ['--front-end', 'auto']).frontEnd, 'auto');
    assert.throws(() => loadConfig({ INFERENCE_BACKEND: 'gpu' }, []), /INFERENCE_BACKEND: expected one of ort, ts/);
    assert.throws(() => loadConfig({}, ['--front-end=fast']), /--front-end: expected one of uws, native-free, auto/);
  });

  // Every native addon the project can load: the two it needs natively and msgpackr's optional accelerator.
  const blockBoth = { CTR_TEST_BLOCK_ADDONS: 'uws_,onnxruntime_binding,msgpackr-extract' };
  const withBlocker = { nodeArgs: ['--import', BLOCKER] };

  test('uws (the default) refuses to start when uWebSockets.js cannot load, saying why', async () => {
    await assert.rejects(startServerProcess(blockBoth, 30_000, withBlocker), (err: Error) => {
      assert.match(err.message, /server exited with 1 before ready/);
      assert.match(err.message, /uWebSockets\.js could not be loaded natively/);
      assert.match(err.message, /blocked by the test/);
      return true;
    });
  });

  test('auto serves with node:http and the TypeScript evaluator when neither addon loads, one loud line each', async () => {
    const server = await startServerProcess({ ...blockBoth, FRONT_END: 'auto' }, 60_000, withBlocker);
    const client = new TestClient(server.url, 2);
    try {
      const out = server.output();
      const loud = out.split('\n').filter((l) => l.includes('!!! FRONT_END=auto'));
      assert.equal(loud.length, 2, out);
      assert.match(loud[0], /uWebSockets\.js cannot load, serving with the native-free node:http front end.*blocked by the test/);
      assert.match(loud[1], /onnxruntime-node cannot load, inferring with the pure-TypeScript evaluator.*blocked by the test/);
      assert.match(out, /ctr-engine: node:http \(native-free-ts\); inference backend ts/);
      await assertStillServing(client);
      const m = await client.postMsgpack('/predict_ctr', GOOD, { accept: 'application/msgpack' });
      assert.equal(m.status, 200, 'msgpack in and out with msgpackr in pure JS');
      const addons = nativeAddons(server.child.pid!);
      if (addons !== null) assert.deepEqual(addons, [], 'no native addon at all');
    } finally {
      await client.close();
      assert.equal(await server.stop(), 0);
    }
  });

  test('auto keeps uWS and onnxruntime-node where they load; native-free is chosen on purpose', async () => {
    const auto = await startServerProcess({ FRONT_END: 'auto' });
    try {
      assert.match(auto.output(), /ctr-engine: uWebSockets\.js from .*; inference backend ort/);
      assert.doesNotMatch(auto.output(), /!!!/);
    } finally {
      assert.equal(await auto.stop(), 0);
    }
    const chosen = await startServerProcess({ FRONT_END: 'native-free' });
    const client = new TestClient(chosen.url, 2);
    try {
      assert.match(chosen.output(), /ctr-engine: node:http \(native-free-ts\); inference backend ts/);
      await assertStillServing(client);
    } finally {
      await client.close();
      assert.equal(await chosen.stop(), 0);
    }
  });
});
