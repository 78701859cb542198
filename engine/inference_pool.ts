// The inference workers: a Piscina pool owns their life (start, replacement
// after a crash, shutdown), and batches travel to each worker over a
// MessagePort of its own (engine/inference_worker.ts says why: Piscina's
// per-task bookkeeping made main-thread GC the p99 tail). Each worker opens a
// session per model, then announces its port; the pool makes it a link
// (engine/worker_links.ts: the link's own shared task slots, posted once, and
// the per-batch protocol) and warms the worker up; `warmUp()` resolves once
// every worker has run every model once.
//
// With ACCEPTORS > 1 each acceptor thread needs a link of its own to every
// worker, the replacement of a crashed worker included: onWorkerAttached
// tells engine/acceptors/ about each worker as it attaches, and addLink()
// hands the worker the port of another thread's link.
import { Piscina } from 'piscina';
import { ATTACH, type AddLink, type AttachMessage } from './inference_task.js';
import type { InferenceBackendRef } from './inference_backend.js';
import type { ModelRegistry } from './model_registry.js';
import type { TelemetryBuffers } from './telemetry/index.js';
import { BACKGROUND_THREAD_LIMITS } from './thread_heap.js';
import { WorkerLinks } from './worker_links.js';
import type { MessagePort } from 'node:worker_threads';

export type { OutgoingBatch, ReplySink } from './worker_links.js';

export interface InferencePoolOptions {
  workers: number;
  tasksPerWorker: number;
  /** Rows one batch holds at most: sizes the task slots. */
  batchMaxSize: number;
  intraOpThreads: number;
  injectInferenceDelayMs: number;
  /** Who runs the models (onnxruntime-node or the pure-TypeScript evaluator), chosen by the composition root. */
  backend: InferenceBackendRef;
  telemetry: TelemetryBuffers;
}

export class InferencePool<T = unknown> extends WorkerLinks<T> {
  readonly piscina: Piscina;
  readonly workers: number;
  private attachWaiters: (() => void)[] = [];
  /** Each worker's own port to the main thread, by threadId (addLink posts through it). */
  private readonly mainPorts = new Map<number, MessagePort>();
  /** Called when a worker attaches (its replacements too), after its main link: ACCEPTORS > 1 links it to every acceptor thread. */
  onWorkerAttached: ((threadId: number) => void) | null = null;

  constructor(registry: ModelRegistry, opts: InferencePoolOptions) {
    super(registry, { tasksPerWorker: opts.tasksPerWorker, batchMaxSize: opts.batchMaxSize });
    this.workers = opts.workers;
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

  private attach(msg: AttachMessage): void {
    const port = msg[ATTACH];
    const threadId = msg.threadId;
    this.attachPort(port, threadId, true);
    if (this.closed) return;
    this.mainPorts.set(threadId, port);
    port.once('close', () => this.mainPorts.delete(threadId));
    for (const w of this.attachWaiters.splice(0)) w();
    this.onWorkerAttached?.(threadId);
  }

  /**
   * Gives worker `threadId` one more link: `port` is the worker's end of a
   * channel whose other end another thread (an acceptor) attaches. False when
   * that worker is gone (its replacement will be announced).
   */
  addLink(threadId: number, port: MessagePort): boolean {
    const main = this.mainPorts.get(threadId);
    if (main === undefined) return false;
    main.postMessage({ addLink: port } satisfies AddLink, [port]);
    return true;
  }

  /** Threads of the workers attached now. */
  workerThreads(): number[] {
    return [...this.mainPorts.keys()];
  }

  /**
   * Waits for every worker to attach and to have run every model once.
   * Resolves with the models whose warm-up inference failed (index → reason);
   * rejects when a worker died or the task failed as a whole.
   */
  async warmUp(): Promise<Map<number, string>> {
    while (this.threadsAlive < this.workers) await new Promise<void>((r) => this.attachWaiters.push(r));
    return this.linksWarm();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.piscina.close();
    this.closeLinks('the pool closed');
  }
}
