// The Piscina worker: one inference session per model, opened once when the
// worker starts (top-level await, so Piscina hands it no task before the
// sessions exist). A task carries one or more model batches as transferred
// Float32Arrays; the reply transfers the CTRs and the (re-zeroed) input
// buffers back so the main thread can reuse them without allocating.
//
// The sessions are onnxruntime-node's (INFERENCE_BACKEND=ort) or the pure
// TypeScript evaluator's (ts, native-free-ts/onnx_session.ts). Each is
// imported only when chosen, so the ts backend never loads the native addon.
import type * as Ort from 'onnxruntime-node';
import { Piscina } from 'piscina';
import { MessageChannel, parentPort, threadId } from 'node:worker_threads';
import type { InferenceBackend } from './config.js';
import { claimWorkerShard, type TelemetryBuffers } from './telemetry/index.js';
import type { WorkerModelSpec } from './model_registry.js';
import { ATTACH, type AttachMessage, type InferenceTask, type InferenceReply, type ReplyPart } from './inference_task.js';

interface WorkerInit {
  models: WorkerModelSpec[];
  intraOpThreads: number;
  injectInferenceDelayMs: number;
  backend: InferenceBackend;
  telemetry: TelemetryBuffers;
}

/** A model's outputs by name; only `data` is read. */
type Outputs = Record<string, { readonly data: unknown }>;
/** Runs model `model` on the first `rows` rows of `input` (rows × width floats). */
type RunModel = (model: number, input: Float32Array, rows: number) => Promise<Outputs> | Outputs;

const init = Piscina.workerData as WorkerInit;
// This thread's telemetry shard (a no-op recorder when monitoring is off).
const recorder = claimWorkerShard(init.telemetry, threadId);
const specs = init.models;
const fetches = specs.map((m) => [m.outputName]);

async function openOrt(): Promise<RunModel> {
  const ort: typeof Ort = await import('onnxruntime-node');
  const sessions = await Promise.all(
    specs.map((m) =>
      ort.InferenceSession.create(m.onnxPath, {
        intraOpNumThreads: init.intraOpThreads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      }),
    ),
  );
  // Returns ORT's own promise: no extra async frame per batch.
  return (model, input, rows) =>
    sessions[model].run({ [specs[model].inputName]: new ort.Tensor('float32', input, [rows, specs[model].width]) }, fetches[model]);
}

async function openTs(): Promise<RunModel> {
  const { TsInferenceSession } = await import('../native-free-ts/onnx_session.js');
  const sessions = await Promise.all(specs.map((m) => TsInferenceSession.create(m.onnxPath)));
  return (model, input, rows) =>
    sessions[model].runSync({ [specs[model].inputName]: { data: input, dims: [rows, specs[model].width] } }, fetches[model]);
}

// A backend that cannot open the models (addon missing, unsupported operator)
// fails every batch with the reason: the warm-up reports it and the server
// exits saying why, where a throw here would have Piscina restart the worker
// in a loop and the server wait for readiness forever.
const runModel: RunModel = await (init.backend === 'ts' ? openTs() : openOrt()).catch((err: unknown): RunModel => {
  const reason = `the ${init.backend} backend cannot open the models: ${(err as Error)?.message ?? err}`;
  return () => {
    throw new Error(reason);
  };
});

// Blocks this thread like a slow model would (fault injection only).
const sleepCell = new Int32Array(new SharedArrayBuffer(4));
function blockFor(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

/** Picks the CTR column out of the model's output and maps logits through a sigmoid. */
function readCtr(spec: WorkerModelSpec, output: unknown, rows: number): Float32Array {
  const data = output as ArrayLike<number | bigint>;
  const cols = rows === 0 ? 1 : data.length / rows;
  if (!Number.isInteger(cols) || spec.outputColumn >= cols) {
    throw new Error(`model ${spec.name}: output ${spec.outputName} has ${data.length} values for ${rows} rows; column ${spec.outputColumn} is not there`);
  }
  const ctr = new Float32Array(rows);
  const logit = spec.outputKind === 'logit';
  for (let r = 0; r < rows; r++) {
    const v = Number(data[r * cols + spec.outputColumn]);
    ctr[r] = logit ? 1 / (1 + Math.exp(-v)) : v;
  }
  return ctr;
}

/** Runs every part of a task; the reply's buffers are listed in `transfer`. */
async function infer(task: InferenceTask, transfer: ArrayBuffer[]): Promise<InferenceReply> {
  const parts: ReplyPart[] = [];
  for (let i = 0; i < task.parts.length; i++) {
    const part = task.parts[i];
    const spec = specs[part.model];
    const started = performance.timeOrigin + performance.now();
    const used = part.rows * spec.width;
    let ctr: Float32Array;
    let error: string | null = null;
    try {
      if (init.injectInferenceDelayMs > 0) blockFor(init.injectInferenceDelayMs);
      const out = await runModel(part.model, part.features.subarray(0, used), part.rows);
      ctr = readCtr(spec, out[spec.outputName].data, part.rows);
    } catch (err) {
      // One model's failure must not fail the other models' rows in this task.
      error = (err as Error).message || String(err);
      ctr = new Float32Array(0);
    }
    const finished = performance.timeOrigin + performance.now();
    if (task.warmUp === true) {
      // not traffic: keep it out of the statistics
    } else if (error === null) recorder.recordBatch(part.model, part.rows, (started - part.oldestEnqueuedAt) * 1000, (finished - started) * 1000, ctr);
    else recorder.recordFailure(part.model, part.rows);
    part.features.fill(0, 0, used);
    parts.push({ model: part.model, ctr, features: part.features, startedAt: started, inferenceMs: finished - started, error });
    transfer.push(ctr.buffer as ArrayBuffer, part.features.buffer as ArrayBuffer);
  }
  return { parts };
}

// The batch channel: a MessagePort of this worker's own, handed to the main
// thread through Piscina's event messages. Batches travel over it directly,
// not as Piscina tasks: Piscina's per-task bookkeeping (an AsyncResource, a
// promise and their destroy hooks per task) survives young-generation GCs on
// the main thread and made scavenges 1–2.5 ms long, which was the whole p99
// tail at low load (see README, "Design"). Piscina still owns the workers'
// life: start, replacement after a crash, shutdown.
const channel = new MessageChannel();
channel.port1.on('message', (task: InferenceTask) => {
  const transfer: ArrayBuffer[] = [];
  infer(task, transfer).then(
    (reply) => channel.port1.postMessage(reply, transfer),
    (err: unknown) => channel.port1.postMessage({ parts: [], failure: String((err as Error)?.stack ?? err) }),
  );
});
parentPort!.postMessage({ [ATTACH]: channel.port2, threadId } satisfies AttachMessage, [channel.port2]);

/** Piscina's protocol for a result whose buffers move instead of being copied. */
class MovableReply {
  constructor(private readonly reply: InferenceReply, private readonly transfer: ArrayBuffer[]) {}
  get [Piscina.transferableSymbol](): ArrayBuffer[] { return this.transfer; }
  get [Piscina.valueSymbol](): InferenceReply { return this.reply; }
}

/** The Piscina task entry: the same inference, for callers that go through Piscina's queue. */
export default async function runInference(task: InferenceTask): Promise<unknown> {
  const transfer: ArrayBuffer[] = [];
  const reply = await infer(task, transfer);
  return Piscina.move(new MovableReply(reply, transfer) as never);
}
