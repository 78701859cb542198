// The frames of WS /monitoring/stream and how they are cut down to a model
// filter and encoded. Every frame is a plain object with a `type`:
//
//   hello    — once, first: models and versions, settings, the connection's
//              effective options.
//   snapshot — the coordinator's snapshot (restricted to the connection's
//              models) with the alert events of every tick since the previous
//              snapshot frame, so a coarse interval loses none of them.
//   alert    — at once, when a model's health status or drift severity
//              changes, or an alert is raised or resolved.
import { packr } from '../http_codec.js';
import type { AlertEvent, HealthStatus, Severity, Snapshot } from '../../engine/coordinator/snapshot.js';

export type StreamFormat = 'json' | 'msgpack';

export const STREAM_PROTOCOL = 1;

export interface HelloFrame {
  type: 'hello';
  protocol: number;
  server: 'ctr-engine';
  models: { name: string; version: string }[];
  settings: Record<string, unknown>;
  stream: {
    format: StreamFormat;
    /** The models this connection receives (all of them when it asked for no filter). */
    models: string[];
    /** Frames come at most this often: the requested interval, raised to the minimum. */
    interval_ms: number;
    requested_interval_ms: number | null;
    /** The coordinator's tick: no frame carries news more often than this. */
    tick_ms: number;
    max_backpressure_bytes: number;
    max_payload_length: number;
  };
}

export type SnapshotFrame = { type: 'snapshot'; ticks: number } & Snapshot;

export interface StatusChange {
  model: string;
  what: 'health' | 'drift';
  from: HealthStatus | Severity;
  to: HealthStatus | Severity;
}

export interface AlertFrame {
  type: 'alert';
  seq: number;
  generated_at: string;
  changes: StatusChange[];
  events: AlertEvent[];
  /** The state after the change: overall status and the connection's active alerts. */
  health: { status: HealthStatus; models: Record<string, { status: HealthStatus; drift: Severity }>; alerts: Snapshot['health']['alerts'] };
}

/** The server's settings changed while connected (PUT /ab): the whole settings object, as hello carries it. */
export interface SettingsFrame {
  type: 'settings';
  settings: Record<string, unknown>;
}

export type Frame = HelloFrame | SnapshotFrame | AlertFrame | SettingsFrame;

/** An encoded frame: what uWS sends, and whether as a binary frame. */
export interface Encoded { bytes: string | Uint8Array; binary: boolean }

export function encodeFrame(frame: Frame, format: StreamFormat): Encoded {
  return format === 'msgpack' ? { bytes: packr.pack(frame), binary: true } : { bytes: JSON.stringify(frame), binary: false };
}

export const byteLength = (e: Encoded): number => (typeof e.bytes === 'string' ? Buffer.byteLength(e.bytes) : e.bytes.byteLength);

/** A model filter: null for every model; otherwise a sorted list. Its key names it in caches and topics. */
export interface ModelFilter { models: string[] | null; key: string }

export const ALL_MODELS: ModelFilter = { models: null, key: '*' };

export function makeFilter(models: string[] | null): ModelFilter {
  if (models === null) return ALL_MODELS;
  const sorted = [...new Set(models)].sort();
  return { models: sorted, key: sorted.join(',') };
}

export const filterIncludes = (f: ModelFilter, model: string): boolean => f.models === null || f.models.includes(model);

/** Alerts of the filter's models, and process-wide ones (model ""), which concern every connection. */
export const alertVisible = (f: ModelFilter, model: string): boolean => model === '' || filterIncludes(f, model);

export function filterEvents(f: ModelFilter, events: AlertEvent[]): AlertEvent[] {
  return f.models === null ? events : events.filter((e) => alertVisible(f, e.alert.model));
}

/** The snapshot as a connection with this filter sees it, carrying `events` as its alert events. */
export function snapshotFrame(s: Snapshot, f: ModelFilter, events: AlertEvent[], ticks: number): SnapshotFrame {
  if (f.models === null) return { type: 'snapshot', ticks, ...s, alert_events: events };
  const keep = f.models;
  const pick = <T>(rec: Record<string, T>): Record<string, T> => {
    const out: Record<string, T> = {};
    for (const name of keep) if (rec[name] !== undefined) out[name] = rec[name];
    return out;
  };
  return {
    type: 'snapshot',
    ticks,
    ...s,
    model_order: s.model_order.filter((n) => keep.includes(n)),
    models: pick(s.models),
    health: {
      ...s.health,
      models: pick(s.health.models),
      alerts: s.health.alerts.filter((a) => alertVisible(f, a.model)),
    },
    alert_events: events,
  };
}

export function alertFrame(s: Snapshot, f: ModelFilter, changes: StatusChange[], events: AlertEvent[]): AlertFrame {
  const models: AlertFrame['health']['models'] = {};
  for (const name of s.model_order) {
    if (!filterIncludes(f, name)) continue;
    const m = s.models[name];
    models[name] = { status: m.health.status, drift: m.drift.severity };
  }
  return {
    type: 'alert',
    seq: s.seq,
    generated_at: s.generated_at,
    changes: f.models === null ? changes : changes.filter((c) => filterIncludes(f, c.model)),
    events: filterEvents(f, events),
    health: { status: s.health.status, models, alerts: s.health.alerts.filter((a) => alertVisible(f, a.model)) },
  };
}

/** Health and drift changes between two ticks (nothing for a model first seen). */
export function statusChanges(prev: Map<string, { health: HealthStatus; drift: Severity }>, s: Snapshot): StatusChange[] {
  const out: StatusChange[] = [];
  for (const name of s.model_order) {
    const m = s.models[name];
    const now = { health: m.health.status, drift: m.drift.severity };
    const before = prev.get(name);
    if (before) {
      if (before.health !== now.health) out.push({ model: name, what: 'health', from: before.health, to: now.health });
      if (before.drift !== now.drift) out.push({ model: name, what: 'drift', from: before.drift, to: now.drift });
    }
    prev.set(name, now);
  }
  return out;
}
