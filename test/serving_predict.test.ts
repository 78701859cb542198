// The request path end to end: the real server (child process, uWS, Piscina
// workers, onnxruntime-node) against direct onnxruntime-node runs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { loadModelRegistry, type LoadedModel, type ModelRegistry } from '../engine/model_registry.js';
import { loadConfig } from '../engine/config.js';
import { createTrafficSampler, type DemoRequest } from '../bench/lib/traffic_sampler.js';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';

let server: ServerProcess;
let client: TestClient;
let registry: ModelRegistry;
const sessions = new Map<string, ort.InferenceSession>();

async function directCtr(model: LoadedModel, req: DemoRequest): Promise<number> {
  const row = model.encoder.encode(req);
  const session = sessions.get(model.name)!;
  const out = await session.run({ [model.manifest.input.name]: new ort.Tensor('float32', row, [1, model.width]) }, [model.manifest.output.name]);
  const v = Number((out[model.manifest.output.name].data as Float32Array)[model.manifest.output.column ?? 0]);
  return model.manifest.output.kind === 'logit' ? Math.fround(1 / (1 + Math.exp(-v))) : v;
}

before(async () => {
  registry = loadModelRegistry(loadConfig({}, []).modelsDir);
  for (const m of registry.models) sessions.set(m.name, await ort.InferenceSession.create(m.onnxPath));
  server = await startServerProcess({ WORKERS: '3' });
  client = new TestClient(server.url, 16);
});

after(async () => {
  await client?.close();
  const code = await server?.stop();
  assert.equal(code, 0, 'the server exits cleanly on SIGTERM');
});

describe('POST /predict_ctr', () => {
  test("each model's served ctr equals a direct onnxruntime-node run on the same encoded features", async () => {
    const sampler = createTrafficSampler({ seed: 11 });
    for (const model of registry.models) {
      for (let i = 0; i < 40; i++) {
        const req = sampler.next();
        const r = await client.postJson('/predict_ctr', { ...req, model: model.name });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(r.body.model, model.name);
        assert.equal(r.body.model_version, model.version);
        assert.equal(r.body.ctr, await directCtr(model, req), `row ${i} of ${model.name}`);
        assert.ok(r.body.ctr > 0 && r.body.ctr < 1);
        assert.equal(typeof r.body.request_id, 'string');
        assert.ok(r.body.latency_ms >= 0 && r.body.latency_ms < 1000);
      }
    }
  });

  test('concurrent requests batched together still get their own answers', async () => {
    const sampler = createTrafficSampler({ seed: 12 });
    const reqs = Array.from({ length: 300 }, () => sampler.next());
    const model = registry.get('xgboost')!;
    const replies = await Promise.all(reqs.map((r) => client.postJson('/predict_ctr', { ...r, model: 'xgboost' })));
    for (let i = 0; i < reqs.length; i++) {
      assert.equal(replies[i].status, 200);
      assert.equal(replies[i].body.ctr, await directCtr(model, reqs[i]));
    }
  });

  test('msgpack in and out carries the same prediction as JSON', async () => {
    const req = { ...createTrafficSampler({ seed: 13 }).next(), model: 'logistic' };
    const viaJson = await client.postJson('/predict_ctr', req);
    const viaMsgpack = await client.postMsgpack('/predict_ctr', req, { accept: 'application/msgpack' });
    assert.equal(viaMsgpack.status, 200);
    assert.match(String(viaMsgpack.headers['content-type']), /application\/msgpack/);
    assert.equal(viaMsgpack.body.ctr, viaJson.body.ctr);
    assert.equal(viaMsgpack.body.model, 'logistic');
    // x-msgpack is accepted too, and JSON out unless Accept asks for msgpack
    const legacy = await client.request('POST', '/predict_ctr', {
      body: (await import('msgpackr')).pack(req), headers: { 'content-type': 'application/x-msgpack' },
    });
    assert.equal(legacy.status, 200);
    assert.equal(legacy.body.ctr, viaJson.body.ctr);
  });

  test('a client X-Request-Id is echoed; otherwise ids are unique', async () => {
    const req = createTrafficSampler({ seed: 14 }).next();
    const mine = await client.postJson('/predict_ctr', req, { 'x-request-id': 'adsrv-42:a.b' });
    assert.equal(mine.body.request_id, 'adsrv-42:a.b');
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) ids.add((await client.postJson('/predict_ctr', req)).body.request_id);
    assert.equal(ids.size, 50);
  });
});

describe('POST /predict_ctr/batch', () => {
  test('keeps request order across models and equals direct runs', async () => {
    const sampler = createTrafficSampler({ seed: 21 });
    const names = registry.models.map((m) => m.name);
    const reqs = Array.from({ length: 50 }, (_, i) => ({ ...sampler.next(), model: names[i % 3 === 0 ? 0 : 1] }));
    const r = await client.postJson('/predict_ctr/batch', { requests: reqs });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.predictions.length, reqs.length);
    for (let i = 0; i < reqs.length; i++) {
      const p = r.body.predictions[i];
      assert.equal(p.model, reqs[i].model);
      assert.equal(p.ctr, await directCtr(registry.get(reqs[i].model)!, reqs[i]), `item ${i}`);
    }
    assert.ok(r.body.latency_ms >= 0);
  });

  test('msgpack batch equals JSON batch', async () => {
    const sampler = createTrafficSampler({ seed: 22 });
    const reqs = Array.from({ length: 20 }, () => sampler.next());
    const a = await client.postJson('/predict_ctr/batch', { requests: reqs });
    const b = await client.postMsgpack('/predict_ctr/batch', { requests: reqs }, { accept: 'application/msgpack' });
    // Row ids differ (each request has its own id); everything else is the same.
    const withoutIds = (ps: any[]) => ps.map(({ request_id: _id, ...rest }) => rest);
    assert.deepEqual(withoutIds(b.body.predictions), withoutIds(a.body.predictions));
    b.body.predictions.forEach((p: any, i: number) => assert.equal(p.request_id, `${b.body.request_id}.${i}`));
  });

  test('larger than one inference batch still answers every item in order', async () => {
    const sampler = createTrafficSampler({ seed: 23 });
    const reqs = Array.from({ length: 700 }, () => ({ ...sampler.next(), model: 'logistic' }));
    const r = await client.postJson('/predict_ctr/batch', { requests: reqs });
    assert.equal(r.status, 200);
    const model = registry.get('logistic')!;
    for (const i of [0, 255, 256, 511, 512, 699]) assert.equal(r.body.predictions[i].ctr, await directCtr(model, reqs[i]));
  });
});

describe('A/B routing', () => {
  test('splits by the configured weights within tolerance and is sticky per user', async () => {
    const counts = new Map<string, number>();
    const first = new Map<string, string>();
    const n = 2000;
    const batch = Array.from({ length: n }, (_, i) => ({ user_id: `user_${i}`, ad_id: 'ad_3', device: 'mobile', placement: 'header' }));
    // MAX_BATCH_REQUESTS defaults to 1000: two calls
    const r1 = await client.postJson('/predict_ctr/batch', { requests: batch.slice(0, 1000) });
    const r2 = await client.postJson('/predict_ctr/batch', { requests: batch.slice(1000) });
    const predictions = [...r1.body.predictions, ...r2.body.predictions];
    for (let i = 0; i < n; i++) {
      const m = predictions[i].model;
      counts.set(m, (counts.get(m) ?? 0) + 1);
      first.set(`user_${i}`, m);
    }
    // default weights are equal: 50 % ± 4 % (≈ 3.6 σ at n = 2000)
    for (const m of registry.models) assert.ok(Math.abs(counts.get(m.name)! / n - 0.5) < 0.04, `${m.name}: ${counts.get(m.name)}`);
    for (let i = 0; i < 200; i++) {
      const again = await client.postJson('/predict_ctr', batch[i]);
      assert.equal(again.body.model, first.get(`user_${i}`), `user_${i} switched model`);
    }
  });

  test('an explicit model overrides the router', async () => {
    for (const m of registry.models) {
      const r = await client.postJson('/predict_ctr', { user_id: 'user_7', ad_id: 'ad_1', device: 'tablet', placement: 'footer', model: m.name });
      assert.equal(r.body.model, m.name);
    }
  });
});

describe('GET endpoints', () => {
  test('/models lists every model with its signature, weight and status', async () => {
    const r = await client.get('/models');
    assert.equal(r.status, 200);
    const names = r.body.models.map((m: { name: string }) => m.name).sort();
    assert.deepEqual(names, registry.models.map((m) => m.name).sort());
    for (const m of r.body.models) {
      assert.equal(m.status, 'ready');
      assert.equal(m.input.dtype, 'float32');
      assert.equal(m.input.shape[1], registry.get(m.name)!.width);
      assert.ok(m.ab_weight > 0 && m.ab_weight <= 1);
    }
  });

  test('/health and /ready answer 200 when up', async () => {
    assert.equal((await client.get('/health')).status, 200);
    const ready = await client.get('/ready');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.workers, 3);
  });
});
