// What an operator is told: from each snapshot the coordinator posts to the
// main thread (Monitor.onSnapshot, once per tick, never on the request path),
// one log line per alert raised or cleared and per health change (the whole
// server and each model), each also handed to the alert webhook when one is
// configured.
import type { Monitor, Snapshot } from './coordinator/index.js';
import type { AlertWebhook, OperatorEvent } from './alert_webhook.js';
import type { Logger } from './logger.js';

export interface OperatorEvents {
  /** Stops listening; the webhook (if any) gets deadlineMs to deliver what is queued. */
  close(deadlineMs: number): Promise<void>;
}

/** The failing checks behind a status, in one line. */
function why(checks: { name: string; status: string; detail: string }[]): string {
  return checks.filter((c) => c.status !== 'pass').map((c) => `${c.name}: ${c.detail}`).join('; ');
}

/**
 * `ready` resolves once the workers are up: until then the server is
 * unhealthy by design (no worker alive), so nothing is reported; the first
 * snapshot with every worker counted sets the statuses, and what is wrong in
 * it already (alerts active, a status other than healthy) is reported.
 */
export function watchOperatorEvents(monitor: Monitor, log: Logger, webhook: AlertWebhook | null, ready: Promise<void>): OperatorEvents {
  const status = new Map<string, string>();
  let isReady = false;
  let armed = false;
  ready.then(() => { isReady = true; }, () => {});
  const seed = (s: Snapshot) => {
    status.set('', s.health.status);
    for (const [m, h] of Object.entries(s.health.models)) status.set(m, h.status);
  };
  const emit = (e: OperatorEvent) => {
    if (e.type === 'alert') {
      const fields = { model: e.model === '' ? undefined : e.model, kind: e.kind, severity: e.severity, message: e.message };
      if (e.event === 'raised') log[e.severity === 'critical' ? 'error' : 'warn']('alert raised', fields);
      else log.info('alert cleared', { ...fields, since: e.since });
    } else {
      const level = e.to === 'unhealthy' ? 'error' : e.to === 'degraded' ? 'warn' : 'info';
      log[level]('health changed', { model: e.model === '' ? '(server)' : e.model, from: e.from, to: e.to, why: e.detail || undefined });
    }
    webhook?.send(e);
  };
  const off = monitor.onSnapshot((s) => {
    if (!armed) {
      if (!isReady || s.workers.alive < s.workers.expected) return;
      armed = true;
      // What is already wrong at start is news too: from "starting".
      for (const [m, h] of Object.entries(s.health.models)) {
        if (h.status !== 'healthy') emit({ type: 'health', model: m, from: 'starting', to: h.status, detail: why(h.checks), at: s.generated_at });
      }
      if (s.health.status !== 'healthy') emit({ type: 'health', model: '', from: 'starting', to: s.health.status, detail: '', at: s.generated_at });
      seed(s);
      for (const a of s.health.alerts) emit({ type: 'alert', event: 'raised', model: a.model, kind: a.kind, severity: a.severity, message: a.message, since: a.since, at: s.generated_at });
      return;
    }
    for (const ev of s.alert_events) {
      emit({ type: 'alert', event: ev.event, model: ev.alert.model, kind: ev.alert.kind, severity: ev.alert.severity, message: ev.alert.message, since: ev.alert.since, at: ev.at });
    }
    for (const [m, h] of Object.entries(s.health.models)) {
      const prev = status.get(m);
      if (prev !== undefined && prev !== h.status) emit({ type: 'health', model: m, from: prev, to: h.status, detail: why(h.checks), at: s.generated_at });
      status.set(m, h.status);
    }
    const prev = status.get('');
    if (prev !== undefined && prev !== s.health.status) {
      const top = Object.values(s.health.checks).filter((c) => c !== undefined);
      emit({ type: 'health', model: '', from: prev, to: s.health.status, detail: why(top), at: s.generated_at });
    }
    status.set('', s.health.status);
  });
  return {
    async close(deadlineMs) {
      off();
      await webhook?.close(deadlineMs);
    },
  };
}
