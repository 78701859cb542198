// The Piscina worker: one inference session per model, opened once when the
// worker starts (top-level await, so Piscina hands it no task before the
// sessions exist). Batches arrive over the worker's own port, and with
// ACCEPTORS > 1 over one more port per acceptor thread (see below): the
// first message carries the link's shared task slots (engine/batch_slots.ts),
// every later one is the number of a slot whose header and input regions hold
// the task. The worker writes each part's CTRs into the slot's output region
// and replies with the slot's number (an object only when a part failed), so
// neither an ArrayBuffer nor an object crosses threads per batch.
//
// Who runs the models is the backend the composition root chose
// (engine/inference_backend.ts): this worker imports the module it was given,
// so the ts backend never loads the native addon.
import { Piscina } from 'piscina';
import { MessageChannel, parentPort, threadId, type MessagePort } from 'node:worker_threads';
import type { InferenceBackendModule, InferenceBackendRef, ModelRunner, Outputs } from './inference_backend.js';
import { claimWorkerShard, type TelemetryBuffers } from './telemetry/index.js';
import type { WorkerModelSpec } from './model_registry.js';
import { writeCtr } from './ctr_column.js';
import { BatchSlots, CTL_PARTS, CTL_PART_BASE, CTL_WARM_UP, PART_FIELDS, PART_MODEL, PART_GENERATION, PART_OLDEST_ENQUEUED_AT, PART_ROWS } from './batch_slots.js';
import { ATTACH, type AddLink, type AttachMessage, type DirectReply, type DirectTask, type InferenceReply, type OpenModel, type OpenReply, type ReplyMessage, type ReplyPart, type SlotsSetup, type TaskMessage } from './inference_task.js';

interface WorkerInit {
  models: WorkerModelSpec[];
  intraOpThreads: number;
  injectInferenceDelayMs: number;
  backend: InferenceBackendRef;
  telemetry: TelemetryBuffers;
}

const init = Piscina.workerData as WorkerInit;
// This thread's telemetry shard (a no-op recorder when monitoring is off).
const recorder = claimWorkerShard(init.telemetry, threadId);
const specs = init.models;

// A model the backend cannot open (unsupported operator, a file the runtime
// refuses) fails its own batches with the reason, naming the model and file:
// the warm-up reports it and the pool marks that model failed while the others
// serve. A backend that cannot load at all (addon missing) fails every model.
// A throw here would have Piscina restart the worker in a loop and the server
// wait for readiness forever.
function failing(reason: string): ModelRunner {
  return () => {
    throw new Error(reason);
  };
}
async function loadBackend(): Promise<InferenceBackendModule | string> {
  try {
    return (await import(init.backend.moduleUrl)) as InferenceBackendModule;
  } catch (err) {
    return `the ${init.backend.name} backend cannot be loaded: ${(err as Error)?.message ?? err}`;
  }
}
const backendModule = await loadBackend();

function openRunner(m: WorkerModelSpec): Promise<ModelRunner> {
  if (typeof backendModule === 'string') return Promise.resolve(failing(backendModule));
  return backendModule.openModel(m, { intraOpThreads: init.intraOpThreads }).catch((err: unknown) =>
    failing(`model ${m.name}: the ${init.backend.name} backend cannot open ${m.onnxPath}: ${(err as Error)?.message ?? err}`));
}

/** One open session of one generation of a model. */
interface Session { spec: WorkerModelSpec; run: ModelRunner }
// Per model index: the current generation's session and, during and just
// after a hot reload, the one before it (batches encoded for it may still
// arrive). A batch names its generation (PART_GENERATION).
const current: Session[] = await Promise.all(specs.map(async (spec) => ({ spec, run: await openRunner(spec) })));
const previous: (Session | null)[] = specs.map(() => null);
const backend = { readsSharedMemory: typeof backendModule === 'string' ? true : backendModule.readsSharedMemory };

function sessionFor(model: number, generation: number): Session {
  const c = current[model];
  if (c.spec.generation === generation) return c;
  const p = previous[model];
  if (p !== null && p.spec.generation === generation) return p;
  throw new Error(`model ${c.spec.name}: generation ${generation} is not open in this worker (current ${c.spec.generation})`);
}

/** Opens `spec` and runs one zero row through it; throws why it cannot serve. */
async function openAndWarm(spec: WorkerModelSpec): Promise<Session> {
  let failed: string | null = null;
  const run = await openRunner(spec);
  try {
    const out = await run(new Float32Array(spec.width), 1);
    const col = out[spec.outputName];
    if (col === undefined) failed = `model ${spec.name}: the warm-up run has no output ${spec.outputName}`;
    else writeCtr(spec, col.data, 1, new Float32Array(1));
  } catch (err) {
    failed = `model ${spec.name} (${spec.onnxPath}) failed its warm-up inference: ${(err as Error)?.message ?? err}`;
  }
  if (failed !== null) throw new Error(failed);
  return { spec, run };
}

/** Hot reload: the new generation beside the one batches still name; anything older is dropped. */
async function open(msg: OpenModel): Promise<OpenReply> {
  try {
    const session = await openAndWarm(msg.open);
    const m = msg.open.index;
    const c = current[m], p = previous[m];
    previous[m] = c.spec.generation === msg.keep ? c : p !== null && p.spec.generation === msg.keep ? p : null;
    current[m] = session;
    return { opened: msg.id, error: null };
  } catch (err) {
    return { opened: msg.id, error: (err as Error).message };
  }
}

/**
 * A replacement worker: opens the models reloaded since the pool started
 * (their warm-up follows as a task). Only forward: generations only grow, and
 * an acceptor thread's link may name a generation the main thread has
 * already replaced (its reload message still on its way), which must not
 * displace the newer session.
 */
async function catchUp(models: readonly WorkerModelSpec[]): Promise<void> {
  await Promise.all(models.map(async (spec) => {
    if (current[spec.index].spec.generation >= spec.generation) return;
    current[spec.index] = { spec, run: await openRunner(spec) };
  }));
}

// Blocks this thread like a slow model would (fault injection only).
const sleepCell = new Int32Array(new SharedArrayBuffer(4));
function blockFor(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

interface PartOutcome extends ReplyPart {
  startedAt: number;
  inferenceMs: number;
}

/** Runs one model batch, writes its CTRs into `ctr` (rows long) and records it (unless warm-up). */
async function runPart(model: number, generation: number, input: Float32Array, rows: number, ctr: Float32Array, oldestEnqueuedAt: number, warmUp: boolean): Promise<PartOutcome> {
  const started = performance.timeOrigin + performance.now();
  let error: string | null = null;
  try {
    const session = sessionFor(model, generation);
    const spec = session.spec;
    if (init.injectInferenceDelayMs > 0) blockFor(init.injectInferenceDelayMs);
    const out: Outputs = await session.run(input, rows);
    writeCtr(spec, out[spec.outputName].data, rows, ctr);
  } catch (err) {
    // One model's failure must not fail the other models' rows in this task.
    error = (err as Error).message || String(err);
  }
  const finished = performance.timeOrigin + performance.now();
  if (warmUp) {
    // not traffic: keep it out of the statistics
  } else if (error === null) recorder.recordBatch(model, rows, (started - oldestEnqueuedAt) * 1000, (finished - started) * 1000, ctr);
  else recorder.recordFailure(model, rows);
  return { startedAt: started, inferenceMs: finished - started, error };
}

// A backend that cannot read shared memory (onnxruntime-node 1.30 takes a
// SharedArrayBuffer-backed Tensor but its run() fails with "Invalid
// argument") gets each slot's inputs copied into a plain twin of the link's
// slots (allocated once; one region per slot and model, so a task queued
// behind another never overwrites inputs that ORT has yet to read: run()
// reads them in a later setImmediate). The ts evaluator reads the shared view directly.

/** The first `used` floats of a slot's input for `model`, in memory the backend can read. */
function inputOf(slots: BatchSlots, plain: BatchSlots | null, slot: number, model: number, used: number): Float32Array {
  const shared = slots.input(slot, model).subarray(0, used);
  if (plain === null) return shared;
  const copy = plain.input(slot, model).subarray(0, used);
  copy.set(shared);
  return copy;
}

// The slot's input regions need no zeroing after use: the pool overwrites the
// rows × width floats of every part it sends, and nothing reads past them.
// (The encoder's zeroed-row invariant is on the batcher's own buffers.)
async function infer(slots: BatchSlots, plain: BatchSlots | null, slot: number): Promise<ReplyMessage> {
  const ctl = slots.control(slot);
  const n = ctl[CTL_PARTS];
  const warmUp = ctl[CTL_WARM_UP] === 1;
  let errors: ReplyPart[] | null = null;
  for (let i = 0; i < n; i++) {
    const at = CTL_PART_BASE + i * PART_FIELDS;
    const model = ctl[at + PART_MODEL], rows = ctl[at + PART_ROWS];
    // The width never changes across generations (a reload refuses it).
    const input = inputOf(slots, plain, slot, model, rows * current[model].spec.width);
    const { error } = await runPart(model, ctl[at + PART_GENERATION], input, rows, slots.output(slot, model).subarray(0, rows), ctl[at + PART_OLDEST_ENQUEUED_AT], warmUp);
    if (error !== null) {
      errors ??= Array.from({ length: n }, () => ({ error: null }));
      errors[i] = { error };
    }
  }
  // Every part succeeded: the slot's number says so (engine/inference_task.ts).
  return errors === null ? slot : ({ slot, parts: errors } satisfies InferenceReply);
}

// The batch channel: a MessagePort of this worker's own, handed to the main
// thread through Piscina's event messages. Batches travel over it directly,
// not as Piscina tasks: Piscina's per-task bookkeeping (an AsyncResource, a
// promise and their destroy hooks per task) survives young-generation GCs on
// the main thread and made scavenges 1–2.5 ms long, which was the whole p99
// tail at low load (see README, "Design"). Piscina still owns the workers'
// life: start, replacement after a crash, shutdown. With ACCEPTORS > 1 the
// main thread hands over one more port per acceptor thread (AddLink); each
// port is a link of its own (its slots, its replies), served the same way.
class LinkServer {
  // The link's task slots, from the first message on the port.
  private slots: BatchSlots | null = null;
  private plain: BatchSlots | null = null;
  // Messages held while a replacement worker opens models reloaded since the pool started (null otherwise).
  private held: (TaskMessage | OpenModel)[] | null = null;

  constructor(private readonly port: MessagePort) {
    port.on('message', (msg: SlotsSetup | TaskMessage | OpenModel | AddLink) => this.onMessage(msg));
  }

  private onMessage(msg: SlotsSetup | TaskMessage | OpenModel | AddLink): void {
    // The pool posts the slots right after it receives the port, before any task (a port is FIFO).
    if (this.slots === null) {
      const setup = msg as SlotsSetup;
      this.slots = new BatchSlots(setup.slots);
      this.plain = backend.readsSharedMemory ? null : this.slots.plainTwin();
      if (setup.models.some((m) => current[m.index]?.spec.generation < m.generation)) {
        this.held = [];
        void catchUp(setup.models).then(() => {
          const queued = this.held!;
          this.held = null;
          for (const m of queued) this.handle(m);
        });
      }
      return;
    }
    if (typeof msg === 'object' && 'addLink' in msg) {
      new LinkServer(msg.addLink);
      return;
    }
    if (this.held !== null) this.held.push(msg as TaskMessage | OpenModel);
    else this.handle(msg as TaskMessage | OpenModel);
  }

  private handle(msg: TaskMessage | OpenModel): void {
    const port = this.port;
    if (typeof msg !== 'number') {
      void open(msg).then((reply) => port.postMessage(reply));
      return;
    }
    const slot = msg;
    infer(this.slots!, this.plain, slot).then(
      (reply) => port.postMessage(reply),
      (err: unknown) => port.postMessage({ slot, parts: [], failure: String((err as Error)?.stack ?? err) } satisfies InferenceReply),
    );
  }
}

const channel = new MessageChannel();
new LinkServer(channel.port1);
parentPort!.postMessage({ [ATTACH]: channel.port2, threadId } satisfies AttachMessage, [channel.port2]);

/** Piscina's protocol for a result whose buffers move instead of being copied. */
class MovableReply {
  constructor(private readonly reply: DirectReply, private readonly transfer: ArrayBuffer[]) {}
  get [Piscina.transferableSymbol](): ArrayBuffer[] { return this.transfer; }
  get [Piscina.valueSymbol](): DirectReply { return this.reply; }
}

/**
 * The Piscina task entry: the same inference on plain buffers, for callers
 * that go through Piscina's queue (the server does not; it uses the port).
 * The CTRs come back transferred.
 */
export default async function runInference(task: DirectTask): Promise<unknown> {
  const reply: DirectReply = { parts: [] };
  const transfer: ArrayBuffer[] = [];
  for (const { model, rows, features, oldestEnqueuedAt } of task.parts) {
    const ctr = new Float32Array(rows);
    const done = await runPart(model, current[model].spec.generation, features.subarray(0, rows * current[model].spec.width), rows, ctr, oldestEnqueuedAt, false);
    reply.parts.push({ model, ctr, ...done });
    transfer.push(ctr.buffer);
  }
  return Piscina.move(new MovableReply(reply, transfer) as never);
}
