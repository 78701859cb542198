// One thread's share of a load run over raw keep-alive sockets (one request in
// flight per connection, no pipelining).
//
// Open loop: request g of the run is *scheduled* at start + g/rate whatever
// happened before, and its latency runs from when it fell due, so a server
// stall that holds every connection (and so delays later sends) shows up in
// the tail instead of being hidden (no coordinated omission). Node cannot wake
// between 1 ms timer ticks without spinning a core the server needs, so "fell
// due" is the first generator wake-up at or after the scheduled time; that
// lateness is reported apart as sendLag, and the strict from-schedule figure
// is kept too. Closed loop: each connection sends its next request as soon as
// the previous answer arrives; that measures maximum throughput, and its
// latencies are service times only.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { encodeHistogram, newHistogram, recordMs } from './histogram.js';
import { HttpParseError, parseResponses } from './http_parse.js';
import type { LoadMode, RunCounts, SliceSpec } from './load_types.js';

export type { LoadMode } from './load_types.js';


export interface ThreadSpec {
  host: string;
  port: number;
  mode: LoadMode;
  /** Whole-run offered rate in requests/s (open loop). */
  rate: number;
  /** This thread's connections. */
  connections: number;
  /** Absolute start time (performance.timeOrigin-based epoch ms) shared by all threads. */
  startAt: number;
  warmupMs: number;
  durationMs: number;
  /** How long to wait after the end for answers still owed. */
  drainMs: number;
  /** This thread sends global schedule slots thread, thread+threads, … */
  thread: number;
  threads: number;
  requests: Buffer[];
  slice?: SliceSpec;
  /** Keep the body of the first response, to show in the report. */
  keepSample: boolean;
}

export interface ThreadResult extends RunCounts {
  /**
   * Encoded HDR histograms (µs). latency: from the first generator wake-up at
   * or after the scheduled time (waiting for a free connection counts; the
   * generator's timer granularity does not). strict: from the scheduled time
   * itself. service: send → answer. sendLag: scheduled → first wake-up.
   */
  latency: string;
  strict: string;
  service: string;
  sendLag: string;
  /** Event-loop utilisation of this thread over the measured window (1 = saturated). */
  elu: number;
}

interface Conn {
  id: number;
  socket: net.Socket | null;
  ready: boolean;
  busy: boolean;
  /** Scheduled time (open loop) or send time (closed loop) of the request in flight. */
  sched: number;
  /** First generator wake-up at or after `sched` (open loop). */
  seen: number;
  sent: number;
  measured: boolean;
  rest: Buffer | null;
}

export function runThread(spec: ThreadSpec): Promise<ThreadResult> {
  return new Promise((resolve) => {
    const t0 = spec.startAt - performance.timeOrigin; // start on this thread's clock
    const measureFrom = t0 + spec.warmupMs;
    const endAt = measureFrom + spec.durationMs;
    const drainUntil = endAt + spec.drainMs;
    const open = spec.mode === 'open';
    const interval = 1000 / spec.rate; // global spacing between scheduled sends
    const pool = spec.requests;
    const poolN = pool.length;

    const latency = newHistogram();
    const strict = newHistogram();
    const service = newHistogram();
    const sendLag = newHistogram();
    const statuses: Record<string, number> = {};
    const errors: Record<string, number> = {};
    let offered = 0;
    let completed = 0;
    let ok = 0;
    let sample: string | undefined;
    let finished = false;
    let elu0 = performance.eventLoopUtilization();
    let eluStarted = false;
    let eluMeasured = 0;
    let backlogMax = 0;

    // Open-loop schedule: this thread's k-th slot is global slot thread + k*threads.
    let k = 0;
    let nextPool = spec.thread;
    const sl = spec.slice;
    const perWindow = sl === undefined ? 0 : Math.max(1, Math.round(sl.onMs / interval));
    const schedOf = sl === undefined
      ? (kk: number) => t0 + (spec.thread + kk * spec.threads) * interval
      : (kk: number) => {
        const g = spec.thread + kk * spec.threads;
        const cycle = Math.floor(g / perWindow);
        return t0 + cycle * sl.periodMs + sl.onFromMs + (g - cycle * perWindow) * interval;
      };
    // Slots [k, kSeen) fell due and were noticed but not sent yet (no free
    // connection). runs record, for contiguous slot ranges, the wake-up that
    // noticed them: slots below runEnd[i] were first seen at runSeen[i].
    let kSeen = 0;
    const runEnd: number[] = [];
    const runSeen: number[] = [];
    let runHead = 0;

    const idle: Conn[] = [];
    const conns: Conn[] = [];
    const bump = (m: Record<string, number>, key: string) => { m[key] = (m[key] ?? 0) + 1; };

    function send(c: Conn, sched: number, seen: number, now: number): void {
      c.busy = true;
      c.sched = sched;
      c.seen = seen;
      c.sent = now;
      c.measured = sched >= measureFrom && sched < endAt;
      if (c.measured) { offered++; if (open) recordMs(sendLag, seen - sched); }
      c.socket!.write(pool[nextPool]);
      nextPool += spec.threads;
      if (nextPool >= poolN) nextPool %= poolN;
    }

    /** Sends every open-loop slot that is due, while connections are free. */
    function pump(now: number): void {
      const before = kSeen;
      for (let s = schedOf(kSeen); s <= now && s < endAt; s = schedOf(kSeen)) kSeen++;
      if (kSeen !== before) { runEnd.push(kSeen); runSeen.push(now); }
      while (idle.length > 0 && k < kSeen) {
        while (runEnd[runHead] <= k) runHead++;
        send(idle.pop()!, schedOf(k), runSeen[runHead], now);
        k++;
      }
      if (kSeen - k > backlogMax) backlogMax = kSeen - k;
      if (runHead > 1024) { runEnd.splice(0, runHead); runSeen.splice(0, runHead); runHead = 0; }
    }

    /** Closed loop: every free connection sends at once (at the start, or after a reconnect). */
    function startClosed(now: number): void {
      if (now < t0 || now >= endAt) return;
      while (idle.length > 0) send(idle.pop()!, now, now, now);
    }

    function onAnswer(c: Conn, status: number): void {
      const now = performance.now();
      c.busy = false;
      if (c.measured) {
        completed++;
        bump(statuses, String(status));
        if (status >= 200 && status < 300) ok++;
        recordMs(latency, now - c.seen);
        recordMs(strict, now - c.sched);
        recordMs(service, now - c.sent);
      }
      if (finished) return;
      if (!eluStarted && now >= measureFrom) { eluStarted = true; elu0 = performance.eventLoopUtilization(); }
      if (!c.ready) return;
      if (open) {
        // Every wake-up is a chance to send what fell due, so sends stay far
        // more punctual than the 1 ms timer alone would allow.
        idle.push(c);
        pump(now);
      } else if (now < endAt) {
        send(c, now, now, now);
      }
      maybeDone(now);
    }

    function fail(c: Conn, kind: string): void {
      if (c.socket !== null) { c.socket.removeAllListeners(); c.socket.destroy(); c.socket = null; }
      const i = idle.indexOf(c);
      if (i >= 0) idle.splice(i, 1);
      if (c.busy) {
        c.busy = false;
        if (c.measured) { completed++; bump(errors, kind); }
        // An open-loop slot that died with its connection is not re-sent: it counts as an error.
      }
      c.ready = false;
      if (!finished) setTimeout(() => connect(c), 50);
    }

    function connect(c: Conn): void {
      if (finished) return;
      const socket = net.connect({ host: spec.host, port: spec.port });
      socket.setNoDelay(true);
      c.socket = socket;
      c.rest = null;
      socket.on('connect', () => {
        c.ready = true;
        const now = performance.now();
        idle.push(c);
        if (open) pump(now); else startClosed(now);
      });
      socket.on('data', (chunk: Buffer) => {
        const buf = c.rest === null ? chunk : Buffer.concat([c.rest, chunk]);
        let used: number;
        try {
          used = parseResponses(buf, (status, close, b, bs, be) => {
            if (spec.keepSample && sample === undefined) sample = b.toString('latin1', bs, Math.min(be, bs + 2000));
            if (close) c.ready = false;
            onAnswer(c, status);
            if (close) fail(c, 'closed_by_server');
          });
        } catch (err) {
          if (!(err instanceof HttpParseError)) throw err;
          fail(c, 'bad_response');
          return;
        }
        c.rest = used === buf.length ? null : buf.subarray(used);
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        bump(errors, c.ready ? `socket_${err.code ?? 'error'}` : `connect_${err.code ?? 'error'}`);
        fail(c, 'socket');
      });
      socket.on('close', () => { if (c.socket === socket) fail(c, 'closed'); });
    }

    function maybeDone(now: number): void {
      if (finished || now < endAt) return;
      // Done once every measured request is answered (and, open loop, every slot sent).
      const owed = conns.some((c) => c.busy && c.measured) || (open && schedOf(k) < endAt);
      if (!owed || now >= drainUntil) finish();
    }

    function finish(): void {
      finished = true;
      clearInterval(timer);
      eluMeasured = performance.eventLoopUtilization(elu0).utilization;
      for (const c of conns) {
        if (c.busy && c.measured) { completed++; bump(errors, 'timeout'); }
        c.busy = false;
        if (c.socket !== null) { c.socket.removeAllListeners(); c.socket.on('error', () => {}); c.socket.destroy(); c.socket = null; }
      }
      if (open) {
        // Slots scheduled in the window but never sent: the generator or the connections could not keep up.
        let unsent = 0;
        while (schedOf(k) < endAt) { if (schedOf(k) >= measureFrom) unsent++; k++; }
        if (unsent > 0) { errors.unsent = (errors.unsent ?? 0) + unsent; offered += unsent; }
      }
      resolve({
        latency: encodeHistogram(latency), strict: encodeHistogram(strict), service: encodeHistogram(service), sendLag: encodeHistogram(sendLag),
        offered, completed, ok, statuses, errors, elu: eluMeasured, backlogMax, sample,
      });
    }

    // 1 ms ticks send what fell due between answers; a late tick shows up in
    // sendLag and in the strict from-schedule latency.
    const timer = setInterval(() => {
      const now = performance.now();
      if (!eluStarted && now >= measureFrom) { eluStarted = true; elu0 = performance.eventLoopUtilization(); }
      if (open) pump(now); else startClosed(now);
      maybeDone(now);
    }, 1);

    for (let i = 0; i < spec.connections; i++) {
      const c: Conn = { id: i, socket: null, ready: false, busy: false, sched: 0, seen: 0, sent: 0, measured: false, rest: null };
      conns.push(c);
      connect(c);
    }
  });
}
