// The MLflow key set a flush logs per model, and the top-level MLflow health check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTelemetry } from '../engine/telemetry/buffers.js';
import { claimWorkerShard } from '../engine/telemetry/worker_recorder.js';
import { createMainRecorder } from '../engine/telemetry/main_recorder.js';
import { Coordinator } from '../engine/coordinator/coordinator.js';
import { mlflowCheck, modelMetrics, newLossTracker, type MlflowStatus } from '../engine/coordinator/mlflow_metrics.js';
import { isValidKey } from '../engine/mlflow/index.js';

const STAGE_KEYS = (prefix: string) => ['queue_wait', 'inference', 'end_to_end']
  .flatMap((st) => ['avg', 'p50', 'p95', 'p99', 'p999', 'max'].map((f) => `${prefix}/latency_ms/${st}/${f}`));
const BLOCK_KEYS = (prefix: string, rate: boolean) => [
  `${prefix}/total_requests`, `${prefix}/successful_requests`, `${prefix}/error_count`, `${prefix}/error_rate`,
  ...(rate ? [`${prefix}/requests_per_minute`] : []), ...STAGE_KEYS(prefix),
  `${prefix}/prediction/count`, `${prefix}/prediction/mean`, `${prefix}/prediction/std`,
];

function coordinatorWithTraffic(): Coordinator {
  const buffers = createTelemetry({ models: ['xgboost', 'idle'], workerShards: 1 });
  const t0 = Date.now();
  const coord = new Coordinator({ buffers, models: [{ name: 'xgboost', version: '1' }, { name: 'idle', version: '2' }] }, t0);
  const w = claimWorkerShard(buffers, 7);
  const main = createMainRecorder(buffers);
  const ctr = Float32Array.from({ length: 50 }, (_, i) => 0.01 + i * 0.0004);
  for (let b = 0; b < 20; b++) {
    w.recordBatch(0, 50, 100, 900, ctr);
    main.countRequest(0, 50);
    for (let i = 0; i < 50; i++) main.recordSuccess(0, 1200 + i * 10);
  }
  assert.ok(coord.setBaseline('xgboost', { mean_prediction: 0.02, std_prediction: 0.006, mean_latency_ms: 1.5, std_latency_ms: 0.2 }).ok);
  return coord;
}

test('one flush: the exact key set for a model with traffic and a baseline; valid, bounded, no key is another key\'s folder', () => {
  const coord = coordinatorWithTraffic();
  const s = coord.tick();
  const metrics = modelMetrics(s.models.xgboost, s);
  const expected = [
    ...BLOCK_KEYS('lifetime', false), ...BLOCK_KEYS('window_1m', true), ...BLOCK_KEYS('window_5m', true),
    'drift/severity', 'drift/detected', 'drift/has_baseline',
    ...['mean_shift', 'variance_change', 'latency_anomaly'].flatMap((c) => [`drift/${c}/z`, `drift/${c}/effect`, `drift/${c}/severity`]),
    'drift/current/prediction_mean', 'drift/current/prediction_std', 'drift/current/latency_mean_ms', 'drift/current/latency_std_ms',
    ...['prediction_mean', 'error_rate'].flatMap((sig) => [`change/${sig}/alarm`, `change/${sig}/statistic`]),
    'health', 'health_check/error_rate', 'health_check/latency_p99', 'health_check/drift', 'health_check/workers',
    'workers/alive', 'workers/expected',
  ];
  assert.deepEqual(Object.keys(metrics).sort(), [...expected].sort());
  assert.ok(expected.length < 150, `${expected.length} keys`);
  for (const [k, v] of Object.entries(metrics)) {
    assert.ok(isValidKey(k), `${k} is a valid MLflow key`);
    assert.equal(typeof v, 'number');
    for (const other of Object.keys(metrics)) assert.ok(!other.startsWith(`${k}/`), `${k} is both a key and the folder of ${other}`);
  }
  assert.equal(metrics['lifetime/total_requests'], 1000);
  assert.equal(metrics['window_1m/prediction/count'], 1000);
  assert.equal(metrics['drift/has_baseline'], 1);
  assert.ok(Number.isFinite(metrics['drift/mean_shift/z']));
  assert.equal(metrics.health, { healthy: 0, degraded: 1, unhealthy: 2 }[s.models.xgboost.health.status]);
  assert.equal(metrics['drift/severity'], { none: 0, medium: 1, high: 2 }[s.models.xgboost.drift.severity]);

  // A model without traffic or baseline: counts and states, no latency or prediction moments.
  const idle = modelMetrics(s.models.idle, s);
  assert.equal(idle['window_1m/total_requests'], 0);
  assert.equal(idle['drift/has_baseline'], 0);
  assert.ok(!Object.keys(idle).some((k) => k.includes('/latency_ms/') || k.endsWith('prediction/mean') || k.startsWith('drift/mean_shift')));
});

function status(over: Partial<MlflowStatus>): MlflowStatus {
  return {
    pending: 0, dropped: 0, delivered: 5, rejected: 0, lastError: null, lastErrorAt: null, lastDeliveryAt: 1, state: 'ok',
    backend: 'rest', experimentName: 'e', flushIntervalMs: 10_000, bufferLimit: 360, flushes: 5, lastFlushAt: 1, ...over,
  };
}

test('MLflow check: warn while retrying with pending batches, and for a while after a loss; never fail', () => {
  const loss = newLossTracker();
  const WINDOW = 60_000;
  let c = mlflowCheck(status({}), loss, 0, WINDOW);
  assert.equal(c.name, 'mlflow');
  assert.equal(c.status, 'pass');
  assert.deepEqual(c.threshold, { pending_while_retrying: 0, recent_loss_window_s: 60, buffer_limit_per_model: 360 });

  c = mlflowCheck(status({ state: 'retrying', pending: 0, lastError: 'ECONNREFUSED' }), loss, 1000, WINDOW);
  assert.equal(c.status, 'pass', 'nothing waiting yet');
  c = mlflowCheck(status({ state: 'retrying', pending: 7, lastError: 'ECONNREFUSED' }), loss, 2000, WINDOW);
  assert.equal(c.status, 'warn');
  assert.equal(c.value, 7);
  assert.match(c.detail, /7 batches pending.*ECONNREFUSED/);

  c = mlflowCheck(status({ state: 'retrying', pending: 360, dropped: 3 }), loss, 3000, WINDOW);
  assert.equal(c.status, 'warn');
  assert.match(c.detail, /3 batches dropped/);
  c = mlflowCheck(status({ state: 'ok', dropped: 3 }), loss, 3000 + WINDOW - 1, WINDOW);
  assert.equal(c.status, 'warn', 'a loss stays visible for the window');
  c = mlflowCheck(status({ state: 'ok', dropped: 3 }), loss, 3000 + WINDOW, WINDOW);
  assert.equal(c.status, 'pass', 'then clears while the count stays in the detail');
  assert.match(c.detail, /3 dropped/);

  c = mlflowCheck(status({ state: 'ok', dropped: 3, rejected: 2 }), loss, 200_000, WINDOW);
  assert.equal(c.status, 'warn');
  assert.match(c.detail, /2 metrics\/params\/tags refused/);
});

test('coordinator: the MLflow check is top level, degrades the overall status only, and raises a model-less alert', () => {
  const coord = coordinatorWithTraffic();
  let st = status({ state: 'retrying', pending: 4, lastError: 'down' });
  coord.mlflowStatus = () => st;
  const s = coord.tick();
  assert.equal(s.mlflow, st);
  assert.equal(s.health.checks.mlflow!.status, 'warn');
  const rank = { healthy: 0, degraded: 1, unhealthy: 2 } as const;
  const serving = Object.values(s.health.models).map((m) => m.status).reduce((a, b) => (rank[b] > rank[a] ? b : a), 'healthy');
  assert.equal(s.health.serving_status, serving);
  assert.equal(s.health.status, serving === 'healthy' ? 'degraded' : serving, 'MLflow trouble degrades the overall status, no further');
  for (const m of Object.values(s.health.models)) assert.ok(!m.checks.some((c) => c.name === 'mlflow'));
  const raised = s.alert_events.find((e) => e.alert.kind === 'mlflow');
  assert.ok(raised && raised.event === 'raised' && raised.alert.model === '' && raised.alert.severity === 'warning');
  st = status({});
  const s2 = coord.tick();
  assert.equal(s2.health.checks.mlflow!.status, 'pass');
  assert.ok(s2.alert_events.some((e) => e.event === 'resolved' && e.alert.kind === 'mlflow'));
  assert.ok(!s2.health.alerts.some((a) => a.kind === 'mlflow'));
});
