// Per-model batching and dispatch to the inference pool.
//
// Requests are encoded straight into the open batch of their model (a
// Float32Array of batchMaxSize rows, the batch's own for its whole life). At
// the end of the event-loop turn (setImmediate, so every request read in one
// poll joins one batch) the scheduler sends work if a worker slot is free: one
// task carries at most one batch per model, so an A/B split costs one thread
// hop, not two. While every worker is busy, rows keep accumulating; a batch
// closes when it reaches batchMaxSize rows or when it is batchMaxDelayMs old
// and another row arrives, and closed batches wait in a FIFO. Each completed
// task dispatches the next one at once. Rows waiting per model are bounded (queueBound → 503), and
// every row carries a deadline that a sweep enforces wherever the row is.
//
// Dispatch hands the pool the batches, which copies their rows into a worker's
// shared task slot (engine/batch_slots.ts): the batch keeps its buffer, zeroed
// right after the copy for its next use, and the CTRs are read out of the
// slot when the reply comes. No ArrayBuffer is transferred or allocated per
// batch.
import type { ErrorCode } from './error_codes.js';
import type { PredictFields } from './feature_encoder.js';
import type { FeatureWatch } from './features/feature_watch.js';
import type { InferencePool, ReplySink } from './inference_pool.js';
import type { InferenceReply } from './inference_task.js';
import type { LoadedModel, ModelRegistry } from './model_registry.js';

/** Whoever waits for rows: a single request (one row) or a batch request (many). */
export interface RowOwner {
  /** Main-thread performance.now() after which the owner's rows are answered 504. */
  readonly deadline: number;
  /** True once the owner has answered (or its client went away): its rows are dead weight. */
  readonly done: boolean;
  deliver(slot: number, ctr: number, model: LoadedModel): void;
  fail(code: ErrorCode, message: string): void;
}

export interface BatcherOptions {
  batchMaxSize: number;
  batchMaxDelayMs: number;
  queueBound: number;
  requestDeadlineMs: number;
}

const absNow = () => performance.timeOrigin + performance.now();

class Batch {
  rows = 0;
  createdAt = 0;
  oldestEnqueuedAt = 0;
  readonly owners: RowOwner[];
  readonly slots: Int32Array;
  /** batchMaxSize × width; rows past `rows` are always zero (the encoder writes sparse rows into zeroed memory). */
  constructor(readonly model: LoadedModel, readonly features: Float32Array, capacity: number) {
    this.owners = new Array<RowOwner>(capacity);
    this.slots = new Int32Array(capacity);
  }
}

class ModelQueue {
  open: Batch | null = null;
  readonly ready: Batch[] = [];
  /** Rows enqueued and not yet dispatched. */
  waitingRows = 0;
  readonly spare: Batch[] = [];
  constructor(readonly model: LoadedModel) {}
}

export interface InFlightTask {
  batches: Batch[];
}

export class Batcher implements ReplySink<InFlightTask> {
  private readonly queues: ModelQueue[];
  private readonly inFlight = new Set<InFlightTask>();
  private flushScheduled = false;
  private nextModel = 0;
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;
  /** Per-field counts (one row in `sample`); null when feature watching is off. */
  featureWatch: FeatureWatch | null = null;

  constructor(
    registry: ModelRegistry,
    private readonly pool: InferencePool<InFlightTask>,
    private readonly opts: BatcherOptions,
  ) {
    this.queues = registry.models.map((m) => new ModelQueue(m));
    pool.setSink(this);
    // A sweep rather than a timer per request: cheap, and it reaches rows
    // stuck in a queue or in a worker that never answers.
    const every = Math.min(100, Math.max(1, opts.requestDeadlineMs / 4));
    this.sweepTimer = setInterval(() => this.sweepDeadlines(), every);
    this.sweepTimer.unref();
  }

  /** False when `rows` more rows would overflow the model's queue bound (→ 503). */
  hasRoom(model: LoadedModel, rows: number): boolean {
    return this.queues[model.index].waitingRows + rows <= this.opts.queueBound;
  }

  /**
   * Encodes one row into the model's open batch. The caller has checked
   * hasRoom and validated the fields (encoder.checkContext), so this cannot fail.
   */
  enqueue(model: LoadedModel, fields: PredictFields, owner: RowOwner, slot: number, now: number): void {
    const q = this.queues[model.index];
    let b = q.open;
    if (b !== null && this.opts.batchMaxDelayMs > 0 && now - b.createdAt >= this.opts.batchMaxDelayMs) {
      q.ready.push(b);
      b = q.open = null;
    }
    if (b === null) {
      b = q.open = this.takeBatch(q);
      b.createdAt = now;
      b.oldestEnqueuedAt = absNow();
    }
    model.encoder.encodeInto(fields, b.features, b.rows);
    if (this.featureWatch !== null) this.featureWatch.observe(model.index, fields);
    b.owners[b.rows] = owner;
    b.slots[b.rows] = slot;
    b.rows++;
    q.waitingRows++;
    if (b.rows === this.opts.batchMaxSize) {
      q.ready.push(b);
      q.open = null;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    this.dispatch();
  };

  private takeBatch(q: ModelQueue): Batch {
    const spare = q.spare.pop();
    if (spare !== undefined) return spare;
    const cap = this.opts.batchMaxSize;
    return new Batch(q.model, new Float32Array(cap * q.model.width), cap);
  }

  /** Back to the spare list; its features must be zero again by now. */
  private recycle(b: Batch): void {
    b.owners.fill(undefined as unknown as RowOwner, 0, b.rows);
    b.rows = 0;
    this.queues[b.model.index].spare.push(b);
  }

  /** Oldest ready batch of a model, else its open batch (closed now). */
  private nextBatchOf(q: ModelQueue): Batch | null {
    if (q.ready.length > 0) return q.ready.shift()!;
    const b = q.open;
    if (b === null || b.rows === 0) return null;
    q.open = null;
    return b;
  }

  private dispatch(): void {
    if (this.closed) return;
    const queues = this.queues;
    while (this.pool.hasCapacity()) {
      const batches: Batch[] = [];
      for (let k = 0; k < queues.length; k++) {
        const q = queues[(this.nextModel + k) % queues.length];
        const b = this.nextBatchOf(q);
        if (b === null) continue;
        q.waitingRows -= b.rows;
        if (!this.hasLiveRows(b)) {
          b.features.fill(0, 0, b.rows * b.model.width);
          this.recycle(b);
          k--; // the same model may have another batch waiting
          continue;
        }
        batches.push(b);
      }
      if (batches.length === 0) return;
      this.nextModel = (this.nextModel + 1) % queues.length;
      const task: InFlightTask = { batches };
      this.inFlight.add(task);
      this.pool.send(batches, task);
      // The pool copied the rows out; zero them now, while they are in cache,
      // so the batch comes back from the worker ready to encode into.
      for (let i = 0; i < batches.length; i++) batches[i].features.fill(0, 0, batches[i].rows * batches[i].model.width);
    }
  }

  /** Fails expired rows; true if any row still wants an answer. */
  private hasLiveRows(b: Batch): boolean {
    const now = performance.now();
    let live = false;
    for (let r = 0; r < b.rows; r++) {
      const o = b.owners[r];
      if (o.done) continue;
      if (now > o.deadline) {
        o.fail('deadline_exceeded', 'the request deadline passed while it waited for a worker');
      } else live = true;
    }
    return live;
  }

  onCapacity(): void {
    this.dispatch();
  }

  /** `ctrByModel` is the pool's view of the worker's slot: read here, synchronously, never kept. */
  onReply(task: InFlightTask, reply: InferenceReply, ctrByModel: readonly Float32Array[]): void {
    this.inFlight.delete(task);
    for (let i = 0; i < task.batches.length; i++) {
      const b = task.batches[i];
      const part = reply.parts[i];
      if (part.error !== null) {
        this.failRows(b, 'inference_failed', `model ${b.model.name} failed: ${part.error}`);
      } else {
        const model = b.model;
        const ctr = ctrByModel[model.index];
        for (let r = 0; r < b.rows; r++) {
          const o = b.owners[r];
          if (!o.done) o.deliver(b.slots[r], ctr[r], model);
        }
      }
      this.recycle(b);
    }
    // No dispatch here: the pool frees the slot after this returns, then calls onCapacity.
  }

  /** The task failed as a whole (worker crashed or pool closed); the batches' buffers were zeroed at dispatch. */
  onLost(task: InFlightTask, why: string): void {
    this.inFlight.delete(task);
    for (const b of task.batches) {
      this.failRows(b, 'inference_failed', `inference worker failed: ${why}`);
      this.recycle(b);
    }
    this.dispatch();
  }

  private failRows(b: Batch, code: ErrorCode, message: string): void {
    for (let r = 0; r < b.rows; r++) {
      const o = b.owners[r];
      if (!o.done) o.fail(code, message);
    }
  }

  private expire(b: Batch, now: number): void {
    for (let r = 0; r < b.rows; r++) {
      const o = b.owners[r];
      // Rows arrive in order with one deadline length: the first live one
      // that has time left means the rest have too.
      if (o.done) continue;
      if (now <= o.deadline) return;
      o.fail('deadline_exceeded', 'the request deadline passed before inference finished');
    }
  }

  private sweepDeadlines(): void {
    const now = performance.now();
    for (const q of this.queues) {
      if (q.open !== null) this.expire(q.open, now);
      for (const b of q.ready) this.expire(b, now);
    }
    for (const t of this.inFlight) for (const b of t.batches) this.expire(b, now);
  }

  /**
   * Stops dispatching, answers queued rows 503, and resolves once the batches
   * already in the workers have been answered (or `graceMs` passed).
   */
  async close(graceMs = 2000): Promise<void> {
    this.closed = true;
    for (const q of this.queues) {
      if (q.open !== null) this.failRows(q.open, 'overloaded', 'the server is shutting down');
      for (const b of q.ready) this.failRows(b, 'overloaded', 'the server is shutting down');
    }
    const until = performance.now() + graceMs;
    while (this.inFlight.size > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
    clearInterval(this.sweepTimer);
  }
}
