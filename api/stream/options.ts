// Stream options: the server's (from the integrator's configuration) and a
// connection's (from the query string at connect).
import type { ErrorCode } from '../../engine/error_codes.js';
import type { ServerConfig } from '../../engine/config.js';
import { makeFilter, type ModelFilter, type StreamFormat } from './frames.js';

export interface StreamOptions {
  /** Interval of a connection that names none, ms. */
  defaultIntervalMs: number;
  /** Shortest interval a connection may ask for, ms (a shorter one is raised to it). */
  minIntervalMs: number;
  /** A client with more than this many bytes queued for it gets no new frame until it drains. */
  maxBackpressureBytes: number;
  /** Largest inbound message, bytes (clients have nothing to say; larger closes the connection). */
  maxPayloadLength: number;
  /** Seconds without traffic from the client before it is closed; uWS pings within it. */
  idleTimeoutS: number;
  /** Consecutive skipped frames after which a stuck client is closed. */
  slowCloseAfterSkips: number;
  /** Open connections, at most; an upgrade past it gets 503 overloaded (each connection holds kernel buffers). Unbounded when absent. */
  maxConnections?: number;
}

export const DEFAULT_STREAM_OPTIONS: StreamOptions = {
  defaultIntervalMs: 1000,
  minIntervalMs: 100,
  maxBackpressureBytes: 256 * 1024,
  maxPayloadLength: 1024,
  idleTimeoutS: 64,
  slowCloseAfterSkips: 10,
};

/** Longest interval a connection may ask for, ms. */
export const MAX_INTERVAL_MS = 600_000;

export interface ConnectionOptions {
  format: StreamFormat;
  filter: ModelFilter;
  intervalMs: number;
  requestedIntervalMs: number | null;
}

export type ParsedQuery =
  | { ok: true; value: ConnectionOptions }
  | { ok: false; code: ErrorCode; field: string; message: string };

export function parseStreamQuery(query: string, known: readonly string[], opts: StreamOptions): ParsedQuery {
  const q = new URLSearchParams(query);
  let format: StreamFormat = 'json';
  const f = q.get('format');
  if (f !== null && f !== '') {
    const v = f.toLowerCase();
    if (v !== 'json' && v !== 'msgpack') return bad('format', `format must be json or msgpack, not "${f}"`);
    format = v;
  }

  let requested: number | null = null;
  let intervalMs = opts.defaultIntervalMs;
  const i = q.get('interval');
  if (i !== null && i !== '') {
    const n = Number(i);
    if (!/^\d+$/.test(i) || !Number.isSafeInteger(n) || n <= 0 || n > MAX_INTERVAL_MS) {
      return bad('interval', `interval must be a whole number of milliseconds from 1 to ${MAX_INTERVAL_MS}, not "${i}"`);
    }
    requested = n;
    intervalMs = n;
  }
  intervalMs = Math.max(intervalMs, opts.minIntervalMs);

  let filter = makeFilter(null);
  const m = q.getAll('models').flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  if (m.length > 0) {
    const unknown = m.filter((name) => !known.includes(name));
    if (unknown.length > 0) {
      return { ok: false, code: 'model_not_found', field: 'models', message: `unknown model${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')}; loaded: ${known.join(', ')}` };
    }
    filter = makeFilter(m);
  }
  return { ok: true, value: { format, filter, intervalMs, requestedIntervalMs: requested } };
}

function bad(field: string, message: string): ParsedQuery {
  return { ok: false, code: 'invalid_request', field, message };
}

/** The stream's options from the configuration (both the main thread and acceptor threads serve the stream). */
export function streamOptions(cfg: ServerConfig): StreamOptions {
  return {
    defaultIntervalMs: cfg.streamIntervalMs,
    minIntervalMs: 100,
    maxBackpressureBytes: cfg.streamMaxBackpressureBytes,
    maxPayloadLength: 1024,
    idleTimeoutS: 64,
    slowCloseAfterSkips: cfg.streamSlowCloseAfterSkips,
    maxConnections: cfg.streamMaxConnections,
  };
}

