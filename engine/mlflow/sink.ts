// The MLflow sink: one run per model per process, one queued batch per model
// per flush, delivered in order by a single background loop that never blocks
// or throws into the caller. Outages fill a bounded per-model buffer; what it
// cannot hold, or what MLflow refuses for good, is counted and logged once.
import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { chunkBatch, type BatchChunk } from './chunk.js';
import { sanitizeKey } from './keys.js';
import { MAX_PARAM_VALUE_LENGTH, MAX_TAG_VALUE_LENGTH } from './limits.js';
import { BoundedQueue } from './pending_queue.js';
import type { RetryPolicy } from './retry_policy.js';
import { isProcessAlive, RUN_TAG, runName, runTags } from './run_identity.js';
import { createTrackingStore } from './store_factory.js';
import { MlflowError, type Clock, type KeyValue, type MlflowLogger, type Rejection, type TrackingStore } from './types.js';

/** One hour of 10-second flushes. */
export const DEFAULT_FLUSH_BUFFER_LIMIT = 360;

/** Batches per model that cover an hour of flushes at `flushIntervalMs`. */
export function defaultFlushBufferLimit(flushIntervalMs: number): number {
  return Math.max(1, Math.ceil(3_600_000 / Math.max(1, flushIntervalMs)));
}

export interface MlflowSinkOptions {
  /** MLFLOW_TRACKING_URI: unset, a path or file: → local file store (./mlruns); http(s):// → REST. */
  trackingUri?: string;
  experimentName: string;
  /** Pending batches kept per model during an outage (default 360: an hour of 10 s flushes). */
  flushBufferLimit?: number;
  /** Where MLFLOW_TRACKING_USERNAME/PASSWORD/TOKEN and MLFLOW_HTTP_REQUEST_* come from (default process.env). */
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  logger?: MlflowLogger;
  engineVersion?: string;
  host?: string;
  /** Overrides for in-request retries (tests compress time here). */
  retryPolicy?: Partial<RetryPolicy>;
  /** Wait between delivery attempts while MLflow is unavailable: doubles from initialMs to maxMs. */
  retryIntervalMs?: { initialMs: number; maxMs: number };
  /** A ready store instead of one built from trackingUri (tests). */
  store?: TrackingStore;
}

export interface MlflowSinkStats {
  /** Batches waiting for delivery, all models. */
  pending: number;
  /** Batches lost: buffer overflow, or still pending when close() hit its deadline. */
  dropped: number;
  /** Batches fully delivered. */
  delivered: number;
  /** Entities (metric/param/tag) MLflow refused with an error retrying cannot fix. */
  rejected: number;
  lastError: string | null;
  lastErrorAt: number | null;
  lastDeliveryAt: number | null;
  /** 'ok' when the last attempt worked, 'retrying' while MLflow is unavailable. */
  state: 'starting' | 'ok' | 'retrying' | 'closed';
  backend: 'file' | 'rest';
}

export interface MlflowSink {
  startRuns(models: Array<{ name: string; version: string }>, params: Record<string, string>,
    tags: Record<string, string>): Promise<void>;
  record(model: string, metrics: Record<string, number>, timestampMs: number): void;
  /**
   * A new version of `model` serves (hot reload): later records go to a new
   * run tagged with it, so versions compare side by side; the old run gets
   * its pending points, then ends FINISHED.
   */
  newVersion(model: string, version: string): void;
  stats(): MlflowSinkStats;
  /** Final flush, then the runs ended with `status` (FINISHED by default; FAILED when the server failed to start). */
  close(opts?: { deadlineMs?: number; status?: 'FINISHED' | 'FAILED' }): Promise<MlflowSinkStats>;
  /** Resolves when nothing is pending (or the sink is closed); for tests and shutdown. */
  idle(): Promise<void>;
}

interface PendingBatch { step: number; chunks: BatchChunk[]; nextChunk: number }

interface ModelRun {
  name: string;
  version: string;
  /** When its run starts: the sink's start, or the switch to this version. */
  startTime?: number;
  runId?: string;
  recovered: boolean;
  paramsLogged: boolean;
  nextStep: number;
  queue: BoundedQueue<PendingBatch>;
}

const noopLogger: MlflowLogger = { info: () => undefined, warn: () => undefined };

class Sink implements MlflowSink {
  private readonly store: TrackingStore;
  private readonly clock: Clock;
  private readonly log: MlflowLogger;
  private readonly host: string;
  private readonly userId: string;
  private readonly instanceId = randomUUID();
  private readonly startTime: number;
  private readonly limit: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly models = new Map<string, ModelRun>();
  /** Runs of versions replaced by a hot reload: delivered, then ended FINISHED. */
  private readonly retiring: ModelRun[] = [];
  private params: KeyValue[] = [];
  private extraTags: Record<string, string> = {};
  private experimentId?: string;
  private loop: Promise<void> | null = null;
  private wakeLoop: (() => void) | null = null;
  private kicked = false;
  private attemptWaiters: Array<() => void> = [];
  private closing = false;
  private closed = false;
  private failures = 0;
  private delivered = 0;
  private droppedAtClose = 0;
  private rejected = 0;
  private lastError: string | null = null;
  private lastErrorAt: number | null = null;
  private lastDeliveryAt: number | null = null;
  private state: MlflowSinkStats['state'] = 'starting';
  private readonly loggedOnce = new Set<string>();

  constructor(private readonly opts: MlflowSinkOptions) {
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.log = opts.logger ?? noopLogger;
    this.host = opts.host ?? hostname();
    this.userId = (() => { try { return userInfo().username; } catch { return 'unknown'; } })();
    this.startTime = this.clock.now();
    this.limit = opts.flushBufferLimit ?? DEFAULT_FLUSH_BUFFER_LIMIT;
    this.retryInitialMs = opts.retryIntervalMs?.initialMs ?? 1000;
    this.retryMaxMs = opts.retryIntervalMs?.maxMs ?? 30_000;
    this.store = opts.store ?? createTrackingStore({
      trackingUri: opts.trackingUri, env: opts.env, clock: this.clock, retryPolicy: opts.retryPolicy,
      userAgent: `ctr-engine/${opts.engineVersion ?? 'dev'}`,
    });
  }

  private model(name: string, version = 'unknown'): ModelRun {
    let m = this.models.get(name);
    if (!m) {
      m = { name, version, recovered: false, paramsLogged: false, nextStep: 0, queue: new BoundedQueue(this.limit) };
      this.models.set(name, m);
    }
    return m;
  }

  async startRuns(models: Array<{ name: string; version: string }>, params: Record<string, string>,
    tags: Record<string, string>): Promise<void> {
    this.params = Object.entries(params).map(([k, v]) => ({ key: sanitizeKey(k), value: String(v).slice(0, MAX_PARAM_VALUE_LENGTH) }));
    this.extraTags = Object.fromEntries(Object.entries(tags).map(([k, v]) => [sanitizeKey(k), String(v).slice(0, MAX_TAG_VALUE_LENGTH)]));
    for (const { name, version } of models) this.model(name, version).version = version;
    // Resolves after the first attempt either way: a down MLflow must not hold up start-up.
    const attempted = new Promise<void>((resolve) => this.attemptWaiters.push(resolve));
    void this.kick();
    await attempted;
  }

  record(model: string, metrics: Record<string, number>, timestampMs: number): void {
    try {
      if (this.closing) { this.countDroppedAfterClose(model); return; }
      const m = this.model(model);
      const ts = Number.isFinite(timestampMs) && timestampMs >= 0 ? Math.trunc(timestampMs) : this.clock.now();
      const step = m.nextStep++;
      const byKey = new Map<string, number>();
      for (const [k, v] of Object.entries(metrics)) {
        if (typeof v !== 'number') continue;
        byKey.set(sanitizeKey(k), v);
      }
      const points = [...byKey].map(([key, value]) => ({ key, value, timestamp: ts, step }));
      if (m.queue.push({ step, chunks: chunkBatch(points, [], []), nextChunk: 0 }) !== undefined) {
        this.warnOnce(`overflow:${model}`, `MLflow buffer full for ${model}: dropping the oldest pending batch`,
          { limit: this.limit });
      }
      void this.kick();
    } catch (err) {
      // record() is on the coordinator's tick: it must never throw.
      this.noteError(err);
    }
  }

  newVersion(model: string, version: string): void {
    if (this.closing) return;
    const old = this.models.get(model);
    if (old !== undefined && old.version === version) return;
    if (old !== undefined) this.retiring.push(old);
    this.models.set(model, {
      name: model, version, startTime: this.clock.now(), recovered: true, paramsLogged: false, nextStep: 0, queue: new BoundedQueue(this.limit),
    });
    void this.kick();
  }

  private countDroppedAfterClose(model: string): void {
    this.droppedAtClose++;
    this.warnOnce('record-after-close', 'MLflow sink closed: dropping batches recorded after close()', { model });
  }

  stats(): MlflowSinkStats {
    let pending = 0; let dropped = this.droppedAtClose;
    for (const m of this.models.values()) { pending += m.queue.length; dropped += m.queue.dropped; }
    return {
      pending, dropped, delivered: this.delivered, rejected: this.rejected,
      lastError: this.lastError, lastErrorAt: this.lastErrorAt, lastDeliveryAt: this.lastDeliveryAt,
      state: this.state, backend: this.store.kind,
    };
  }

  async idle(): Promise<void> {
    while (this.loop) await this.loop;
  }

  /**
   * Starts the delivery loop, or tells a running one to look again. Only
   * close() wakes a loop that is backing off, so records cannot defeat backoff.
   */
  private kick(wake = false): Promise<void> {
    this.kicked = true;
    if (wake) this.wakeLoop?.();
    if (!this.loop) {
      this.loop = this.runLoop().finally(() => { this.loop = null; });
    }
    return this.loop;
  }

  /** Runs until an attempt succeeds with nothing left to send; backs off while MLflow is unavailable. */
  private async runLoop(): Promise<void> {
    while (!this.closed) {
      this.kicked = false;
      let ok = false;
      try {
        await this.deliverAll();
        ok = true;
        this.failures = 0;
        if (!this.closed) this.state = 'ok';
      } catch (err) {
        this.noteError(err);
        this.failures++;
        if (!this.closed) this.state = 'retrying';
      }
      for (const resolve of this.attemptWaiters.splice(0)) resolve();
      if (ok && !this.kicked && this.pendingCount() === 0) return;
      if (!ok) await this.sleep(this.retryDelay());
    }
  }

  private retryDelay(): number {
    if (this.closing) return Math.min(this.retryInitialMs, 100);
    return Math.min(this.retryMaxMs, this.retryInitialMs * 2 ** Math.max(0, this.failures - 1));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      t.unref?.();
      function done() { resolve(); }
      this.wakeLoop = () => { clearTimeout(t); this.wakeLoop = null; resolve(); };
    }).then(() => { this.wakeLoop = null; });
  }

  private pendingCount(): number {
    let n = this.retiring.length;
    for (const m of this.models.values()) n += m.queue.length;
    return n;
  }

  private async deliverAll(): Promise<void> {
    if (this.experimentId === undefined) {
      this.experimentId = await this.store.getOrCreateExperiment(this.opts.experimentName);
    }
    while (this.retiring.length > 0) {
      if (this.closed) return;
      const m = this.retiring[0];
      if (m.queue.length > 0) {
        await this.ensureRun(m);
        for (let batch = m.queue.peek(); batch && !this.closed; batch = m.queue.peek()) await this.deliver(m, batch);
      }
      if (this.closed) return;
      if (m.runId !== undefined) {
        await this.store.updateRun(m.runId, 'FINISHED', this.clock.now());
        this.log.info('MLflow run ended: a new model version serves', { model: m.name, version: m.version, runId: m.runId });
      }
      this.retiring.shift();
    }
    for (const m of this.models.values()) {
      if (this.closed) return;
      await this.ensureRun(m);
      for (let batch = m.queue.peek(); batch && !this.closed; batch = m.queue.peek()) {
        await this.deliver(m, batch);
      }
    }
  }

  private async ensureRun(m: ModelRun): Promise<void> {
    const experimentId = this.experimentId as string;
    if (!m.recovered) {
      await this.endAbandonedRuns(experimentId, m);
      m.recovered = true;
    }
    if (!m.runId) {
      const startTime = m.startTime ?? this.startTime;
      const identity = { model: m.name, version: m.version, host: this.host, startTime,
        engineVersion: this.opts.engineVersion ?? 'dev', pid: process.pid, instanceId: this.instanceId, userId: this.userId };
      let ref;
      try {
        ref = await this.store.createRun({ experimentId, runName: runName(identity), startTime,
          userId: this.userId, tags: runTags(identity, this.extraTags) });
      } catch (err) {
        // The experiment went away (deleted folder or server reset): look it up again next time.
        if (err instanceof MlflowError && err.errorCode === 'RESOURCE_DOES_NOT_EXIST') this.experimentId = undefined;
        throw err;
      }
      m.runId = ref.runId;
      m.paramsLogged = false;
      this.log.info('MLflow run started', { model: m.name, runId: ref.runId, experimentId });
    }
    if (!m.paramsLogged) {
      for (const chunk of chunkBatch([], this.params, [])) {
        this.noteRejections(m.name, await this.store.logBatch(m.runId, [], chunk.params, chunk.tags));
      }
      m.paramsLogged = true;
    }
  }

  /**
   * A run of ours left RUNNING by a process on this host that no longer exists
   * (a crash or SIGKILL) is ended KILLED, so MLflow does not show it running forever.
   */
  private async endAbandonedRuns(experimentId: string, m: ModelRun): Promise<void> {
    let found;
    try {
      found = await this.store.findRunningRuns(experimentId, { [RUN_TAG.host]: this.host, [RUN_TAG.model]: m.name });
    } catch (err) {
      if (err instanceof MlflowError && err.retryable) throw err;
      this.warnOnce(`recover:${m.name}`, 'MLflow: could not look for runs left RUNNING', { error: String(err) });
      return;
    }
    for (const run of found) {
      if (run.tags[RUN_TAG.instance] === this.instanceId) continue;
      const pid = Number(run.tags[RUN_TAG.pid]);
      if (pid !== process.pid && isProcessAlive(pid)) continue;
      await this.store.logBatch(run.runId, [], [], [{ key: RUN_TAG.endReason, value: 'process ended without closing the run; marked KILLED at the next start' }]);
      await this.store.updateRun(run.runId, 'KILLED', this.clock.now());
      this.log.warn('MLflow: ended a run left RUNNING by a previous process as KILLED', { model: m.name, runId: run.runId, pid });
    }
  }

  private async deliver(m: ModelRun, batch: PendingBatch): Promise<void> {
    try {
      while (batch.nextChunk < batch.chunks.length) {
        const c = batch.chunks[batch.nextChunk];
        this.noteRejections(m.name, await this.store.logBatch(m.runId as string, c.metrics, c.params, c.tags));
        batch.nextChunk++;
      }
    } catch (err) {
      if (err instanceof MlflowError && err.errorCode === 'RESOURCE_DOES_NOT_EXIST') {
        // The run was deleted under us: start a new one and resend this batch there.
        this.warnOnce(`gone:${m.runId}`, `MLflow: ${err.message}; starting a new run for ${m.name}`);
        m.runId = undefined;
        batch.nextChunk = 0;
      }
      throw err;
    }
    if (m.queue.peek() === batch) m.queue.shift();
    this.delivered++;
    this.lastDeliveryAt = this.clock.now();
  }

  private noteRejections(model: string, rejections: Rejection[]): void {
    for (const r of rejections) {
      this.rejected += r.kind === 'batch' ? Number.parseInt(r.key, 10) || 1 : 1;
      this.lastError = r.message;
      this.lastErrorAt = this.clock.now();
      this.warnOnce(`reject:${r.kind}:${r.key}:${r.message}`, `MLflow refused a ${r.kind}: ${r.message}`, { model, key: r.key });
    }
  }

  private noteError(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.lastError = message;
    this.lastErrorAt = this.clock.now();
    this.warnOnce(`error:${message}`, `MLflow unavailable, will retry: ${message}`);
  }

  private warnOnce(key: string, msg: string, fields?: Record<string, unknown>): void {
    if (this.loggedOnce.has(key)) return;
    if (this.loggedOnce.size > 1000) this.loggedOnce.clear();
    this.loggedOnce.add(key);
    this.log.warn(msg, fields);
  }

  async close(opts: { deadlineMs?: number; status?: 'FINISHED' | 'FAILED' } = {}): Promise<MlflowSinkStats> {
    if (this.closed) return this.stats();
    const deadlineMs = opts.deadlineMs ?? 5000;
    const started = Date.now();
    this.closing = true;
    // Most of the budget for the final flush, the rest for marking runs FINISHED.
    const flushBudget = Math.max(0, deadlineMs - Math.min(1000, deadlineMs / 4));
    // A sink that never saw a model has nothing to flush: do not create experiments on the way out.
    const flushed = this.models.size > 0 ? this.kick(true) : Promise.resolve();
    await Promise.race([flushed, delay(flushBudget)]);
    this.closed = true;
    this.wakeLoop?.();
    for (const resolve of this.attemptWaiters.splice(0)) resolve();
    this.abortInFlight();
    await Promise.race([flushed, delay(50)]);
    for (const m of this.models.values()) this.droppedAtClose += m.queue.clear();
    const remaining = Math.max(50, deadlineMs - (Date.now() - started));
    for (const m of this.retiring) this.droppedAtClose += m.queue.clear();
    const finish = Promise.all([...this.models.values(), ...this.retiring].filter((m) => m.runId).map(async (m) => {
      try {
        await this.store.updateRun(m.runId as string, opts.status ?? 'FINISHED', this.clock.now());
      } catch (err) { this.noteError(err); }
    }));
    await Promise.race([finish, delay(remaining)]);
    this.abortInFlight();
    this.state = 'closed';
    await this.store.close().catch(() => undefined);
    return this.stats();
  }

  private abortInFlight(): void {
    this.store.abortInFlight?.();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => { const t = setTimeout(resolve, ms); t.unref?.(); });
}

export function createMlflowSink(opts: MlflowSinkOptions): MlflowSink {
  return new Sink(opts);
}
