// The main thread's side of ACCEPTORS > 1: starts the acceptor threads
// (acceptor_thread.ts), links each one to every inference worker (and to each
// replacement after a crash), keeps them current (snapshots for the stream,
// A/B weights, hot reloads), serves what they forward (forwarded_router.ts),
// records their click labels, and takes them through the drain.
//
// Listening: the main thread listens exclusively when it is alone (a second
// server on the port must fail, not share it). N threads on one port need
// SO_REUSEPORT on every socket, which would let another reuseport server join
// silently; so the port is first proven free with an exclusive bind (node:net,
// no SO_REUSEPORT: it fails while anything listens there), released, and only
// then do the main thread and the acceptors listen with SO_REUSEPORT (uWS's
// default). uWS sets SO_REUSEPORT only for an explicit port, so PORT=0 takes
// the port the proof was given. The race: between the release and the
// listens (well under a millisecond) another process could take the port;
// then our listens fail with the usual message, unless that process also uses
// SO_REUSEPORT under the same user, in which case the two would share it.
import { createServer } from 'node:net';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { EngineCore } from '../../engine/engine_core.js';
import { logger } from '../../engine/logger.js';
import type { ServingObserver } from '../../engine/serving_observer.js';
import { listenError } from '../http_transport.js';
import type { StreamMetrics } from '../stream/index.js';
import type { ForwardedRouter } from './forwarded_router.js';
import { recordForwardedLabels } from './label_forwarder.js';
import type { AcceptorCounters, AcceptorInit, FromAcceptor, ToAcceptor } from './protocol.js';

const log = logger('acceptors');

interface Acceptor {
  index: number;
  worker: Worker;
  port: MessagePort;
  counters: AcceptorCounters | null;
  /** Waiters for the next message of a kind (start, listen, finish, close). */
  waiters: Map<FromAcceptor['kind'], (m: FromAcceptor) => void>;
  exited: Promise<void>;
  gone: boolean;
}

/** Binds `port` exclusively and releases it: the port it got (PORT=0 picks one), or listenError when it is taken. */
export function proveFree(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err) => reject(listenError(host, port, (err as NodeJS.ErrnoException).code)));
    probe.listen({ host, port, exclusive: true }, () => {
      const got = (probe.address() as { port: number }).port;
      probe.close(() => resolve(got));
    });
  });
}

/** Counts the main thread's prediction rows (acceptor 0) for the per-acceptor figures; used only when ACCEPTORS > 1. */
export function countingObserver(inner: ServingObserver, count: { rows: number }): ServingObserver {
  return {
    rowsServed(model, rows, e2eMs) {
      count.rows += rows;
      inner.rowsServed(model, rows, e2eMs);
    },
    requestFailed: (model, code, rows) => inner.requestFailed(model, code, rows),
  };
}

export class AcceptorSet {
  private readonly acceptors: Acceptor[] = [];
  private constructor(private readonly core: EngineCore, private readonly router: ForwardedRouter, private readonly mainRows: { rows: number }) {}

  /**
   * Starts acceptors 1..count-1 and links them to every worker; resolves once
   * each has its models and routes. `router` serves what they forward;
   * `mainRows` counts the main thread's prediction rows (countingObserver).
   */
  static async start(core: EngineCore, count: number, router: ForwardedRouter, settings: Record<string, unknown>, mainRows: { rows: number }): Promise<AcceptorSet> {
    const set = new AcceptorSet(core, router, mainRows);
    const { registry, pool, monitor } = core;
    for (let index = 1; index < count; index++) {
      const { port1, port2 } = new MessageChannel();
      const init: AcceptorInit = {
        index, cfg: core.cfg, backend: core.backend, telemetry: core.telemetry, control: port2,
        models: registry.models.map((m) => ({ name: m.name, folder: m.folder, generation: m.generation, ...(m.failure !== undefined ? { failure: m.failure } : {}) })),
        abWeights: { ...core.router.configuredWeights },
        settings: { ...settings, ab_weights: Object.fromEntries(core.router.weights) },
        snapshot: monitor.latest(),
      };
      const worker = new Worker(new URL('./acceptor_thread.js', import.meta.url), { workerData: init, transferList: [port2], name: `acceptor ${index}` });
      const a: Acceptor = { index, worker, port: port1, counters: null, waiters: new Map(), exited: new Promise((r) => worker.once('exit', () => r())), gone: false };
      worker.on('error', (err) => log.error(`acceptor ${index} failed: ${err.stack ?? err.message}`));
      worker.once('exit', (code) => {
        a.gone = true;
        if (code !== 0) log.error(`acceptor ${index} exited with ${code}; its connections are lost, the other threads keep serving`);
        // Whoever waits on it must not wait forever.
        for (const w of a.waiters.values()) w({ kind: 'failed', message: `acceptor ${index} exited (${code})` });
        a.waiters.clear();
      });
      port1.on('message', (m: FromAcceptor) => set.receive(a, m));
      set.acceptors.push(a);
    }
    // Every worker, now and after each replacement, gets a link to every acceptor.
    pool.onWorkerAttached = (threadId) => {
      for (const a of set.acceptors) set.link(a, threadId);
    };
    const started = await Promise.all(set.acceptors.map((a) => set.next(a, 'started')));
    const failed = started.find((m) => m.kind === 'failed');
    if (failed !== undefined) {
      await set.close();
      throw new Error((failed as { message: string }).message);
    }
    for (const a of set.acceptors) for (const threadId of pool.workerThreads()) set.link(a, threadId);
    monitor.onSnapshot((snapshot) => set.broadcast({ kind: 'snapshot', snapshot }));
    core.onAbWeights.push((split) => set.broadcast({ kind: 'ab', weights: { ...core.router.configuredWeights }, split }));
    core.reloader.onSwitch = (m) => set.broadcast({ kind: 'reload', index: m.index, folder: m.folder, generation: m.generation });
    return set;
  }

  get count(): number {
    return this.acceptors.length + 1;
  }

  private link(a: Acceptor, threadId: number): void {
    if (a.gone) return;
    const { port1, port2 } = new MessageChannel();
    if (!this.core.pool.addLink(threadId, port1)) return;
    this.send(a, { kind: 'link', threadId, port: port2 }, [port2]);
  }

  private send(a: Acceptor, m: ToAcceptor, transfer: MessagePort[] = []): void {
    if (!a.gone) a.port.postMessage(m, transfer);
  }

  private broadcast(m: ToAcceptor): void {
    for (const a of this.acceptors) this.send(a, m);
  }

  private next(a: Acceptor, kind: FromAcceptor['kind']): Promise<FromAcceptor> {
    if (a.gone) return Promise.resolve({ kind: 'failed', message: `acceptor ${a.index} is gone` });
    return new Promise((resolve) => a.waiters.set(kind, resolve));
  }

  private receive(a: Acceptor, m: FromAcceptor): void {
    switch (m.kind) {
      case 'forward':
        this.router.dispatch(m.request, (response) => this.send(a, { kind: 'response', response }));
        return;
      case 'aborted':
        this.router.abort(m.id);
        return;
      case 'labels':
        if (this.core.labels !== null) recordForwardedLabels(this.core.labels, m);
        return;
      case 'counters':
        a.counters = m.counters;
        return;
      case 'failed': {
        // A failure answers whatever the main thread waits for.
        const waiter = a.waiters.values().next().value;
        a.waiters.clear();
        waiter?.(m);
        return;
      }
      default: {
        const kind = m.kind === 'listenFailed' ? 'listening' : m.kind;
        const waiter = a.waiters.get(kind);
        a.waiters.delete(kind);
        waiter?.(m);
      }
    }
  }

  /** Every acceptor listens on `port` with SO_REUSEPORT; rejects (listenError) when one cannot. */
  async listen(host: string, port: number): Promise<void> {
    const replies = await Promise.all(this.acceptors.map((a) => {
      const reply = this.next(a, 'listening');
      this.send(a, { kind: 'listen', port });
      return reply;
    }));
    if (replies.some((r) => r.kind !== 'listening')) throw listenError(host, port, 'an acceptor thread could not listen');
  }

  /** Drain step 1 on every acceptor: responses close their connections (/ready is the main thread's, forwarded). */
  draining(): void {
    this.broadcast({ kind: 'draining' });
  }

  stopListening(): void {
    this.broadcast({ kind: 'stopListening' });
  }

  /** Waits for every acceptor's queued and in-flight rows (within `deadlineMs`); resolves with the rows left. */
  async finish(deadlineMs: number): Promise<number> {
    const replies = await Promise.all(this.acceptors.map((a) => {
      const reply = this.next(a, 'finished');
      this.send(a, { kind: 'finish', deadlineMs });
      return reply;
    }));
    return replies.reduce((n, r) => n + (r.kind === 'finished' ? r.pending : 0), 0);
  }

  /** Closes every acceptor (listener, batcher, stream, app) and waits for its thread to end. */
  async close(): Promise<void> {
    await Promise.all(this.acceptors.map(async (a) => {
      if (!a.gone) {
        const closed = this.next(a, 'closed');
        this.send(a, { kind: 'close' });
        // A thread that does not close in time is ended; a thread ended with its uWS loop open could abort the process, so the wait comes first.
        const timer = setTimeout(() => void a.worker.terminate(), 5000);
        await closed;
        await a.exited;
        clearTimeout(timer);
      }
    }));
    this.core.pool.onWorkerAttached = null;
  }

  /** The acceptors' stream figures added to the main thread's (one view in /metrics). */
  streamMetrics(main: StreamMetrics): StreamMetrics {
    const sum = { ...main };
    for (const a of this.acceptors) {
      const s = a.counters?.stream;
      if (s === undefined) continue;
      for (const k of Object.keys(sum) as (keyof StreamMetrics)[]) sum[k] += s[k];
    }
    return sum;
  }

  /** Prometheus lines: prediction rows answered and requests forwarded, per acceptor thread (as of the last tick for threads 1..). */
  metricsText(): string {
    const rows = [`ctr_acceptor_rows_served_total{acceptor="0"} ${this.mainRows.rows}`];
    const fwd = [`ctr_acceptor_forwarded_total{acceptor="0"} 0`];
    const links = [`ctr_acceptor_worker_links{acceptor="0"} ${this.core.pool.threadsAlive}`];
    const inline = [`ctr_acceptor_inline_rows_total{acceptor="0"} ${this.core.batcher.inline?.totalRows ?? 0}`];
    for (const a of this.acceptors) {
      rows.push(`ctr_acceptor_rows_served_total{acceptor="${a.index}"} ${a.counters?.rowsServed ?? 0}`);
      inline.push(`ctr_acceptor_inline_rows_total{acceptor="${a.index}"} ${a.counters?.inlineRows ?? 0}`);
      fwd.push(`ctr_acceptor_forwarded_total{acceptor="${a.index}"} ${a.counters?.forwarded ?? 0}`);
      links.push(`ctr_acceptor_worker_links{acceptor="${a.index}"} ${a.gone ? 0 : a.counters?.links ?? 0}`);
    }
    return [
      '# HELP ctr_acceptors Acceptor threads serving the port (ACCEPTORS); 0 is the main thread.', '# TYPE ctr_acceptors gauge', `ctr_acceptors ${this.count}`,
      '# HELP ctr_acceptor_rows_served_total Prediction rows answered 200 by each acceptor thread.', '# TYPE ctr_acceptor_rows_served_total counter', ...rows,
      '# HELP ctr_acceptor_forwarded_total Requests an acceptor thread handed to the main thread (everything but predictions).', '# TYPE ctr_acceptor_forwarded_total counter', ...fwd,
      '# HELP ctr_acceptor_inline_rows_total Prediction rows whose inference ran on each acceptor thread itself (INLINE_MAX_US; 0 when off).', '# TYPE ctr_acceptor_inline_rows_total counter', ...inline,
      '# HELP ctr_acceptor_worker_links Inference workers each acceptor thread can send batches to.', '# TYPE ctr_acceptor_worker_links gauge', ...links,
    ].join('\n') + '\n';
  }
}
