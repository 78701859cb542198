// Windows derived by difference from the ring of cumulative checkpoints equal
// the same statistics computed directly over only that window's traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createTelemetry, type TelemetryBuffers } from '../engine/telemetry/buffers.js';
import { claimWorkerShard } from '../engine/telemetry/worker_recorder.js';
import { createMainRecorder } from '../engine/telemetry/main_recorder.js';
import { ShardReader } from '../engine/telemetry/reader.js';
import { Coordinator } from '../engine/coordinator/coordinator.js';
import { emptyTotals, mergeShards, StepRing, V_E2E_HIST, V_REQUESTS } from '../engine/coordinator/totals.js';
import { LATENCY_CELLS } from '../engine/telemetry/layout.js';
import { statsOf } from '../engine/coordinator/stats.js';
import type { StatsBlock } from '../engine/coordinator/snapshot.js';

interface Batch { rows: number; qw: number; inf: number; ctr: number[]; e2e: number[]; errors: number }

const batch: fc.Arbitrary<Batch> = fc.record({
  rows: fc.integer({ min: 1, max: 16 }),
  qw: fc.integer({ min: 0, max: 20_000 }),
  inf: fc.integer({ min: 1, max: 200_000 }),
  ctr: fc.array(fc.double({ min: 0.0001, max: 0.5, noNaN: true }), { minLength: 16, maxLength: 16 }),
  e2e: fc.array(fc.integer({ min: 1, max: 500_000 }), { minLength: 16, maxLength: 16 }),
  errors: fc.integer({ min: 0, max: 3 }),
});

function record(buffers: TelemetryBuffers, threadId: number, batches: Batch[]): void {
  const w = claimWorkerShard(buffers, threadId);
  const main = createMainRecorder(buffers);
  for (const b of batches) {
    w.recordBatch(0, b.rows, b.qw, b.inf, Float32Array.from(b.ctr));
    main.countRequest(0, b.rows + b.errors);
    for (let i = 0; i < b.rows; i++) main.recordSuccess(0, b.e2e[i]);
    if (b.errors > 0) main.countError(0, 'overloaded', b.errors);
  }
}

function direct(batches: Batch[], durationS: number): StatsBlock {
  const buffers = createTelemetry({ models: ['m'], workerShards: 1 });
  record(buffers, 1, batches);
  const reader = new ShardReader(buffers);
  reader.read();
  const totals = [emptyTotals(), emptyTotals()];
  mergeShards(reader, totals);
  return statsOf(totals[0], durationS, null);
}

function assertSameStats(got: StatsBlock, want: StatsBlock, what: string): void {
  const { prediction: gp, last_updated: _g, ...gotRest } = got;
  const { prediction: wp, last_updated: _w, ...wantRest } = want;
  assert.deepEqual(gotRest, wantRest, what);
  assert.equal(gp.count, wp.count, `${what}: prediction count`);
  const tol = 1e-9 * (Math.abs(wp.mean) + wp.std) + 1e-15;
  assert.ok(Math.abs(gp.mean - wp.mean) <= tol, `${what}: mean ${gp.mean} vs ${wp.mean}`);
  assert.ok(Math.abs(gp.std - wp.std) <= tol, `${what}: std ${gp.std} vs ${wp.std}`);
}

test('window by difference == direct computation over the window (counts, percentiles, moments)', () => {
  const ticks = fc.array(fc.array(batch, { maxLength: 4 }), { minLength: 1, maxLength: 12 });
  fc.assert(fc.property(ticks, (perTick) => {
    const buffers = createTelemetry({ models: ['m'], workerShards: 1 });
    const windowsMs = [3000, 7000];
    const coord = new Coordinator({ buffers, models: [{ name: 'm', version: '1' }], tickMs: 1000, windowsMs, ringStepMs: 1000 }, 0);
    // One recorder identity for the whole run, as one worker would have.
    const claimed = claimWorkerShard(buffers, 1);
    assert.equal(claimed.shard, 0);
    let snap = coord.tick(0);
    perTick.forEach((batches, i) => {
      record(buffers, 1, batches);
      snap = coord.tick((i + 1) * 1000);
    });
    const now = perTick.length * 1000;
    windowsMs.forEach((ms, k) => {
      const first = Math.max(0, (now - ms) / 1000);
      const inWindow = perTick.slice(first).flat();
      const name = coord.windowNames[k];
      assertSameStats(snap.models.m.windows[name], direct(inWindow, (now - first * 1000) / 1000), `window ${name}`);
    });
    assertSameStats(snap.models.m.lifetime, { ...direct(perTick.flat(), now / 1000), requests_per_minute: snap.models.m.windows['3s'].requests_per_minute }, 'lifetime');
  }), { numRuns: 15 });
});

test('idle ticks between steps reuse the windows they built, and every tick still equals the direct computation', () => {
  // Ticks every 500 ms with a 1 s ring step: half of them see the same totals
  // from the same base and newest step as the tick before (the coordinator
  // reuses those windows), and a run of empty ticks lets traffic age out of
  // the windows. Every tick's windows and lifetime must match a direct
  // computation over exactly the batches recorded after the window's base.
  const ticks = fc.array(fc.oneof(fc.constant([] as Batch[]), fc.array(batch, { minLength: 1, maxLength: 3 })), { minLength: 4, maxLength: 24 });
  fc.assert(fc.property(ticks, (perTick) => {
    const buffers = createTelemetry({ models: ['m'], workerShards: 1 });
    const windowsMs = [2000, 5000];
    const coord = new Coordinator({ buffers, models: [{ name: 'm', version: '1' }], tickMs: 500, windowsMs, ringStepMs: 1000 }, 0);
    claimWorkerShard(buffers, 1);
    coord.tick(0);
    const recorded: { t: number; batches: Batch[] }[] = [];
    perTick.forEach((batches, i) => {
      const now = (i + 1) * 500;
      record(buffers, 1, batches);
      recorded.push({ t: now, batches });
      const snap = coord.tick(now);
      windowsMs.forEach((ms, k) => {
        // Steps are taken at every whole second; the base is the newest at or before now − ms, else the first (t = 0).
        const baseT = Math.max(0, Math.floor((now - ms) / 1000) * 1000);
        const inWindow = recorded.filter((r) => r.t > baseT).flatMap((r) => r.batches);
        const name = coord.windowNames[k];
        assertSameStats(snap.models.m.windows[name], direct(inWindow, (now - baseT) / 1000), `tick ${i}: window ${name}`);
      });
      const lifetime = { ...direct(recorded.flatMap((r) => r.batches), now / 1000), requests_per_minute: snap.models.m.windows['2s'].requests_per_minute };
      assertSameStats(snap.models.m.lifetime, lifetime, `tick ${i}: lifetime`);
    });
    // And an idle stretch longer than the longest window, ticking as a server does, empties the windows while the lifetime stays.
    let late = coord.tick(perTick.length * 500);
    for (let k = 1; k <= 14; k++) late = coord.tick(perTick.length * 500 + k * 500);
    assert.equal(late.models.m.windows['5s'].total_requests, 0);
    assert.equal(late.models.m.lifetime.total_requests, direct(recorded.flatMap((r) => r.batches), 1).total_requests);
  }), { numRuns: 15 });
});

test('a window still filling covers everything since start, with its true duration', () => {
  const buffers = createTelemetry({ models: ['m'], workerShards: 1 });
  const coord = new Coordinator({ buffers, models: [{ name: 'm', version: '1' }], tickMs: 1000 }, 0);
  createMainRecorder(buffers).countRequest(0, 30);
  const s = coord.tick(10_000);
  assert.equal(s.models.m.windows['1m'].total_requests, 30);
  assert.equal(s.models.m.windows['1m'].duration_s, 10);
  assert.equal(s.models.m.windows['1m'].requests_per_minute, 180);
  assert.equal(s.models.m.lifetime.requests_per_minute, 180, 'lifetime carries the current (shortest-window) rate');
  const later = coord.tick(75_000);
  assert.equal(later.models.m.windows['1m'].total_requests, 0, 'traffic older than the window has left it');
  assert.equal(later.models.m.windows['5m'].total_requests, 30);
  assert.equal(later.models.m.lifetime.total_requests, 30);
});

test('the window ring holds per-step deltas: its memory follows recent traffic, not uptime', () => {
  // Every step hits 20 latency cells it never hit before, as a long run's tail
  // does: cumulative histograms gain non-zero cells for good. A ring of sparse
  // cumulative states grew with them; a ring of deltas holds only each step's cells.
  const ring = new StepRing(60_000, 5_000);
  const totals = [emptyTotals()];
  const sizes: number[] = [];
  for (let step = 0; step < 400; step++) {
    for (let k = 0; k < 20; k++) totals[0].vec[V_E2E_HIST + ((step * 20 + k) % LATENCY_CELLS)] += 1;
    totals[0].vec[V_REQUESTS] += 20;
    ring.maybePush(step * 5_000, totals);
    sizes.push(ring.deltaBytes);
  }
  assert.ok(ring.length <= 14, `ring capped at ${ring.length} steps`);
  // 21 changed cells per step × 12 bytes × at most 14 steps.
  assert.ok(sizes.at(-1)! <= 21 * 12 * 14, `ring holds ${sizes.at(-1)} bytes after 400 steps`);
  assert.equal(sizes.at(-1), sizes[100], 'flat once full');
  // And the window it gives is still now − state at the base: the last 60 s = 12 steps of 20 requests.
  const base = ring.baseFor(399 * 5_000, 60_000);
  const w = ring.windowOf(totals[0], 0, base, emptyTotals());
  assert.equal(w.vec[V_REQUESTS], 12 * 20);
  assert.equal(ring.timeOf(base), 387 * 5_000);
});
