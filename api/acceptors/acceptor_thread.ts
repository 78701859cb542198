// An acceptor thread (ACCEPTORS > 1): a uWS app of its own, listening on the
// server's port with SO_REUSEPORT beside the main thread's, so the kernel
// spreads connections across the threads. It serves the prediction routes
// itself, end to end: HTTP parsing, JSON, validation, A/B routing, encoding,
// batching (its own engine/batcher.ts) and dispatch over links of its own to
// every inference worker (engine/worker_links.ts); the worker answers on this
// thread's port, so the reply reaches the thread that owns the socket with no
// extra hop. End-to-end latencies and outcomes go to this thread's own
// telemetry main shard; the coordinator sums the shards.
//
// Every other request (monitoring, admin, feedback, models, probes, docs,
// dashboard, unknown paths) is forwarded whole to the main thread, which runs
// it through the same routes as its own connections (forwarded_router.ts):
// one state, one answer, whichever thread the connection landed on. The
// WebSocket stream is served here, from the snapshots the main thread posts
// every tick (a socket cannot be forwarded). See README, "Several acceptor threads".
import { threadId, workerData, type MessagePort } from 'node:worker_threads';
import { resolve } from 'node:path';
import { AbRouter } from '../../engine/ab_router.js';
import { Batcher, type InFlightTask } from '../../engine/batcher.js';
import type { Monitor } from '../../engine/coordinator/index.js';
import type { Snapshot } from '../../engine/coordinator/snapshot.js';
import { configureLogger, logger } from '../../engine/logger.js';
import { openInline } from '../../engine/inline_setup.js';
import { loadModel, loadModelRegistry } from '../../engine/model_registry.js';
import type { ServingObserver } from '../../engine/serving_observer.js';
import { createMainRecorder, type ErrorCode as TelemetryCode } from '../../engine/telemetry/index.js';
import { WorkerLinks } from '../../engine/worker_links.js';
import { configureBodyLimits } from '../body_request.js';
import { registerPredictRoutes, type PredictContext } from '../predict_handlers.js';
import { closeEveryConnection } from '../respond.js';
import { registerStreamRoutes, streamOptions } from '../stream/index.js';
import { loadUws, type HttpRequest, type HttpResponse, type us_listen_socket } from '../uws_loader.js';
import { LabelForwarder } from './label_forwarder.js';
import type { AcceptorInit, ForwardedRequest, ForwardedResponse, FromAcceptor, ToAcceptor } from './protocol.js';

const init = workerData as AcceptorInit;
const { cfg, index } = init;
const control: MessagePort = init.control;
configureLogger({ format: cfg.logFormat, level: cfg.logLevel });
const log = logger(`acceptor ${index}`);
const post = (m: FromAcceptor) => control.postMessage(m);

function fail(message: string): never {
  post({ kind: 'failed', message });
  throw new Error(message);
}

// The same models as the main thread, by index (the main registry is the truth: same folders, same generations, same failures).
const registry = loadModelRegistry(cfg.modelsDir);
if (registry.models.length !== init.models.length || registry.models.some((m, i) => m.name !== init.models[i].name)) {
  fail(`acceptor ${index}: MODELS_DIR changed while the server started (loaded ${registry.models.map((m) => m.name).join(', ')}; the main thread serves ${init.models.map((m) => m.name).join(', ')})`);
}
for (let i = 0; i < init.models.length; i++) {
  const want = init.models[i];
  if (want.generation !== 0) registry.replace(loadModel(resolve(cfg.modelsDir), want.folder, i, want.generation));
}
const router = new AbRouter(registry.models, init.abWeights);
for (let i = 0; i < init.models.length; i++) {
  const reason = init.models[i].failure;
  if (reason === undefined) continue;
  registry.markFailed(registry.models[i], reason);
  router.exclude(registry.models[i], registry.models);
}

const links = new WorkerLinks<InFlightTask>(registry, { tasksPerWorker: cfg.tasksPerWorker, batchMaxSize: cfg.batchMaxSize });
const batcher = new Batcher(registry, links, {
  batchMaxSize: cfg.batchMaxSize, batchMaxDelayMs: cfg.batchMaxDelayMs, queueBound: cfg.queueBound, requestDeadlineMs: cfg.requestDeadlineMs,
});
// This thread's main shard: one writer per shard.
const recorder = createMainRecorder(init.telemetry, index);
let rowsServed = 0;
let forwarded = 0;
const observer: ServingObserver = {
  rowsServed: (model, rows, e2eMs) => {
    rowsServed += rows;
    recorder.recordSuccess(model, e2eMs * 1000, rows);
  },
  requestFailed: (model, code, rows) => recorder.countError(model, code as TelemetryCode, rows),
};
configureBodyLimits(cfg.maxInflightBodyBytes, cfg.discardBodyBytes);
const labels = cfg.labelCapacity > 0 ? new LabelForwarder(control) : null;
const ctx: PredictContext = {
  registry, router, batcher, observer, labels,
  maxBodyBytes: cfg.maxBodyBytes, maxBatchRequests: cfg.maxBatchRequests, requestDeadlineMs: cfg.requestDeadlineMs,
};

// The stream reads the snapshots the main thread posts.
let snapshot: Snapshot = init.snapshot;
const snapshotListeners = new Set<(s: Snapshot) => void>();
const mirror = {
  latest: () => snapshot,
  onSnapshot(cb: (s: Snapshot) => void) {
    snapshotListeners.add(cb);
    return () => snapshotListeners.delete(cb);
  },
} as Pick<Monitor, 'latest' | 'onSnapshot'> as Monitor;
const settings = { ...init.settings };

const { uws } = loadUws();
const app = uws.App();
registerPredictRoutes(app, ctx);
const hub = registerStreamRoutes(app, uws, {
  monitor: mirror,
  models: registry.models.map((m) => ({ name: m.name, get version() { return registry.models[m.index].version; } })),
  settings,
  opts: streamOptions(cfg),
});

// ── forwarding ────────────────────────────────────────────────────────────
interface Waiting { res: HttpResponse; aborted: boolean }
const waiting = new Map<number, Waiting>();
let nextId = 1;
let draining = false;

function forward(res: HttpResponse, req: HttpRequest): void {
  const id = nextId++;
  const headers: string[] = [];
  req.forEach((k, v) => { headers.push(k, v); });
  const request: ForwardedRequest = { id, method: req.getMethod(), url: req.getUrl(), query: req.getQuery() ?? '', headers, body: null };
  const w: Waiting = { res, aborted: false };
  waiting.set(id, w);
  res.onAborted(() => {
    w.aborted = true;
    waiting.delete(id);
    post({ kind: 'aborted', id });
  });
  forwarded++;
  const length = req.getHeader('content-length');
  if ((length === '' || length === '0') && req.getHeader('transfer-encoding') === '') {
    post({ kind: 'forward', request });
    return;
  }
  // The body, up to one byte past MAX_BODY_BYTES (enough for the main thread's handler to answer 413); the rest is read and dropped.
  const limit = cfg.maxBodyBytes + 1;
  const chunks: Buffer[] = [];
  let size = 0;
  res.onData((chunk, isLast) => {
    if (size < limit) {
      const take = Math.min(chunk.byteLength, limit - size);
      chunks.push(Buffer.from(chunk.slice(0, take)));
      size += take;
    }
    if (!isLast) return;
    request.body = new Uint8Array(Buffer.concat(chunks, size));
    post({ kind: 'forward', request });
  });
}

function answer(r: ForwardedResponse): void {
  const w = waiting.get(r.id);
  if (w === undefined) return;
  waiting.delete(r.id);
  if (w.aborted) return;
  w.res.cork(() => {
    if (r.status !== '') w.res.writeStatus(r.status);
    for (let i = 0; i < r.headers.length; i += 2) w.res.writeHeader(r.headers[i], r.headers[i + 1]);
    w.res.end(r.body, r.close || draining);
  });
}

app.any('/*', forward);

// ── control ───────────────────────────────────────────────────────────────
let listenSocket: us_listen_socket | null = null;

function stopListening(): void {
  if (listenSocket === null) return;
  uws.us_listen_socket_close(listenSocket);
  listenSocket = null;
}

async function finish(deadlineMs: number): Promise<void> {
  const until = performance.now() + deadlineMs;
  while (batcher.pendingWork() > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
  labels?.flush();
  post({ kind: 'finished', pending: batcher.pendingWork() });
}

async function close(): Promise<void> {
  stopListening();
  await batcher.close();
  labels?.flush();
  hub.close();
  // close() exists at runtime in uWS v20.30 but is missing from its typings.
  (app as unknown as { close(): void }).close();
  post({ kind: 'closed' });
  control.close();
}

function counters(): FromAcceptor {
  return { kind: 'counters', counters: { rowsServed, inlineRows: batcher.inline?.totalRows ?? 0, forwarded, links: links.threadsAlive, stream: hub.metrics() } };
}

control.on('message', (m: ToAcceptor) => {
  switch (m.kind) {
    case 'link':
      links.attachPort(m.port, m.threadId, false);
      return;
    case 'response':
      answer(m.response);
      return;
    case 'snapshot':
      snapshot = m.snapshot;
      for (const cb of snapshotListeners) cb(snapshot);
      post(counters());
      return;
    case 'ab':
      try {
        router.setWeights(m.weights, registry.models);
      } catch (err) {
        log.warn(`A/B weights not applied here: ${(err as Error).message}`);
      }
      settings.ab_weights = m.split;
      settings.ab_weights_set_at = new Date().toISOString();
      hub.settingsChanged();
      return;
    case 'reload':
      try {
        const fresh = loadModel(resolve(cfg.modelsDir), m.folder, m.index, m.generation);
        registry.replace(fresh);
        batcher.switchModel(fresh);
        router.refresh(registry.models);
      } catch (err) {
        log.error(`model reload not applied on acceptor ${index}, the previous generation keeps serving here: ${(err as Error).message}`);
      }
      return;
    case 'listen': {
      // SO_REUSEPORT (options 0) on the port the main thread proved free (api/acceptors/acceptor_set.ts).
      const listen = app.listen as unknown as (host: string, port: number, options: number, cb: (s: us_listen_socket | false) => void) => void;
      listen.call(app, cfg.host, m.port, 0, (s) => {
        if (s) listenSocket = s;
        post({ kind: s ? 'listening' : 'listenFailed' });
      });
      return;
    }
    case 'draining':
      draining = true;
      closeEveryConnection(true);
      return;
    case 'stopListening':
      stopListening();
      return;
    case 'finish':
      void finish(m.deadlineMs);
      return;
    case 'close':
      void close();
      return;
  }
});
// Small batches run on this thread too (engine/inline_inference.ts), timed here before it listens.
batcher.inline = await openInline<InFlightTask>(cfg, init.backend, registry, init.telemetry, index);
log.debug(`acceptor ${index} started (thread ${threadId})`);
post({ kind: 'started' });
