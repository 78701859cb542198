// The message shapes between the pool (main thread) and an inference worker.
// Batches travel through the link's shared task slots (engine/batch_slots.ts):
// the port carries the slots once (SlotsSetup, the first message), then only
// small numbers per task and reply, never an ArrayBuffer. Times are absolute
// milliseconds (performance.timeOrigin + now()), comparable across threads.
import type { SlotsSpec } from './batch_slots.js';

/** The first message on a link's port: the shared slots every later task refers to. */
export interface SlotsSetup {
  slots: SlotsSpec;
}

/** One model's batch inside a task: its rows × width floats are in the task slot's input region for `model`. */
export interface TaskPart {
  model: number;
  rows: number;
  /** When the batch's oldest row was enqueued: queue wait runs from here to inference start. */
  oldestEnqueuedAt: number;
}

export interface InferenceTask {
  /** The task slot holding the inputs; the worker writes the CTRs into its output regions. */
  slot: number;
  parts: TaskPart[];
  /** Warm-up tasks run the models but stay out of the statistics. */
  warmUp?: boolean;
}

/** How one part went; its CTRs (when `error` is null) are in the slot's output region for the part's model. */
export interface ReplyPart {
  startedAt: number;
  inferenceMs: number;
  error: string | null;
}

export interface InferenceReply {
  /** The task's slot, echoed: the pool finds the task by it. */
  slot: number;
  /** In the task's part order. */
  parts: ReplyPart[];
  /** Set when the task failed as a whole (its outputs are not there). */
  failure?: string;
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
  parts: (ReplyPart & { model: number; ctr: Float32Array })[];
}

/** Key of the message a worker sends once its sessions are open, carrying its batch port. */
export const ATTACH = 'ctrEngineAttach';
export interface AttachMessage {
  [ATTACH]: import('node:worker_threads').MessagePort;
  threadId: number;
}
