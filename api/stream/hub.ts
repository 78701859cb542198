// WS /monitoring/stream: the coordinator's snapshots pushed to connected
// clients, with uWS pub/sub.
//
// Connections that share a format, a model filter and an interval form a
// group, and a group is a uWS topic: one encoded frame, one publish, however
// many subscribers. Each tick the hub builds each distinct (format, filter,
// tick) frame at most once and reuses it across groups and new connections.
//
// Slow consumers never slow or grow the server: before a frame goes out, each
// subscriber's queued bytes are checked; one over the bound is skipped for
// that frame (counted; uWS drops the publish for it too, its maxBackpressure
// being the same bound), and one skipped for N frames in a row is closed. So
// what the server holds for a client is at most the bound plus one frame.
import type { Monitor } from '../../engine/coordinator/monitor.js';
import type { AlertEvent, HealthStatus, Severity, Snapshot } from '../../engine/coordinator/snapshot.js';
import { sendError } from '../respond.js';
import type { HttpRequest, HttpResponse, TemplatedApp, Uws, WebSocket } from '../uws_loader.js';
import type { us_socket_context_t } from '@trufflesuite/uws-js-unofficial/docs/index.js';
import {
  alertFrame, encodeFrame, filterEvents, snapshotFrame, statusChanges, STREAM_PROTOCOL,
  type Encoded, type HelloFrame, type ModelFilter, type StreamFormat,
} from './frames.js';
import { parseStreamQuery, type ConnectionOptions, type StreamOptions } from './options.js';

export const STREAM_PATH = '/monitoring/stream';

/** Close code for a client closed for staying over the backpressure bound (1008: policy violation). */
export const SLOW_CLOSE_CODE = 1008;
export const SHUTDOWN_CLOSE_CODE = 1001;

export interface StreamDeps {
  monitor: Monitor;
  models: { name: string; version: string }[];
  settings: Record<string, unknown>;
  opts: StreamOptions;
}

export interface StreamMetrics {
  /** Open connections. */
  connections: number;
  /** Frames delivered, one per client per frame (hello frames included). */
  framesSent: number;
  /** Frames skipped for clients over the backpressure bound. */
  framesSkipped: number;
  /** Clients closed after slowCloseAfterSkips consecutive skips. */
  slowClosed: number;
  /** Frames encoded (each distinct format, filter and tick once). */
  framesEncoded: number;
  /** Bytes queued in the server for all stream clients now. */
  bufferedBytes: number;
  /** Connections refused at upgrade (bad query, unknown model, over the cap, shutting down). */
  rejected: number;
}

export interface StreamHub {
  metrics(): StreamMetrics;
  /** Tells every connected client the settings changed (a `settings` frame); new clients get them in hello. */
  settingsChanged(): void;
  /** Stop pushing and close every connection (1001). The app itself is the caller's to close. */
  close(): void;
}

interface Conn {
  id: number;
  opts: ConnectionOptions;
  /** Consecutive frames skipped. */
  skips: number;
  open: boolean;
  group: Group | null;
}

type Ws = WebSocket<Conn>;

/** Connections with one format and filter: they share alert frames (one topic). */
interface Stream {
  key: string;
  format: StreamFormat;
  filter: ModelFilter;
  alertTopic: string;
  groups: Map<number, Group>;
  members: number;
}

/** Connections of a stream with one interval: they share snapshot frames (one topic). */
interface Group {
  stream: Stream;
  intervalMs: number;
  topic: string;
  members: Set<Ws>;
  /** When the next frame is due (ms since epoch). */
  nextDue: number;
  /** The hub tick the last frame covered. */
  lastTick: number;
  /** Alert events (filtered) of the ticks since the last frame. */
  pending: AlertEvent[];
}

export function registerStreamRoutes(app: TemplatedApp, uws: Uws, deps: StreamDeps): StreamHub {
  const { monitor, opts } = deps;
  const names = deps.models.map((m) => m.name);
  const streams = new Map<string, Stream>();
  const conns = new Set<Ws>();
  const prevStatus = new Map<string, { health: HealthStatus; drift: Severity }>();
  const m = { framesSent: 0, framesSkipped: 0, slowClosed: 0, framesEncoded: 0, rejected: 0 };
  let current: Snapshot = monitor.latest();
  statusChanges(prevStatus, current);
  let tick = 0;
  /** Frames encoded for the current tick, by stream key and the tick their events start after. */
  let cache = new Map<string, Encoded>();
  let nextId = 1;
  let closed = false;
  /** When the last tick arrived, and the observed spacing of ticks (EWMA, ms). */
  let lastTickAt = 0;
  let tickGap = 0;

  const encoded = (stream: Stream, since: number, build: () => Parameters<typeof encodeFrame>[0]): Encoded => {
    const key = `${stream.key}|${since}`;
    let e = cache.get(key);
    if (!e) {
      e = encodeFrame(build(), stream.format);
      m.framesEncoded++;
      cache.set(key, e);
    }
    return e;
  };

  /** The current tick's frame for a client joining now (this tick's events only). */
  const joinFrame = (stream: Stream): Encoded =>
    encoded(stream, tick - 1, () => snapshotFrame(current, stream.filter, filterEvents(stream.filter, current.alert_events), 1));

  /** Skip accounting for one frame to `members`; returns how many will get it. */
  function account(members: Iterable<Ws>, stuck: Ws[]): number {
    let n = 0;
    for (const ws of members) {
      const c = ws.getUserData();
      if (ws.getBufferedAmount() > opts.maxBackpressureBytes) {
        m.framesSkipped++;
        if (++c.skips >= opts.slowCloseAfterSkips) stuck.push(ws);
      } else {
        c.skips = 0;
        n++;
      }
    }
    return n;
  }

  function publish(topic: string, members: Iterable<Ws>, e: Encoded, stuck: Ws[]): void {
    const n = account(members, stuck);
    // uWS skips the subscribers over maxBackpressure (the same bound) itself.
    if (n > 0) app.publish(topic, e.bytes, e.binary);
    m.framesSent += n;
  }

  function onTick(s: Snapshot): void {
    if (closed) return;
    current = s;
    tick++;
    cache = new Map();
    const now = Date.now();
    const changes = statusChanges(prevStatus, s);
    const events = s.alert_events;
    if (lastTickAt > 0) tickGap = tickGap === 0 ? now - lastTickAt : tickGap * 0.8 + (now - lastTickAt) * 0.2;
    lastTickAt = now;
    const half = Math.min(tickGap || s.tick_ms, 1000) / 2;
    const stuck: Ws[] = [];
    for (const stream of streams.values()) {
      if (changes.length > 0 || events.length > 0) {
        const af = alertFrame(s, stream.filter, changes, events);
        if (af.changes.length > 0 || af.events.length > 0) {
          const e = encodeFrame(af, stream.format);
          m.framesEncoded++;
          publish(stream.alertTopic, allMembers(stream), e, stuck);
        }
      }
      const mine = filterEvents(stream.filter, events);
      for (const g of stream.groups.values()) {
        if (mine.length > 0) g.pending.push(...mine);
        // Due within half a tick: frames come every interval on average, whatever the tick.
        if (now + half < g.nextDue) continue;
        const ticks = tick - g.lastTick;
        const e = encoded(stream, g.lastTick, () => snapshotFrame(s, stream.filter, g.pending, ticks));
        g.pending = [];
        g.lastTick = tick;
        g.nextDue += g.intervalMs;
        if (g.nextDue <= now) g.nextDue = now + g.intervalMs;
        publish(g.topic, g.members, e, stuck);
      }
    }
    for (const ws of stuck) slowClose(ws);
  }

  function* allMembers(stream: Stream): Iterable<Ws> {
    for (const g of stream.groups.values()) yield* g.members;
  }

  function slowClose(ws: Ws): void {
    const c = ws.getUserData();
    if (!c.open) return;
    m.slowClosed++;
    ws.end(SLOW_CLOSE_CODE, `slow consumer: ${c.skips} frames in a row skipped`);
  }

  function join(ws: Ws): void {
    const c = ws.getUserData();
    const { format, filter, intervalMs } = c.opts;
    const skey = `${format}|${filter.key}`;
    let stream = streams.get(skey);
    if (!stream) {
      stream = { key: skey, format, filter, alertTopic: `alert|${skey}`, groups: new Map(), members: 0 };
      streams.set(skey, stream);
    }
    let g = stream.groups.get(intervalMs);
    if (!g) {
      g = { stream, intervalMs, topic: `snapshot|${skey}|${intervalMs}`, members: new Set(), nextDue: Date.now() + intervalMs, lastTick: tick, pending: [] };
      stream.groups.set(intervalMs, g);
    }
    g.members.add(ws);
    stream.members++;
    c.group = g;
    ws.subscribe(g.topic);
    ws.subscribe(stream.alertTopic);
  }

  function leave(ws: Ws, c: Conn): void {
    const g = c.group;
    if (!g) return;
    c.group = null;
    g.members.delete(ws);
    g.stream.members--;
    if (g.members.size === 0) g.stream.groups.delete(g.intervalMs);
    if (g.stream.members === 0) streams.delete(g.stream.key);
  }

  const unsubscribe = monitor.onSnapshot(onTick);

  app.ws<Conn>(STREAM_PATH, {
    compression: uws.DISABLED,
    maxPayloadLength: opts.maxPayloadLength,
    maxBackpressure: opts.maxBackpressureBytes,
    closeOnBackpressureLimit: 0,
    idleTimeout: opts.idleTimeoutS,
    sendPingsAutomatically: true,
    upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t) {
      if (closed) {
        m.rejected++;
        sendError(res, 'not_ready', 'the server is shutting down', false);
        return;
      }
      if (conns.size >= (opts.maxConnections ?? Infinity)) {
        m.rejected++;
        sendError(res, 'overloaded', `the stream already has ${conns.size} connections (STREAM_MAX_CONNECTIONS); poll GET /monitoring/stats instead`, false);
        return;
      }
      const parsed = parseStreamQuery(req.getQuery() ?? '', names, opts);
      if (!parsed.ok) {
        m.rejected++;
        sendError(res, parsed.code, parsed.message, false, parsed.field);
        return;
      }
      const conn: Conn = { id: nextId++, opts: parsed.value, skips: 0, open: false, group: null };
      res.upgrade<Conn>(conn, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'), context);
    },
    open(ws: Ws) {
      const c = ws.getUserData();
      c.open = true;
      conns.add(ws);
      const hello: HelloFrame = {
        type: 'hello',
        protocol: STREAM_PROTOCOL,
        server: 'ctr-engine',
        models: deps.models,
        settings: deps.settings,
        stream: {
          format: c.opts.format,
          models: c.opts.filter.models ?? names,
          interval_ms: c.opts.intervalMs,
          requested_interval_ms: c.opts.requestedIntervalMs,
          tick_ms: current.tick_ms,
          max_backpressure_bytes: opts.maxBackpressureBytes,
          max_payload_length: opts.maxPayloadLength,
        },
      };
      join(ws);
      const h = encodeFrame(hello, c.opts.format);
      const first = joinFrame(c.group!.stream);
      ws.cork(() => {
        ws.send(h.bytes, h.binary);
        ws.send(first.bytes, first.binary);
      });
      m.framesSent += 2;
    },
    message() {
      // Clients have nothing to say: options are fixed at connect. Ignored.
    },
    close(ws: Ws) {
      const c = ws.getUserData();
      c.open = false;
      conns.delete(ws);
      leave(ws, c);
    },
  });

  return {
    settingsChanged() {
      if (closed) return;
      const byFormat = new Map<string, ReturnType<typeof encodeFrame>>();
      for (const ws of conns) {
        const format = ws.getUserData().opts.format;
        let e = byFormat.get(format);
        if (e === undefined) byFormat.set(format, (e = encodeFrame({ type: 'settings', settings: deps.settings }, format)));
        ws.send(e.bytes, e.binary);
        m.framesSent++;
      }
    },
    metrics(): StreamMetrics {
      let buffered = 0;
      for (const ws of conns) buffered += ws.getBufferedAmount();
      return { connections: conns.size, ...m, bufferedBytes: buffered };
    },
    close() {
      if (closed) return;
      closed = true;
      unsubscribe();
      for (const ws of [...conns]) ws.end(SHUTDOWN_CLOSE_CODE, 'server shutting down');
    },
  };
}
