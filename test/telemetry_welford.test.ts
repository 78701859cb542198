// Moments: merged shards equal one pass; a window taken by difference equals
// the window computed directly. Both in pure maths and through shared memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { combine, momentsOf, stdDev, subtract, type Moments } from '../engine/telemetry/welford.js';
import { createTelemetry } from '../engine/telemetry/buffers.js';
import { claimWorkerShard } from '../engine/telemetry/worker_recorder.js';
import { ShardReader } from '../engine/telemetry/reader.js';
import { emptyTotals, mergeShards } from '../engine/coordinator/totals.js';

const close = (a: number, b: number, rel: number, abs = 0): boolean =>
  Math.abs(a - b) <= Math.max(rel * Math.max(Math.abs(a), Math.abs(b)), abs);

/**
 * Equal within rel, measured against `scale` (the magnitude of the values the
 * result was computed from: a mean near zero has no relative scale of its own,
 * and a difference is only as precise as what was subtracted).
 */
function assertMoments(got: Moments, want: Moments, rel: number, what: string, from: Moments = want): void {
  assert.equal(got.n, want.n, `${what}: n`);
  const scale = Math.sqrt(from.m2 / Math.max(from.n, 1)) + Math.abs(from.mean);
  assert.ok(close(got.mean, want.mean, rel, rel * scale), `${what}: mean ${got.mean} vs ${want.mean}`);
  assert.ok(close(got.m2, want.m2, rel, rel * scale * scale * want.n), `${what}: m2 ${got.m2} vs ${want.m2}`);
}

// Probabilities; values below 1e-150 flushed to 0: no CTR is that small, and
// their squares (in m2) are subnormal, with no relative precision to test
// (fast-check once found [0, 0, 6.38e-162, 0], whose m2 of ~3e-323 failed 1e-9).
const ctr = fc.double({ min: 0, max: 1, noNaN: true }).map((x) => (x < 1e-150 ? 0 : x));
const shards = fc.array(fc.array(ctr, { maxLength: 200 }), { minLength: 1, maxLength: 8 });

test('Chan-merged shards equal one pass over all values (rel 1e-9)', () => {
  fc.assert(fc.property(shards, (parts) => {
    const merged = parts.map(momentsOf).reduce(combine, momentsOf([]));
    const direct = momentsOf(parts.flat());
    assertMoments(merged, direct, 1e-9, 'merged');
    if (direct.n > 0) {
      assert.equal(merged.min, direct.min);
      assert.equal(merged.max, direct.max);
    }
  }), { numRuns: 300 });
});

test('a window by difference of cumulative moments equals the window computed directly (rel 1e-9)', () => {
  const series = fc.tuple(fc.array(ctr, { maxLength: 2000 }), fc.array(ctr, { minLength: 1, maxLength: 500 }));
  fc.assert(fc.property(series, ([before, during]) => {
    const total = momentsOf([...before, ...during]);
    const window = subtract(total, momentsOf(before));
    assertMoments(window, momentsOf(during), 1e-9, 'window', total);
  }), { numRuns: 300 });
});

test('shards written through worker recorders merge to one pass over the float32 predictions', () => {
  fc.assert(fc.property(fc.array(fc.array(ctr, { minLength: 1, maxLength: 64 }), { minLength: 1, maxLength: 30 }), (batches) => {
    const buffers = createTelemetry({ models: ['m'], workerShards: 3 });
    const recorders = [101, 102, 103].map((id) => claimWorkerShard(buffers, id));
    const all: number[] = [];
    batches.forEach((b, i) => {
      const f = Float32Array.from(b);
      recorders[i % 3].recordBatch(0, f.length, 10, 20, f);
      all.push(...f);
    });
    const reader = new ShardReader(buffers);
    reader.read();
    const totals = [emptyTotals(), emptyTotals()];
    mergeShards(reader, totals);
    const direct = momentsOf(all);
    assertMoments(totals[0].pred, direct, 1e-9, 'shared memory');
    assert.equal(totals[0].pred.min, direct.min);
    assert.equal(totals[0].pred.max, direct.max);
    assert.ok(close(stdDev(totals[0].pred), stdDev(direct), 1e-9, 1e-12));
  }), { numRuns: 60 });
});
