// The message shapes between the batcher (main thread) and the inference
// worker. Times are absolute milliseconds (performance.timeOrigin + now()),
// comparable across threads.

/** One model's batch inside a task; `features` is transferred, rows × width used. */
export interface TaskPart {
  model: number;
  rows: number;
  features: Float32Array;
  /** When the batch's oldest row was enqueued: queue wait runs from here to inference start. */
  oldestEnqueuedAt: number;
}

export interface InferenceTask {
  parts: TaskPart[];
  /** Warm-up tasks run the models but stay out of the statistics. */
  warmUp?: boolean;
}

export interface ReplyPart {
  model: number;
  /** One CTR per row; empty when `error` is set. */
  ctr: Float32Array;
  /** The input buffer, zeroed, handed back for reuse. */
  features: Float32Array;
  startedAt: number;
  inferenceMs: number;
  error: string | null;
}

export interface InferenceReply {
  parts: ReplyPart[];
  /** Set when the task failed as a whole (its buffers did not come back). */
  failure?: string;
}

/** Key of the message a worker sends once its sessions are open, carrying its batch port. */
export const ATTACH = 'ctrEngineAttach';
export interface AttachMessage {
  [ATTACH]: import('node:worker_threads').MessagePort;
  threadId: number;
}
