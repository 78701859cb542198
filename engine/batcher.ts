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
// Under saturation the FIFO fills with small closed batches (each closed by
// age while it waited for a worker). Dispatch therefore gathers: it takes the
// model's oldest batch and tops it up with the rows of the batches behind it
// (closed ones, then the open one), in arrival order, up to batchMaxSize, so
// batches grow toward the maximum exactly when the pool is the bottleneck.
// Gathering also drops rows whose owner has answered and answers 504 to rows
// whose deadline passed while they waited, so no worker time goes to them.
//
// Deadlines: a row is answered 504 deadline_exceeded, never a late 200, when
// its deadline passes while it waits (the sweep, or gathering at dispatch) or
// while its batch is in a worker (checked again when the reply arrives, since
// the sweep runs only every few ms).
//
// Dispatch hands the pool the batches, which copies their rows into a worker's
// shared task slot (engine/batch_slots.ts): the batch keeps its buffer, zeroed
// right after the copy for its next use, and the CTRs are read out of the
// slot when the reply comes. No ArrayBuffer is transferred or allocated per
// batch, and tasks are reused: dispatch allocates nothing.
import type { ErrorCode } from './error_codes.js';
import type { PredictFields } from './feature_encoder.js';
import type { FeatureWatch } from './features/feature_watch.js';
import type { ReplySink, WorkerLinks } from './worker_links.js';
import type { InferenceReply } from './inference_task.js';
import type { LoadedModel, ModelRegistry } from './model_registry.js';
import type { InlineInference } from './inline_inference.js';

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
  /**
   * batchMaxSize × width; rows past `rows` are always zero (the encoder writes sparse rows into zeroed memory).
   * `model` is the generation the rows were encoded for (a spare batch takes the current one when reused).
   */
  constructor(public model: LoadedModel, readonly features: Float32Array, capacity: number) {
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
  /** The current generation: new rows are encoded for it (switchModel changes it). */
  constructor(public model: LoadedModel) {}
}

/** One task in a worker: its first `parts` batches (one per model at most). Reused across tasks. */
export class InFlightTask {
  parts = 0;
  readonly batches: Batch[];
  constructor(models: number) {
    this.batches = new Array<Batch>(models);
  }
}


export class Batcher implements ReplySink<InFlightTask> {
  private readonly queues: ModelQueue[];
  private readonly inFlight = new Set<InFlightTask>();
  private readonly spareTasks: InFlightTask[] = [];
  private flushScheduled = false;
  private nextModel = 0;
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;
  // Built once: the 504 says which limit was hit and how to change it.
  private readonly lateWaiting: string;
  private readonly lateRunning: string;
  /** Per-field counts (one row in `sample`); null when feature watching is off. */
  featureWatch: FeatureWatch | null = null;
  /** Small batches of cheap models run on this thread (engine/inline_inference.ts); null = every batch goes to a worker. */
  inline: InlineInference<InFlightTask> | null = null;

  constructor(
    registry: ModelRegistry,
    /** The inference pool's links (main thread) or an acceptor thread's own (engine/acceptors/). */
    private readonly pool: WorkerLinks<InFlightTask>,
    private readonly opts: BatcherOptions,
  ) {
    this.queues = registry.models.map((m) => new ModelQueue(m));
    const limit = `the request deadline (${opts.requestDeadlineMs} ms, REQUEST_DEADLINE_MS)`;
    this.lateWaiting = `${limit} passed while it waited for a worker`;
    this.lateRunning = `${limit} passed before inference finished`;
    pool.setSink(this);
    // A sweep rather than a timer per request: cheap, and it reaches rows
    // stuck in a queue or in a worker that never answers.
    const every = Math.min(100, Math.max(1, opts.requestDeadlineMs / 4));
    this.sweepTimer = setInterval(() => this.sweepDeadlines(), every);
    this.sweepTimer.unref();
  }

  /** Rows queued or in a worker, summed (a drain waits for 0; not for the hot path). */
  pendingWork(): number {
    let n = this.inFlight.size;
    for (const q of this.queues) n += q.waitingRows;
    return n;
  }

  /** False when `rows` more rows would overflow the model's queue bound (→ 503). */
  hasRoom(model: LoadedModel, rows: number): boolean {
    return this.queues[model.index].waitingRows + rows <= this.opts.queueBound;
  }

  /**
   * Encodes one row into the model's open batch. The caller has checked
   * hasRoom and checked the fields against model.schema, so this cannot fail.
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
    if (spare !== undefined) {
      // A batch of an earlier generation, recycled: same width (a reload keeps it), so its buffer serves.
      spare.model = q.model;
      return spare;
    }
    const cap = this.opts.batchMaxSize;
    return new Batch(q.model, new Float32Array(cap * q.model.width), cap);
  }

  /** Back to the spare list; its features must be zero again by now. */
  private recycle(b: Batch): void {
    b.owners.fill(undefined as unknown as RowOwner, 0, b.rows);
    b.rows = 0;
    this.queues[b.model.index].spare.push(b);
  }

  /** The model's oldest waiting batch (a closed one, else the open one), taken off the queue. */
  private shiftBatch(q: ModelQueue): Batch | null {
    if (q.ready.length > 0) return q.ready.shift()!;
    const b = q.open;
    if (b === null || b.rows === 0) return null;
    q.open = null;
    return b;
  }

  /**
   * The batch to send for a model: its oldest batch, compacted to its live
   * rows and topped up from the batches behind it up to batchMaxSize; null
   * when no live row waits. Rows past their deadline are answered 504 here.
   */
  private gather(q: ModelQueue, now: number): Batch | null {
    let head: Batch | null = null;
    while (head === null) {
      const b = this.shiftBatch(q);
      if (b === null) return null;
      q.waitingRows -= b.rows;
      this.compact(b, now);
      if (b.rows > 0) head = b;
      else this.recycle(b);
    }
    const max = this.opts.batchMaxSize;
    const width = q.model.width;
    while (head.rows < max) {
      const src = q.ready.length > 0 ? q.ready[0] : q.open;
      // Rows encoded for another generation of the model go in a task of their own.
      if (src === null || src.rows === 0 || src.model !== head.model) break;
      // Move src's live rows, in order, until head is full.
      let r = 0;
      for (; r < src.rows && head.rows < max; r++) {
        const o = src.owners[r];
        if (!o.done && now > o.deadline) o.fail('deadline_exceeded', this.lateWaiting);
        if (o.done) continue;
        copyRow(src.features, r, head.features, head.rows, width);
        head.owners[head.rows] = o;
        head.slots[head.rows] = src.slots[r];
        head.rows++;
      }
      q.waitingRows -= r;
      if (r === src.rows) {
        // Emptied: off the queue and back to the spares.
        if (q.ready.length > 0) q.ready.shift();
        else q.open = null;
        src.features.fill(0, 0, src.rows * width);
        this.recycle(src);
      } else {
        // head is full; src keeps its remaining rows, moved to the front.
        const left = src.rows - r;
        src.features.copyWithin(0, r * width, src.rows * width);
        src.features.fill(0, left * width, src.rows * width);
        src.owners.copyWithin(0, r, src.rows);
        src.owners.fill(undefined as unknown as RowOwner, left, src.rows);
        src.slots.copyWithin(0, r, src.rows);
        src.rows = left;
      }
    }
    return head;
  }

  /** Drops rows whose owner has answered, answering 504 to the expired ones first; keeps the rest in order. */
  private compact(b: Batch, now: number): void {
    const width = b.model.width;
    let out = 0;
    for (let r = 0; r < b.rows; r++) {
      const o = b.owners[r];
      if (!o.done && now > o.deadline) o.fail('deadline_exceeded', this.lateWaiting);
      if (o.done) continue;
      if (out !== r) {
        b.features.copyWithin(out * width, r * width, (r + 1) * width);
        b.owners[out] = o;
        b.slots[out] = b.slots[r];
      }
      out++;
    }
    if (out === b.rows) return;
    b.features.fill(0, out * width, b.rows * width);
    b.owners.fill(undefined as unknown as RowOwner, out, b.rows);
    b.rows = out;
  }

  private dispatch(): void {
    if (this.closed) return;
    if (this.inline !== null && !this.inline.running) this.dispatchInline(this.inline);
    const queues = this.queues;
    while (this.pool.hasCapacity()) {
      const now = performance.now();
      const task = this.spareTasks.pop() ?? new InFlightTask(queues.length);
      let parts = 0;
      for (let k = 0; k < queues.length; k++) {
        const b = this.gather(queues[(this.nextModel + k) % queues.length], now);
        if (b !== null) task.batches[parts++] = b;
      }
      if (parts === 0) {
        this.spareTasks.push(task);
        return;
      }
      task.parts = parts;
      this.nextModel = (this.nextModel + 1) % queues.length;
      this.inFlight.add(task);
      this.pool.send(task.batches, task, parts);
      // The pool copied the rows out; zero them now, while they are in cache,
      // so the batch comes back from the worker ready to encode into.
      for (let i = 0; i < parts; i++) task.batches[i].features.fill(0, 0, task.batches[i].rows * task.batches[i].model.width);
    }
  }

  /**
   * One task on this thread: every model whose waiting rows are all in its
   * open batch and few enough to run within the inline budget. A model with
   * closed batches waiting is under load: its rows go to the workers, in order.
   */
  private dispatchInline(inline: InlineInference<InFlightTask>): void {
    const queues = this.queues;
    let task: InFlightTask | null = null;
    let parts = 0;
    const now = performance.now();
    for (let k = 0; k < queues.length; k++) {
      const q = queues[k];
      const open = q.open;
      if (open === null || q.ready.length > 0 || open.rows === 0 || open.rows > inline.maxRows(open.model)) continue;
      const b = this.gather(q, now);
      if (b === null) continue;
      task ??= this.spareTasks.pop() ?? new InFlightTask(queues.length);
      task.batches[parts++] = b;
    }
    // A task is taken only with its first batch: none, nothing to run.
    if (task === null) return;
    task.parts = parts;
    this.inFlight.add(task);
    inline.run(task.batches, parts, task, this.inlineSink);
  }

  /** An inline task's reply: as a worker's, but the batches' rows are zeroed here (no slot copied them out). */
  private readonly inlineSink = {
    onReply: (task: InFlightTask, reply: InferenceReply, ctrByModel: readonly Float32Array[]): void => {
      for (let i = 0; i < task.parts; i++) task.batches[i].features.fill(0, 0, task.batches[i].rows * task.batches[i].model.width);
      this.onReply(task, reply, ctrByModel);
    },
    onCapacity: (): void => this.dispatch(),
  };

  /**
   * Hot reload: rows enqueued from now on are encoded for `model` (the new
   * generation of a model slot, same index and width). The open batch, encoded
   * for the old generation, is closed: it and the batches already waiting or
   * in a worker still run on the old session, which the workers keep open.
   */
  switchModel(model: LoadedModel): void {
    const q = this.queues[model.index];
    if (q.open !== null) {
      if (q.open.rows > 0) q.ready.push(q.open);
      else q.spare.push(q.open);
      q.open = null;
    }
    q.model = model;
    // The inline session of the new generation opens meanwhile; until then the model's batches go to the workers.
    if (this.inline !== null) void this.inline.openModel(model);
  }

  onCapacity(): void {
    this.dispatch();
  }

  /** `ctrByModel` is the pool's view of the worker's slot: read here, synchronously, never kept. */
  onReply(task: InFlightTask, reply: InferenceReply, ctrByModel: readonly Float32Array[]): void {
    this.inFlight.delete(task);
    const now = performance.now();
    for (let i = 0; i < task.parts; i++) {
      const b = task.batches[i];
      const part = reply.parts[i];
      if (part.error !== null) {
        this.failRows(b, 'inference_failed', `model ${b.model.name} failed: ${part.error}`);
      } else {
        const model = b.model;
        const ctr = ctrByModel[model.index];
        for (let r = 0; r < b.rows; r++) {
          const o = b.owners[r];
          if (o.done) continue;
          // Past its deadline by the time the worker answered: 504, not a late 200.
          if (now > o.deadline) o.fail('deadline_exceeded', this.lateRunning);
          else o.deliver(b.slots[r], ctr[r], model);
        }
      }
      this.recycle(b);
    }
    this.releaseTask(task);
    // No dispatch here: the pool frees the slot after this returns, then calls onCapacity.
  }

  /** The task failed as a whole (worker crashed or pool closed); the batches' buffers were zeroed at dispatch. */
  onLost(task: InFlightTask, why: string): void {
    this.inFlight.delete(task);
    for (let i = 0; i < task.parts; i++) {
      const b = task.batches[i];
      this.failRows(b, 'inference_failed', `inference worker failed: ${why}`);
      this.recycle(b);
    }
    this.releaseTask(task);
    this.dispatch();
  }

  private releaseTask(task: InFlightTask): void {
    task.batches.fill(undefined as unknown as Batch, 0, task.parts);
    task.parts = 0;
    this.spareTasks.push(task);
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
      o.fail('deadline_exceeded', this.lateRunning);
    }
  }

  private sweepDeadlines(): void {
    const now = performance.now();
    for (const q of this.queues) {
      if (q.open !== null) this.expire(q.open, now);
      for (const b of q.ready) this.expire(b, now);
    }
    for (const t of this.inFlight) for (let i = 0; i < t.parts; i++) this.expire(t.batches[i], now);
  }

  /**
   * Stops dispatching, answers queued rows 503, and resolves once the batches
   * already in the workers have been answered (or `graceMs` passed).
   */
  async close(graceMs = 2000): Promise<void> {
    this.closed = true;
    this.inline?.close();
    for (const q of this.queues) {
      if (q.open !== null) this.failRows(q.open, 'overloaded', 'the server is shutting down');
      for (const b of q.ready) this.failRows(b, 'overloaded', 'the server is shutting down');
    }
    const until = performance.now() + graceMs;
    while (this.inFlight.size > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
    clearInterval(this.sweepTimer);
  }
}

/** Copies row `from` of `src` to row `to` of `dst` (both width floats per row); no subarray views. */
function copyRow(src: Float32Array, from: number, dst: Float32Array, to: number, width: number): void {
  const s = from * width, d = to * width;
  for (let j = 0; j < width; j++) dst[d + j] = src[s + j];
}
