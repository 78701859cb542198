// The MLflow side of the coordinator thread: owns the sink, starts one run per
// model, records one batch per model every flush interval from the tick's
// snapshot, and closes the runs on shutdown. Everything here runs on the
// coordinator thread; record() only queues, delivery is the sink's loop.
import { createMlflowSink, defaultFlushBufferLimit, type MlflowLogger, type MlflowSink } from '../mlflow/index.js';
import { modelMetrics, type MlflowStatus } from './mlflow_metrics.js';
import type { ModelInfo } from './coordinator.js';
import type { Snapshot } from './snapshot.js';

/** MonitorOptions.mlflow: what the coordinator thread needs to log to MLflow (structured-clonable). */
export interface MlflowMonitorOptions {
  /** MLFLOW_TRACKING_URI: unset / file: / a path → local file store (./mlruns); http(s):// → REST. */
  trackingUri?: string;
  /** MLFLOW_EXPERIMENT_NAME, e.g. "ctr_prediction_production". */
  experimentName: string;
  /** Default 10 000. Flushes happen on the first tick at or after each interval boundary. */
  flushIntervalMs: number;
  /** Pending batches per model during an outage; default an hour of flushes. */
  flushBufferLimit?: number;
  /** Run params: the serving and monitoring settings (values as strings). */
  params: Record<string, string>;
  /** Extra run tags; the sink adds model, model_version, host, engine_version, pid, instance_id itself. */
  tags: Record<string, string>;
  /** MLFLOW_TRACKING_USERNAME/PASSWORD/TOKEN and MLFLOW_HTTP_REQUEST_*; default the thread's process.env. */
  env?: Record<string, string | undefined>;
  /** Value of the engine_version tag (default "dev"). */
  engineVersion?: string;
  /** Value of the host tag and in run names (default os.hostname()). */
  host?: string;
  /** Wait between delivery attempts while MLflow is unavailable (default 1 s doubling to 30 s); tests shorten it. */
  retryIntervalMs?: { initialMs: number; maxMs: number };
}

export const DEFAULT_FLUSH_INTERVAL_MS = 10_000;

export class MlflowFlusher {
  readonly intervalMs: number;
  readonly #sink: MlflowSink;
  readonly #opts: MlflowMonitorOptions;
  readonly #bufferLimit: number;
  readonly #models: string[];
  #nextFlushAt: number;
  #flushes = 0;
  #lastFlushAt: number | null = null;
  #closed = false;

  constructor(opts: MlflowMonitorOptions, models: ModelInfo[], log: MlflowLogger, now = Date.now()) {
    const interval = opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    if (typeof interval !== 'number' || !Number.isFinite(interval) || interval <= 0) {
      throw new TypeError('monitor: mlflow.flushIntervalMs must be a positive number');
    }
    this.intervalMs = interval;
    this.#opts = opts;
    this.#models = models.map((m) => m.name);
    this.#bufferLimit = opts.flushBufferLimit ?? defaultFlushBufferLimit(interval);
    this.#sink = createMlflowSink({
      trackingUri: opts.trackingUri,
      experimentName: opts.experimentName,
      flushBufferLimit: this.#bufferLimit,
      env: opts.env as NodeJS.ProcessEnv | undefined,
      engineVersion: opts.engineVersion,
      host: opts.host,
      retryIntervalMs: opts.retryIntervalMs,
      logger: log,
    });
    this.#nextFlushAt = now + interval;
    // Not awaited: a down MLflow must not hold up the first snapshot.
    void this.#sink.startRuns(models, opts.params ?? {}, opts.tags ?? {});
  }

  status(): MlflowStatus {
    return {
      ...this.#sink.stats(),
      experimentName: this.#opts.experimentName,
      flushIntervalMs: this.intervalMs,
      bufferLimit: this.#bufferLimit,
      flushes: this.#flushes,
      lastFlushAt: this.#lastFlushAt,
    };
  }

  /** After each tick: records a flush when one is due (half a tick of slack for timer jitter). */
  maybeFlush(s: Snapshot, now: number, slackMs: number): void {
    if (this.#closed || now < this.#nextFlushAt - slackMs) return;
    this.flush(s, now);
    // Keep the grid; after a stall, skip the missed boundaries rather than flushing in a burst.
    while (this.#nextFlushAt <= now + slackMs) this.#nextFlushAt += this.intervalMs;
  }

  /** One batch per model from this snapshot, timestamped `now`. */
  flush(s: Snapshot, now: number): void {
    if (this.#closed) return;
    for (const name of this.#models) {
      const m = s.models[name];
      if (m) this.#sink.record(name, modelMetrics(m, s), now);
    }
    this.#flushes++;
    this.#lastFlushAt = now;
  }

  /** Hot reload: `model`'s later points go to a new run for `version`; its old run ends FINISHED once its points are delivered. */
  newVersion(model: string, version: string): void {
    if (!this.#closed) this.#sink.newVersion(model, version);
  }

  /** Delivers what is pending and ends the runs with `status` (FINISHED; FAILED for a failed start), within the deadline. */
  async close(deadlineMs: number, status: 'FINISHED' | 'FAILED' = 'FINISHED'): Promise<MlflowStatus> {
    this.#closed = true;
    // The sink keeps its own deadline; this bound only guards against a close that never settles.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#sink.close({ deadlineMs, status }).catch(() => undefined),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, deadlineMs + 250); }),
    ]);
    clearTimeout(timer);
    return this.status();
  }
}
