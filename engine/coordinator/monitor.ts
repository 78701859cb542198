// The main thread's handle on the coordinator thread: starts it, keeps the
// latest decoded snapshot (so endpoints never compute on the request path),
// and forwards baseline and worker-liveness changes.
import { Worker } from 'node:worker_threads';
import { unpack } from 'msgpackr';
import type { TelemetryBuffers } from '../telemetry/buffers.js';
import { loadBaselines, validateBaseline, type BaselineOutcome } from './baseline.js';
import type { CoordinatorOptions, ModelInfo } from './coordinator.js';
import type { DriftConfig } from './drift.js';
import type { HealthConfig } from './health.js';
import type { CalibrationConfig, LabelOptions } from './quality.js';
import type { FeatureWatchBuffers } from '../features/feature_watch.js';
import type { MlflowMonitorOptions } from './mlflow_flusher.js';
import type { HistogramsBody } from './histograms.js';
import type { FromThread, ThreadData, ToThread } from './protocol.js';
import type { Baseline, Snapshot } from './snapshot.js';
import { BACKGROUND_THREAD_LIMITS } from '../thread_heap.js';

export interface MonitorOptions {
  buffers: TelemetryBuffers;
  models: ModelInfo[];
  /** Default 1000. */
  tickMs?: number;
  /** Window lengths in ms. Default [60_000, 300_000] ("1m", "5m"). */
  windows?: number[];
  driftConfig?: Partial<DriftConfig>;
  healthConfig?: Partial<HealthConfig>;
  /** JSON file baselines persist in (e.g. <dataDir>/baselines.json); omitted → memory only. */
  baselinePath?: string;
  expectedWorkers?: number;
  ringStepMs?: number;
  /** Called with the coordinator's warnings (tick failures, unreadable baseline file…). Default: console.warn. */
  onWarning?: (message: string) => void;
  /** Called with the coordinator's informational messages (MLflow runs started…). Default: console.info. */
  onInfo?: (message: string) => void;
  /**
   * MLflow logging from the coordinator thread (one run per model, one batch
   * per model every flushIntervalMs); null or omitted → off.
   */
  mlflow?: MlflowMonitorOptions | null;
  /** Click labels (engine/labels/): the shared block the coordinator computes quality from. */
  labels?: LabelOptions | null;
  calibration?: Partial<CalibrationConfig>;
  /** Request-field counts (engine/features/feature_watch.ts) the coordinator compares with the baseline. */
  features?: FeatureWatchBuffers | null;
}

export interface Monitor {
  /** The latest snapshot, decoded. */
  latest(): Snapshot;
  /** Called with every new snapshot; returns an unsubscribe function. */
  onSnapshot(cb: (s: Snapshot) => void): () => void;
  /** Validate and set a manual baseline; resolves once it is in force (and persisted). */
  setBaseline(model: string, input: unknown): Promise<BaselineOutcome>;
  /** Capture a baseline from a window of live traffic ("1m", "5m", "lifetime"; default the drift window). */
  captureBaseline(model: string, windowName?: string): Promise<BaselineOutcome>;
  /** The last tick's figures as portable HDR histograms (GET /monitoring/histograms), from the coordinator thread. */
  histograms(): Promise<HistogramsBody>;
  /** The pool's view of its workers; overrides counting the shard owner table. */
  setWorkersAlive(alive: number, expected: number): void;
  /** Feedback named a new version of model `model` (index), held in label slot `slot`. */
  setLabelVersion(model: number, slot: number, version: string): void;
  /** Hot reload: model `model` (index) now serves `version`; MLflow ends the old version's run and starts a new one. */
  setModelVersion(model: number, version: string): void;
  /**
   * Final tick, final MLflow flush, runs ended FINISHED (FAILED with `failed`: the server failed to start), thread stopped.
   * Resolves within about deadlineMs (default 5000) even if MLflow is down;
   * the thread is terminated if it has not finished by deadlineMs + 1 s.
   */
  close(opts?: { deadlineMs?: number; failed?: boolean }): Promise<void>;
}

/** Default deadline of Monitor.close(). */
export const DEFAULT_CLOSE_DEADLINE_MS = 5000;
/** How long past the deadline close() waits for the thread before terminating it. */
const CLOSE_GRACE_MS = 1000;

/** Symbol under which a Monitor exposes its current thread (tests use it to kill the thread). */
export const kThread = Symbol('ctr-engine.monitor.thread');

/** Delay before a coordinator thread that died is started again. */
const RESTART_DELAY_MS = 1000;

/**
 * Start the coordinator thread; resolves with the monitor once the first
 * snapshot has arrived. If the thread dies later, it is started again (the
 * shards are cumulative, so lifetime figures survive; windows refill; the
 * baselines in force are handed over), and latest() keeps the last snapshot
 * meanwhile.
 */
export function startMonitor(opts: MonitorOptions): Promise<Monitor> {
  // A broken baselines file stops the start here, naming the file (BaselineFileError).
  if (opts.baselinePath) {
    try {
      loadBaselines(opts.baselinePath, opts.buffers.models);
    } catch (e) {
      return Promise.reject(e);
    }
  }
  const options: CoordinatorOptions = {
    buffers: opts.buffers,
    models: opts.models.map((m) => ({ name: m.name, version: String(m.version) })),
    tickMs: opts.tickMs,
    windowsMs: opts.windows,
    drift: opts.driftConfig,
    health: opts.healthConfig,
    baselinePath: opts.baselinePath ?? null,
    expectedWorkers: opts.expectedWorkers,
    ringStepMs: opts.ringStepMs,
    labels: opts.labels ?? null,
    calibration: opts.calibration,
    features: opts.features ?? null,
  };
  // Version names travel with a restart of the thread.
  const labelVersions = opts.labels ? opts.labels.versions.map((v) => [...v]) : null;
  const warn = opts.onWarning ?? ((m: string) => console.warn(`[monitor] ${m}`));
  const info = opts.onInfo ?? ((m: string) => console.info(`[monitor] ${m}`));
  const mlflow = opts.mlflow ?? null;
  const names = opts.buffers.models;
  const listeners = new Set<(s: Snapshot) => void>();
  const pending = new Map<number, (r: BaselineOutcome) => void>();
  const pendingHistograms = new Map<number, { resolve: (b: HistogramsBody) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let latest: Snapshot | null = null;
  let closed = false;
  let closing: Promise<void> | null = null;
  let onClosed: (() => void) | null = null;
  let running = false;
  let workers: { alive: number; expected: number } | null = null;
  let worker: Worker;

  return new Promise<Monitor>((resolve, reject) => {
    const monitor: Monitor & { [kThread]: () => Worker } = {
      [kThread]: () => worker,
      latest: () => latest!,
      onSnapshot(cb) {
        listeners.add(cb);
        return () => listeners.delete(cb);
      },
      setBaseline(model, input) {
        const v = validateBaseline(names, model, input);
        if (!v.ok) return Promise.resolve(v);
        return request({ type: 'setBaseline', id: nextId++, model, input: v.value });
      },
      captureBaseline(model, windowName) {
        if (!names.includes(model)) {
          return Promise.resolve({ ok: false, error: { code: 'model_not_found', field: 'model_name', message: `unknown model "${model}"` } });
        }
        return request({ type: 'capture', id: nextId++, model, window: windowName });
      },
      histograms() {
        if (closed || !running) return Promise.reject(new Error(closed ? 'monitor is closed' : 'monitor thread is restarting; retry'));
        const id = nextId++;
        return new Promise<HistogramsBody>((res, rej) => {
          pendingHistograms.set(id, { resolve: res, reject: rej });
          worker.postMessage({ type: 'histograms', id } satisfies ToThread);
        });
      },
      setWorkersAlive(alive, expected) {
        workers = { alive, expected };
        if (!closed) worker.postMessage({ type: 'workers', alive, expected } satisfies ToThread);
      },
      setLabelVersion(model, slot, version) {
        if (labelVersions?.[model]) labelVersions[model][slot] = version;
        if (!closed) worker.postMessage({ type: 'labelVersion', model, slot, version } satisfies ToThread);
      },
      setModelVersion(model, version) {
        if (!closed) worker.postMessage({ type: 'modelVersion', model, version } satisfies ToThread);
      },
      close(closeOpts = {}) {
        if (closing) return closing;
        closed = true;
        const deadlineMs = Math.max(0, closeOpts.deadlineMs ?? DEFAULT_CLOSE_DEADLINE_MS);
        closing = closeThread(worker, deadlineMs, closeOpts.failed === true ? 'FAILED' : 'FINISHED');
        return closing;
      },
    };

    async function closeThread(w: Worker, deadlineMs: number, status: 'FINISHED' | 'FAILED'): Promise<void> {
      if (!running) return; // died and not restarted yet: nothing to flush from
      // Keep the process alive until the thread has flushed (the worker is unref'd while serving).
      w.ref();
      const exited = new Promise<void>((res) => w.once('exit', () => res()));
      const done = new Promise<void>((res) => { onClosed = res; });
      const timers: NodeJS.Timeout[] = [];
      const after = (ms: number) => new Promise<'timeout'>((res) => { timers.push(setTimeout(() => res('timeout'), ms)); });
      w.postMessage({ type: 'close', deadlineMs, status } satisfies ToThread);
      const how = await Promise.race([done.then(() => 'closed' as const), exited.then(() => 'exit' as const), after(deadlineMs + CLOSE_GRACE_MS)]);
      // 'closed': the thread ends on its own right after; give it a moment, then make sure.
      if (how === 'closed' && (await Promise.race([exited.then(() => 'exit' as const), after(500)])) === 'exit') {
        timers.forEach(clearTimeout);
        return;
      }
      timers.forEach(clearTimeout);
      if (how === 'timeout') warn(`coordinator thread did not finish closing within ${deadlineMs + CLOSE_GRACE_MS} ms; terminating it`);
      if (how !== 'exit') await w.terminate();
    }

    function request(msg: ToThread & { id: number }): Promise<BaselineOutcome> {
      if (closed) return Promise.resolve({ ok: false, error: { code: 'invalid_request', message: 'monitor is closed' } });
      return new Promise((res) => {
        pending.set(msg.id, res);
        worker.postMessage(msg);
      });
    }

    function spawn(): void {
      // Baselines in force travel with a restart, so one set without a file survives it too.
      const baselines: Record<string, Baseline> = {};
      for (const [name, m] of Object.entries(latest?.models ?? {})) if (m.drift.baseline) baselines[name] = m.drift.baseline;
      const labels = options.labels && labelVersions ? { ...options.labels, versions: labelVersions } : options.labels;
      const data: ThreadData = { options: { ...options, labels, baselines, workersReported: workers ?? undefined }, mlflow };
      const w = new Worker(new URL('./coordinator_thread.js', import.meta.url), { workerData: data, resourceLimits: BACKGROUND_THREAD_LIMITS });
      worker = w;
      running = true;
      w.unref();
      w.on('message', (msg: FromThread) => {
        if (msg.type === 'snapshot') {
          latest = unpack(msg.bytes) as Snapshot;
          for (const cb of listeners) {
            try { cb(latest); } catch (e) { warn(`snapshot listener threw: ${(e as Error).message}`); }
          }
          resolve(monitor);
        } else if (msg.type === 'reply') {
          pending.get(msg.id)?.(msg.result);
          pending.delete(msg.id);
        } else if (msg.type === 'histograms') {
          const p = pendingHistograms.get(msg.id);
          pendingHistograms.delete(msg.id);
          if (msg.body) p?.resolve(msg.body);
          else p?.reject(new Error(msg.error ?? 'no histograms'));
        } else if (msg.type === 'closed') {
          // The operator's confirmation that shutdown lost nothing (or how much it lost).
          const m = msg.mlflow;
          if (m) {
            const line = `final MLflow flush done: ${m.delivered} batches delivered, ${m.pending} pending, ${m.dropped} dropped (${m.backend}, experiment ${m.experimentName})`;
            if (m.pending > 0 || m.dropped > 0) warn(line);
            else info(line);
          }
          onClosed?.();
        } else if (msg.type === 'info') {
          info(msg.message);
        } else {
          warn(msg.message);
        }
      });
      w.on('error', (e) => {
        if (!latest) reject(e);
        else warn(`coordinator thread failed: ${e.stack ?? e.message}`);
      });
      w.on('exit', (code) => {
        running = false;
        for (const res of pending.values()) res({ ok: false, error: { code: 'invalid_request', message: 'monitor thread stopped; retry' } });
        pending.clear();
        for (const p of pendingHistograms.values()) p.reject(new Error('monitor thread stopped; retry'));
        pendingHistograms.clear();
        if (!latest) {
          reject(new Error(`coordinator thread exited (${code}) before its first snapshot`));
        } else if (!closed) {
          warn(`coordinator thread exited (${code}); restarting in ${RESTART_DELAY_MS} ms`);
          setTimeout(() => { if (!closed) spawn(); }, RESTART_DELAY_MS).unref();
        }
      });
    }

    spawn();
  });
}
