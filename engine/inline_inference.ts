// Inline inference (opt-in, INLINE_MAX_US > 0): a small batch of a cheap
// model runs on the thread that read its requests (the main thread, or an
// acceptor thread), not in a worker. Off by default: it halves CPU and p50 at
// low load but measured a worse p99 at 25–40 % of capacity (bench/README.md,
// "Inline inference").
//
// Why: at low and moderate load most batches hold one to a few rows, and
// handing one to a worker costs two thread wake-ups (the worker's, then ours
// for the reply), about 65 µs each on this VM, plus the copy and the messages,
// which is more than the demo tree model's whole run (about 10 µs for a row in
// onnxruntime-node). So a quiet server spent most of its CPU, and most of a
// request's latency, on the hop (bench/README.md, "CPU against load"). Large
// batches, which is what a busy server forms, still go to the workers, where
// they run in parallel with this thread's parsing.
//
// What decides: at start each model is timed here on 1 row and on a few rows
// (the same backend and options as the workers, so a row gets the same number
// whichever thread ran it), and a batch runs inline only when its predicted
// cost is within INLINE_MAX_US. That bounds how long a request can wait
// behind another's inference on this thread, and keeps slow models (a big
// MLP, an injected delay) in the workers. And inline runs pause while this
// thread is busy (event-loop utilization above INLINE_MAX_LOOP_UTILIZATION):
// there, the thread's own time is the scarce thing, and a worker's is not
// (measured: at 7k–12k req/s on 2 cores, inline-always raised the p99).
// One inline task runs at a time; the backend's run may be asynchronous
// (onnxruntime-node defers it one setImmediate), and the batcher meanwhile
// sends batches to the workers.
//
// Inline batches are recorded like a worker's, into a telemetry worker shard
// this thread owns (owner id INLINE_SHARD_OWNER + acceptor index), so the
// stats, drift and MLflow see every batch whichever thread ran it.
import { performance } from 'node:perf_hooks';
import { writeCtr } from './ctr_column.js';
import type { InferenceBackendModule, InferenceBackendRef, ModelRunner, Outputs } from './inference_backend.js';
import type { ReplyPart } from './inference_task.js';
import type { ReplySink } from './worker_links.js';
import { workerSpec, type LoadedModel, type WorkerModelSpec } from './model_registry.js';
import { INLINE_SHARD_OWNER, claimWorkerShard, releaseWorkerShard, type TelemetryBuffers, type WorkerRecorder } from './telemetry/index.js';

export interface InlineOptions {
  /** A batch runs inline when its predicted cost is at most this (µs); 0 turns inline inference off. */
  maxUs: number;
  /**
   * Inline runs pause while this thread's event loop is busier than this
   * (0–1, event-loop utilization over the last 100 ms), and resume below
   * three quarters of it; 1 = never pause.
   */
  maxLoopUtilization: number;
  /** Rows one batch holds at most (the batcher's BATCH_MAX_SIZE). */
  batchMaxSize: number;
}

/** One batch handed to run(): its first rows × width floats of `features`. */
export interface InlineBatch {
  readonly model: LoadedModel;
  readonly rows: number;
  readonly features: Float32Array;
  readonly oldestEnqueuedAt: number;
}

/** One model's inline session: the generation it runs and how many rows fit the budget. */
interface InlineSession {
  readonly spec: WorkerModelSpec;
  readonly run: ModelRunner;
  /** Largest batch whose predicted cost is within the budget; 0 = this model never runs inline. */
  readonly maxRows: number;
  /** Measured at open: µs for one row, and per extra row. */
  readonly costUs: { fixed: number; perRow: number };
}

/** What /models and the start-up line say about a model's inline path (on this thread). */
export interface InlineStatus {
  maxRows: number;
  /** False while inline runs are paused because the event loop is busy. */
  active: boolean;
  /** This thread's event-loop utilization over the last check (0–1). */
  loopUtilization: number;
  oneRowUs: number;
  perRowUs: number;
  /** Batches and rows of this model run on this thread so far (every generation). */
  batches: number;
  rows: number;
}

/** Who is told when an inline task is done: the batcher, with the same calls a worker's reply makes. */
type InlineSink<T> = Pick<ReplySink<T>, 'onReply' | 'onCapacity'>;

const now = () => performance.timeOrigin + performance.now();
/** How often the load gate reads the event-loop utilization. */
const LOAD_CHECK_MS = 100;

/** Median µs of `n` runs of `rows` zero rows (after a few unmeasured ones). */
async function timeRuns(run: ModelRunner, spec: WorkerModelSpec, rows: number, n: number): Promise<number> {
  const input = new Float32Array(rows * spec.width);
  const ctr = new Float32Array(rows);
  const times: number[] = [];
  for (let i = 0; i < n + 5; i++) {
    const t0 = performance.now();
    const out = await run(input, rows);
    const t1 = performance.now();
    writeCtr(spec, out[spec.outputName]?.data ?? [], rows, ctr);
    if (i >= 5) times.push((t1 - t0) * 1000);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

export class InlineInference<T> {
  private readonly sessions: (InlineSession | null)[];
  /** Per model: the CTRs of the batch running now (batchMaxSize long). */
  private readonly ctr: Float32Array[];
  private readonly parts: ReplyPart[];
  /** Per model: batches and rows run here (for /models). */
  private readonly batchCount: Float64Array;
  private readonly rowCount: Float64Array;
  private readonly reply: { slot: number; parts: ReplyPart[] };
  private busy = false;
  private closed = false;
  /** The task running now (null when idle): its batches, how many, and its token. */
  private batches: readonly InlineBatch[] = [];
  /** The session each batch of the running task runs on, taken when it started (a reload may replace the model's session meanwhile). */
  private readonly taskSessions: (InlineSession | null)[];
  private count = 0;
  private token: T | null = null;
  private sink: InlineSink<T> | null = null;
  // The load gate: inline work takes this thread's time, which a busy thread
  // needs for reading and answering requests, while handing a batch to a
  // worker costs it less (a copy and two messages). Measured, not guessed:
  // event-loop utilization.
  private active = true;
  private loopUtilization = 0;
  private elu = performance.eventLoopUtilization();
  private readonly gate: NodeJS.Timeout;

  private constructor(
    private readonly backend: InferenceBackendModule,
    private readonly recorder: WorkerRecorder,
    private readonly opts: InlineOptions,
    models: number,
  ) {
    this.sessions = new Array<InlineSession | null>(models).fill(null);
    this.taskSessions = new Array<InlineSession | null>(models).fill(null);
    this.ctr = Array.from({ length: models }, () => new Float32Array(opts.batchMaxSize));
    this.parts = Array.from({ length: models }, () => ({ error: null }));
    this.batchCount = new Float64Array(models);
    this.rowCount = new Float64Array(models);
    this.reply = { slot: -1, parts: this.parts };
    this.gate = setInterval(() => this.checkLoad(), LOAD_CHECK_MS);
    this.gate.unref();
  }

  private checkLoad(): void {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, this.elu).utilization;
    this.elu = now;
    this.loopUtilization = u;
    const max = this.opts.maxLoopUtilization;
    if (max >= 1) return;
    // Hysteresis: inline work itself adds to the utilization, so resuming waits for a clearly lower figure.
    if (this.active && u > max) this.active = false;
    else if (!this.active && u < max * 0.75) this.active = true;
  }

  /**
   * Opens and times every model here; null when inline inference is off
   * (maxUs 0) or no model is cheap enough. `acceptor` is this thread's index
   * (0 = main thread): it names the telemetry shard this thread writes.
   */
  static async open<T>(backendRef: InferenceBackendRef, models: readonly LoadedModel[], telemetry: TelemetryBuffers, acceptor: number, opts: InlineOptions): Promise<InlineInference<T> | null> {
    if (opts.maxUs <= 0) return null;
    let backend: InferenceBackendModule;
    try {
      backend = (await import(backendRef.moduleUrl)) as InferenceBackendModule;
    } catch {
      return null; // the workers report a backend that cannot load
    }
    const owner = INLINE_SHARD_OWNER + acceptor;
    const inline = new InlineInference<T>(backend, claimWorkerShard(telemetry, owner), opts, models.length);
    for (const m of models) if (m.failure === undefined) await inline.openModel(m);
    if (inline.sessions.some((s) => s !== null && s.maxRows > 0)) return inline;
    // Nothing fits the budget: no timer, no shard held for nothing.
    inline.close();
    releaseWorkerShard(telemetry, owner);
    return null;
  }

  /** Opens `model` (a new generation after a hot reload, too) and times it; until then its batches go to the workers. */
  async openModel(model: LoadedModel): Promise<void> {
    const spec = workerSpec(model);
    // The old generation's session stays until this one is ready (maxRows matches generations, so it runs none of the new rows).
    let session: InlineSession;
    try {
      const run = await this.backend.openModel(spec, { intraOpThreads: 1 });
      // A batch of up to 8 rows tells the per-row cost; a tree walk's cost is nearly linear in rows.
      const k = Math.min(8, this.opts.batchMaxSize);
      const one = await timeRuns(run, spec, 1, 200);
      const many = k > 1 ? await timeRuns(run, spec, k, 100) : one;
      const perRow = k > 1 ? Math.max(0, (many - one) / (k - 1)) : 0;
      const fixed = Math.max(0, one - perRow);
      const fit = one > this.opts.maxUs ? 0 : perRow === 0 ? this.opts.batchMaxSize : Math.floor((this.opts.maxUs - fixed) / perRow);
      session = { spec, run, maxRows: Math.max(0, Math.min(this.opts.batchMaxSize, fit)), costUs: { fixed, perRow } };
    } catch {
      return; // a model this thread cannot run stays with the workers, which report why
    }
    // A newer generation may have been asked for while this one opened.
    if (!this.closed && (this.sessions[spec.index] === null || this.sessions[spec.index]!.spec.generation < spec.generation)) this.sessions[spec.index] = session;
  }

  /** Rows of `model`'s generation that may run inline in one batch (0: send it to a worker). */
  maxRows(model: LoadedModel): number {
    if (!this.active) return 0;
    const s = this.sessions[model.index];
    return s !== null && s.spec.generation === model.generation ? s.maxRows : 0;
  }

  status(model: LoadedModel): InlineStatus | null {
    const s = this.sessions[model.index];
    if (s === null || s.spec.generation !== model.generation) return null;
    const i = model.index;
    return { maxRows: s.maxRows, active: this.active, loopUtilization: this.loopUtilization, oneRowUs: s.costUs.fixed + s.costUs.perRow, perRowUs: s.costUs.perRow, batches: this.batchCount[i], rows: this.rowCount[i] };
  }

  /** Rows of every model run on this thread so far (/metrics, per acceptor thread). */
  get totalRows(): number {
    let n = 0;
    for (const r of this.rowCount) n += r;
    return n;
  }

  /** True while a task runs (an asynchronous backend's run is pending). */
  get running(): boolean {
    return this.busy;
  }

  /**
   * Runs the first `count` batches (each of a model with maxRows ≥ its rows)
   * here. The sink's onReply gets the CTRs, then onCapacity; for a
   * synchronous backend both happen before this returns. The batches' rows are
   * not changed; the caller zeroes them in onReply (as after a worker's copy).
   */
  run(batches: readonly InlineBatch[], count: number, token: T, sink: InlineSink<T>): void {
    this.busy = true;
    this.batches = batches;
    for (let i = 0; i < count; i++) this.taskSessions[i] = this.sessions[batches[i].model.index];
    this.count = count;
    this.token = token;
    this.sink = sink;
    this.step(0);
  }

  /** Runs batch i onward; returns early when a run is asynchronous (its settle goes on from there). */
  private step(i: number): void {
    for (; i < this.count; i++) {
      const b = this.batches[i];
      const s = this.taskSessions[i]!;
      const started = now();
      let out: Promise<Outputs> | Outputs;
      try {
        out = s.run(b.features.subarray(0, b.rows * b.model.width), b.rows);
      } catch (err) {
        this.finishPart(i, started, null, err);
        continue;
      }
      if (out instanceof Promise) {
        const at = i;
        out.then((o) => this.finishPart(at, started, o, null), (err: unknown) => this.finishPart(at, started, null, err))
          .then(() => this.step(at + 1));
        return;
      }
      this.finishPart(i, started, out, null);
    }
    this.done();
  }

  private finishPart(i: number, started: number, out: Outputs | null, err: unknown): void {
    const b = this.batches[i];
    const s = this.taskSessions[i]!;
    const ctr = this.ctr[b.model.index];
    let error: string | null = null;
    if (out !== null) {
      try {
        writeCtr(s.spec, out[s.spec.outputName]?.data ?? [], b.rows, ctr);
      } catch (e) {
        error = (e as Error).message || String(e);
      }
    } else error = (err as Error)?.message || String(err);
    const finished = now();
    this.batchCount[b.model.index]++;
    this.rowCount[b.model.index] += b.rows;
    if (error === null) this.recorder.recordBatch(b.model.index, b.rows, (started - b.oldestEnqueuedAt) * 1000, (finished - started) * 1000, ctr);
    else this.recorder.recordFailure(b.model.index, b.rows);
    this.parts[i].error = error;
  }

  private done(): void {
    const sink = this.sink!, token = this.token!;
    this.busy = false;
    this.batches = [];
    this.token = null;
    this.sink = null;
    sink.onReply(token, this.reply, this.ctr);
    for (let i = 0; i < this.count; i++) {
      this.parts[i].error = null;
      this.taskSessions[i] = null;
    }
    sink.onCapacity();
  }

  /** No new session opens after this (a reload racing the shutdown). */
  close(): void {
    this.closed = true;
    clearInterval(this.gate);
  }
}
