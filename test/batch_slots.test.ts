// The shared task slots batches cross threads in (engine/batch_slots.ts): the
// layout (regions tile the buffer, none overlaps another, views have the
// lengths they claim and are made once), then the real pool with several
// workers and several slots each, every slot in flight at once, and the real
// server under concurrent load for two models: every row comes back with the
// CTR a direct single-row run gives, so no task read another's inputs or
// outputs. Piscina's own task entry (plain buffers, no slots) still works.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { BatchSlots, controlFloats, CTL_PART_BASE, CTL_PARTS, PART_FIELDS, PART_ROWS, regionOffsets, slotFloats, slotsByteLength } from '../engine/batch_slots.js';
import { loadConfig, type InferenceBackend } from '../engine/config.js';
import { InferencePool, type OutgoingBatch } from '../engine/inference_pool.js';
import type { DirectReply, DirectTask } from '../engine/inference_task.js';
import { loadModelRegistry, type LoadedModel, type ModelRegistry } from '../engine/model_registry.js';
import { createTelemetry } from '../engine/telemetry/index.js';
import { createTrafficSampler, mulberry32, type DemoRequest } from '../bench/lib/traffic_sampler.js';
import { TsInferenceSession } from '../native-free-ts/evaluator/session.js';
import { startServerProcess } from './support/server_process.js';
import { BACKENDS } from '../bin/start_server.js';
import { TestClient } from './support/http_client.js';

interface Region { name: string; start: number; end: number }

/** Every region of every slot, in bytes from the buffer's start. */
function regionsOf(s: BatchSlots): Region[] {
  const out: Region[] = [];
  const { tasks, widths } = s.spec;
  for (let slot = 0; slot < tasks; slot++) {
    for (let m = 0; m < widths.length; m++) {
      for (const [kind, v] of [['input', s.input(slot, m)], ['output', s.output(slot, m)]] as const) {
        out.push({ name: `slot ${slot} model ${m} ${kind}`, start: v.byteOffset, end: v.byteOffset + v.byteLength });
      }
    }
  }
  return out;
}

const LAYOUTS = [
  { tasks: 1, rowsPerBatch: 1, widths: [1] },
  { tasks: 1, rowsPerBatch: 256, widths: [141, 141] },
  { tasks: 3, rowsPerBatch: 7, widths: [5, 1, 12] },
  { tasks: 16, rowsPerBatch: 33, widths: [141, 9] },
];

describe('slot layout', () => {
  test('regions tile the buffer: each inside it, none overlapping another, nothing left over', () => {
    for (const l of LAYOUTS) {
      const s = BatchSlots.create(l.tasks, l.rowsPerBatch, l.widths);
      assert.ok(s.spec.buffer instanceof SharedArrayBuffer);
      assert.equal(s.spec.buffer.byteLength, slotsByteLength(l.tasks, l.rowsPerBatch, l.widths));
      const regions = regionsOf(s).sort((a, b) => a.start - b.start);
      assert.equal(regions.length, l.tasks * l.widths.length * 2);
      let at = 0;
      for (const r of regions) {
        assert.ok(r.end > r.start, `${r.name} is empty`);
        // Sorted by start: a start below the previous end is an overlap, above it a gap.
        assert.equal(r.start, at, `${r.name} starts at ${r.start}, the previous region ends at ${at} (${JSON.stringify(l)})`);
        at = r.end;
      }
      assert.equal(at, s.spec.buffer.byteLength, 'the last region ends at the end of the buffer');
    }
  });

  test('views have the lengths the layout promises and match the offset helpers', () => {
    for (const l of LAYOUTS) {
      const s = BatchSlots.create(l.tasks, l.rowsPerBatch, l.widths);
      for (let slot = 0; slot < l.tasks; slot++) {
        for (let m = 0; m < l.widths.length; m++) {
          const input = s.input(slot, m), output = s.output(slot, m);
          assert.equal(input.length, l.rowsPerBatch * l.widths[m]);
          assert.equal(output.length, l.rowsPerBatch);
          assert.equal(input.buffer, s.spec.buffer);
          assert.equal(output.buffer, s.spec.buffer);
          const at = regionOffsets(l.rowsPerBatch, l.widths, slot, m);
          assert.equal(input.byteOffset, at.input * 4);
          assert.equal(output.byteOffset, at.output * 4);
          assert.ok(at.output + l.rowsPerBatch <= (slot + 1) * slotFloats(l.rowsPerBatch, l.widths), 'a slot\'s regions stay in the slot');
        }
      }
    }
  });

  test('writing every region leaves every other region intact', () => {
    const l = LAYOUTS[2];
    const s = BatchSlots.create(l.tasks, l.rowsPerBatch, l.widths);
    const views = [];
    for (let slot = 0; slot < l.tasks; slot++) for (let m = 0; m < l.widths.length; m++) views.push(s.input(slot, m), s.output(slot, m));
    views.forEach((v, i) => v.fill(i + 1));
    views.forEach((v, i) => assert.ok(v.every((x) => x === i + 1), `view ${i} was overwritten by another`));
  });

  test('views are made once: the same object on every call, outputsOf indexed by model', () => {
    const s = BatchSlots.create(2, 4, [3, 5]);
    assert.equal(s.input(1, 1), s.input(1, 1));
    assert.equal(s.output(1, 0), s.output(1, 0));
    assert.equal(s.outputsOf(1), s.outputsOf(1));
    assert.equal(s.outputsOf(1)[0], s.output(1, 0));
    assert.equal(s.outputsOf(1)[1], s.output(1, 1));
    assert.notEqual(s.outputsOf(0)[1], s.outputsOf(1)[1]);
  });

  test("the worker's side sees the main thread's writes at the same places; the plain twin has the layout but not the memory", () => {
    const main = BatchSlots.create(2, 3, [4, 2]);
    const worker = new BatchSlots(structuredClone(main.spec));
    main.input(1, 0).set([1, 2, 3, 4], 4);
    assert.deepEqual([...worker.input(1, 0).subarray(4, 8)], [1, 2, 3, 4]);
    worker.output(1, 1)[2] = 0.5;
    assert.equal(main.output(1, 1)[2], 0.5);
    const twin = main.plainTwin();
    assert.ok(twin.spec.buffer instanceof ArrayBuffer);
    assert.equal(twin.input(1, 0).byteOffset, main.input(1, 0).byteOffset);
    assert.equal(twin.input(1, 0)[4], 0, 'the twin does not share memory with the slots');
  });

  test('task headers: one per slot, none overlapping, the worker sees what the main thread wrote', () => {
    const models = 3, tasks = 4;
    const main = BatchSlots.create(tasks, 5, [2, 3, 4]);
    const worker = new BatchSlots(structuredClone(main.spec));
    assert.equal(main.spec.control.byteLength, tasks * controlFloats(models) * 8);
    for (let slot = 0; slot < tasks; slot++) {
      const c = main.control(slot);
      assert.equal(c.length, controlFloats(models));
      assert.equal(c.byteOffset, slot * controlFloats(models) * 8, `slot ${slot} header starts where the previous ends`);
      assert.equal(main.control(slot), c, 'made once');
      // The last part's last field is inside this slot's header.
      assert.ok(CTL_PART_BASE + (models - 1) * PART_FIELDS + PART_FIELDS <= c.length);
      c[CTL_PARTS] = slot + 1;
      c[CTL_PART_BASE + (models - 1) * PART_FIELDS + PART_ROWS] = 10 + slot;
    }
    for (let slot = 0; slot < tasks; slot++) {
      assert.equal(worker.control(slot)[CTL_PARTS], slot + 1);
      assert.equal(worker.control(slot)[CTL_PART_BASE + (models - 1) * PART_FIELDS + PART_ROWS], 10 + slot);
    }
  });

  test('a buffer of the wrong size or a bad spec is refused', () => {
    const control = new SharedArrayBuffer(2 * controlFloats(1) * 8);
    assert.throws(() => new BatchSlots({ buffer: new SharedArrayBuffer(slotsByteLength(2, 3, [4]) - 4), control, tasks: 2, rowsPerBatch: 3, widths: [4] }), /buffer has/);
    assert.throws(() => new BatchSlots({ buffer: new SharedArrayBuffer(slotsByteLength(2, 3, [4])), control: new SharedArrayBuffer(8), tasks: 2, rowsPerBatch: 3, widths: [4] }), /control buffer has/);
    assert.throws(() => BatchSlots.create(0, 3, [4]), RangeError);
    assert.throws(() => BatchSlots.create(1, 3, []), RangeError);
  });
});

// ── Through real workers ──────────────────────────────────────────────────

let registry: ModelRegistry;
const ortSessions = new Map<string, ort.InferenceSession>();
const tsSessions = new Map<string, TsInferenceSession>();

before(async () => {
  registry = loadModelRegistry(loadConfig({}, []).modelsDir);
  assert.ok(registry.models.length >= 2, 'the demo models are two');
  for (const m of registry.models) {
    ortSessions.set(m.name, await ort.InferenceSession.create(m.onnxPath));
    tsSessions.set(m.name, TsInferenceSession.createSync(m.onnxPath));
  }
});

/** The CTR of one row run alone, as the worker maps it (column, sigmoid for logits), rounded to float32. */
async function directCtr(backend: InferenceBackend, model: LoadedModel, req: DemoRequest): Promise<number> {
  const row = model.encoder.encode(req);
  const { input, output } = model.manifest;
  const out = backend === 'ts'
    ? tsSessions.get(model.name)!.runSync({ [input.name]: { data: row, dims: [1, model.width] } }, [output.name])
    : await ortSessions.get(model.name)!.run({ [input.name]: new ort.Tensor('float32', row, [1, model.width]) }, [output.name]);
  const v = Number((out[output.name].data as ArrayLike<number>)[output.column ?? 0]);
  return Math.fround(output.kind === 'logit' ? 1 / (1 + Math.exp(-v)) : v);
}

interface PoolTask { id: number; batches: (OutgoingBatch & { reqs: DemoRequest[]; model: LoadedModel })[] }

for (const backend of ['ort', 'ts'] as const) {
  test(`pool (${backend}): 2 workers × 3 slots all in flight at once, tasks of two models, every row gets its own CTR`, async () => {
    const WORKERS = 2, SLOTS = 3, MAX_ROWS = 8, TASKS = 60;
    const telemetry = createTelemetry({ models: registry.models.map((m) => m.name), workerShards: WORKERS + 2, enabled: false });
    const pool = new InferencePool<PoolTask>(registry, {
      workers: WORKERS, tasksPerWorker: SLOTS, batchMaxSize: MAX_ROWS, intraOpThreads: 1, injectInferenceDelayMs: 0, backend: BACKENDS[backend], telemetry,
    });
    const sampler = createTrafficSampler({ seed: 31 });
    const rand = mulberry32(32);
    // Each task: one batch per model, 1..MAX_ROWS rows of distinct requests.
    const tasks: PoolTask[] = Array.from({ length: TASKS }, (_, id) => ({
      id,
      batches: registry.models.map((model) => {
        const rows = 1 + Math.floor(rand() * MAX_ROWS);
        const reqs = Array.from({ length: rows }, () => sampler.next());
        const features = new Float32Array(MAX_ROWS * model.width);
        reqs.forEach((r, i) => assert.equal(model.encoder.encodeInto(r, features, i), null));
        return { model, rows, features, oldestEnqueuedAt: 0, reqs };
      }),
    }));
    const got = new Map<number, number[][]>();
    let sent = 0, inFlight = 0, mostInFlight = 0, warm = false;
    let settle!: (err?: Error) => void;
    const done = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
    const pump = () => {
      while (sent < TASKS && pool.hasCapacity()) {
        const t = tasks[sent++];
        pool.send(t.batches, t);
        // The pool copied the rows: scribbling over the caller's buffer now must not change the answer.
        for (const b of t.batches) b.features.fill(7);
        mostInFlight = Math.max(mostInFlight, ++inFlight);
      }
    };
    pool.setSink({
      onReply(t, reply, ctrByModel) {
        inFlight--;
        const failed = reply.parts.find((p) => p.error !== null);
        if (reply.parts.length !== t.batches.length || failed !== undefined) return settle(new Error(`task ${t.id}: ${JSON.stringify(reply)}`));
        // Copied now: the view is the slot's, reused once this returns.
        got.set(t.id, t.batches.map((b) => Array.from(ctrByModel[b.model.index].subarray(0, b.rows))));
        if (got.size === TASKS) settle();
      },
      onLost: (t, reason) => settle(new Error(`task ${t.id} lost: ${reason}`)),
      // Nothing before every worker is warm, so that the first pump fills every slot at once.
      onCapacity: () => warm && pump(),
    });
    // The pool's ports and workers do not hold the process open (a server's socket does): this test must.
    const keepAlive = setInterval(() => {}, 1000);
    try {
      await pool.warmUp();
      warm = true;
      pump();
      await done;
      assert.equal(mostInFlight, WORKERS * SLOTS, 'every slot of every worker held a task at once');
      for (const t of tasks) {
        const ctrs = got.get(t.id)!;
        for (let i = 0; i < t.batches.length; i++) {
          const b = t.batches[i];
          for (let r = 0; r < b.rows; r++) {
            assert.equal(ctrs[i][r], await directCtr(backend, b.model, b.reqs[r]), `task ${t.id}, ${b.model.name}, row ${r}`);
          }
        }
      }
      // Piscina's own entry (the worker's default export) still runs on plain buffers.
      const direct = tasks[0].batches.map((b) => {
        const features = new Float32Array(b.rows * b.model.width);
        b.reqs.forEach((r, i) => b.model.encoder.encodeInto(r, features, i));
        return { model: b.model.index, rows: b.rows, features, oldestEnqueuedAt: 0 };
      });
      const reply = (await pool.piscina.run({ parts: direct } satisfies DirectTask)) as DirectReply;
      assert.deepEqual(reply.parts.map((p) => [p.model, p.error, [...p.ctr]]), tasks[0].batches.map((b, i) => [b.model.index, null, got.get(0)![i]]));
    } finally {
      await pool.close();
      clearInterval(keepAlive);
    }
  });
}

test('pool: a part that fails comes back as an error for that part only, in warm-up and in traffic', async () => {
  // Model 1's output column does not exist: its runs fail in the worker, model 0's succeed.
  const broken = Object.create(registry) as ModelRegistry;
  broken.workerSpecs = () => registry.workerSpecs().map((w) => (w.index === 1 ? { ...w, outputColumn: 7 } : w));
  const telemetry = createTelemetry({ models: registry.models.map((m) => m.name), workerShards: 3, enabled: false });
  const pool = new InferencePool<string>(broken, { workers: 1, tasksPerWorker: 1, batchMaxSize: 4, intraOpThreads: 1, injectInferenceDelayMs: 0, backend: BACKENDS.ort, telemetry });
  const keepAlive = setInterval(() => {}, 1000);
  try {
    // The warm-up reports the failing model by index (the engine marks it failed and serves the others).
    const failed = await pool.warmUp();
    assert.deepEqual([...failed.keys()], [1]);
    assert.match(failed.get(1)!, new RegExp(`model ${registry.models[1].name} failed its warm-up inference: .*column 7 is not there`));
    // The worker stays up: a task of both models gets model 0's CTRs and model 1's error.
    while (!pool.hasCapacity()) await new Promise((r) => setTimeout(r, 5));
    const sampler = createTrafficSampler({ seed: 35 });
    const req = sampler.next();
    const batches = registry.models.map((model) => {
      const features = new Float32Array(4 * model.width);
      assert.equal(model.encoder.encodeInto(req, features, 0), null);
      return { model, rows: 1, features, oldestEnqueuedAt: 0 };
    });
    const got = await new Promise<{ errors: (string | null)[]; ctr0: number }>((resolve, reject) => {
      pool.setSink({
        onReply: (_t, reply, ctrByModel) => resolve({ errors: reply.parts.map((p) => p.error), ctr0: ctrByModel[0][0] }),
        onLost: (_t, why) => reject(new Error(why)),
        onCapacity: () => {},
      });
      pool.send(batches, 'task');
    });
    assert.equal(got.errors.length, 2);
    assert.equal(got.errors[0], null);
    assert.match(got.errors[1] ?? '', /column 7 is not there/);
    assert.equal(got.ctr0, await directCtr('ort', registry.models[0], req));
  } finally {
    await pool.close();
    clearInterval(keepAlive);
  }
});

test('server (ort, 3 workers × 2 slots, batches of 8): many concurrent requests for two models each get their own CTR', async () => {
  const server = await startServerProcess({ WORKERS: '3', TASKS_PER_WORKER: '2', BATCH_MAX_SIZE: '8', INFERENCE_BACKEND: 'ort' });
  const client = new TestClient(server.url, 64);
  try {
    const sampler = createTrafficSampler({ seed: 33 });
    const names = registry.models.map((m) => m.name);
    const singles = Array.from({ length: 600 }, (_, i) => ({ ...sampler.next(), model: names[i % names.length] }));
    // Batch requests too: their rows join the same per-model batches as the singles'.
    const batches = Array.from({ length: 6 }, (_, k) => Array.from({ length: 25 }, (_, i) => ({ ...sampler.next(), model: names[(i + k) % names.length] })));
    const [singleReplies, batchReplies] = await Promise.all([
      Promise.all(singles.map((r) => client.postJson('/predict_ctr', r))),
      Promise.all(batches.map((reqs) => client.postJson('/predict_ctr/batch', { requests: reqs }))),
    ]);
    for (let i = 0; i < singles.length; i++) {
      const r = singleReplies[i];
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.model, singles[i].model);
      assert.equal(r.body.ctr, await directCtr('ort', registry.get(singles[i].model)!, singles[i]), `single ${i} (${singles[i].model})`);
    }
    for (let k = 0; k < batches.length; k++) {
      assert.equal(batchReplies[k].status, 200, JSON.stringify(batchReplies[k].body));
      for (let i = 0; i < batches[k].length; i++) {
        const req = batches[k][i];
        assert.equal(batchReplies[k].body.predictions[i].ctr, await directCtr('ort', registry.get(req.model)!, req), `batch ${k} item ${i}`);
      }
    }
  } finally {
    await client.close();
    assert.equal(await server.stop(), 0, 'the server exits cleanly');
  }
});

after(async () => {
  for (const s of ortSessions.values()) await s.release();
});
