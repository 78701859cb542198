// The main thread's handle on the coordinator thread: starts it, keeps the
// latest decoded snapshot (so endpoints never compute on the request path),
// and forwards baseline and worker-liveness changes.
import { Worker } from 'node:worker_threads';
import { unpack } from 'msgpackr';
import type { TelemetryBuffers } from '../telemetry/buffers.js';
import { validateBaseline, type BaselineOutcome } from './baseline.js';
import type { CoordinatorOptions, ModelInfo } from './coordinator.js';
import type { DriftConfig } from './drift.js';
import type { HealthConfig } from './health.js';
import type { FromThread, ThreadData, ToThread } from './protocol.js';
import type { Snapshot } from './snapshot.js';

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
  /** The pool's view of its workers; overrides counting the shard owner table. */
  setWorkersAlive(alive: number, expected: number): void;
  close(): Promise<void>;
}

/** Start the coordinator thread; resolves with the monitor once the first snapshot has arrived. */
export function startMonitor(opts: MonitorOptions): Promise<Monitor> {
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
  };
  const data: ThreadData = { options };
  const worker = new Worker(new URL('./coordinator_thread.js', import.meta.url), { workerData: data });
  worker.unref();
  const warn = opts.onWarning ?? ((m: string) => console.warn(`[monitor] ${m}`));
  const names = opts.buffers.models;
  const listeners = new Set<(s: Snapshot) => void>();
  const pending = new Map<number, (r: BaselineOutcome) => void>();
  let nextId = 1;
  let latest: Snapshot | null = null;
  let closed = false;

  return new Promise<Monitor>((resolve, reject) => {
    const monitor: Monitor = {
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
      setWorkersAlive(alive, expected) {
        send({ type: 'workers', alive, expected });
      },
      async close() {
        if (closed) return;
        closed = true;
        send({ type: 'close' });
        await worker.terminate();
      },
    };

    function send(msg: ToThread): void {
      if (!closed || msg.type === 'close') worker.postMessage(msg);
    }

    function request(msg: ToThread & { id: number }): Promise<BaselineOutcome> {
      if (closed) return Promise.resolve({ ok: false, error: { code: 'invalid_request', message: 'monitor is closed' } });
      return new Promise((res) => {
        pending.set(msg.id, res);
        worker.postMessage(msg);
      });
    }

    worker.on('message', (msg: FromThread) => {
      if (msg.type === 'snapshot') {
        latest = unpack(msg.bytes) as Snapshot;
        for (const cb of listeners) {
          try { cb(latest); } catch (e) { warn(`snapshot listener threw: ${(e as Error).message}`); }
        }
        resolve(monitor);
      } else if (msg.type === 'reply') {
        pending.get(msg.id)?.(msg.result);
        pending.delete(msg.id);
      } else {
        warn(msg.message);
      }
    });
    worker.on('error', (e) => {
      if (!latest) reject(e);
      else warn(`coordinator thread failed: ${e.message}`);
    });
    worker.on('exit', (code) => {
      for (const res of pending.values()) res({ ok: false, error: { code: 'invalid_request', message: 'monitor stopped' } });
      pending.clear();
      if (!latest) reject(new Error(`coordinator thread exited (${code}) before its first snapshot`));
    });
  });
}
