// The inference workers: a Piscina pool owns their life (start, replacement
// after a crash, shutdown), and batches travel to each worker over a
// MessagePort of its own (engine/inference_worker.ts says why: Piscina's
// per-task bookkeeping made main-thread GC the p99 tail). Each worker opens a
// session per model, then announces its port; `ready()` resolves once every
// worker has run every model once.
import { Piscina } from 'piscina';
import type { MessagePort } from 'node:worker_threads';
import { ATTACH, type AttachMessage, type InferenceReply, type InferenceTask } from './inference_task.js';
import type { InferenceBackend } from './config.js';
import type { ModelRegistry } from './model_registry.js';
import type { TelemetryBuffers } from './telemetry/index.js';
import { BACKGROUND_THREAD_LIMITS } from './thread_heap.js';

export interface InferencePoolOptions {
  workers: number;
  tasksPerWorker: number;
  intraOpThreads: number;
  injectInferenceDelayMs: number;
  /** Who runs the models: onnxruntime-node or the pure-TypeScript evaluator. */
  backend: InferenceBackend;
  telemetry: TelemetryBuffers;
}

/** Who receives replies: the batcher. Tokens are opaque to the pool. */
export interface ReplySink<T> {
  onReply(token: T, reply: InferenceReply): void;
  /** The task is lost (its worker died or the pool closed); its buffers are gone. */
  onLost(token: T, reason: string): void;
  /** A worker slot became free without a reply (a worker attached). */
  onCapacity(): void;
}

interface Link<T> {
  threadId: number;
  port: MessagePort;
  /** Tokens of the tasks sent and not answered, oldest first (a port is FIFO). */
  pending: (T | WarmUp)[];
}

class WarmUp {
  constructor(readonly done: (reply: InferenceReply | null, reason?: string) => void) {}
}

export class InferencePool<T = unknown> {
  readonly piscina: Piscina;
  readonly workers: number;
  private readonly links: Link<T>[] = [];
  private sink: ReplySink<T> | null = null;
  private readonly tasksPerWorker: number;
  private next = 0;
  private closed = false;
  private attachWaiters: (() => void)[] = [];
  /** Called whenever a worker attaches or goes away (for health's workers check). */
  onWorkersChanged: () => void = () => {};
  /** Called with the threadId of a worker that went away (its telemetry shard can be handed on). */
  onWorkerLost: (threadId: number) => void = () => {};

  constructor(private readonly registry: ModelRegistry, opts: InferencePoolOptions) {
    this.workers = opts.workers;
    this.tasksPerWorker = opts.tasksPerWorker;
    this.piscina = new Piscina({
      filename: new URL('./inference_worker.js', import.meta.url).href,
      minThreads: opts.workers,
      maxThreads: opts.workers,
      idleTimeout: Number.POSITIVE_INFINITY,
      // Workers serve their own port; Piscina's Atomics.wait loop would keep their event loop from running.
      atomics: 'disabled',
      resourceLimits: BACKGROUND_THREAD_LIMITS,
      workerData: {
        models: registry.workerSpecs(),
        intraOpThreads: opts.intraOpThreads,
        injectInferenceDelayMs: opts.injectInferenceDelayMs,
        backend: opts.backend,
        telemetry: opts.telemetry,
      },
    });
    this.piscina.on('message', (msg: unknown) => {
      if (typeof msg === 'object' && msg !== null && ATTACH in msg) this.attach(msg as AttachMessage);
    });
    // A worker crash surfaces here too; the pool replaces the worker, the batcher fails its rows.
    this.piscina.on('error', () => {});
  }

  setSink(sink: ReplySink<T>): void {
    this.sink = sink;
  }

  private attach(msg: AttachMessage): void {
    const port = msg[ATTACH];
    if (this.closed) {
      port.close();
      return;
    }
    const link: Link<T> = { threadId: msg.threadId, port, pending: [] };
    port.on('message', (reply: InferenceReply) => this.receive(link, reply));
    // The port closes when its worker exits, however it exits: the one signal
    // that still knows which thread it was (Piscina's workerDestroy reports a
    // threadId of -1 by then).
    port.on('close', () => this.detach(link, 'the inference worker exited'));
    // Workers must not keep the process alive on their own; the pool decides when they end.
    port.unref();
    this.links.push(link);
    for (const w of this.attachWaiters.splice(0)) w();
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
    for (const token of link.pending) {
      if (token instanceof WarmUp) token.done(null, reason);
      else this.sink?.onLost(token, reason);
    }
  }

  private receive(link: Link<T>, reply: InferenceReply): void {
    const token = link.pending.shift();
    if (token === undefined) return;
    if (token instanceof WarmUp) token.done(reply);
    else if (reply.failure !== undefined) this.sink?.onLost(token, reply.failure);
    else this.sink?.onReply(token, reply);
  }

  /** True when some worker can take a task now. */
  hasCapacity(): boolean {
    const links = this.links;
    for (let i = 0; i < links.length; i++) if (links[i].pending.length < this.tasksPerWorker) return true;
    return false;
  }

  /** Sends to the least-busy worker (round robin among equals); call only when hasCapacity(). */
  send(task: InferenceTask, transfer: ArrayBuffer[], token: T): void {
    const links = this.links;
    let best: Link<T> | null = null;
    for (let k = 0; k < links.length; k++) {
      const l = links[(this.next + k) % links.length];
      if (l.pending.length < this.tasksPerWorker && (best === null || l.pending.length < best.pending.length)) best = l;
    }
    if (best === null) throw new Error('InferencePool.send: no worker has capacity');
    this.next = (this.next + 1) % links.length;
    best.pending.push(token);
    best.port.postMessage(task, transfer);
  }

  /** Waits for every worker to attach, then runs one row of every model on each. */
  async warmUp(): Promise<void> {
    while (this.links.length < this.workers) await new Promise<void>((r) => this.attachWaiters.push(r));
    await Promise.all(this.links.map((link) => this.warmUpLink(link)));
  }

  private warmUpLink(link: Link<T>): Promise<void> {
    const parts = this.registry.models.map((m) => ({ model: m.index, rows: 1, features: new Float32Array(m.width), oldestEnqueuedAt: 0 }));
    return new Promise<void>((resolve, reject) => {
      link.pending.push(new WarmUp((reply, reason) => {
        if (reply === null) return reject(new Error(`a worker died during warm-up: ${reason}`));
        for (const part of reply.parts) {
          if (part.error !== null) return reject(new Error(`model ${this.registry.models[part.model].name} failed its warm-up inference: ${part.error}`));
        }
        resolve();
      }));
      link.port.postMessage({ parts, warmUp: true } satisfies InferenceTask, parts.map((p) => p.features.buffer as ArrayBuffer));
    });
  }

  get threadsAlive(): number {
    return this.links.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.piscina.close();
    for (const l of [...this.links]) this.detach(l, 'the pool closed');
  }
}
