// Issue 14 item 7: a rolling restart must not drop requests. On SIGTERM the
// server turns /ready to 503, keeps serving for DRAIN_GRACE_MS with
// `Connection: close` on every response (keep-alive connections opened
// before the signal included), then stops listening, finishes, flushes and
// exits 0, logging each phase. Both front ends; raw sockets, so the
// Connection header and the server's close are seen as sent.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { rawExchange, rawGet, rawPost } from './support/raw_http.js';
import { GOOD } from './support/request_errors.js';

/** Resolves when the server's output matches `re`; rejects (rather than hang) after `guardMs`. */
export function waitForOutput(s: ServerProcess, re: RegExp, guardMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = () => {
      if (re.test(s.output())) return resolve();
      if (s.child.exitCode !== null || Date.now() - started > guardMs) return reject(new Error(`no ${re} in the output:\n${s.output()}`));
      setTimeout(poll, 20);
    };
    poll();
  });
}

const exitCode = (s: ServerProcess) => new Promise<number | null>((r) => (s.child.exitCode !== null ? r(s.child.exitCode) : s.child.once('exit', (c) => r(c))));

for (const entry of ['api', 'native-free'] as const) {
  describe(`drain on SIGTERM (${entry === 'api' ? 'uWS' : 'node:http'})`, () => {
    test('/ready 503, requests still served with Connection: close through the grace period, then phases logged and exit 0', async () => {
      // Long enough for the steps below on a busy machine; the test waits for log lines, never for time.
      const s = await startServerProcess({ DRAIN_GRACE_MS: '4000' }, 60_000, { entry });
      const body = JSON.stringify(GOOD);
      // A keep-alive connection opened before the signal, as a balancer's pool has them.
      const before = await rawExchange(s.port, [rawGet('/ready')], 1);
      assert.equal(before.responses[0].status, 200);

      s.child.kill('SIGTERM');
      await waitForOutput(s, /drain 1\/4/);

      const ready = await rawExchange(s.port, [rawGet('/ready')], 1);
      assert.equal(ready.responses[0].status, 503, ready.raw);
      assert.equal(JSON.parse(ready.responses[0].body).error.code, 'not_ready');
      assert.equal(ready.responses[0].headers.connection, 'close');

      // A new connection during the grace period: served, and told to close.
      const during = await rawExchange(s.port, [rawPost('/predict_ctr', body)], 1);
      assert.equal(during.responses[0].status, 200, during.raw);
      assert.ok(JSON.parse(during.responses[0].body).ctr > 0);
      assert.equal(during.responses[0].headers.connection, 'close');

      // /health is liveness: still 200 while draining.
      const health = await rawExchange(s.port, [rawGet('/health')], 1);
      assert.equal(health.responses[0].status, 200);

      assert.equal(await exitCode(s), 0, s.output());
      const out = s.output();
      const phases = [/drain 1\/4/, /drain 2\/4: grace over, listener closed/, /drain 3\/4: in-flight work done/, /drain 4\/4: flushed and closed/, /exiting/];
      let at = 0;
      for (const re of phases) {
        const m = re.exec(out.slice(at));
        assert.ok(m, `${re} after the previous phase in:\n${out}`);
        at += m.index + m[0].length;
      }
      await s.stop();
    });

    test('a keep-alive connection opened before SIGTERM gets its next answer with Connection: close, then is closed', async () => {
      const s = await startServerProcess({ DRAIN_GRACE_MS: '4000' }, 60_000, { entry });
      const body = JSON.stringify(GOOD);
      const net = await import('node:net');
      const sock = net.connect(s.port, '127.0.0.1');
      let raw = '';
      sock.on('data', (d) => (raw += d.toString('latin1')));
      const closed = new Promise<void>((r) => sock.on('close', () => r()));
      sock.on('error', () => {});
      await new Promise<void>((r) => sock.once('connect', () => r()));
      sock.write(rawGet('/health'));
      while (!raw.includes('uptime_s')) await new Promise((r) => setTimeout(r, 10));
      assert.doesNotMatch(raw, /connection: close/i);
      s.child.kill('SIGTERM');
      await waitForOutput(s, /drain 1\/4/);
      raw = '';
      sock.write(rawPost('/predict_ctr', body));
      await closed;
      assert.match(raw, /^HTTP\/1\.1 200/);
      assert.match(raw, /connection: close/i);
      assert.match(raw, /"ctr":/);
      assert.equal(await exitCode(s), 0, s.output());
      await s.stop();
    });
  });
}

test('DRAIN_GRACE_MS=0: SIGTERM closes at once, still through every phase', async () => {
  const s = await startServerProcess({ DRAIN_GRACE_MS: '0' }, 60_000, { entry: 'native-free' });
  assert.equal(await s.stop(), 0);
  assert.match(s.output(), /serving for 0 ms more/);
  assert.match(s.output(), /drain 4\/4/);
});
