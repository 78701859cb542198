// The label ring (engine/labels/prediction_log.ts) and the coordinator's
// quality figures over it, in-process: the hash table keeps exactly the last
// `capacity` ids through many wrap-arounds, windows end into non-clicks, a
// flood of unknown ids leaves memory as it was, and the figures reach the
// snapshot, /metrics lines and MLflow keys.
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PredictionLog, bytesPerPrediction } from '../engine/labels/prediction_log.js';
import { BUCKETS, VARIANT_AB, VARIANT_EXPLICIT, bucketOf, createQualityBuffers } from '../engine/labels/quality_layout.js';
import { qualityOf, wilson } from '../engine/coordinator/quality_metrics.js';
import { createTelemetry } from '../engine/telemetry/buffers.js';
import { Coordinator } from '../engine/coordinator/coordinator.js';
import { modelMetrics } from '../engine/coordinator/mlflow_metrics.js';
import { prometheusText } from '../engine/coordinator/prometheus.js';
import { isValidKey } from '../engine/mlflow/index.js';
import { mulberry32 } from '../bench/lib/traffic_sampler.js';
import { offlineQuality } from './support/labelled_traffic.js';

function newLog(capacity: number, windowMs = 60_000, implicitNonclicks = true) {
  const q = createQualityBuffers(['m0', 'm1']);
  const log = new PredictionLog(q, ['1', '1'], { capacity, windowMs, implicitNonclicks, sweepEveryMs: 0 });
  return { q, log };
}

test('through 50 wrap-arounds the table holds exactly the last `capacity` ids (backward-shift deletion keeps probe runs intact)', () => {
  const { log, q } = newLog(1000);
  const rnd = mulberry32(7);
  const ids: string[] = [];
  let t = 0;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 1000; i++) {
      const id = `${Math.floor(rnd() * 1e9).toString(36)}-${ids.length}`;
      ids.push(id);
      log.record(id, 0, VARIANT_AB, 0.02, t++);
    }
    // Spot checks that leave most slots pending: ids just out of the ring are unknown, recent ones join.
    const n = ids.length;
    for (let k = 0; k < 20; k++) {
      const old = n - 1000 - 1 - Math.floor(rnd() * Math.min(n - 1000, 5000));
      if (old >= 0) assert.equal(log.feedback(ids[old], false, t), 'unknown', `id ${old} of ${n} left the ring`);
    }
    const recent = n - 1 - Math.floor(rnd() * 1000);
    const out = log.feedback(ids[recent], true, t);
    assert.ok(out === 'accepted' || out === 'duplicate', `id ${recent} of ${n}: ${out}`);
  }
  // Every one of the last 1000 is still found (the spot checks labelled a few: duplicates).
  let found = 0;
  for (let i = ids.length - 1000; i < ids.length; i++) if (log.feedback(ids[i], false, t) !== 'unknown') found++;
  assert.equal(found, 1000);
  assert.equal(q.data[11 /* recorded */], 50_000);
  log.close();
});

test('an impression pushed out before its window ended is counted as evicted, not labelled', () => {
  const { log, q } = newLog(10);
  for (let i = 0; i < 25; i++) log.record(`r-${i}`, 1, VARIANT_EXPLICIT, 0.1, i);
  const s = snapshotOf(q, log);
  assert.equal(s.feedback!.counters.evicted_unlabelled, 15);
  assert.equal(s.models.m1.quality!.lifetime.labelled, 0);
});

test('with implicit non-clicks off, an ended window is dropped (expired_unlabelled) and a later click is still late', () => {
  const { log, q } = newLog(100, 1000, false);
  for (let i = 0; i < 10; i++) log.record(`r-${i}`, 0, VARIANT_AB, 0.05, 0);
  log.sweep(2000);
  assert.equal(log.feedback('r-3', true, 2000), 'expired');
  const s = snapshotOf(q, log);
  assert.equal(s.feedback!.counters.expired_unlabelled, 10);
  assert.equal(s.feedback!.counters.implicit_nonclicks, 0);
  assert.equal(s.feedback!.counters.late_clicks, 1);
  assert.equal(s.models.m0.quality!.lifetime.labelled, 0);
  assert.equal(s.models.m0.quality!.lifetime.late_clicks, 1);
});

// In a child with a fixed young generation: V8 otherwise doubles its semi-spaces
// on its own some million allocations in (+16 MB of RSS that is V8's, not ours).
const FLOOD = `
import { PredictionLog } from ${JSON.stringify(new URL('../engine/labels/prediction_log.js', import.meta.url).href)};
import { createQualityBuffers, qualityBytes } from ${JSON.stringify(new URL('../engine/labels/quality_layout.js', import.meta.url).href)};
const q = createQualityBuffers(['m0', 'm1']);
const capacity = 1 << 16;
const log = new PredictionLog(q, ['1', '1'], { capacity, windowMs: 60000, implicitNonclicks: true, sweepEveryMs: 0 });
for (let i = 0; i < capacity; i++) log.record('p-' + i, 0, 0, 0.02, 0);
let joined = 0;
const flood = (from, to) => { for (let i = from; i < to; i++) if (log.feedback('x-' + i, (i & 1) === 0, 1) !== 'unknown') joined++; };
const at = () => { global.gc(); const m = process.memoryUsage(); return { rss: m.rss, heap: m.heapUsed, bytes: log.bytes, shared: qualityBytes(q), held: log.held }; };
flood(0, 1000000);
const before = at();
flood(1000000, 10000000);
const after = at();
console.log(JSON.stringify({ before, after, joined, unknown: q.data[3], capacity: log.capacity }));
`;

test('memory: 10 million feedback items for unknown ids leave the ring, its table and the shared block as they were, and RSS flat', () => {
  const out = execFileSync(process.execPath, ['--expose-gc', '--max-semi-space-size=1', '--min-semi-space-size=1', '--input-type=module', '-e', FLOOD], { encoding: 'utf8' });
  const r = JSON.parse(out.trim().split('\n').pop()!);
  assert.equal(r.joined, 0);
  assert.equal(r.unknown, 10_000_000);
  assert.equal(r.capacity, 1 << 16);
  for (const k of ['bytes', 'shared', 'held'] as const) assert.equal(r.after[k], r.before[k], k);
  // 32 bytes per prediction at a power-of-two capacity: 24 in the ring, 8 in the table.
  assert.equal(r.after.bytes, 32 * (1 << 16));
  assert.equal(bytesPerPrediction(1 << 20), 32);
  const rss = r.after.rss - r.before.rss, heap = r.after.heap - r.before.heap;
  assert.ok(heap < 1024 * 1024, `heap grew ${(heap / 1048576).toFixed(2)} MB over 9 million unknown ids`);
  assert.ok(rss < 8 * 1024 * 1024, `RSS grew ${(rss / 1048576).toFixed(1)} MB over 9 million unknown ids`);
});

test('bucketed AUC is within its stated bound of the exact AUC; Wilson interval brackets the rate', () => {
  const rnd = mulberry32(11);
  const rows: { p: number; y: boolean }[] = [];
  const v = new Float64Array(8 + 3 * BUCKETS);
  for (let i = 0; i < 20_000; i++) {
    const p = Math.fround(0.002 + 0.1 * rnd() ** 2);
    const y = rnd() < p * 1.2;
    rows.push({ p, y });
    const b = bucketOf(p);
    v[0]++; v[2] += p; v[8 + 2 * BUCKETS + b] += p;
    if (y) { v[1]++; v[8 + b]++; } else v[8 + BUCKETS + b]++;
  }
  const q = qualityOf(v, 0);
  const exact = offlineQuality(rows);
  assert.ok(q.auc_max_error! > 0 && q.auc_max_error! < 0.01, `bound ${q.auc_max_error}`);
  assert.ok(Math.abs(q.auc! - exact.auc) <= q.auc_max_error!, `${q.auc} vs ${exact.auc}`);
  const [lo, hi] = wilson(30, 1000);
  assert.ok(lo < 0.03 && hi > 0.03 && lo > 0.018 && hi < 0.045);
  assert.ok(bucketOf(0) === 0 && bucketOf(1) === BUCKETS - 1 && bucketOf(0.5) === BUCKETS / 2);
});

test('windows: labels leave the 1m window after a minute and stay in lifetime; MLflow keys and /metrics carry the figures', () => {
  const { log, q } = newLog(1000);
  const t0 = 1_000_000;
  const coord = coordinatorOver(q, log, t0);
  for (let i = 0; i < 200; i++) {
    log.record(`r-${i}`, 0, i % 2 === 0 ? VARIANT_AB : VARIANT_EXPLICIT, 0.01 + (i % 10) * 0.01, 0);
    log.feedback(`r-${i}`, i % 7 === 0, 1);
  }
  const s1 = coord.tick(t0 + 1000);
  const m0 = s1.models.m0.quality!;
  assert.equal(m0.lifetime.labelled, 200);
  assert.equal(m0.windows['1m'].labelled, 200);
  assert.equal(m0.lifetime.by_variant.ab.labelled, 100);
  // Ticks every 5 s, as the thread would: the ring steps at its own pace.
  for (let t = t0 + 5000; t < t0 + 90_000; t += 5000) coord.tick(t);
  const s2 = coord.tick(t0 + 90_000);
  assert.equal(s2.models.m0.quality!.windows['1m'].labelled, 0);
  assert.equal(s2.models.m0.quality!.windows['5m'].labelled, 200);
  assert.equal(s2.models.m0.quality!.lifetime.labelled, 200);

  const metrics = modelMetrics(s2.models.m0, s2);
  for (const k of ['quality/lifetime/calibration_ratio', 'quality/lifetime/log_loss', 'quality/lifetime/auc', 'quality/window_5m/brier',
    'quality/lifetime/variant_ab/labelled', 'quality/lifetime/calibration_ratio_ci95_low', 'health_check/calibration']) {
    assert.equal(typeof metrics[k], 'number', k);
  }
  for (const k of Object.keys(metrics)) {
    assert.ok(isValidKey(k), k);
    for (const other of Object.keys(metrics)) assert.ok(!other.startsWith(`${k}/`), `${k} is both a key and the folder of ${other}`);
  }
  const text = prometheusText(s2);
  assert.match(text, /ctr_quality_labelled\{model="m0",version="",variant="",window="lifetime"\} 200/);
  assert.match(text, /ctr_quality_labelled\{model="m0",version="",variant="",window="1m"\} 0/);
  assert.ok(text.includes(`ctr_label_ring_bytes ${log.bytes}\n`));
  log.close();
});

function coordinatorOver(q: ReturnType<typeof createQualityBuffers>, log: PredictionLog, now: number): Coordinator {
  const buffers = createTelemetry({ models: ['m0', 'm1'], workerShards: 1 });
  return new Coordinator({
    buffers, models: [{ name: 'm0', version: '1' }, { name: 'm1', version: '1' }],
    labels: { buffers: q, windowMs: log.windowMs, capacity: log.capacity, ringBytes: log.bytes, implicitNonclicks: log.implicitNonclicks, versions: log.versions },
  }, now);
}

function snapshotOf(q: ReturnType<typeof createQualityBuffers>, log: PredictionLog) {
  return coordinatorOver(q, log, Date.now()).tick();
}
