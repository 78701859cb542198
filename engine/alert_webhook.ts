// ALERT_WEBHOOK_URL: alerts raised and cleared, and health changes, POSTed
// as JSON that both Slack incoming webhooks and Alertmanager-style receivers
// read: an Alertmanager webhook message (version "4": status, alerts with
// labels, annotations, startsAt/endsAt) with a top-level "text" line for
// Slack, and the engine's own event under "ctr_engine". README describes it.
//
// Never in the way of serving: send() queues and returns; one delivery at a
// time, each with a timeout, retried with backoff a bounded number of times;
// the queue is bounded (the oldest is dropped, and counted). Timers are
// unref'd, so a webhook that hangs never keeps the process alive.
import { hostname } from 'node:os';
import { request } from 'undici';
import type { Logger } from './logger.js';

export type OperatorEvent =
  | { type: 'alert'; event: 'raised' | 'resolved'; model: string; kind: string; severity: 'warning' | 'critical'; message: string; since: string; at: string }
  | { type: 'health'; model: string; from: string; to: string; detail: string; at: string };

export interface WebhookOptions {
  /** Per attempt. Default 5000. */
  timeoutMs?: number;
  /** Attempts after the first. Default 3. */
  retries?: number;
  /** First backoff; doubles each retry. Default 500. */
  backoffMs?: number;
  /** Events waiting beyond this drop the oldest. Default 100. */
  maxQueue?: number;
  log: Logger;
}

export interface WebhookStats { sent: number; failed: number; dropped: number; queued: number }

const ALERT_NAMES: Record<string, string> = {
  error_rate: 'CtrErrorRate', latency_p99: 'CtrLatencyP99', drift: 'CtrPredictionDrift', workers: 'CtrWorkersDown', mlflow: 'CtrMlflowDown',
  calibration: 'CtrCalibration', unknown_values: 'CtrUnknownCategoryValues',
};

/** The JSON body for one event (exported for the README and the test). */
export function webhookBody(e: OperatorEvent, instance = hostname()): Record<string, unknown> {
  const scope = e.model === '' ? 'the server' : `model ${e.model}`;
  let status: 'firing' | 'resolved';
  let labels: Record<string, string>;
  let annotations: Record<string, string>;
  let startsAt: string;
  let endsAt = '0001-01-01T00:00:00Z';
  let text: string;
  if (e.type === 'alert') {
    status = e.event === 'raised' ? 'firing' : 'resolved';
    labels = { alertname: ALERT_NAMES[e.kind] ?? `Ctr_${e.kind}`, service: 'ctr-engine', instance, model: e.model, kind: e.kind, severity: e.severity };
    annotations = { summary: `${e.severity} ${e.kind} alert ${e.event === 'raised' ? 'raised' : 'cleared'} on ${scope}`, description: e.message };
    startsAt = e.since;
    if (status === 'resolved') endsAt = e.at;
    text = `${status === 'firing' ? (e.severity === 'critical' ? '🔴' : '🟠') : '✅'} ctr-engine@${instance}: ${annotations.summary}: ${e.message}`;
  } else {
    status = e.to === 'healthy' ? 'resolved' : 'firing';
    labels = { alertname: 'CtrHealthChanged', service: 'ctr-engine', instance, model: e.model, severity: e.to === 'unhealthy' ? 'critical' : e.to === 'degraded' ? 'warning' : 'info' };
    annotations = { summary: `${scope} is ${e.to} (was ${e.from})`, description: e.detail };
    startsAt = e.at;
    if (status === 'resolved') endsAt = e.at;
    text = `${e.to === 'healthy' ? '✅' : e.to === 'unhealthy' ? '🔴' : '🟠'} ctr-engine@${instance}: ${annotations.summary}${e.detail ? ` — ${e.detail}` : ''}`;
  }
  return {
    text,
    version: '4',
    receiver: 'ctr-engine',
    status,
    groupKey: `ctr-engine/${instance}/${labels.alertname}/${e.model}`,
    truncatedAlerts: 0,
    groupLabels: { alertname: labels.alertname },
    commonLabels: labels,
    commonAnnotations: annotations,
    externalURL: '',
    alerts: [{ status, labels, annotations, startsAt, endsAt, generatorURL: '', fingerprint: `${labels.alertname}:${e.model}` }],
    ctr_engine: e,
  };
}

const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms).unref());

export class AlertWebhook {
  private readonly queue: OperatorEvent[] = [];
  private pumping: Promise<void> | null = null;
  private closed = false;
  readonly stats: WebhookStats = { sent: 0, failed: 0, dropped: 0, queued: 0 };
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxQueue: number;

  constructor(private readonly url: string, private readonly opts: WebhookOptions) {
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.retries = opts.retries ?? 3;
    this.backoffMs = opts.backoffMs ?? 500;
    this.maxQueue = opts.maxQueue ?? 100;
  }

  /** Queues the event; returns at once. */
  send(e: OperatorEvent): void {
    if (this.closed) return;
    this.queue.push(e);
    if (this.queue.length > this.maxQueue) {
      this.queue.shift();
      this.stats.dropped++;
      if (this.stats.dropped === 1 || this.stats.dropped % 100 === 0) this.opts.log.warn('webhook queue full, oldest events dropped', { dropped: this.stats.dropped });
    }
    this.stats.queued = this.queue.length;
    this.pumping ??= this.pump().finally(() => { this.pumping = null; });
  }

  private async pump(): Promise<void> {
    while (this.queue.length > 0) {
      const e = this.queue.shift()!;
      this.stats.queued = this.queue.length;
      await this.deliver(e);
    }
  }

  private async deliver(e: OperatorEvent): Promise<void> {
    const body = JSON.stringify(webhookBody(e));
    let last = '';
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await sleep(this.backoffMs * 2 ** (attempt - 1));
      try {
        const res = await request(this.url, {
          method: 'POST', body, headers: { 'content-type': 'application/json', 'user-agent': 'ctr-engine' },
          headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs,
        });
        await res.body.dump();
        if (res.statusCode < 300) {
          this.stats.sent++;
          return;
        }
        last = `HTTP ${res.statusCode}`;
        // 4xx other than 408/429 will not get better by retrying.
        if (res.statusCode < 500 && res.statusCode !== 408 && res.statusCode !== 429) break;
      } catch (err) {
        last = (err as Error).message;
      }
    }
    this.stats.failed++;
    this.opts.log.warn('webhook delivery failed', { event: e.type === 'alert' ? `alert_${e.event}` : 'health_changed', model: e.model, error: last });
  }

  /** Waits up to deadlineMs for the queue to drain (the shutdown's last alerts), then stops. */
  async close(deadlineMs: number): Promise<void> {
    this.closed = true;
    if (this.pumping === null) return;
    await Promise.race([this.pumping, sleep(deadlineMs)]);
  }
}
