// Percentiles read back from the shared-memory HDR histograms equal the exact
// percentiles within HDR's stated precision (3 significant digits: the
// reported value is the top of the exact value's bucket, < 1/1024 above it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createTelemetry } from '../engine/telemetry/buffers.js';
import { createMainRecorder } from '../engine/telemetry/main_recorder.js';
import { claimWorkerShard } from '../engine/telemetry/worker_recorder.js';
import { ShardReader } from '../engine/telemetry/reader.js';
import { emptyTotals, mergeShards } from '../engine/coordinator/totals.js';
import { latencyOf, statsOf } from '../engine/coordinator/stats.js';
import { hdrLoad, hdrOver, hdrStdDeviation } from '../engine/telemetry/hdr.js';
import { LATENCY_CELLS, LATENCY_HIGHEST_US } from '../engine/telemetry/layout.js';

function exactPercentile(sorted: number[], p: number): number {
  const rank = Math.max(Math.ceil((p / 100) * sorted.length), 1);
  return sorted[rank - 1];
}

// Latencies in whole µs spanning µs to tens of seconds, skewed like real ones.
const latencyUs = fc.oneof(
  fc.integer({ min: 0, max: 3000 }),
  fc.integer({ min: 3000, max: 200_000 }),
  fc.integer({ min: 200_000, max: 60_000_000 }),
);

test('end-to-end percentiles equal exact percentiles within 1/1024; avg exact', () => {
  fc.assert(fc.property(fc.array(latencyUs, { minLength: 1, maxLength: 3000 }), (values) => {
    const buffers = createTelemetry({ models: ['m'], workerShards: 0 });
    const rec = createMainRecorder(buffers);
    for (const v of values) rec.recordSuccess(0, v);
    const reader = new ShardReader(buffers);
    reader.read();
    const totals = [emptyTotals(), emptyTotals()];
    mergeShards(reader, totals);
    const block = latencyOf(totals[0], 'end_to_end');
    const sorted = [...values].sort((a, b) => a - b);
    assert.equal(block.count, values.length);
    for (const [p, key] of [[50, 'p50'], [95, 'p95'], [99, 'p99'], [99.9, 'p999']] as const) {
      const exact = exactPercentile(sorted, p);
      const got = Math.round(block[key] * 1000);
      assert.ok(got >= exact && got <= exact + exact / 1024, `p${p}: got ${got} µs, exact ${exact} µs`);
    }
    const max = sorted[sorted.length - 1];
    const gotMax = Math.round(block.max * 1000);
    assert.ok(gotMax >= max && gotMax <= max + max / 1024, `max ${gotMax} vs ${max}`);
    const gotMin = Math.round(block.min * 1000);
    assert.ok(gotMin <= sorted[0] && gotMin >= sorted[0] - sorted[0] / 1024, `min ${gotMin} vs ${sorted[0]}`);
    const avg = values.reduce((a, b) => a + b, 0) / values.length / 1000;
    assert.ok(Math.abs(block.avg - avg) <= 1e-9 * avg + 1e-12, `avg ${block.avg} vs ${avg}`);
  }), { numRuns: 40 });
});

test('worker stages count every row; batch sizes count batches', () => {
  const buffers = createTelemetry({ models: ['m'], workerShards: 2 });
  const a = claimWorkerShard(buffers, 11), b = claimWorkerShard(buffers, 12);
  const ctr = new Float32Array(100).fill(0.03);
  a.recordBatch(0, 10, 100, 2000, ctr);
  b.recordBatch(0, 30, 300, 4000, ctr);
  a.recordFailure(0, 5);
  const reader = new ShardReader(buffers);
  reader.read();
  const totals = [emptyTotals(), emptyTotals()];
  mergeShards(reader, totals);
  const s = statsOf(totals[0], 60, null);
  assert.equal(s.stages.inference.count, 40);
  assert.equal(s.stages.queue_wait.avg, (10 * 0.1 + 30 * 0.3) / 40);
  assert.ok(Math.abs(s.stages.inference.p50 - 4) <= 4 / 1024, 'p50: 30 of 40 rows took 4 ms');
  assert.equal(s.batch_size.count, 2);
  assert.equal(s.batch_size.avg, 20);
  assert.equal(s.batch_size.max, 30);
  assert.equal(s.prediction.count, 40);
  assert.equal(s.inference_failures, 5);
});

test('out-of-range latencies are clamped, never thrown', () => {
  const buffers = createTelemetry({ models: ['m'], workerShards: 1 });
  const rec = createMainRecorder(buffers);
  const w = claimWorkerShard(buffers, 5);
  rec.recordEndToEnd(0, 1e12);
  rec.recordEndToEnd(0, -3);
  rec.recordEndToEnd(0, NaN);
  rec.recordEndToEnd(7, 10); // unknown model index → unrouted slot, not lost
  w.recordBatch(0, 3, Infinity, 1e15, new Float32Array([NaN, 2, 0.5]));
  const reader = new ShardReader(buffers);
  reader.read();
  const totals = [emptyTotals(), emptyTotals()];
  mergeShards(reader, totals);
  assert.equal(latencyOf(totals[0], 'end_to_end').count, 3);
  assert.equal(latencyOf(totals[1], 'end_to_end').count, 1);
  assert.equal(latencyOf(totals[0], 'inference').count, 3);
  assert.equal(totals[0].pred.n, 1, 'only the one valid probability counts as a prediction');
});

test('hdrStdDeviation (a table of cell values) equals hdr-histogram-js stdDeviation to the bit', () => {
  const ours = hdrOver(new Float64Array(LATENCY_CELLS), LATENCY_HIGHEST_US);
  const theirs = hdrOver(new Float64Array(LATENCY_CELLS), LATENCY_HIGHEST_US);
  fc.assert(fc.property(fc.array(latencyUs, { minLength: 0, maxLength: 2000 }), fc.integer({ min: 1, max: 1000 }), (values, weight) => {
    const cells = new Float64Array(LATENCY_CELLS);
    const h = hdrLoad(theirs, cells);
    // Record through hdr itself, so the cells are laid out as hdr lays them out; counts up to `weight` per value.
    for (const v of values) h.recordValueWithCount(Math.min(v, LATENCY_HIGHEST_US), 1 + (v % weight));
    hdrLoad(theirs, cells);
    assert.equal(hdrStdDeviation(ours, cells), theirs.stdDeviation);
  }), { numRuns: 200 });
});
