// The message shapes between the pool (main thread) and an inference worker.
// Batches travel through the link's shared task slots (engine/batch_slots.ts):
// the port carries the slots once (SlotsSetup, the first message), then a
// task is the number of the slot whose header and input regions hold it, and
// a reply is that number again when every part succeeded. Only a reply with
// an error is an object. Times are absolute milliseconds
// (performance.timeOrigin + now()), comparable across threads.
import type { SlotsSpec } from './batch_slots.js';
import type { WorkerModelSpec } from './model_registry.js';

/**
 * The first message on a link's port: the shared slots every later task
 * refers to, and the models' current specs (a replacement worker started from
 * the pool's first workerData opens any model reloaded since, before its
 * warm-up).
 */
export interface SlotsSetup {
  slots: SlotsSpec;
  models: WorkerModelSpec[];
}

/**
 * Hot reload (engine/model_reload.ts): open `spec` (a new generation of its
 * model) beside the session of generation `keep`, which batches already
 * encoded still name; older sessions are dropped. The worker runs one row
 * through it (its warm-up) before it answers with an OpenReply.
 */
export interface OpenModel {
  open: WorkerModelSpec;
  keep: number;
  id: number;
}
export interface OpenReply {
  opened: number;
  /** Why the worker could not open or warm up the new session; null when it can serve it. */
  error: string | null;
}

/** A task on the wire: its slot's number (the header says which models, how many rows, and when). */
export type TaskMessage = number;

/** How one part went; its CTRs (when `error` is null) are in the slot's output region for the part's model. */
export interface ReplyPart {
  error: string | null;
}

export interface InferenceReply {
  /** The task's slot, echoed: the pool finds the task by it. */
  slot: number;
  /** In the task's part order. */
  parts: readonly ReplyPart[];
  /** Set when the task failed as a whole (its outputs are not there). */
  failure?: string;
}

/** A reply on the wire: the slot's number when every part succeeded, else the whole reply. */
export type ReplyMessage = number | InferenceReply | OpenReply;

const OK_PART: ReplyPart = Object.freeze({ error: null });
const okReplies: InferenceReply[] = [];
/** The all-succeeded reply for a task of `parts` parts (shared and frozen: read, never kept or changed). */
export function okReply(parts: number): InferenceReply {
  return (okReplies[parts] ??= Object.freeze({ slot: -1, parts: Object.freeze(new Array<ReplyPart>(parts).fill(OK_PART)) }));
}

/**
 * The Piscina task entry's shapes (inference_worker.ts's default export), for
 * callers that go through Piscina's queue instead of a link: plain buffers,
 * copied or transferred, no slots. The server does not use it.
 */
export interface DirectTask {
  parts: { model: number; rows: number; features: Float32Array; oldestEnqueuedAt: number }[];
}
export interface DirectReply {
  parts: (ReplyPart & { model: number; ctr: Float32Array; startedAt: number; inferenceMs: number })[];
}

/**
 * On a worker's main link (ACCEPTORS > 1): one more link, to an acceptor
 * thread. The worker serves `addLink` like its first port: the acceptor posts
 * the link's slots as the port's first message, then tasks, and the worker
 * replies on that port, so the answer goes straight back to the acceptor.
 */
export interface AddLink {
  addLink: import('node:worker_threads').MessagePort;
}

/** Key of the message a worker sends once its sessions are open, carrying its batch port. */
export const ATTACH = 'ctrEngineAttach';
export interface AttachMessage {
  [ATTACH]: import('node:worker_threads').MessagePort;
  threadId: number;
}
