// A writer that dies — even between the two halves of its seqlock — loses
// nothing its shard held and leaves no reader stuck; its replacement keeps
// accumulating into the same shard. This file is also its own writer thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker, isMainThread, threadId, workerData, parentPort } from 'node:worker_threads';
import { createTelemetry, type TelemetryBuffers } from '../engine/telemetry/buffers.js';
import { claimWorkerShard, releaseWorkerShard } from '../engine/telemetry/worker_recorder.js';
import { ShardReader } from '../engine/telemetry/reader.js';
import { ownerIndex, seqIndex, workerSlot, W_ROWS, W_PRED_N } from '../engine/telemetry/layout.js';

interface Job { buffers: TelemetryBuffers; batches: number; hang: 'none' | 'mid_write' | 'loop' }

function writer(): void {
  const { buffers, batches, hang } = workerData as Job;
  const rec = claimWorkerShard(buffers, threadId);
  const ctr = new Float32Array(8).fill(0.02);
  for (let k = 0; k < batches; k++) rec.recordBatch(0, 8, 100, 200, ctr);
  if (hang === 'mid_write') {
    // Die holding the seqlock open, as a worker killed inside recordBatch would.
    const ctl = new Int32Array(buffers.control);
    Atomics.add(ctl, seqIndex({ models: 1, workerShards: buffers.workerShards }, workerSlot({ models: 1, workerShards: buffers.workerShards }, rec.shard, 0)), 1);
    parentPort!.postMessage({ threadId, shard: rec.shard });
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  }
  parentPort!.postMessage({ threadId, shard: rec.shard });
  if (hang === 'loop') for (;;) rec.recordBatch(0, 8, 100, 200, ctr);
}

function spawn(job: Job): Promise<{ worker: Worker; threadId: number; shard: number }> {
  const worker = new Worker(new URL(import.meta.url), { workerData: job });
  return new Promise((res, rej) => {
    worker.once('message', (m: { threadId: number; shard: number }) => res({ worker, ...m }));
    worker.once('error', rej);
  });
}

function timedRead(reader: ShardReader): { ms: number; stale: number; repaired: number } {
  const t = performance.now();
  const st = reader.read();
  return { ms: performance.now() - t, stale: st.stale, repaired: st.repaired };
}

if (isMainThread) {
  test('a writer killed mid-write: reader not stuck, release repairs, replacement keeps the totals', async () => {
    const buffers = createTelemetry({ models: ['m'], workerShards: 1 });
    const reader = new ShardReader(buffers);
    const dead = await spawn({ buffers, batches: 100, hang: 'mid_write' });
    await dead.worker.terminate();

    const stuck = timedRead(reader);
    assert.ok(stuck.ms < 100, `read with a dead writer's open seqlock took ${stuck.ms} ms`);
    assert.equal(stuck.stale, 1, 'the open slot is reported stale, not waited on');

    assert.equal(releaseWorkerShard(buffers, dead.threadId), dead.shard);
    const after = timedRead(reader);
    assert.equal(after.stale, 0);
    assert.equal(reader.worker(0, 0)[W_ROWS], 800, 'the dead writer\'s 100 batches are kept');

    const next = await spawn({ buffers, batches: 50, hang: 'none' });
    assert.equal(next.shard, dead.shard, 'the replacement reclaims the same shard');
    await next.worker.terminate();
    reader.read();
    assert.equal(reader.worker(0, 0)[W_ROWS], 1200, 'the replacement accumulates on top');
    assert.equal(reader.worker(0, 0)[W_PRED_N], 1200);
  });

  test('a released shard with an open seqlock is repaired by the reader itself', async () => {
    const buffers = createTelemetry({ models: ['m'], workerShards: 1 });
    const dead = await spawn({ buffers, batches: 10, hang: 'mid_write' });
    await dead.worker.terminate();
    // Owner cleared without the repair step (e.g. a release path that crashed).
    Atomics.store(new Int32Array(buffers.control), ownerIndex(dead.shard), 0);
    const reader = new ShardReader(buffers);
    const r = timedRead(reader);
    assert.equal(r.repaired, 1);
    assert.equal(r.stale, 0);
    assert.equal(reader.worker(0, 0)[W_ROWS], 80);
  });

  test('a writer terminated while hammering: totals survive, replacement continues', async () => {
    const buffers = createTelemetry({ models: ['m'], workerShards: 2 });
    const reader = new ShardReader(buffers);
    const busy = await spawn({ buffers, batches: 0, hang: 'loop' });
    await new Promise((r) => setTimeout(r, 100));
    await busy.worker.terminate();
    releaseWorkerShard(buffers, busy.threadId);
    assert.equal(timedRead(reader).stale, 0, 'nothing left open after release');
    const before = reader.worker(busy.shard, 0)[W_ROWS];
    assert.ok(before > 0);
    const next = await spawn({ buffers, batches: 5, hang: 'none' });
    await next.worker.terminate();
    reader.read();
    const total = reader.worker(0, 0)[W_ROWS] + reader.worker(1, 0)[W_ROWS];
    assert.equal(total, before + 40);
  });
  test('a replacement that starts before its predecessor is released waits for the shard', async () => {
    const buffers = createTelemetry({ models: ['m'], workerShards: 1 });
    claimWorkerShard(buffers, 900);
    setTimeout(() => releaseWorkerShard(buffers, 900), 50);
    const next = await spawn({ buffers, batches: 1, hang: 'none' });
    assert.equal(next.shard, 0);
    await next.worker.terminate();
    assert.throws(() => claimWorkerShard(buffers, 901, { waitMs: 20 }), /all 1 worker shards are owned/);
  });
} else {
  writer();
}
