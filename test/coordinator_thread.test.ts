// The monitor thread end to end: recorders write, the coordinator thread
// ticks, the main thread sees decoded snapshots with the right numbers, body
// builders and the Prometheus text read them, and baselines are validated,
// captured and persisted across restarts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTelemetry, type TelemetryBuffers } from '../engine/telemetry/buffers.js';
import { claimWorkerShard, releaseWorkerShard } from '../engine/telemetry/worker_recorder.js';
import { createMainRecorder, UNROUTED } from '../engine/telemetry/main_recorder.js';
import { kThread, startMonitor, type Monitor } from '../engine/coordinator/monitor.js';
import type { Worker } from 'node:worker_threads';
import { driftBody, healthBody, statsBody } from '../engine/coordinator/bodies.js';
import { prometheusText } from '../engine/coordinator/prometheus.js';
import type { Snapshot } from '../engine/coordinator/snapshot.js';

const MODELS = [{ name: 'xgboost', version: '3' }, { name: 'logistic', version: '1' }];

function nextSnapshot(mon: Monitor, pred: (s: Snapshot) => boolean, timeoutMs = 5000): Promise<Snapshot> {
  if (pred(mon.latest())) return Promise.resolve(mon.latest());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error('no matching snapshot in time')); }, timeoutMs);
    const off = mon.onSnapshot((s) => {
      if (pred(s)) { clearTimeout(timer); off(); resolve(s); }
    });
  });
}

function traffic(buffers: TelemetryBuffers, n: number): void {
  const w = claimWorkerShard(buffers, 4242);
  const main = createMainRecorder(buffers);
  const ctr = new Float32Array(100);
  for (let b = 0; b < n / 100; b++) {
    for (let i = 0; i < 100; i++) ctr[i] = 0.02 + 0.01 * ((b * 100 + i) % 7) / 7;
    w.recordBatch(0, 100, 200, 1000 + (b % 5) * 100, ctr);
    main.countRequest(0, 100);
    for (let i = 0; i < 100; i++) main.recordSuccess(0, 1500 + ((b * 100 + i) % 1000));
  }
}

test('snapshots carry the recorded numbers; bodies and /metrics read them', async () => {
  const buffers = createTelemetry({ models: MODELS.map((m) => m.name), workerShards: 2 });
  const mon = await startMonitor({ buffers, models: MODELS, tickMs: 100 });
  try {
    traffic(buffers, 1000);
    const main = createMainRecorder(buffers);
    main.countRequest(0, 60);
    main.countError(0, 'deadline_exceeded', 24);
    main.countError(0, 'overloaded', 36);
    main.countRequest(UNROUTED, 3);
    main.countError(UNROUTED, 'invalid_request', 3);
    // Every count above, not only the first: the coordinator ticks on its own thread and may read between these writes.
    const s = await nextSnapshot(mon, (x) => x.models.xgboost.lifetime.total_requests === 1060 && x.models.xgboost.lifetime.error_count === 60
      && x.unrouted.error_count === 3 && x.models.xgboost.lifetime.prediction.count === 1000);

    const stats = statsBody(s);
    const x = stats.models.xgboost;
    assert.equal(x.model_version, '3');
    assert.equal(x.total_requests, 1060);
    assert.equal(x.successful_requests, 1000);
    assert.equal(x.error_count, 60);
    assert.ok(Math.abs(x.error_rate - 60 / 1060) < 1e-12);
    assert.equal(x.errors.deadline_exceeded, 24);
    assert.equal(x.errors.overloaded, 36);
    assert.equal(x.latency_ms.count, 1000);
    assert.ok(Math.abs(x.latency_ms.avg - 1.9995) < 1e-9, `avg ${x.latency_ms.avg}`);
    assert.ok(x.latency_ms.min === 1.5 && Math.abs(x.latency_ms.max - 2.499) < 0.003);
    assert.ok(Math.abs(x.latency_ms.p50 - 2.0) < 0.003, `p50 ${x.latency_ms.p50}`);
    assert.equal(x.stages.inference.count, 1000);
    assert.ok(Math.abs(x.stages.inference.avg - 1.2) < 1e-9);
    assert.equal(x.stages.queue_wait.p99, 0.2);
    assert.equal(x.batch_size.avg, 100);
    assert.equal(x.prediction.count, 1000);
    assert.ok(x.prediction.mean > 0.02 && x.prediction.mean < 0.03);
    assert.ok(x.last_updated !== null);
    assert.deepEqual(Object.keys(x.windows), ['1m', '5m']);
    assert.equal(x.windows['1m'].total_requests, 1060);
    assert.equal(stats.models.logistic.total_requests, 0);
    assert.equal(stats.models.logistic.last_updated, null);
    assert.equal(stats.unrouted.errors.invalid_request, 3);
    assert.equal(stats.workers.alive, 1);

    const health = healthBody(s);
    assert.equal(health.models.xgboost.checks.find((c) => c.name === 'error_rate')!.status, 'fail', '5.7 % errors ≥ 5 %: unhealthy');
    assert.equal(health.status, 'unhealthy');
    assert.ok(health.alerts.some((a) => a.model === 'xgboost' && a.kind === 'error_rate'));

    assert.equal(driftBody(s, 'nope'), null);
    assert.equal(driftBody(s, 'xgboost')!.drift_detected, false);
    assert.match(driftBody(s, 'xgboost')!.message, /no baseline/);

    const text = prometheusText(s);
    assert.match(text, /^ctr_requests_total\{model="xgboost"\} 1060$/m);
    assert.match(text, /^ctr_errors_total\{model="xgboost",code="deadline_exceeded"\} 24$/m);
    assert.match(text, /^ctr_errors_total\{model="",code="invalid_request"\} 3$/m);
    assert.match(text, /^ctr_stage_latency_seconds_bucket\{model="xgboost",stage="end_to_end",le="0.001"\} 0$/m);
    assert.match(text, /^ctr_stage_latency_seconds_bucket\{model="xgboost",stage="end_to_end",le="0.0025"\} 1000$/m);
    assert.match(text, /^ctr_stage_latency_seconds_count\{model="xgboost",stage="inference"\} 1000$/m);
    assert.match(text, /^ctr_batch_size_bucket\{model="xgboost",le="128"\} 10$/m);
    // Every sample line parses as name{labels} value, and each family is contiguous.
    const seen = new Set<string>();
    let current = '';
    for (const line of text.trim().split('\n')) {
      if (line.startsWith('# TYPE ')) { current = line.split(' ')[2]; assert.ok(!seen.has(current), `family ${current} declared twice`); seen.add(current); continue; }
      if (line.startsWith('#')) continue;
      assert.match(line, /^[a-z_]+(\{[^}]*\})? [-+0-9.eInfNa]+$/, line);
      assert.ok(line.startsWith(current), `${line} outside its family ${current}`);
    }
  } finally {
    await mon.close();
  }
});

test('baselines: validated, captured from traffic with bins, persisted across restarts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctr-baseline-'));
  const baselinePath = join(dir, 'data', 'baselines.json');
  const buffers = createTelemetry({ models: MODELS.map((m) => m.name), workerShards: 1 });
  const mon = await startMonitor({ buffers, models: MODELS, tickMs: 100, baselinePath, driftConfig: { minSamples: 500 } });
  try {
    const good = { mean_prediction: 0.025, std_prediction: 0.015, mean_latency_ms: 50, std_latency_ms: 10 };
    const bad: [string, unknown, string, string][] = [
      ['nope', good, 'model_not_found', 'model_name'],
      ['xgboost', { ...good, std_prediction: 0 }, 'invalid_request', 'std_prediction'],
      ['xgboost', { ...good, std_latency_ms: -1 }, 'invalid_request', 'std_latency_ms'],
      ['xgboost', { ...good, mean_prediction: 'x' }, 'invalid_request', 'mean_prediction'],
      ['xgboost', { ...good, mean_latency_ms: Infinity }, 'invalid_request', 'mean_latency_ms'],
      ['xgboost', { mean_prediction: 0.02 }, 'invalid_request', 'std_prediction'],
    ];
    for (const [model, input, code, field] of bad) {
      const r = await mon.setBaseline(model, input);
      assert.ok(!r.ok && r.error.code === code && r.error.field === field, `${model} ${JSON.stringify(input)} → ${JSON.stringify(r)}`);
    }
    const nonObject = await mon.setBaseline('xgboost', null);
    assert.ok(!nonObject.ok && nonObject.error.code === 'invalid_request');

    const set = await mon.setBaseline('logistic', good);
    assert.ok(set.ok);
    assert.equal(driftBody(mon.latest(), 'logistic')!.baseline!.mean_latency_ms, 50, 'in force once the promise resolves');

    const early = await mon.captureBaseline('xgboost', '1m');
    assert.ok(!early.ok && early.error.field === 'window', 'too few predictions to capture');
    const wrongWindow = await mon.captureBaseline('xgboost', '7m');
    assert.ok(!wrongWindow.ok && wrongWindow.error.field === 'window');

    traffic(buffers, 2000);
    await nextSnapshot(mon, (s) => s.models.xgboost.windows['1m'].prediction.count === 2000);
    const cap = await mon.captureBaseline('xgboost', '1m');
    assert.ok(cap.ok, JSON.stringify(cap));
    assert.equal(cap.baseline.source, 'captured');
    assert.equal(cap.baseline.prediction_count, 2000);
    assert.equal(cap.baseline.model_version, '3');
    assert.ok(cap.baseline.bins!.proportions.length >= 2);
    const d = driftBody(mon.latest(), 'xgboost')!;
    assert.ok(d.checks.some((c) => c.name === 'psi'), 'PSI runs against a captured baseline');
    assert.equal(d.severity, 'none', 'the same traffic is not drift');

    const file = JSON.parse(readFileSync(baselinePath, 'utf8'));
    assert.deepEqual(Object.keys(file.baselines).sort(), ['logistic', 'xgboost']);
  } finally {
    await mon.close();
  }

  const again = await startMonitor({ buffers: createTelemetry({ models: MODELS.map((m) => m.name), workerShards: 1 }), models: MODELS, tickMs: 100, baselinePath });
  try {
    const s = again.latest();
    assert.equal(driftBody(s, 'logistic')!.baseline!.std_latency_ms, 10);
    assert.equal(driftBody(s, 'xgboost')!.baseline!.source, 'captured');
    assert.ok(driftBody(s, 'xgboost')!.baseline!.bins);
  } finally {
    await again.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('worker liveness: owner table by default, the pool\'s report when given', async () => {
  const buffers = createTelemetry({ models: ['m'], workerShards: 3 });
  claimWorkerShard(buffers, 501);
  claimWorkerShard(buffers, 502);
  const mon = await startMonitor({ buffers, models: [{ name: 'm', version: '1' }], tickMs: 100 });
  try {
    assert.equal(mon.latest().workers.alive, 2);
    releaseWorkerShard(buffers, 502);
    const s = await nextSnapshot(mon, (x) => x.workers.alive === 1);
    assert.equal(s.workers.expected, 2, 'expected defaults to the most ever alive');
    assert.equal(s.health.models.m.status, 'degraded');
    mon.setWorkersAlive(0, 2);
    const dead = await nextSnapshot(mon, (x) => x.workers.source === 'reported');
    assert.equal(dead.health.models.m.status, 'unhealthy');
    assert.ok(dead.health.alerts.some((a) => a.kind === 'workers' && a.severity === 'critical'));
  } finally {
    await mon.close();
  }
});

test('monitoring off: recorders are no-ops of the same shape, the monitor still answers', async () => {
  const buffers = createTelemetry({ models: ['m'], workerShards: 2, enabled: false });
  const main = createMainRecorder(buffers);
  const w = claimWorkerShard(buffers, 77);
  assert.equal(main.enabled, false);
  assert.equal(w.shard, -1);
  main.countRequest(0);
  main.recordSuccess(0, 100);
  w.recordBatch(0, 1, 1, 1, new Float32Array([0.5]));
  const mon = await startMonitor({ buffers, models: [{ name: 'm', version: '1' }], tickMs: 100 });
  try {
    const s = mon.latest();
    assert.equal(s.monitoring_enabled, false);
    assert.equal(statsBody(s).models.m.total_requests, 0);
  } finally {
    await mon.close();
  }
});

test('a coordinator thread that dies is restarted with lifetime totals and baselines intact', async () => {
  const buffers = createTelemetry({ models: ['m'], workerShards: 1 });
  const warnings: string[] = [];
  const mon = await startMonitor({ buffers, models: [{ name: 'm', version: '1' }], tickMs: 100, onWarning: (m) => warnings.push(m) });
  try {
    createMainRecorder(buffers).countRequest(0, 42);
    const good = { mean_prediction: 0.02, std_prediction: 0.01, mean_latency_ms: 5, std_latency_ms: 1 };
    assert.ok((await mon.setBaseline('m', good)).ok);
    const before = await nextSnapshot(mon, (s) => s.models.m.lifetime.total_requests === 42);
    const thread = (mon as unknown as { [kThread]: () => Worker })[kThread]();
    await thread.terminate();
    assert.ok(mon.latest().models.m, 'latest() still answers while the thread is down');
    const after = await nextSnapshot(mon, (s) => s.started_at !== before.started_at, 4000);
    assert.equal(after.models.m.lifetime.total_requests, 42, 'cumulative shards outlive the thread');
    assert.equal(after.models.m.drift.baseline!.mean_latency_ms, 5, 'the baseline in force was handed over');
    assert.ok(warnings.some((w) => /restarting/.test(w)), warnings.join('; '));
  } finally {
    await mon.close();
  }
});
