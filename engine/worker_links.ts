// One thread's links to the inference workers: per worker a MessagePort and
// the link's own shared task slots (engine/batch_slots.ts). The main thread's
// links come from the pool (engine/inference_pool.ts, which owns the
// workers' life); with ACCEPTORS > 1 every acceptor thread has links of its
// own to every worker (engine/acceptors/), so a batch goes from the thread
// that read its requests straight to a worker, and the reply comes back to
// that thread, with no extra hop.
//
// Per batch, `send` copies the rows into a free slot of the least-busy link,
// writes the task's header into the slot, and posts the slot's number; the
// reply is the same number (or, when something failed, an object naming the
// slot), and the slot's output regions hold the CTRs. No ArrayBuffer and no
// object crosses threads per batch on the happy path: each transferred
// buffer used to cost main-thread scavenges time sweeping array buffers, and
// each cloned object key lookups on both sides.
import type { MessagePort } from 'node:worker_threads';
import { BatchSlots, CTL_PARTS, CTL_PART_BASE, CTL_WARM_UP, PART_FIELDS, PART_MODEL, PART_GENERATION, PART_OLDEST_ENQUEUED_AT, PART_ROWS } from './batch_slots.js';
import { okReply, type InferenceReply, type OpenModel, type OpenReply, type ReplyMessage, type SlotsSetup, type TaskMessage } from './inference_task.js';
import type { ModelRegistry, WorkerModelSpec } from './model_registry.js';

export interface WorkerLinksOptions {
  tasksPerWorker: number;
  /** Rows one batch holds at most: sizes the task slots. */
  batchMaxSize: number;
}

/** One model batch to send: its first rows × model.width floats of `features` are copied into a slot. */
export interface OutgoingBatch {
  readonly model: { readonly index: number; readonly width: number; readonly generation: number };
  readonly rows: number;
  readonly features: Float32Array;
  readonly oldestEnqueuedAt: number;
}

/** Who receives replies: the batcher. Tokens are opaque to the pool. */
export interface ReplySink<T> {
  /**
   * The task's reply. `ctrByModel[model.index]` holds the CTRs of that model's
   * batch, one per row, in the link's shared slot: read them before returning,
   * the slot is reused once onReply returns. The pool calls onCapacity right
   * after, once the slot is free.
   */
  onReply(token: T, reply: InferenceReply, ctrByModel: readonly Float32Array[]): void;
  /** The task is lost (its worker died, or the task failed as a whole, or the pool closed). */
  onLost(token: T, reason: string): void;
  /** A task slot became free (a reply was handled, or a worker attached). */
  onCapacity(): void;
}

interface Link<T> {
  threadId: number;
  port: MessagePort;
  /** This link's task slots: shared with its worker, never with another. */
  slots: BatchSlots;
  /** The task in each slot, null when the slot is free. A reply names its slot, so order does not matter. */
  tokens: (T | WarmUp | null)[];
  /** The free slots' indices. */
  free: number[];
  /** Settles once the worker ran every model once (set at attach; null for a link attached without a warm-up). */
  warm: Promise<Map<number, string>> | null;
  /** Hot reload: OpenModel requests awaiting this worker's answer, by id (resolved null if the worker goes away). */
  opens: Map<number, (reply: OpenReply | null) => void>;
}

class WarmUp {
  constructor(readonly done: (reply: InferenceReply | null, reason?: string) => void) {}
}

export class WorkerLinks<T = unknown> {
  private readonly links: Link<T>[] = [];
  private sink: ReplySink<T> | null = null;
  private readonly tasksPerWorker: number;
  private readonly batchMaxSize: number;
  private readonly widths: number[];
  private next = 0;
  private nextOpenId = 1;
  protected closed = false;
  /** Called whenever a worker attaches or goes away (for health's workers check). */
  onWorkersChanged: () => void = () => {};
  /** Called with the threadId of a worker that went away (its telemetry shard can be handed on). */
  onWorkerLost: (threadId: number) => void = () => {};

  constructor(protected readonly registry: ModelRegistry, opts: WorkerLinksOptions) {
    this.tasksPerWorker = opts.tasksPerWorker;
    this.batchMaxSize = opts.batchMaxSize;
    this.widths = registry.models.map((m) => m.width);
  }

  setSink(sink: ReplySink<T>): void {
    this.sink = sink;
  }

  /**
   * A worker's port becomes a link: fresh slots, posted as the port's first
   * message. `warmUp`: run one row of every model through it before the
   * batcher may use it (the pool's own links; an acceptor's link joins a
   * worker that is warm already).
   */
  attachPort(port: MessagePort, threadId: number, warmUp: boolean): void {
    if (this.closed) {
      port.close();
      return;
    }
    // Fresh slots per link: a replacement never shares memory a dead worker may have been writing.
    const slots = BatchSlots.create(this.tasksPerWorker, this.batchMaxSize, this.widths);
    const link: Link<T> = {
      threadId, port, slots,
      tokens: new Array<T | WarmUp | null>(this.tasksPerWorker).fill(null),
      free: Array.from({ length: this.tasksPerWorker }, (_, i) => this.tasksPerWorker - 1 - i),
      warm: null,
      opens: new Map(),
    };
    port.on('message', (reply: ReplyMessage) => this.receive(link, reply));
    // The port closes when its worker exits, however it exits: the one signal
    // that still knows which thread it was (Piscina's workerDestroy reports a
    // threadId of -1 by then).
    port.on('close', () => this.detach(link, 'the inference worker exited'));
    // Workers must not keep the process alive on their own; the pool decides when they end.
    port.unref();
    // The worker's first message (a port is FIFO, so it has the slots before any task).
    port.postMessage({ slots: slots.spec, models: this.registry.workerSpecs() } satisfies SlotsSetup);
    if (warmUp) {
      // Warmed up before the link is offered to the batcher, so the warm-up
      // always finds a free slot even when requests arrive before readiness.
      link.warm = this.warmUpLink(link);
      link.warm.catch(() => {}); // a replacement's warm-up has no waiter; a failure shows in its batches
    }
    this.links.push(link);
    this.onWorkersChanged();
    this.sink?.onCapacity();
  }

  private detach(link: Link<T>, reason: string): void {
    const i = this.links.indexOf(link);
    if (i === -1) return;
    this.links.splice(i, 1);
    link.port.close();
    this.onWorkerLost(link.threadId);
    this.onWorkersChanged();
    for (const resolve of link.opens.values()) resolve(null);
    link.opens.clear();
    for (let s = 0; s < link.tokens.length; s++) {
      const token = link.tokens[s];
      link.tokens[s] = null;
      if (token === null) continue;
      if (token instanceof WarmUp) token.done(null, reason);
      else this.sink?.onLost(token, reason);
    }
  }
  private receive(link: Link<T>, msg: ReplyMessage): void {
    if (typeof msg === 'object' && 'opened' in msg) {
      link.opens.get(msg.opened)?.(msg);
      link.opens.delete(msg.opened);
      return;
    }
    const slot = typeof msg === 'number' ? msg : msg.slot;
    const token = link.tokens[slot];
    if (token === null || token === undefined) return;
    const reply = typeof msg === 'number' ? okReply(link.slots.control(slot)[CTL_PARTS]) : msg;
    if (token instanceof WarmUp) {
      this.release(link, slot);
      token.done(reply);
      // Rows may have queued while the new worker warmed up.
      this.sink?.onCapacity();
    } else if (reply.failure !== undefined) {
      this.release(link, slot);
      this.sink?.onLost(token, reply.failure);
    } else {
      // The slot stays taken while the sink reads its CTRs: nothing can be sent into it meanwhile.
      this.sink?.onReply(token, reply, link.slots.outputsOf(slot));
      this.release(link, slot);
      this.sink?.onCapacity();
    }
  }

  private take(link: Link<T>, token: T | WarmUp): number {
    const slot = link.free.pop()!;
    link.tokens[slot] = token;
    return slot;
  }

  private release(link: Link<T>, slot: number): void {
    link.tokens[slot] = null;
    link.free.push(slot);
  }

  /** True when some worker can take a task now. */
  hasCapacity(): boolean {
    const links = this.links;
    for (let i = 0; i < links.length; i++) if (links[i].free.length > 0) return true;
    return false;
  }

  /**
   * Sends one task (at most one batch per model) to the least-busy worker
   * (round robin among equals); call only when hasCapacity(). The rows are
   * copied into the worker's slot, so the batches' buffers are free again
   * when this returns. `parts` batches from the start of `batches` are sent
   * (the batcher reuses one array per task).
   */
  send(batches: readonly OutgoingBatch[], token: T, parts = batches.length): void {
    const links = this.links;
    let best: Link<T> | null = null;
    for (let k = 0; k < links.length; k++) {
      const l = links[(this.next + k) % links.length];
      if (l.free.length > 0 && (best === null || l.free.length > best.free.length)) best = l;
    }
    if (best === null) throw new Error('InferencePool.send: no worker has capacity');
    this.next = (this.next + 1) % links.length;
    const slot = this.take(best, token);
    const ctl = best.slots.control(slot);
    ctl[CTL_PARTS] = parts;
    ctl[CTL_WARM_UP] = 0;
    for (let i = 0; i < parts; i++) {
      const b = batches[i];
      best.slots.input(slot, b.model.index).set(b.features.subarray(0, b.rows * b.model.width));
      writePart(ctl, i, b.model.index, b.rows, b.oldestEnqueuedAt, b.model.generation);
    }
    best.port.postMessage(slot satisfies TaskMessage);
  }

  /** One row of every model (all zeros), through the link's first free slot like any task; resolves with the models that failed. */
  private warmUpLink(link: Link<T>): Promise<Map<number, string>> {
    return new Promise<Map<number, string>>((resolve, reject) => {
      const slot = this.take(link, new WarmUp((reply, reason) => {
        if (reply === null) return reject(new Error(`a worker died during warm-up: ${reason}`));
        if (reply.failure !== undefined) return reject(new Error(`the warm-up failed: ${reply.failure}`));
        const failed = new Map<number, string>();
        for (let i = 0; i < reply.parts.length; i++) {
          const error = reply.parts[i].error;
          if (error !== null) failed.set(i, `model ${this.registry.models[i].name} failed its warm-up inference: ${error}`);
        }
        resolve(failed);
      }));
      const ctl = link.slots.control(slot);
      ctl[CTL_PARTS] = this.registry.models.length;
      ctl[CTL_WARM_UP] = 1;
      for (const m of this.registry.models) {
        link.slots.input(slot, m.index).fill(0, 0, m.width);
        writePart(ctl, m.index, m.index, 1, 0, m.generation);
      }
      link.port.postMessage(slot satisfies TaskMessage);
    });
  }

  /**
   * Hot reload: has every live worker open `spec` beside generation `keep`
   * and run one row through it. Resolves with the first worker's reason when
   * one could not (the caller then keeps the old generation), or null once
   * every worker attached now can serve the new one. A worker that attaches
   * meanwhile is asked too; one that dies is not waited for (its replacement
   * opens the registry's current specs at attach).
   */
  async openEverywhere(spec: WorkerModelSpec, keep: number): Promise<string | null> {
    const asked = new Set<Link<T>>();
    for (;;) {
      const pending = this.links.filter((l) => !asked.has(l));
      if (pending.length === 0) return this.links.length === 0 ? 'no inference worker is alive' : null;
      const replies = await Promise.all(pending.map((l) => {
        asked.add(l);
        const id = this.nextOpenId++;
        return new Promise<OpenReply | null>((resolve) => {
          l.opens.set(id, resolve);
          l.port.postMessage({ open: spec, keep, id } satisfies OpenModel);
        });
      }));
      for (const r of replies) if (r !== null && r.error !== null) return r.error;
    }
  }

  /** Settles once every link attached so far ran every model once: the models whose warm-up failed (index → reason). */
  protected async linksWarm(): Promise<Map<number, string>> {
    const perLink = await Promise.all(this.links.map((l) => l.warm ?? Promise.resolve(new Map<number, string>())));
    const failed = new Map<number, string>();
    for (const m of perLink) for (const [model, reason] of m) if (!failed.has(model)) failed.set(model, reason);
    return failed;
  }

  get threadsAlive(): number {
    return this.links.length;
  }

  /** Detaches every link: tasks still in a worker are lost (onLost) with `reason`. */
  protected closeLinks(reason: string): void {
    this.closed = true;
    for (const l of [...this.links]) this.detach(l, reason);
  }
}

/** Part `i` of a task header (engine/batch_slots.ts has the layout). */
function writePart(ctl: Float64Array, i: number, model: number, rows: number, oldestEnqueuedAt: number, generation: number): void {
  const at = CTL_PART_BASE + i * PART_FIELDS;
  ctl[at + PART_GENERATION] = generation;
  ctl[at + PART_MODEL] = model;
  ctl[at + PART_ROWS] = rows;
  ctl[at + PART_OLDEST_ENQUEUED_AT] = oldestEnqueuedAt;
}
