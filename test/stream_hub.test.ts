// WS /monitoring/stream against a uWS app fed by the synthetic monitor, with a
// real WebSocket client (bench/lib/ws_client.ts): hello and cadence,
// aggregation over coarse intervals, model filter and query validation,
// msgpack = JSON, alert frames, one encoding per distinct frame, slow
// consumers skipped and closed without growing the server, idle pings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unpack } from 'msgpackr';
import { startStreamHarness, type StreamHarness } from './support/stream_harness.js';
import { streamPrometheusText } from '../api/stream/prometheus.js';
import { SLOW_CLOSE_CODE } from '../api/stream/hub.js';
import { WsClient, WsHandshakeError, type WsMessage } from '../bench/lib/ws_client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const json = (m: WsMessage): any => (m.binary ? unpack(m.data) : JSON.parse(m.data.toString('utf8')));
const streamUrl = (h: StreamHarness, q: string) => `ws://127.0.0.1:${h.port}/monitoring/stream${q ? `?${q}` : ''}`;

async function withHarness(o: Parameters<typeof startStreamHarness>[0], fn: (h: StreamHarness) => Promise<void>): Promise<void> {
  const h = await startStreamHarness(o);
  try { await fn(h); } finally { await h.close(); }
}

/** Frames of one type received until `n` have arrived. */
async function collect(c: WsClient, type: string, n: number, timeoutMs = 5000): Promise<{ frame: any; at: number }[]> {
  const out: { frame: any; at: number }[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < n) {
    const m = await c.next(Math.max(1, deadline - Date.now()));
    const f = json(m);
    if (f.type === type) out.push({ frame: f, at: m.at });
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

test('hello first, then snapshots at the requested cadence', async () => {
  await withHarness({ tickMs: 50 }, async (h) => {
    for (const interval of [100, 250]) {
      const c = await WsClient.connect(streamUrl(h, `interval=${interval}`));
      const hello = json(await c.next());
      assert.equal(hello.type, 'hello');
      assert.deepEqual(hello.models, [{ name: 'xgboost', version: '3' }, { name: 'logistic', version: '1' }]);
      assert.equal(hello.stream.interval_ms, interval);
      assert.equal(hello.stream.format, 'json');
      assert.deepEqual(hello.stream.models, ['xgboost', 'logistic']);
      assert.equal(hello.settings.synthetic, true);
      const frames = await collect(c, 'snapshot', 12);
      // The first comes at connect; the rest every interval.
      const gaps = frames.slice(2).map((f, i) => f.at - frames[i + 1].at);
      const med = median(gaps);
      assert.ok(Math.abs(med - interval) <= 30, `interval ${interval}: median gap ${med.toFixed(1)} ms (gaps ${gaps.map((g) => g.toFixed(0)).join(' ')})`);
      const mean = (frames[11].at - frames[1].at) / 10;
      assert.ok(Math.abs(mean - interval) <= 25, `interval ${interval}: mean gap ${mean.toFixed(1)} ms`);
      const f = frames[5].frame;
      assert.deepEqual(Object.keys(f.models), ['xgboost', 'logistic']);
      assert.equal(typeof f.models.xgboost.lifetime.total_requests, 'number');
      assert.ok(Array.isArray(f.alert_events));
      await c.close();
    }
  });
});

test('an interval below the minimum is raised to it; the default applies without one', async () => {
  await withHarness({ tickMs: 50, stream: { defaultIntervalMs: 400 } }, async (h) => {
    const c = await WsClient.connect(streamUrl(h, 'interval=20'));
    const hello = json(await c.next());
    assert.equal(hello.stream.interval_ms, 100);
    assert.equal(hello.stream.requested_interval_ms, 20);
    await c.close();
    const d = await WsClient.connect(streamUrl(h, ''));
    assert.equal(json(await d.next()).stream.interval_ms, 400);
    await d.close();
  });
});

test('a coarse interval aggregates: latest snapshot, tick count, and every alert event since the last frame', async () => {
  // Manual ticks: the test decides when events happen relative to frames.
  await withHarness({ tickMs: 0 }, async (h) => {
    const c = await WsClient.connect(streamUrl(h, 'interval=600'));
    assert.equal(json(await c.next()).type, 'hello');
    assert.equal(json(await c.next()).type, 'snapshot');
    const tick = setInterval(() => h.monitor.tick(), 50);
    try {
      // Raise and resolve a drift alert between two frames (both on intermediate ticks).
      await sleep(120);
      h.monitor.set('xgboost', { drift: 'high' });
      await sleep(150);
      h.monitor.set('xgboost', { drift: 'none' });
      const snaps = await collect(c, 'snapshot', 1, 3000);
      const f = snaps[0].frame;
      assert.ok(f.ticks >= 10 && f.ticks <= 14, `ticks ${f.ticks}`);
      const kinds = f.alert_events.map((e: any) => `${e.alert.model}/${e.alert.kind}/${e.event}`);
      assert.ok(kinds.includes('xgboost/drift/raised'), kinds.join(','));
      assert.ok(kinds.includes('xgboost/drift/resolved'), kinds.join(','));
      // Each frame is the latest tick's snapshot (cumulative counters), covering the ticks since the last.
      const next = (await collect(c, 'snapshot', 1, 3000))[0].frame;
      assert.equal(next.seq - f.seq, next.ticks);
      assert.deepEqual(next.alert_events, []);
      assert.ok(next.models.xgboost.lifetime.total_requests > f.models.xgboost.lifetime.total_requests);
    } finally {
      clearInterval(tick);
    }
    await c.close();
  });
});

test('models= filters every part of the frame; bad options are refused before the upgrade', async () => {
  await withHarness({ tickMs: 50, scenarios: { xgboost: { drift: 'high' } } }, async (h) => {
    const c = await WsClient.connect(streamUrl(h, 'models=logistic&interval=100'));
    const hello = json(await c.next());
    assert.deepEqual(hello.stream.models, ['logistic']);
    const [{ frame: f }] = await collect(c, 'snapshot', 3).then((x) => x.slice(2));
    assert.deepEqual(Object.keys(f.models), ['logistic']);
    assert.deepEqual(f.model_order, ['logistic']);
    assert.deepEqual(Object.keys(f.health.models), ['logistic']);
    assert.ok(f.health.alerts.every((a: any) => a.model !== 'xgboost'));
    assert.ok(h.monitor.latest().health.alerts.some((a) => a.model === 'xgboost'), 'the unfiltered snapshot has the xgboost alert');
    await c.close();

    const refused = async (q: string, status: number, code: string, field: string) => {
      const err = await WsClient.connect(streamUrl(h, q)).then(() => null, (e: unknown) => e);
      assert.ok(err instanceof WsHandshakeError, `${q}: ${String(err)}`);
      assert.equal(err.status, status, q);
      const body = JSON.parse(err.body);
      assert.equal(body.error.code, code, q);
      assert.equal(body.error.field, field, q);
    };
    await refused('models=xgboost,nope', 404, 'model_not_found', 'models');
    await refused('format=xml', 400, 'invalid_request', 'format');
    await refused('interval=fast', 400, 'invalid_request', 'interval');
    await refused('interval=-5', 400, 'invalid_request', 'interval');
    assert.equal(h.hub.metrics().rejected, 4);
  });
});

test('msgpack frames are binary and decode to the same data as JSON frames', async () => {
  await withHarness({ tickMs: 50, scenarios: { logistic: { drift: 'medium' } } }, async (h) => {
    const j = await WsClient.connect(streamUrl(h, 'interval=100&format=json'));
    const m = await WsClient.connect(streamUrl(h, 'interval=100&format=msgpack'));
    const jf = await collect(j, 'snapshot', 8);
    const mf = await collect(m, 'snapshot', 8);
    assert.ok(m.messages.every((x) => x.binary), 'msgpack frames are binary');
    assert.ok(j.messages.every((x) => !x.binary), 'JSON frames are text');
    const bySeq = new Map(jf.map((f) => [f.frame.seq, f.frame]));
    let compared = 0;
    for (const { frame } of mf) {
      const twin = bySeq.get(frame.seq);
      if (!twin || twin.ticks !== frame.ticks) continue;
      assert.deepEqual(JSON.parse(JSON.stringify(frame)), twin);
      compared++;
    }
    assert.ok(compared >= 4, `compared ${compared} frame pairs`);
    const hello = json(m.messages[0]);
    assert.equal(hello.type, 'hello');
    assert.equal(hello.stream.format, 'msgpack');
    await j.close();
    await m.close();
  });
});

test('alert frames come at once when health or drift severity changes, to the connections whose models they concern', async () => {
  await withHarness({ tickMs: 50 }, async (h) => {
    const all = await WsClient.connect(streamUrl(h, 'interval=5000'));
    const xgb = await WsClient.connect(streamUrl(h, 'interval=5000&models=xgboost&format=msgpack'));
    const lr = await WsClient.connect(streamUrl(h, 'interval=5000&models=logistic'));
    for (const c of [all, xgb, lr]) await collect(c, 'snapshot', 1);
    await sleep(200);
    const t0 = performance.now();
    h.monitor.set('xgboost', { drift: 'high' });
    for (const c of [all, xgb]) {
      const [{ frame: a, at }] = await collect(c, 'alert', 1, 2000);
      assert.ok(at - t0 < 500, `alert after ${(at - t0).toFixed(0)} ms, not at the 5 s interval`);
      assert.deepEqual(a.changes.find((x: any) => x.what === 'drift'), { model: 'xgboost', what: 'drift', from: 'none', to: 'high' });
      assert.ok(a.changes.some((x: any) => x.what === 'health' && x.to === 'degraded'));
      assert.ok(a.events.some((e: any) => e.event === 'raised' && e.alert.kind === 'drift' && e.alert.model === 'xgboost'));
      assert.equal(a.health.models.xgboost.drift, 'high');
      assert.ok(a.health.alerts.some((x: any) => x.model === 'xgboost' && x.kind === 'drift'));
    }
    h.monitor.set('xgboost', { drift: 'none' });
    const [{ frame: back }] = await collect(all, 'alert', 1, 2000);
    assert.deepEqual(back.changes.find((x: any) => x.what === 'drift'), { model: 'xgboost', what: 'drift', from: 'high', to: 'none' });
    assert.ok(back.events.some((e: any) => e.event === 'resolved' && e.alert.kind === 'drift'));
    await sleep(200);
    assert.ok(lr.messages.every((x) => json(x).type !== 'alert'), 'the logistic-only connection got no xgboost alert');
    for (const c of [all, xgb, lr]) await c.close();
  });
});

test('each distinct frame is encoded once per tick, however many subscribers; /metrics lines', async () => {
  await withHarness({ tickMs: 50 }, async (h) => {
    const clients = await Promise.all(Array.from({ length: 40 }, () => WsClient.connect(streamUrl(h, 'interval=100'))));
    await Promise.all(clients.map((c) => collect(c, 'snapshot', 2)));
    const before = h.hub.metrics();
    await Promise.all(clients.map((c) => collect(c, 'snapshot', 10)));
    const after = h.hub.metrics();
    const frames = after.framesSent - before.framesSent;
    const encoded = after.framesEncoded - before.framesEncoded;
    assert.equal(after.connections, 40);
    assert.ok(frames >= 400, `frames sent ${frames}`);
    assert.ok(encoded <= frames / 40 + 2, `encoded ${encoded} for ${frames} frames sent`);
    assert.equal(after.framesSkipped, 0);
    const text = streamPrometheusText(after);
    for (const line of ['# TYPE ctr_stream_connections gauge', 'ctr_stream_connections 40', '# TYPE ctr_stream_frames_skipped_total counter',
      'ctr_stream_frames_skipped_total 0', 'ctr_stream_slow_closed_total 0', `ctr_stream_frames_sent_total ${after.framesSent}`]) {
      assert.ok(text.split('\n').includes(line), `missing "${line}" in\n${text}`);
    }
    await Promise.all(clients.map((c) => c.close()));
    await sleep(100);
    assert.equal(h.hub.metrics().connections, 0);
  });
});

test('a stuck client has frames skipped and is closed; the server does not grow; others keep their cadence', async () => {
  const bound = 256 * 1024;
  // ~200 KB per model per frame: a stuck reader fills the socket buffers in a second or two.
  await withHarness({
    tickMs: 50,
    scenarios: { xgboost: { padBytes: 200_000 }, logistic: { padBytes: 200_000 } },
    stream: { maxBackpressureBytes: bound, slowCloseAfterSkips: 8 },
  }, async (h) => {
    const fast = await WsClient.connect(streamUrl(h, 'interval=100'));
    const slow = await WsClient.connect(streamUrl(h, 'interval=100'));
    await collect(slow, 'snapshot', 1);
    slow.pause();
    let maxBuffered = 0, maxFrame = 0;
    const rss0 = process.memoryUsage().rss;
    let rssMax = rss0;
    const fastGaps: number[] = [];
    let lastAt = 0;
    const deadline = Date.now() + 15_000;
    while (h.hub.metrics().slowClosed === 0 && Date.now() < deadline) {
      const m = await fast.next(2000);
      maxFrame = Math.max(maxFrame, m.data.length);
      if (lastAt > 0) fastGaps.push(m.at - lastAt);
      lastAt = m.at;
      fast.discard(); // keep the test's own memory flat
      maxBuffered = Math.max(maxBuffered, h.hub.metrics().bufferedBytes);
      rssMax = Math.max(rssMax, process.memoryUsage().rss);
    }
    const m = h.hub.metrics();
    console.log(`stuck client: ${m.framesSkipped} frames skipped, closed after ${fastGaps.length} fast frames; server buffered at most ${maxBuffered} B (bound ${bound}, frame ${maxFrame} B); RSS +${((rssMax - rss0) / 1048576).toFixed(1)} MiB`);
    assert.equal(m.slowClosed, 1, `slow client closed (metrics ${JSON.stringify(m)})`);
    assert.ok(m.framesSkipped >= 8, `skipped ${m.framesSkipped}`);
    assert.ok(maxBuffered <= bound + maxFrame + 64 * 1024, `server buffered at most ${maxBuffered} bytes (bound ${bound}, frame ${maxFrame})`);
    assert.ok(rssMax - rss0 < 96 * 1024 * 1024, `RSS grew ${((rssMax - rss0) / 1048576).toFixed(1)} MiB`);
    // The fast client kept its cadence throughout.
    assert.ok(fastGaps.length >= 5, `fast client frames: ${fastGaps.length}`);
    assert.ok(median(fastGaps) <= 130, `fast client median gap ${median(fastGaps).toFixed(0)} ms`);
    // And keeps receiving after the slow one is gone.
    await fast.next(1000);
    assert.equal(h.hub.metrics().connections, 1);
    slow.resume();
    const info = await Promise.race([slow.closed, sleep(10_000).then(() => null)]);
    assert.ok(info, 'the stuck client sees its connection end');
    if (info.clean) assert.equal(info.code, SLOW_CLOSE_CODE);
    await fast.close();
  });
});

test('skipping alone keeps what the server holds for a stuck client bounded, for as long as it stays', async () => {
  const bound = 128 * 1024;
  await withHarness({
    tickMs: 50,
    scenarios: { xgboost: { padBytes: 100_000 }, logistic: { padBytes: 100_000 } },
    stream: { maxBackpressureBytes: bound, slowCloseAfterSkips: 1_000_000 },
  }, async (h) => {
    const slow = await WsClient.connect(streamUrl(h, 'interval=100'));
    const other = await WsClient.connect(streamUrl(h, 'interval=100&models=logistic&format=msgpack'));
    await collect(slow, 'snapshot', 1);
    slow.pause();
    const samples: number[] = [];
    let otherFrames = 0;
    // The kernel's socket buffers take frames first (seconds' worth on a busy
    // machine); watch at least 4 s, and at least 2 s after the server itself
    // starts holding bytes for the stuck client.
    const t0 = Date.now();
    let bufferingSince = -1;
    while (Date.now() - t0 < 15_000 && (Date.now() - t0 < 4000 || bufferingSince < 0 || Date.now() - bufferingSince < 2000)) {
      await other.next(1000);
      otherFrames++;
      other.discard();
      const buffered = h.hub.metrics().bufferedBytes;
      if (buffered > 0 && bufferingSince < 0) bufferingSince = Date.now();
      samples.push(buffered);
    }
    const m = h.hub.metrics();
    const frame = 2 * 100_000 + 20_000;
    assert.ok(bufferingSince >= 0, `the stuck client never made the server buffer: ${samples.join(' ')}`);
    assert.ok(m.framesSkipped >= 10, `skipped ${m.framesSkipped}`);
    assert.ok(Math.max(...samples) <= bound + frame, `buffered ${Math.max(...samples)} > bound ${bound} + frame ${frame}`);
    // Flat: once the server buffers, the second half of that stretch holds no more than its first half allows.
    const buffering = samples.slice(samples.findIndex((b) => b > 0));
    const late = buffering.slice(buffering.length / 2);
    assert.ok(Math.max(...late) <= Math.max(...buffering.slice(0, buffering.length / 2)) + frame, `buffered still growing: ${samples.join(' ')}`);
    assert.ok(otherFrames >= 30, `the other client got ${otherFrames} frames in 4 s`);
    assert.equal(m.slowClosed, 0);
    slow.destroy();
    await other.close();
  });
});

test('inbound messages over maxPayloadLength close the connection; hub.close() says goodbye with 1001', async () => {
  await withHarness({ tickMs: 50, stream: { maxPayloadLength: 256 } }, async (h) => {
    const c = await WsClient.connect(streamUrl(h, ''));
    await c.next();
    c.send('x'.repeat(100)); // ignored
    await sleep(100);
    assert.equal(c.closeInfo, null);
    c.send('x'.repeat(1000));
    const info = await c.closed;
    assert.ok(info.code === 1009 || info.code === 1006 || info.code === null, `closed with ${info.code}`);
    const d = await WsClient.connect(streamUrl(h, ''));
    await d.next();
    h.hub.close();
    const bye = await d.closed;
    assert.equal(bye.code, 1001);
    const refused = await WsClient.connect(streamUrl(h, '')).then(() => null, (e: unknown) => e);
    assert.ok(refused instanceof WsHandshakeError && refused.status === 503);
  });
});

test('an idle client is pinged by the server and, answering, stays connected', { timeout: 30_000 }, async () => {
  await withHarness({ tickMs: 0, stream: { idleTimeoutS: 8 } }, async (h) => {
    const c = await WsClient.connect(streamUrl(h, ''));
    await c.next();
    const deadline = Date.now() + 20_000;
    while (c.pings === 0 && Date.now() < deadline) await sleep(250);
    assert.ok(c.pings > 0, 'no ping within 20 s of idleTimeout 8 s');
    await sleep(500);
    assert.equal(c.closeInfo, null);
    assert.equal(h.hub.metrics().connections, 1);
    await c.close();
  });
});
