// Per-field drift (engine/features/feature_watch.ts, engine/coordinator/feature_drift.ts):
// with the demo traffic sampler, stationary traffic raises no field alarm in
// 20 windows, and a shifted device mix is attributed to `device`, first in the
// ranking, in-process and through the real server after a baseline capture.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createFeatureWatchBuffers, FeatureWatch, type FeatureWatchBuffers } from '../engine/features/feature_watch.js';
import { DEFAULT_FEATURE_DRIFT, fieldDrift, type FieldDrift } from '../engine/coordinator/feature_drift.js';
import { readManifest } from '../engine/manifest.js';
import { createTrafficSampler, type TrafficShift } from '../bench/lib/traffic_sampler.js';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';

const manifest = readManifest(fileURLToPath(new URL('../../engine/models/xgboost/manifest.json', import.meta.url)));

/** Counts of `rows` sampled requests (every row watched), per field. */
function countsOf(seed: number, rows: number, shift?: TrafficShift): { b: FeatureWatchBuffers; fields: Record<string, number[]> } {
  const b = createFeatureWatchBuffers([{ name: 'xgboost', manifest }]);
  const w = new FeatureWatch(b, 1);
  const s = createTrafficSampler({ seed, shift });
  for (let i = 0; i < rows; i++) w.observe(0, s.next());
  const fields: Record<string, number[]> = {};
  for (const f of b.models[0].fields) fields[f.name] = Array.from(b.data.subarray(f.offset, f.offset + f.bins.length));
  return { b, fields };
}

function ranked(base: Record<string, number[]>, cur: { b: FeatureWatchBuffers; fields: Record<string, number[]> }): FieldDrift[] {
  return cur.b.models[0].fields.map((f) => fieldDrift(f, base[f.name], cur.fields[f.name], DEFAULT_FEATURE_DRIFT)).sort((a, b) => (b.psi ?? 0) - (a.psi ?? 0));
}

test('the demo manifest is watched as five fields: device and placement by category, ids by hash bin, hour by range', () => {
  const { b } = countsOf(1, 10);
  assert.deepEqual(b.models[0].fields.map((f) => [f.name, f.kind]), [
    ['device', 'category'], ['placement', 'category'], ['user_id', 'id'], ['ad_id', 'id'], ['context.hour', 'number'],
  ]);
});

test('stationary traffic: no field alarm in 20 windows of 3000 rows against a 20 000-row baseline', () => {
  const base = countsOf(100, 20_000).fields;
  let worstPsi = 0;
  for (let w = 0; w < 20; w++) {
    const r = ranked(base, countsOf(200 + w, 3000));
    for (const f of r) {
      assert.equal(f.severity, 'none', `window ${w}: ${f.field} psi ${f.psi} p ${f.p_value}`);
      if (f.field !== 'user_id' && f.field !== 'ad_id') worstPsi = Math.max(worstPsi, f.psi!);
    }
  }
  assert.ok(worstPsi < 0.05, `stationary PSI of the low-cardinality fields stays small: ${worstPsi}`);
});

test('a device mix shift is attributed to device, first in the ranking; the other fields stay quiet', () => {
  const base = countsOf(100, 20_000).fields;
  const r = ranked(base, countsOf(300, 3000, { device: { tablet: 0.45, desktop: 0.15 } }));
  assert.equal(r[0].field, 'device');
  assert.equal(r[0].severity, 'high');
  assert.ok(r[0].p_value! < 1e-10);
  assert.equal(r[0].top_changes[0][0], 'tablet');
  for (const f of r.slice(1)) assert.equal(f.severity, 'none', `${f.field} psi ${f.psi}`);
  // An unknown device shows as the unknown rate, and drifts the field too.
  const u = ranked(base, countsOf(301, 3000, { device: { smart_tv: 0.3 } }));
  assert.equal(u[0].field, 'device');
  assert.ok(u[0].unknown_rate! > 0.25 && u[0].unknown_rate! < 0.35);
});

describe('through the real server: capture a baseline, shift the device mix, ask /monitoring/drift/{model}', () => {
  let srv: ServerProcess;
  let client: TestClient;
  before(async () => {
    srv = await startServerProcess({ WORKERS: '1', MONITOR_TICK_MS: '100', MONITOR_WINDOWS_S: '5,30', FEATURE_WATCH_SAMPLE: '1', DRIFT_MIN_SAMPLES: '500' });
    client = new TestClient(srv.url, 4);
  });
  after(async () => {
    await client?.close();
    await srv?.stop();
  });

  const post = async (seed: number, rows: number, shift?: TrafficShift) => {
    const s = createTrafficSampler({ seed, shift });
    for (let done = 0; done < rows; done += 500) {
      const r = await client.postJson('/predict_ctr/batch', { requests: Array.from({ length: 500 }, () => ({ ...s.next(), model: 'xgboost' })) });
      assert.equal(r.status, 200);
    }
  };

  test('device is first and flagged; the baseline persisted the field counts', async () => {
    const before = (await client.get('/monitoring/drift/xgboost')).body;
    assert.equal(before.features.has_baseline, false);
    await post(1, 6000);
    await client.freshStats();
    const cap = await client.request('POST', '/monitoring/baseline/xgboost/capture?window=lifetime', { headers: { 'content-type': 'application/json' } });
    assert.equal(cap.status, 200, JSON.stringify(cap.body));
    assert.equal(cap.body.baseline.features.sampled_rows, 6000);
    assert.deepEqual(Object.keys(cap.body.baseline.features.fields), ['device', 'placement', 'user_id', 'ad_id', 'context.hour']);
    // Let the 5 s drift window pass the baseline's traffic, then shift the device mix.
    await new Promise((r) => setTimeout(r, 6000));
    await post(2, 3000, { device: { tablet: 0.45, desktop: 0.15 } });
    let d: any;
    for (let i = 0; i < 50; i++) {
      await client.freshStats();
      d = (await client.get('/monitoring/drift/xgboost')).body;
      if (d.features.sampled_rows >= 3000) break;
    }
    assert.equal(d.features.has_baseline, true);
    assert.equal(d.features.sampled_rows, 3000);
    assert.equal(d.features.drift_detected, true);
    assert.equal(d.features.fields[0].field, 'device');
    assert.equal(d.features.fields[0].severity, 'high');
    for (const f of d.features.fields.slice(1)) assert.equal(f.severity, 'none', `${f.field}: psi ${f.psi}`);
    const metrics = (await client.get('/metrics')).body as string;
    assert.match(metrics, /ctr_feature_drift_severity\{model="xgboost",field="device"\} 2/);
  });
});

describe('through the real server: values outside a category list are served, counted, and degrade the model with an alert', () => {
  let srv: ServerProcess;
  let client: TestClient;
  before(async () => {
    srv = await startServerProcess({ WORKERS: '1', MONITOR_TICK_MS: '100', MONITOR_WINDOWS_S: '5,30', FEATURE_WATCH_SAMPLE: '1' });
    client = new TestClient(srv.url, 4);
  });
  after(async () => {
    await client?.close();
    await srv?.stop();
  });

  test('a new device type is answered 200, shows as its unknown rate, and raises unknown_values on that model only', async () => {
    const s = createTrafficSampler({ seed: 7, shift: { device: { smartwatch: 0.2 } } });
    const r = await client.postJson('/predict_ctr/batch', { requests: Array.from({ length: 1000 }, () => ({ ...s.next(), model: 'xgboost' })) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    let h: any;
    for (let i = 0; i < 50; i++) {
      await client.freshStats();
      h = (await client.get('/monitoring/health')).body;
      if (h.models.xgboost.checks.some((c: any) => c.name === 'unknown_values' && c.status === 'warn')) break;
    }
    const check = h.models.xgboost.checks.find((c: any) => c.name === 'unknown_values');
    assert.equal(check.status, 'warn', JSON.stringify(check));
    assert.match(check.detail, /device (1[5-9]|2[0-4])\.\d % of 1000 sampled values/);
    assert.equal(h.models.xgboost.status, 'degraded');
    assert.ok(h.alerts.some((a: any) => a.model === 'xgboost' && a.kind === 'unknown_values'), JSON.stringify(h.alerts));
    // The logistic model saw none of it: not judged (no sampled values), not degraded by it.
    assert.equal(h.models.logistic.checks.find((c: any) => c.name === 'unknown_values').status, 'pass');
    const d = (await client.get('/monitoring/drift/xgboost')).body;
    const device = d.features.fields.find((f: any) => f.field === 'device');
    assert.ok(device.unknown_rate > 0.15 && device.unknown_rate < 0.25, String(device.unknown_rate));
    for (let i = 0; i < 50 && !/alert raised.*unknown_values/.test(srv.output()); i++) await new Promise((res) => setTimeout(res, 100));
    assert.match(srv.output(), /alert raised model=xgboost kind=unknown_values severity=warning/);
  });
});
