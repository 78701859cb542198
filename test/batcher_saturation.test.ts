// The batcher when the pool is the bottleneck (issue 14, item 1): batches that
// closed by age while they waited for a worker are gathered into one batch at
// dispatch (so batches grow under saturation instead of going one small batch
// per task), and a row whose deadline has passed is answered 504, never a late
// 200: neither when it passed in the queue nor while its batch was in the
// worker. Real registry, real worker thread (ORT), one worker with one task
// slot and an injected delay, so the worker is busy while rows queue.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher, type InFlightTask, type RowOwner } from '../engine/batcher.js';
import { loadConfig } from '../engine/config.js';
import type { ErrorCode } from '../engine/error_codes.js';
import type { PredictFields } from '../engine/feature_encoder.js';
import { InferencePool, type OutgoingBatch } from '../engine/inference_pool.js';
import { loadModelRegistry, type LoadedModel, type ModelRegistry } from '../engine/model_registry.js';
import { createTelemetry } from '../engine/telemetry/index.js';
import { BACKENDS } from '../bin/start_server.js';

const DELAY_MS = 100;
const MAX_ROWS = 32;

class Owner implements RowOwner {
  done = false;
  ctr: number | null = null;
  code: ErrorCode | null = null;
  constructor(readonly deadline: number) {}
  deliver(_slot: number, ctr: number): void {
    this.done = true;
    this.ctr = ctr;
  }
  fail(code: ErrorCode): void {
    this.done = true;
    this.code = code;
  }
}

let registry: ModelRegistry;
let model: LoadedModel;
let pool: InferencePool<InFlightTask>;
let batcher: Batcher;
/** Rows of each part of each task the batcher sent, in order. */
let sent: number[][] = [];
/** The pool's threads and ports are unref'd (they never keep a server alive): this keeps the test's loop alive. */
let keepAlive: NodeJS.Timeout;

before(async () => {
  keepAlive = setInterval(() => {}, 1000);
  registry = loadModelRegistry(loadConfig({}, []).modelsDir);
  model = registry.models[0];
  const telemetry = createTelemetry({ models: registry.models.map((m) => m.name), workerShards: 3, enabled: false });
  pool = new InferencePool<InFlightTask>(registry, {
    workers: 1, tasksPerWorker: 1, batchMaxSize: MAX_ROWS, intraOpThreads: 1, injectInferenceDelayMs: DELAY_MS, backend: BACKENDS.ort, telemetry,
  });
  batcher = new Batcher(registry, pool, { batchMaxSize: MAX_ROWS, batchMaxDelayMs: 2, queueBound: 512, requestDeadlineMs: 60_000 });
  await pool.warmUp();
  // Watch what goes to the worker (the real send still runs).
  const send = pool.send.bind(pool);
  pool.send = (batches: readonly OutgoingBatch[], token: InFlightTask, parts = batches.length) => {
    const rows: number[] = [];
    for (let i = 0; i < parts; i++) rows.push(batches[i].rows);
    sent.push(rows);
    send(batches, token, parts);
  };
});

after(async () => {
  await batcher.close();
  await pool.close();
  clearInterval(keepAlive);
});

const fields = (i: number): PredictFields => ({
  user_id: `user_${i}`, ad_id: `ad_${(i * 7) % 50}`, device: i % 2 === 0 ? 'mobile' : 'desktop', placement: i % 3 === 0 ? 'header' : 'sidebar',
});
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

async function settled(owners: Owner[]): Promise<void> {
  for (let i = 0; i < 2000 && owners.some((o) => !o.done); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(owners.every((o) => o.done), 'every row was answered');
}

/** One row enqueued and dispatched alone: the worker is busy for DELAY_MS from here. */
async function occupyWorker(): Promise<Owner> {
  const o = new Owner(performance.now() + 60_000);
  batcher.enqueue(model, fields(999), o, 0, performance.now());
  await nextTurn();
  return o;
}

test('rows that queued behind a busy worker in many small aged batches go to it as one batch, each row with its own CTR', async () => {
  sent = [];
  const busy = await occupyWorker();
  assert.deepEqual(sent, [[1]]);
  // Ten rows arriving 10 ms apart (more than BATCH_MAX_DELAY_MS): each closes
  // the batch before it, so ten one-row batches wait for the worker.
  const t0 = performance.now();
  const owners: Owner[] = [];
  for (let i = 0; i < 10; i++) {
    const o = new Owner(t0 + 60_000);
    owners.push(o);
    batcher.enqueue(model, fields(i), o, 0, t0 + i * 10);
  }
  await settled([busy, ...owners]);
  assert.deepEqual(sent, [[1], [10]], 'one task of ten rows after the first, not ten tasks of one');
  assert.ok(owners.every((o) => o.code === null && typeof o.ctr === 'number'));

  // The same rows in one batch from the start give the same CTRs: the gathered rows kept their order and features.
  sent = [];
  const again = fields;
  const reference: Owner[] = [];
  const t1 = performance.now();
  for (let i = 0; i < 10; i++) {
    const o = new Owner(t1 + 60_000);
    reference.push(o);
    batcher.enqueue(model, again(i), o, 0, t1);
  }
  await settled(reference);
  assert.deepEqual(sent, [[10]]);
  assert.deepEqual(owners.map((o) => o.ctr), reference.map((o) => o.ctr));
  assert.ok(new Set(owners.map((o) => o.ctr)).size > 1, 'rows with different fields got different CTRs');
});

test('gathering stops at BATCH_MAX_SIZE; the rest goes in the next task, in arrival order', async () => {
  sent = [];
  const busy = await occupyWorker();
  const t0 = performance.now();
  const owners: Owner[] = [];
  for (let i = 0; i < MAX_ROWS + 8; i++) {
    const o = new Owner(t0 + 60_000);
    owners.push(o);
    batcher.enqueue(model, fields(i), o, 0, t0 + i * 3);
  }
  await settled([busy, ...owners]);
  assert.deepEqual(sent, [[1], [MAX_ROWS], [8]]);
  assert.ok(owners.every((o) => o.code === null));
});

test('a row whose deadline passed while it queued is answered 504 and not sent to the worker', async () => {
  sent = [];
  const busy = await occupyWorker();
  const now = performance.now();
  const expired = new Owner(now + 20); // passes while the worker is busy for DELAY_MS
  const live = new Owner(now + 60_000);
  batcher.enqueue(model, fields(1), expired, 0, now);
  batcher.enqueue(model, fields(2), live, 0, now);
  await settled([busy, expired, live]);
  assert.equal(expired.code, 'deadline_exceeded');
  assert.equal(expired.ctr, null);
  assert.equal(live.code, null);
  assert.equal(typeof live.ctr, 'number');
  assert.deepEqual(sent, [[1], [1]], 'only the live row went to the worker');
});

test('a row whose deadline passed while its batch was in the worker is answered 504 when the batch returns, not a late 200', async () => {
  sent = [];
  const now = performance.now();
  // The long-deadline row first: the periodic sweep stops at the first row
  // with time left, so only the reply path can catch the short one.
  const patient = new Owner(now + 60_000);
  const hurried = new Owner(now + 30); // the worker takes DELAY_MS
  batcher.enqueue(model, fields(3), patient, 0, now);
  batcher.enqueue(model, fields(4), hurried, 0, now);
  await settled([patient, hurried]);
  assert.deepEqual(sent, [[2]]);
  assert.equal(patient.code, null);
  assert.equal(hurried.code, 'deadline_exceeded', 'answered past its deadline must be a 504');
  assert.equal(hurried.ctr, null);
});
