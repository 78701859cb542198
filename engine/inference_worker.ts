// The Piscina worker: one inference session per model, opened once when the
// worker starts (top-level await, so Piscina hands it no task before the
// sessions exist). Batches arrive over the worker's own port (see below): the
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
import { MessageChannel, parentPort, threadId } from 'node:worker_threads';
import type { InferenceBackendModule, InferenceBackendRef, ModelRunner, Outputs } from './inference_backend.js';
import { claimWorkerShard, type TelemetryBuffers } from './telemetry/index.js';
import type { WorkerModelSpec } from './model_registry.js';
import { BatchSlots, CTL_PARTS, CTL_PART_BASE, CTL_WARM_UP, PART_FIELDS, PART_MODEL, PART_OLDEST_ENQUEUED_AT, PART_ROWS } from './batch_slots.js';
import { ATTACH, type AttachMessage, type DirectReply, type DirectTask, type InferenceReply, type ReplyMessage, type ReplyPart, type SlotsSetup, type TaskMessage } from './inference_task.js';

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
async function openBackend(): Promise<{ runners: ModelRunner[]; readsSharedMemory: boolean }> {
  let backend: InferenceBackendModule;
  try {
    backend = (await import(init.backend.moduleUrl)) as InferenceBackendModule;
  } catch (err) {
    const reason = `the ${init.backend.name} backend cannot be loaded: ${(err as Error)?.message ?? err}`;
    return { runners: specs.map(() => failing(reason)), readsSharedMemory: true };
  }
  const runners = await Promise.all(specs.map((m) => backend.openModel(m, { intraOpThreads: init.intraOpThreads }).catch((err: unknown) =>
    failing(`model ${m.name}: the ${init.backend.name} backend cannot open ${m.onnxPath}: ${(err as Error)?.message ?? err}`))));
  return { runners, readsSharedMemory: backend.readsSharedMemory };
}
const backend = await openBackend();
const runners = backend.runners;

// Blocks this thread like a slow model would (fault injection only).
const sleepCell = new Int32Array(new SharedArrayBuffer(4));
function blockFor(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

/** Picks the CTR column out of the model's output into `ctr` (rows long), mapping logits through a sigmoid. */
function writeCtr(spec: WorkerModelSpec, output: unknown, rows: number, ctr: Float32Array): void {
  const data = output as ArrayLike<number | bigint>;
  const cols = rows === 0 ? 1 : data.length / rows;
  if (!Number.isInteger(cols) || spec.outputColumn >= cols) {
    throw new Error(`model ${spec.name}: output ${spec.outputName} has ${data.length} values for ${rows} rows; column ${spec.outputColumn} is not there`);
  }
  const logit = spec.outputKind === 'logit';
  for (let r = 0; r < rows; r++) {
    const v = Number(data[r * cols + spec.outputColumn]);
    ctr[r] = logit ? 1 / (1 + Math.exp(-v)) : v;
  }
}

interface PartOutcome extends ReplyPart {
  startedAt: number;
  inferenceMs: number;
}

/** Runs one model batch, writes its CTRs into `ctr` (rows long) and records it (unless warm-up). */
async function runPart(model: number, input: Float32Array, rows: number, ctr: Float32Array, oldestEnqueuedAt: number, warmUp: boolean): Promise<PartOutcome> {
  const spec = specs[model];
  const started = performance.timeOrigin + performance.now();
  let error: string | null = null;
  try {
    if (init.injectInferenceDelayMs > 0) blockFor(init.injectInferenceDelayMs);
    const out: Outputs = await runners[model](input, rows);
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

// The link's task slots, from the first message on the port.
let slots: BatchSlots | null = null;
// A backend that cannot read shared memory (onnxruntime-node 1.30 takes a
// SharedArrayBuffer-backed Tensor but its run() fails with "Invalid
// argument") gets each slot's inputs copied into a plain twin of the slots
// (allocated once; one region per slot and model, so a task queued behind
// another never overwrites inputs that ORT has yet to read: run() reads them
// in a later setImmediate). The ts evaluator reads the shared view directly.
let plain: BatchSlots | null = null;

function setUp(msg: SlotsSetup): void {
  slots = new BatchSlots(msg.slots);
  plain = backend.readsSharedMemory ? null : slots.plainTwin();
}

/** The first `used` floats of a slot's input for `model`, in memory the backend can read. */
function inputOf(slot: number, model: number, used: number): Float32Array {
  const shared = slots!.input(slot, model).subarray(0, used);
  if (plain === null) return shared;
  const copy = plain.input(slot, model).subarray(0, used);
  copy.set(shared);
  return copy;
}

// The slot's input regions need no zeroing after use: the pool overwrites the
// rows × width floats of every part it sends, and nothing reads past them.
// (The encoder's zeroed-row invariant is on the batcher's own buffers.)
async function infer(slot: number): Promise<ReplyMessage> {
  const ctl = slots!.control(slot);
  const n = ctl[CTL_PARTS];
  const warmUp = ctl[CTL_WARM_UP] === 1;
  let errors: ReplyPart[] | null = null;
  for (let i = 0; i < n; i++) {
    const at = CTL_PART_BASE + i * PART_FIELDS;
    const model = ctl[at + PART_MODEL], rows = ctl[at + PART_ROWS];
    const input = inputOf(slot, model, rows * specs[model].width);
    const { error } = await runPart(model, input, rows, slots!.output(slot, model).subarray(0, rows), ctl[at + PART_OLDEST_ENQUEUED_AT], warmUp);
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
// life: start, replacement after a crash, shutdown.
const channel = new MessageChannel();
channel.port1.on('message', (msg: SlotsSetup | TaskMessage) => {
  // The pool posts the slots right after it receives the port, before any task (a port is FIFO).
  if (slots === null) return setUp(msg as SlotsSetup);
  const slot = msg as TaskMessage;
  infer(slot).then(
    (reply) => channel.port1.postMessage(reply),
    (err: unknown) => channel.port1.postMessage({ slot, parts: [], failure: String((err as Error)?.stack ?? err) } satisfies InferenceReply),
  );
});
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
    const done = await runPart(model, features.subarray(0, rows * specs[model].width), rows, ctr, oldestEnqueuedAt, false);
    reply.parts.push({ model, ctr, ...done });
    transfer.push(ctr.buffer);
  }
  return Piscina.move(new MovableReply(reply, transfer) as never);
}
