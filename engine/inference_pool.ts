// The Piscina pool of inference workers. Every worker opens a session per
// model at start; `ready()` resolves once each worker has answered a warm-up
// task for every model, which is what GET /ready reports.
import { Piscina } from 'piscina';
import type { InferenceReply, InferenceTask } from './inference_task.js';
import type { ModelRegistry } from './model_registry.js';
import type { TelemetryBuffers } from './telemetry/index.js';

export interface InferencePoolOptions {
  workers: number;
  tasksPerWorker: number;
  intraOpThreads: number;
  injectInferenceDelayMs: number;
  telemetry: TelemetryBuffers;
}

export class InferencePool {
  readonly piscina: Piscina<InferenceTask, InferenceReply>;
  private readonly registry: ModelRegistry;
  readonly workers: number;

  constructor(registry: ModelRegistry, opts: InferencePoolOptions) {
    this.registry = registry;
    this.workers = opts.workers;
    this.piscina = new Piscina({
      filename: new URL('./inference_worker.js', import.meta.url).href,
      minThreads: opts.workers,
      maxThreads: opts.workers,
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: opts.tasksPerWorker,
      // The batcher bounds its own queue; Piscina's only holds what exceeds free workers briefly.
      maxQueue: Number.POSITIVE_INFINITY,
      workerData: {
        models: registry.workerSpecs(),
        intraOpThreads: opts.intraOpThreads,
        injectInferenceDelayMs: opts.injectInferenceDelayMs,
        telemetry: opts.telemetry,
      },
    });
  }

  run(task: InferenceTask, transfer: ArrayBuffer[]): Promise<InferenceReply> {
    return this.piscina.run(task, { transferList: transfer });
  }

  /** Warms every worker on every model; rejects if a model cannot run. */
  async warmUp(): Promise<void> {
    const tasks: Promise<InferenceReply>[] = [];
    for (let w = 0; w < this.workers * 2; w++) {
      const parts = this.registry.models.map((m) => ({ model: m.index, rows: 1, features: new Float32Array(m.width), oldestEnqueuedAt: 0 }));
      tasks.push(this.run({ parts, warmUp: true }, parts.map((p) => p.features.buffer as ArrayBuffer)));
    }
    const replies = await Promise.all(tasks);
    for (const reply of replies) {
      for (const part of reply.parts) {
        if (part.error !== null) throw new Error(`model ${this.registry.models[part.model].name} failed its warm-up inference: ${part.error}`);
      }
    }
  }

  get threadsAlive(): number {
    return this.piscina.threads.length;
  }

  close(): Promise<void> {
    return this.piscina.close();
  }
}
