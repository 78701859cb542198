// ALERT_WEBHOOK_URL and the operator's log, against the real server and a
// real local receiver (node:http on a loopback port): an alert raised by real
// traffic (a latency objective no request can meet) arrives as a JSON POST in
// the documented Slack/Alertmanager shape even though the receiver fails the
// first attempt (retry), health changes arrive too, and both clear when the
// window empties; the log (LOG_FORMAT=json) has one line per alert and health
// change and one for the final MLflow flush. Then the webhook's bounds in
// process: a receiver that never answers costs send() nothing, the queue
// drops its oldest beyond the bound, close() returns at its deadline.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AlertWebhook, type OperatorEvent } from '../engine/alert_webhook.js';
import { logger } from '../engine/logger.js';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';
import { GOOD } from './support/request_errors.js';

type Json = Record<string, any>;

/** A receiver on a loopback port: answers with `reply(n)` for the n-th request (0-based), records the bodies. */
async function receiver(reply: (n: number, req: IncomingMessage, res: ServerResponse) => void) {
  const bodies: Json[] = [];
  const waiters: Array<() => void> = [];
  let n = 0;
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      const i = n++;
      try { bodies.push({ ...JSON.parse(data), _attempt: i, _type: req.headers['content-type'] }); } catch { bodies.push({ _raw: data, _attempt: i }); }
      waiters.splice(0).forEach((w) => w());
      reply(i, req, res);
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  /** Resolves once a received body satisfies `pred` (the test's own timeout bounds it). */
  const until = async (pred: (b: Json) => boolean): Promise<Json> => {
    for (;;) {
      const hit = bodies.find(pred);
      if (hit) return hit;
      await new Promise<void>((res) => waiters.push(res));
    }
  };
  return { url, bodies, until, close: () => new Promise<void>((res) => { server.closeAllConnections(); server.close(() => res()); }) };
}

describe('alert webhook and log lines, real server', { timeout: 120_000 }, () => {
  let hook: Awaited<ReturnType<typeof receiver>>;
  let server: ServerProcess;
  let client: TestClient;

  before(async () => {
    // The first delivery fails with 503: the server must retry.
    hook = await receiver((i, _req, res) => {
      res.writeHead(i === 0 ? 503 : 200, { 'content-type': 'text/plain' });
      res.end(i === 0 ? 'busy' : 'ok');
    });
    server = await startServerProcess({
      ALERT_WEBHOOK_URL: hook.url, LOG_FORMAT: 'json', MONITOR_TICK_MS: '100', MONITOR_WINDOWS_S: '5,60',
      // No request can meet 0.01 ms: the first one makes the latency check fail.
      LATENCY_OBJECTIVE_MS: '0.01', LATENCY_MIN_REQUESTS: '1', REQUEST_DEADLINE_MS: '10000',
    }, 60_000);
    client = new TestClient(server.url, 2);
  });
  after(async () => {
    await client?.pool.close();
    if (server && server.child.exitCode === null) await server.stop();
    await hook?.close();
  });

  test('an alert raised by traffic reaches the receiver in the documented shape, after a failed first attempt', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await client.postJson('/predict_ctr', { ...GOOD, model: 'xgboost' })).status, 200);
    // Attempt 0 was answered 503; what it carried arrives again.
    const raised = await hook.until((b) => b._attempt > 0 && b.ctr_engine?.type === 'alert' && b.ctr_engine.event === 'raised' && b.ctr_engine.kind === 'latency_p99');
    const failed = hook.bodies[0];
    await hook.until((b) => b._attempt > 0 && JSON.stringify(b.ctr_engine) === JSON.stringify(failed.ctr_engine));
    assert.equal(raised._type, 'application/json');
    // Alertmanager webhook v4 …
    assert.equal(raised.version, '4');
    assert.equal(raised.status, 'firing');
    assert.equal(raised.alerts.length, 1);
    const a = raised.alerts[0];
    assert.equal(a.status, 'firing');
    assert.equal(a.labels.alertname, 'CtrLatencyP99');
    assert.equal(a.labels.model, 'xgboost');
    assert.equal(a.labels.severity, 'critical');
    assert.ok(!Number.isNaN(Date.parse(a.startsAt)));
    assert.match(a.annotations.description, /p99/);
    // … with Slack's text line.
    assert.match(raised.text, /xgboost/);
    const health = await hook.until((b) => b.ctr_engine?.type === 'health' && b.ctr_engine.model === 'xgboost' && b.ctr_engine.to === 'unhealthy');
    // "starting" when the first requests were in the snapshot the server began reporting from.
    assert.ok(['healthy', 'starting'].includes(health.ctr_engine.from), health.ctr_engine.from);
    assert.match(health.ctr_engine.detail, /latency_p99/);
  });

  test('the alert clears when the window empties, and the receiver hears that too', async () => {
    const cleared = await hook.until((b) => b.ctr_engine?.type === 'alert' && b.ctr_engine.event === 'resolved' && b.ctr_engine.kind === 'latency_p99' && b.ctr_engine.model === 'xgboost');
    assert.equal(cleared.status, 'resolved');
    assert.notEqual(cleared.alerts[0].endsAt, '0001-01-01T00:00:00Z');
    await hook.until((b) => b.ctr_engine?.type === 'health' && b.ctr_engine.model === 'xgboost' && b.ctr_engine.to === 'healthy');
  });

  test('the log has one JSON line per alert and health change, and one for the final MLflow flush', async () => {
    assert.equal(await server.stop(), 0);
    const lines = server.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Json);
    assert.ok(lines.length > 5);
    for (const l of lines) {
      assert.ok(['debug', 'info', 'warn', 'error'].includes(l.level), JSON.stringify(l));
      assert.ok(!Number.isNaN(Date.parse(l.time)));
    }
    const raised = lines.filter((l) => l.msg === 'alert raised' && l.kind === 'latency_p99' && l.model === 'xgboost');
    assert.equal(raised.length, 1, 'one line per alert raised');
    assert.equal(raised[0].level, 'error');
    assert.equal(lines.filter((l) => l.msg === 'alert cleared' && l.kind === 'latency_p99' && l.model === 'xgboost').length, 1);
    assert.ok(lines.some((l) => l.msg === 'health changed' && l.model === 'xgboost' && l.to === 'unhealthy'));
    assert.ok(lines.some((l) => l.msg === 'health changed' && l.model === '(server)'));
    const flush = lines.find((l) => /^final MLflow flush done/.test(l.msg));
    assert.ok(flush, 'a line says the final MLflow flush is done');
    assert.match(flush.msg, /0 dropped/);
    assert.ok(lines.some((l) => l.msg === 'configuration' && Array.isArray(l.config)));
    assert.ok(!server.output().includes('AB_WEIGHTS {}'));
  });
});

describe('alert webhook bounds, in process', () => {
  const event = (i: number): OperatorEvent => ({ type: 'health', model: `m${i}`, from: 'healthy', to: 'degraded', detail: '', at: new Date().toISOString() });

  test('a receiver that never answers: send() returns at once, the queue keeps its bound, close() returns at its deadline', async () => {
    const hung: ServerResponse[] = [];
    const hook = await receiver((_i, _req, res) => hung.push(res));
    const warnings: string[] = [];
    const log = { ...logger('test'), warn: (m: string) => warnings.push(m) };
    const w = new AlertWebhook(hook.url, { log, maxQueue: 3, timeoutMs: 60_000, retries: 0 });
    for (let i = 0; i < 10; i++) w.send(event(i));
    // One in flight (hung), three queued, the rest dropped oldest first.
    assert.equal(w.stats.queued, 3);
    assert.equal(w.stats.dropped, 6);
    assert.deepEqual(warnings, ['webhook queue full, oldest events dropped']);
    await w.close(50);
    assert.equal(w.stats.sent, 0);
    hung.forEach((r) => r.destroy());
    await hook.close();
  });

  test('a 4xx is not retried; a refused connection is retried, then reported', async () => {
    // The webhook's timers are unref'd (it never keeps a process alive); this test's process needs keeping.
    const keep = setInterval(() => {}, 1000);
    const hook = await receiver((_i, _req, res) => { res.writeHead(400); res.end(); });
    const warnings: Json[] = [];
    const log = { ...logger('test'), warn: (_m: string, f?: Json) => warnings.push(f ?? {}) };
    const w = new AlertWebhook(hook.url, { log, retries: 3, backoffMs: 1 });
    w.send(event(1));
    await w.close(10_000);
    assert.equal(hook.bodies.length, 1, 'one attempt for a 400');
    assert.equal(w.stats.failed, 1);
    assert.equal(warnings[0].error, 'HTTP 400');
    await hook.close();

    const refused = new AlertWebhook(hook.url, { log, retries: 2, backoffMs: 1 });
    refused.send(event(2));
    await refused.close(10_000);
    assert.equal(refused.stats.failed, 1);
    assert.match(String(warnings[1].error), /ECONNREFUSED|connect/i);
    clearInterval(keep);
  });
});
