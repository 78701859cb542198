// The monitoring endpoints on the real server under load: numbers that add
// up to what clients saw, baselines (manual, captured, persisted, guarded by
// the admin token, bad input refused), drift end to end, Prometheus text.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'msgpackr';
import { createTrafficSampler, type TrafficShift } from '../bench/lib/traffic_sampler.js';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient, type Reply } from './support/http_client.js';

const TOKEN = 'test-admin-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const dataDir = mkdtempSync(join(tmpdir(), 'ctr-monitoring-'));
const ENV = { DATA_DIR: dataDir, ADMIN_TOKEN: TOKEN, MONITOR_TICK_MS: '200', MONITOR_WINDOWS_S: '5,60', WORKERS: '2' };
let server: ServerProcess;
let client: TestClient;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the coordinator has published a snapshot newer than now. */
const freshStats = (): Promise<any> => client.freshStats();

async function drive(n: number, seed: number, shift?: TrafficShift, model = 'logistic'): Promise<Reply[]> {
  const sampler = createTrafficSampler({ seed, shift });
  const out: Reply[] = [];
  for (let done = 0; done < n; done += 100) {
    const requests = Array.from({ length: 100 }, () => ({ ...sampler.next(), model }));
    out.push(...(await Promise.all(requests.map((r) => client.postJson('/predict_ctr', r)))));
  }
  return out;
}

function assertError(r: Reply, status: number, code: string, field?: string): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.error.code, code);
  if (field !== undefined) assert.equal(r.body.error.field, field);
}

before(async () => {
  server = await startServerProcess(ENV);
  client = new TestClient(server.url, 32);
});
after(async () => {
  await client.close();
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('stats under load', () => {
  test('per-model counts equal what clients received; errors land where they belong', async () => {
    const sampler = createTrafficSampler({ seed: 5 });
    const replies = await Promise.all(Array.from({ length: 3000 }, () => client.postJson('/predict_ctr', sampler.next())));
    const seen = new Map<string, number>();
    for (const r of replies) {
      assert.equal(r.status, 200);
      seen.set(r.body.model, (seen.get(r.body.model) ?? 0) + 1);
    }
    for (let i = 0; i < 4; i++) await client.request('POST', '/predict_ctr', { body: '{oops', headers: { 'content-type': 'application/json' } });
    for (let i = 0; i < 3; i++) await client.postJson('/predict_ctr', { ...sampler.next(), model: 'nope' });
    const bad = await client.postJson('/predict_ctr', { ...sampler.next(), model: 'xgboost', context: { hour: 40 } });
    assert.equal(bad.status, 400);

    const stats = await freshStats();
    for (const [name, count] of seen) {
      const m = stats.models[name];
      assert.equal(m.successful_requests, count, name);
      assert.equal(m.windows['5s'].successful_requests + 0 <= count, true);
      assert.equal(m.prediction.count, count);
      assert.ok(m.prediction.mean > 0.001 && m.prediction.mean < 0.2, `mean ${m.prediction.mean}`);
      assert.ok(m.prediction.std > 0);
      for (const stage of ['queue_wait', 'inference', 'end_to_end']) assert.ok(m.stages[stage].count > 0, `${name} ${stage}`);
      assert.equal(m.latency_ms.count, count);
      const l = m.latency_ms;
      assert.ok(l.min <= l.p50 && l.p50 <= l.p95 && l.p95 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max, JSON.stringify(l));
      assert.ok(m.windows['60s'] === undefined && m.windows['1m'].successful_requests === count);
      assert.ok(m.requests_per_minute > 0);
    }
    assert.equal(stats.models.xgboost.errors.invalid_request, 1, 'the out-of-range hour counts against its model');
    assert.equal(stats.unrouted.errors.invalid_request, 4);
    assert.equal(stats.unrouted.errors.model_not_found, 3);

    const metrics = await client.get('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(String(metrics.headers['content-type']), /text\/plain/);
    for (const [name, count] of seen) assert.ok(metrics.body.includes(`ctr_successes_total{model="${name}"} ${count}`), name);
    assert.match(metrics.body, /_bucket\{[^}]*le="\+Inf"\}/);
  });

  test('the server-side latency is a lower bound of what the client measured', async () => {
    const t0 = performance.now();
    const r = await client.postJson('/predict_ctr', createTrafficSampler({ seed: 6 }).next());
    const clientMs = performance.now() - t0;
    assert.ok(r.body.latency_ms <= clientMs, `${r.body.latency_ms} > ${clientMs}`);
  });

  test('health names its checks with values and thresholds', async () => {
    const h = await client.get('/monitoring/health');
    assert.equal(h.status, 200);
    assert.ok(['healthy', 'degraded', 'unhealthy'].includes(h.body.status));
    for (const name of ['logistic', 'xgboost']) {
      const checks = h.body.models[name].checks.map((c: { name: string }) => c.name);
      for (const c of ['error_rate', 'latency_p99', 'drift', 'workers']) assert.ok(checks.includes(c), `${name} lacks ${c}`);
    }
    assert.ok(Array.isArray(h.body.alerts));
    const msgpack = await client.get('/monitoring/health', { accept: 'application/msgpack' });
    assert.equal(msgpack.body.status, h.body.status);
  });
});

describe('baselines', () => {
  const GOOD = { model_name: 'xgboost', mean_prediction: 0.025, std_prediction: 0.015, mean_latency_ms: 50, std_latency_ms: 10 };

  test('admin token required', async () => {
    assertError(await client.postJson('/monitoring/baseline', GOOD), 401, 'unauthorized');
    assertError(await client.postJson('/monitoring/baseline', GOOD, { authorization: 'Bearer wrong' }), 401, 'unauthorized');
    assertError(await client.postJson('/monitoring/baseline/xgboost/capture', {}), 401, 'unauthorized');
  });

  test('bad input refused naming the field; the server keeps its metrics', async () => {
    const before = (await freshStats()).models.xgboost.successful_requests;
    assertError(await client.request('POST', '/monitoring/baseline', { body: '{', headers: { ...AUTH, 'content-type': 'application/json' } }), 400, 'invalid_request');
    assertError(await client.postJson('/monitoring/baseline', { ...GOOD, model_name: 'nope' }, AUTH), 404, 'model_not_found');
    assertError(await client.postJson('/monitoring/baseline', { ...GOOD, std_prediction: 0 }, AUTH), 400, 'invalid_request', 'std_prediction');
    assertError(await client.postJson('/monitoring/baseline', { ...GOOD, std_latency_ms: -1 }, AUTH), 400, 'invalid_request', 'std_latency_ms');
    assertError(await client.postJson('/monitoring/baseline', { ...GOOD, mean_prediction: '0.02' }, AUTH), 400, 'invalid_request', 'mean_prediction');
    const { mean_latency_ms: _drop, ...missing } = GOOD;
    assertError(await client.postJson('/monitoring/baseline', missing, AUTH), 400, 'invalid_request', 'mean_latency_ms');
    const nan = await client.request('POST', '/monitoring/baseline', { body: pack({ ...GOOD, mean_prediction: NaN }), headers: { ...AUTH, 'content-type': 'application/msgpack' } });
    assertError(nan, 400, 'invalid_request', 'mean_prediction');
    assertError(await client.postJson('/monitoring/baseline/nope/capture', {}, AUTH), 404, 'model_not_found');
    const after = (await freshStats()).models.xgboost.successful_requests;
    assert.ok(after >= before);
  });

  test('a manual baseline is used by the drift report', async () => {
    const r = await client.postJson('/monitoring/baseline', GOOD, AUTH);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await freshStats();
    const d = await client.get('/monitoring/drift/xgboost');
    assert.equal(d.status, 200);
    assert.equal(d.body.baseline.mean_prediction, 0.025);
    assert.equal(d.body.baseline.source, 'manual');
    for (const c of ['mean_shift', 'variance_change', 'latency_anomaly']) assert.ok(d.body.checks.some((x: { name: string }) => x.name === c), c);
    assertError(await client.get('/monitoring/drift/nope'), 404, 'model_not_found');
  });

  test('captured from stationary traffic, then a shifted mix is flagged high; the baseline survives a restart', async () => {
    await drive(2000, 40);
    await freshStats();
    const cap = await client.postJson('/monitoring/baseline/logistic/capture?window=5s', {}, AUTH);
    assert.equal(cap.status, 200, JSON.stringify(cap.body));
    assert.equal(cap.body.baseline.source, 'captured');
    // Let the 5 s window roll past the capture, then serve a shifted mix.
    await sleep(5200);
    await drive(2000, 41, { device: { tablet: 0.9 }, placement: { interstitial: 0.8 }, adPopularityExponent: 0.3 });
    await freshStats();
    const d = await client.get('/monitoring/drift/logistic');
    assert.equal(d.body.drift_detected, true, JSON.stringify(d.body.checks));
    assert.equal(d.body.severity, 'high');
    assert.ok(d.body.checks.some((c: { name: string }) => c.name === 'psi'));
    const h = await client.get('/monitoring/health');
    assert.ok(h.body.alerts.some((a: { model: string; kind: string }) => a.model === 'logistic' && a.kind.includes('drift')), JSON.stringify(h.body.alerts));

    await client.close();
    await server.stop();
    server = await startServerProcess(ENV);
    client = new TestClient(server.url, 32);
    const again = await client.get('/monitoring/drift/logistic');
    assert.equal(again.body.baseline.source, 'captured');
    assert.equal(again.body.baseline.mean_prediction, cap.body.baseline.mean_prediction);
  });
});

describe('latency anomaly on the real server', () => {
  test('a baseline captured at normal speed flags the latency check once inference is slowed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctr-latency-'));
    const env = { DATA_DIR: dir, MONITOR_TICK_MS: '200', MONITOR_WINDOWS_S: '5,60', WORKERS: '2' };
    let s = await startServerProcess(env);
    let c = new TestClient(s.url, 32);
    try {
      const driveOn = async (n: number) => {
        const sampler = createTrafficSampler({ seed: 77 });
        for (let done = 0; done < n; done += 100) {
          await Promise.all(Array.from({ length: 100 }, () => c.postJson('/predict_ctr', { ...sampler.next(), model: 'xgboost' })));
        }
      };
      await driveOn(1500);
      await sleep(400);
      const cap = await c.postJson('/monitoring/baseline/xgboost/capture?window=5s', {});
      assert.equal(cap.status, 200, JSON.stringify(cap.body));
      await c.close();
      await s.stop();
      // Same data dir: the baseline comes back; every inference batch now takes 20 ms longer.
      s = await startServerProcess({ ...env, INJECT_INFERENCE_DELAY_MS: '20' });
      c = new TestClient(s.url, 32);
      await driveOn(1500);
      await sleep(400);
      const d = await c.get('/monitoring/drift/xgboost');
      const latency = d.body.checks.find((x: { name: string }) => x.name === 'latency_anomaly');
      assert.ok(latency, JSON.stringify(d.body.checks));
      assert.notEqual(latency.severity, 'none', JSON.stringify(latency));
      assert.equal(d.body.drift_detected, true);
      const mean = d.body.checks.find((x: { name: string }) => x.name === 'mean_shift');
      assert.equal(mean.severity, 'none', 'same traffic, same predictions: only latency moved');
    } finally {
      await c.close();
      await s.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('monitoring off', () => {
  test('MONITORING=off still serves, and says monitoring is off', async () => {
    const off = await startServerProcess({ MONITORING: 'off', DATA_DIR: dataDir, MONITOR_TICK_MS: '200' });
    const c = new TestClient(off.url, 4);
    try {
      assert.equal((await c.postJson('/predict_ctr', createTrafficSampler({ seed: 3 }).next())).status, 200);
      await sleep(300);
      const s = await c.get('/monitoring/stats');
      assert.equal(s.body.monitoring_enabled, false);
    } finally {
      await c.close();
      await off.stop();
    }
  });
});
