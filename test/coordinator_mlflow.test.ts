// MLflow from the coordinator thread: one run per model, one batch per model
// every flush interval with increasing steps, runs FINISHED after a final
// flush on close(), and an MLflow outage shown in snapshot.mlflow, the health
// body's top-level check and /metrics without touching the models' health.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTelemetry, type TelemetryBuffers } from '../engine/telemetry/buffers.js';
import { claimWorkerShard } from '../engine/telemetry/worker_recorder.js';
import { createMainRecorder } from '../engine/telemetry/main_recorder.js';
import { kThread, startMonitor, type Monitor, type MonitorOptions } from '../engine/coordinator/monitor.js';
import type { Worker } from 'node:worker_threads';
import { healthBody } from '../engine/coordinator/bodies.js';
import { prometheusText } from '../engine/coordinator/prometheus.js';
import type { Snapshot } from '../engine/coordinator/snapshot.js';
import { listExperiments, listRunDirs, readRun } from '../engine/mlflow/file_reader.js';
import { FakeMlflowServer, type FakeRun } from './support/fake_mlflow_server.js';
import { Coordinator } from '../engine/coordinator/coordinator.js';
import { MlflowFlusher } from '../engine/coordinator/mlflow_flusher.js';

const MODELS = [{ name: 'xgboost', version: '3' }, { name: 'logistic', version: '1' }];
/** Fast in-request retries so an outage shows within a tick or two. */
const FAST_ENV = {
  MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0', MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR: '0.01',
  MLFLOW_HTTP_REQUEST_BACKOFF_JITTER: '0.01', MLFLOW_HTTP_REQUEST_TIMEOUT: '1',
};
const PARAMS = { workers: '2', max_batch_size: '64', flush_interval_s: '0.2' };
const TAGS = { deployment: 'test' };

function mlflowOptions(trackingUri: string, experimentName: string): NonNullable<MonitorOptions['mlflow']> {
  return {
    trackingUri, experimentName, flushIntervalMs: 200, params: PARAMS, tags: TAGS, env: FAST_ENV,
    host: 'testhost', engineVersion: '0.1.0', retryIntervalMs: { initialMs: 50, maxMs: 200 },
  };
}

async function until<T>(what: string, probe: () => T | undefined | null | false, timeoutMs = 8000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** `n` successful requests on model 0 in batches of 100: e2e 1.5–2.5 ms, inference 1.0–1.4 ms, CTR 0.02–0.03. */
function traffic(buffers: TelemetryBuffers, n: number): void {
  const worker = claimWorkerShard(buffers, 4242);
  const main = createMainRecorder(buffers);
  const batch = Float32Array.from({ length: 100 }, (_, i) => 0.02 + (0.01 * (i % 7)) / 7);
  for (let done = 0; done < n; done += 100) {
    worker.recordBatch(0, 100, 200, 1000 + ((done / 100) % 5) * 100, batch);
    main.countRequest(0, 100);
    for (let i = 0; i < 100; i++) main.recordSuccess(0, 1500 + ((done + i) % 1000));
  }
}

const quiet = { onWarning: () => undefined, onInfo: () => undefined };

function pointsOf(run: FakeRun, key: string) {
  return run.metrics.filter((m) => m.key === key).sort((a, b) => a.step - b.step);
}

test('REST: one run per model, a batch per flush with increasing steps, FINISHED after a final flush', async () => {
  const server = await FakeMlflowServer.start();
  const buffers = createTelemetry({ models: MODELS.map((m) => m.name), workerShards: 1 });
  let mon: Monitor | null = null;
  try {
    mon = await startMonitor({ buffers, models: MODELS, tickMs: 100, ...quiet, mlflow: mlflowOptions(server.url, 'coord_rest') });
    traffic(buffers, 1000);
    const runs = await until('3 flushes of both models', () => {
      const r = server.runsOf('coord_rest');
      return r.length === 2 && r.every((x) => new Set(x.metrics.map((m) => m.step)).size >= 3) && r;
    });
    const byModel = new Map(runs.map((r) => [r.tags.get('model'), r]));
    const x = byModel.get('xgboost')!;
    assert.equal(x.info.status, 'RUNNING');
    assert.equal(x.tags.get('model_version'), '3');
    assert.equal(x.tags.get('host'), 'testhost');
    assert.equal(x.tags.get('engine_version'), '0.1.0');
    assert.equal(x.tags.get('deployment'), 'test');
    assert.equal(x.params.get('max_batch_size'), '64');
    assert.equal(byModel.get('logistic')!.tags.get('model_version'), '1');

    // The key set of one flush: hierarchical, complete for a model with traffic, and bounded.
    const step0 = new Set(x.metrics.filter((m) => m.step === 0).map((m) => m.key));
    for (const key of [
      'lifetime/total_requests', 'lifetime/error_rate', 'window_1m/total_requests', 'window_5m/total_requests',
      'window_1m/requests_per_minute', 'window_1m/error_rate',
      'window_1m/latency_ms/end_to_end/p99', 'window_1m/latency_ms/end_to_end/p999', 'window_1m/latency_ms/end_to_end/max',
      'window_1m/latency_ms/inference/avg', 'window_1m/latency_ms/queue_wait/p50', 'lifetime/latency_ms/end_to_end/p95',
      'window_1m/prediction/mean', 'window_1m/prediction/std', 'drift/severity', 'drift/detected', 'health', 'health_check/error_rate',
    ]) assert.ok(step0.has(key), `${key} logged`);
    assert.ok(step0.size < 150, `${step0.size} keys per model`);

    const total = pointsOf(x, 'lifetime/total_requests');
    assert.deepEqual(total.map((p) => p.step), total.map((_, i) => i), 'steps 0, 1, 2, … with none missing');
    // Spacing on the flush grid is pinned by the clock-free test below; here only the order.
    for (let i = 1; i < total.length; i++) assert.ok(total[i].timestamp > total[i - 1].timestamp, 'each flush later than the one before');
    assert.equal(total.at(-1)!.value, 1000);
    const p99 = pointsOf(x, 'window_1m/latency_ms/end_to_end/p99').at(-1)!.value;
    assert.ok(p99 > 2 && p99 < 2.6, `p99 ${p99}`);
    assert.equal(pointsOf(x, 'health').at(-1)!.value, 0);
    // No traffic: counts are logged, latency is not (no misleading zeros).
    const l = byModel.get('logistic')!;
    assert.equal(pointsOf(l, 'window_1m/total_requests').at(-1)!.value, 0);
    assert.equal(pointsOf(l, 'window_1m/latency_ms/end_to_end/p99').length, 0);

    // The snapshot is published a tick after the flush MLflow already holds: wait for it, not for a clock.
    const monitor = mon;
    const s = await until('a snapshot after the deliveries', () => {
      const snap = monitor.latest();
      return snap.mlflow !== null && snap.mlflow!.delivered >= 4 && snap;
    });
    assert.equal(s.mlflow!.backend, 'rest');
    assert.equal(s.mlflow!.state, 'ok');
    assert.ok(s.mlflow!.delivered >= 4);
    assert.equal(healthBody(s).checks.mlflow!.status, 'pass');
    assert.match(prometheusText(s), /^ctr_mlflow_up\{backend="rest"\} 1$/m);

    // Traffic after the last flush must reach MLflow through the final flush.
    traffic(buffers, 500);
    await mon.close({ deadlineMs: 3000 });
    const last = mon.latest();
    assert.equal(last.mlflow!.state, 'closed');
    assert.equal(last.mlflow!.pending, 0);
    assert.equal(last.mlflow!.dropped, 0);
    const final = server.runsOf('coord_rest');
    assert.deepEqual(final.map((r) => r.info.status), ['FINISHED', 'FINISHED']);
    const xs = pointsOf(final.find((r) => r.tags.get('model') === 'xgboost')!, 'lifetime/total_requests');
    assert.equal(xs.length, last.mlflow!.flushes, 'every flush, the final one included, was delivered');
    assert.equal(xs.at(-1)!.value, 1500, 'the final flush carries the last traffic');
  } finally {
    await mon?.close();
    await server.close();
  }
});

// The flush schedule, driven with explicit times (no wall clock, so no CPU
// load can make it flaky): one flush per interval boundary, taken on the
// first tick at or after it (up to half a tick early, for timer jitter), and
// after a stall one flush, not a burst for every boundary missed.
test('flush schedule: one flush per interval boundary, early by at most the slack, no burst after a stall', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ctr-coord-flush-grid-'));
  const buffers = createTelemetry({ models: MODELS.map((m) => m.name), workerShards: 1 });
  const flusher = new MlflowFlusher(
    { ...mlflowOptions(join(dir, 'mlruns'), 'flush_grid'), flushIntervalMs: 200 }, MODELS, { info: () => undefined, warn: () => undefined }, 0,
  );
  try {
    const snapshot = new Coordinator({ buffers, models: MODELS, tickMs: 100 }, 0).tick(0);
    const slack = 50;
    const flushesAt = (times: number[]) => times.filter((t) => {
      const before = flusher.status().flushes;
      flusher.maybeFlush(snapshot, t, slack);
      return flusher.status().flushes > before;
    });
    // Boundaries at 200, 400, 600, …
    assert.deepEqual(flushesAt([100, 149, 150, 160, 200, 349]), [150], 'the first boundary (200), half a tick early at most');
    assert.deepEqual(flushesAt([350, 399, 400, 460, 549]), [350]);
    // A late tick flushes at once; the next boundary still comes at its place on the grid.
    assert.deepEqual(flushesAt([690, 700, 749, 750]), [690, 750]);
    // A stall over several boundaries (800…1400): one flush, then the grid again from the next boundary.
    assert.deepEqual(flushesAt([1430, 1440, 1500, 1549, 1550]), [1430, 1550]);
    assert.equal(flusher.status().flushes, 6);
    assert.equal(flusher.status().lastFlushAt, 1550);
  } finally {
    await flusher.close(2000);
    await rm(dir, { recursive: true, force: true });
  }
});

test('file store: metric files with increasing steps; close() ends the runs FINISHED', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ctr-coord-mlflow-'));
  const buffers = createTelemetry({ models: MODELS.map((m) => m.name), workerShards: 1 });
  let mon: Monitor | null = null;
  try {
    const mlruns = join(dir, 'mlruns');
    mon = await startMonitor({ buffers, models: MODELS, tickMs: 100, ...quiet, mlflow: mlflowOptions(`file:${mlruns}`, 'coord_file') });
    traffic(buffers, 1000);
    await until('3 flushes delivered', () => (mon!.latest().mlflow?.delivered ?? 0) >= 6);
    const exp = (await listExperiments(mlruns)).find((e) => e.meta.name === 'coord_file');
    assert.ok(exp, 'experiment created');
    const runs = await Promise.all((await listRunDirs(exp.dir)).map(readRun));
    assert.equal(runs.length, 2);
    const x = runs.find((r) => r.tags.model === 'xgboost')!;
    assert.equal(x.meta.status, 1, 'RUNNING');
    assert.equal(x.params.workers, '2');
    const pts = x.metrics['window_1m/latency_ms/end_to_end/p99'];
    assert.ok(pts.length >= 3);
    assert.deepEqual(pts.map((p) => p.step), pts.map((_, i) => i));
    assert.ok(Object.keys(x.metrics).length < 150);

    await mon.close({ deadlineMs: 2000 });
    const flushes = mon.latest().mlflow!.flushes;
    const after = await Promise.all((await listRunDirs(exp.dir)).map(readRun));
    for (const r of after) {
      assert.equal(r.meta.status, 3, `${r.tags.model} FINISHED`);
      assert.ok(Number(r.meta.end_time) > 0);
      assert.equal(r.metrics['lifetime/total_requests'].length, flushes, 'final flush written');
    }
  } finally {
    await mon?.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('MLflow down: snapshot shows retrying with pending batches, health check degraded, models healthy; nothing lost on recovery', async () => {
  const server = await FakeMlflowServer.start();
  await server.down();
  const buffers = createTelemetry({ models: MODELS.map((m) => m.name), workerShards: 1 });
  let mon: Monitor | null = null;
  try {
    mon = await startMonitor({ buffers, models: MODELS, tickMs: 100, ...quiet, mlflow: mlflowOptions(server.url, 'coord_down') });
    traffic(buffers, 1000);
    const s: Snapshot = await until('retrying with pending batches', () => {
      const x = mon!.latest();
      return x.mlflow?.state === 'retrying' && x.mlflow.pending >= 4 && x.health.checks.mlflow?.status === 'warn' && x;
    });
    assert.ok(s.mlflow!.lastError);
    assert.equal(s.mlflow!.delivered, 0);
    const h = healthBody(s);
    assert.equal(h.checks.mlflow!.name, 'mlflow');
    assert.equal(h.checks.mlflow!.value, s.mlflow!.pending);
    assert.equal(h.checks.mlflow!.threshold.pending_while_retrying, 0);
    assert.match(h.checks.mlflow!.detail, /unavailable, retrying/);
    assert.equal(h.status, 'degraded');
    assert.equal(h.serving_status, 'healthy');
    for (const m of Object.values(h.models)) {
      assert.equal(m.status, 'healthy');
      assert.ok(!m.checks.some((c) => c.name === 'mlflow'));
    }
    const alert = h.alerts.find((a) => a.kind === 'mlflow');
    assert.ok(alert && alert.model === '' && alert.severity === 'warning');
    assert.equal(h.mlflow!.state, 'retrying');
    const text = prometheusText(s);
    assert.match(text, /^ctr_mlflow_up\{backend="rest"\} 0$/m);
    assert.match(text, new RegExp(`^ctr_mlflow_pending_batches\\{backend="rest"\\} ${s.mlflow!.pending}$`, 'm'));
    assert.match(text, /^ctr_mlflow_delivered_batches_total\{backend="rest"\} 0$/m);
    assert.match(text, /^ctr_mlflow_dropped_batches_total\{backend="rest"\} 0$/m);
    assert.match(text, /^ctr_mlflow_rejected_total\{backend="rest"\} 0$/m);

    await server.up();
    const ok = await until('delivered after recovery', () => {
      const x = mon!.latest();
      return x.mlflow?.state === 'ok' && x.mlflow.pending === 0 && x.mlflow.delivered > 0 && x;
    });
    assert.equal(ok.health.checks.mlflow!.status, 'pass');
    assert.equal(ok.health.status, 'healthy');
    const x = server.runsOf('coord_down').find((r) => r.tags.get('model') === 'xgboost')!;
    const steps = pointsOf(x, 'lifetime/total_requests').map((p) => p.step);
    assert.deepEqual(steps, steps.map((_, i) => i), 'the batches held during the outage arrived, in order');
    assert.ok(steps.length >= 2);
    assert.equal(ok.mlflow!.dropped, 0);
  } finally {
    await mon?.close({ deadlineMs: 2000 });
    await server.close();
  }
});

test('close() with MLflow down resolves after its deadline and counts what it dropped', async () => {
  const server = await FakeMlflowServer.start();
  await server.down();
  const buffers = createTelemetry({ models: MODELS.map((m) => m.name), workerShards: 1 });
  const mon = await startMonitor({ buffers, models: MODELS, tickMs: 100, ...quiet, mlflow: mlflowOptions(server.url, 'coord_close_down') });
  try {
    await until('a pending batch', () => (mon.latest().mlflow?.pending ?? 0) >= 2);
    const t0 = Date.now();
    await mon.close({ deadlineMs: 600 });
    const took = Date.now() - t0;
    assert.ok(took < 600 + 1000 + 300, `closed in ${took} ms`);
    const last = mon.latest().mlflow!;
    assert.equal(last.state, 'closed');
    assert.equal(last.pending, 0);
    assert.ok(last.dropped >= 2, `dropped ${last.dropped}`);
    assert.equal(last.dropped, last.flushes * MODELS.length, 'every recorded batch is accounted for');
    assert.equal(mon.latest().health.checks.mlflow!.status, 'warn', 'the loss shows in health');
  } finally {
    await server.close();
  }
});

test('without mlflow options: snapshot.mlflow null, no mlflow check or metrics; close() still works', async () => {
  const buffers = createTelemetry({ models: MODELS.map((m) => m.name), workerShards: 1 });
  const mon = await startMonitor({ buffers, models: MODELS, tickMs: 100, ...quiet, mlflow: null });
  const s = mon.latest();
  assert.equal(s.mlflow, null);
  assert.deepEqual(healthBody(s).checks, {});
  assert.doesNotMatch(prometheusText(s), /ctr_mlflow_/);
  const t0 = Date.now();
  await mon.close();
  assert.ok(Date.now() - t0 < 1500);
  await mon.close();
});

test('a coordinator thread that dies: its runs are ended KILLED and the restarted thread logs to new runs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ctr-coord-mlflow-restart-'));
  const buffers = createTelemetry({ models: MODELS.map((m) => m.name), workerShards: 1 });
  let mon: (Monitor & { [kThread]: () => Worker }) | null = null;
  try {
    const mlruns = join(dir, 'mlruns');
    mon = await startMonitor({ buffers, models: MODELS, tickMs: 100, ...quiet, mlflow: mlflowOptions(`file:${mlruns}`, 'coord_restart') }) as Monitor & { [kThread]: () => Worker };
    await until('first flushes delivered', () => (mon!.latest().mlflow?.delivered ?? 0) >= 2);
    const first = mon[kThread]();
    await first.terminate();
    await until('a restarted thread', () => mon![kThread]() !== first, 5000);
    const exp = (await listExperiments(mlruns)).find((e) => e.meta.name === 'coord_restart')!;
    const statuses = async () => (await Promise.all((await listRunDirs(exp.dir)).map(readRun))).map((r) => Number(r.meta.status)).sort();
    const end = Date.now() + 8000;
    let seen: number[] = [];
    while (Date.now() < end) {
      seen = await statuses();
      if (seen.join() === '1,1,5,5') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(seen, [1, 1, 5, 5], 'two new RUNNING runs, the dead thread\'s two KILLED');
    await mon.close({ deadlineMs: 2000 });
    assert.deepEqual(await statuses(), [3, 3, 5, 5]);
  } finally {
    await mon?.close();
    await rm(dir, { recursive: true, force: true });
  }
});
