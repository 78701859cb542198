// Real writer threads hammer their shards while the reader copies them: no
// copy is ever torn. Each write keeps paired values equal (rows counted in
// four places, the two latency sums equal), so a copy taken mid-write would
// break a pair. This file is also its own writer thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker, isMainThread, threadId, workerData, parentPort } from 'node:worker_threads';
import { createTelemetry, type TelemetryBuffers } from '../engine/telemetry/buffers.js';
import { claimWorkerShard } from '../engine/telemetry/worker_recorder.js';
import { createMainRecorder } from '../engine/telemetry/main_recorder.js';
import { ShardReader } from '../engine/telemetry/reader.js';
import {
  BATCH_CELLS, LATENCY_CELLS, M_E2E_HIST, M_E2E_SUM_US, M_SUCCESSES, PRED_BINS, W_BATCHES, W_BATCH_HIST,
  W_INF_HIST, W_INF_SUM_US, W_PRED_BINS, W_PRED_N, W_QW_HIST, W_QW_SUM_US, W_ROWS,
} from '../engine/telemetry/layout.js';

/** `shard`: the main shard a 'main' writer owns (an acceptor thread's with ACCEPTORS > 1). */
interface WriterData { buffers: TelemetryBuffers; stop: SharedArrayBuffer; role: 'worker' | 'main'; shard?: number }

function writer(): void {
  const { buffers, stop, role, shard } = workerData as WriterData;
  const halt = new Int32Array(stop);
  const models = buffers.models.length;
  let k = 0, rows = 0;
  if (role === 'main') {
    const rec = createMainRecorder(buffers, shard ?? 0);
    while (Atomics.load(halt, 0) === 0) {
      rec.recordSuccess(k % models, 50 + (k % 9000), 1 + (k % 3));
      rows += 1 + (k % 3);
      k++;
    }
  } else {
    const rec = claimWorkerShard(buffers, threadId);
    const ctr = new Float32Array(64);
    while (Atomics.load(halt, 0) === 0) {
      const r = 1 + (k % 64);
      ctr.fill(0.001 + (k % 997) / 1000);
      const us = 10 + (k % 50_000);
      rec.recordBatch(k % models, r, us, us, ctr);
      rows += r;
      k++;
    }
  }
  parentPort!.postMessage({ batches: k, rows });
}

const sum = (a: Float64Array, from: number, len: number): number => {
  let s = 0;
  for (let i = from; i < from + len; i++) s += a[i];
  return s;
};

function checkWorkerSlot(s: Float64Array, where: string): void {
  const rows = s[W_ROWS];
  assert.equal(sum(s, W_BATCH_HIST, BATCH_CELLS), s[W_BATCHES], `${where}: batch histogram vs batches`);
  assert.equal(sum(s, W_QW_HIST, LATENCY_CELLS), rows, `${where}: queue-wait histogram vs rows`);
  assert.equal(sum(s, W_INF_HIST, LATENCY_CELLS), rows, `${where}: inference histogram vs rows`);
  assert.equal(s[W_PRED_N], rows, `${where}: Welford n vs rows`);
  assert.equal(sum(s, W_PRED_BINS, PRED_BINS), rows, `${where}: prediction bins vs rows`);
  assert.equal(s[W_QW_SUM_US], s[W_INF_SUM_US], `${where}: paired latency sums`);
}

function checkMainSlot(s: Float64Array, where: string): void {
  assert.equal(sum(s, M_E2E_HIST, LATENCY_CELLS), s[M_SUCCESSES], `${where}: e2e histogram vs successes`);
  assert.ok(s[M_E2E_SUM_US] >= 50 * s[M_SUCCESSES], `${where}: e2e sum`);
}

if (isMainThread) {
  test('writers hammering shards never yield a torn copy', async () => {
    const buffers = createTelemetry({ models: ['a', 'b'], workerShards: 2 });
    const stop = new SharedArrayBuffer(4);
    const roles = ['worker', 'worker', 'main'] as const;
    const threads = roles.map((role) => new Worker(new URL(import.meta.url), { workerData: { buffers, stop, role } satisfies WriterData }));
    const done = threads.map((t) => new Promise<{ batches: number; rows: number }>((res, rej) => { t.once('message', res); t.once('error', rej); }));
    const reader = new ShardReader(buffers);
    const until = performance.now() + 1500;
    let reads = 0, retries = 0, stale = 0;
    const prevRows = [0, 0, 0, 0];
    while (performance.now() < until) {
      const st = reader.read();
      reads++;
      retries += st.retries;
      stale += st.stale;
      for (let w = 0; w < 2; w++) {
        for (let m = 0; m < 2; m++) {
          const s = reader.worker(w, m);
          checkWorkerSlot(s, `read ${reads} shard ${w} model ${m}`);
          assert.ok(s[W_ROWS] >= prevRows[w * 2 + m], 'cumulative rows never go back');
          prevRows[w * 2 + m] = s[W_ROWS];
        }
      }
      for (let m = 0; m <= 2; m++) checkMainSlot(reader.main(m), `read ${reads} main ${m}`);
      await new Promise((r) => setImmediate(r));
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    const results = await Promise.all(done);
    await Promise.all(threads.map((t) => t.terminate()));
    reader.read();
    let rows = 0, successes = 0;
    for (let w = 0; w < 2; w++) for (let m = 0; m < 2; m++) rows += reader.worker(w, m)[W_ROWS];
    for (let m = 0; m < 2; m++) successes += reader.main(m)[M_SUCCESSES];
    assert.equal(rows, results[0].rows + results[1].rows, 'every written row is counted');
    assert.equal(successes, results[2].rows, 'every success is counted');
    assert.ok(reads > 5, `reader made progress (${reads} reads)`);
    console.log(`# ${reads} consistent reads, ${retries} torn copies retried, ${stale} stale; ${results.map((r) => r.batches).join('/')} writes`);
  });

  test('several main shards (acceptor threads), each with its own writer, read as one consistent sum', async () => {
    const buffers = createTelemetry({ models: ['a', 'b'], workerShards: 1, mainShards: 3 });
    assert.throws(() => createMainRecorder(buffers, 3), /main shard 3 does not exist/);
    const stop = new SharedArrayBuffer(4);
    const threads = [0, 1, 2].map((shard) => new Worker(new URL(import.meta.url), { workerData: { buffers, stop, role: 'main', shard } satisfies WriterData }));
    const done = threads.map((t) => new Promise<{ batches: number; rows: number }>((res, rej) => { t.once('message', res); t.once('error', rej); }));
    const reader = new ShardReader(buffers);
    const until = performance.now() + 1000;
    let reads = 0;
    let prev = 0;
    while (performance.now() < until) {
      reader.read();
      reads++;
      let successes = 0;
      for (let m = 0; m <= 2; m++) {
        checkMainSlot(reader.main(m), `read ${reads} main ${m}`);
        successes += reader.main(m)[M_SUCCESSES];
      }
      assert.ok(successes >= prev, 'the summed count never goes back');
      prev = successes;
      await new Promise((r) => setImmediate(r));
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    const results = await Promise.all(done);
    await Promise.all(threads.map((t) => t.terminate()));
    reader.read();
    let successes = 0;
    for (let m = 0; m < 2; m++) successes += reader.main(m)[M_SUCCESSES];
    assert.equal(successes, results.reduce((n, r) => n + r.rows, 0), 'every shard\'s successes are in the sum');
    assert.ok(results.every((r) => r.batches > 0), 'every writer wrote');
    assert.ok(reads > 5, `reader made progress (${reads} reads)`);
  });
} else {
  writer();
}
