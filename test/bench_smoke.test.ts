// Smoke run of the bench code: the load generator for about a second against
// the uWS echo peer on a loopback port, checking the shape of its report. No
// timing assertions: this machine is shared and the bench proper is not a test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startEcho } from '../bench/peers/echo.js';
import { runLoad, type LoadOptions, type LoadResult } from '../bench/lib/load_runner.js';
import { NoCompilerError, openLoopBinary } from '../bench/lib/openloop_native.js';
import { buildPool } from '../bench/lib/request_pool.js';
import { parseResponses } from '../bench/lib/http_parse.js';
import { medianLowerBound, medianUpperBound, p99Verdict, ratioStats, throughputVerdict } from '../bench/lib/gate_stats.js';
import { renderChart } from '../bench/lib/svg_chart.js';
import { parseStageBuckets, windowView } from '../bench/lib/server_view.js';
import { startServerProcess } from './support/server_process.js';

function assertShape(r: LoadResult): void {
  for (const key of ['latency', 'strict', 'service', 'sendLag'] as const) {
    for (const p of ['count', 'mean', 'p50', 'p90', 'p99', 'p999', 'max'] as const) assert.equal(typeof r[key][p], 'number', `${key}.${p}`);
  }
  assert.ok(r.latency.p50 <= r.latency.p99 && r.latency.p99 <= r.latency.max);
  assert.equal(typeof r.throughput, 'number');
  assert.equal(typeof r.generator.cpuCores, 'number');
  assert.equal(typeof r.generator.bottleneck, 'boolean');
  assert.equal(r.errorCount, 0, JSON.stringify({ statuses: r.statuses, errors: r.errors }));
  assert.ok(r.requests.ok > 0);
  assert.equal(r.statuses['200'], r.requests.ok);
}

test('load generator drives the echo peer, open and closed loop, JSON and msgpack', async () => {
  const peer = await startEcho(0);
  try {
    const single = buildPool({ kind: 'single', batchSize: 1, format: 'json', size: 64, seed: 1, host: '127.0.0.1', port: peer.port });
    const open = await runLoad({ host: '127.0.0.1', port: peer.port, mode: 'open', rate: 400, connections: 4, threads: 1, warmupMs: 200, durationMs: 800, requests: single.requests, rowsPerRequest: 1, openTool: 'js' });
    assert.equal(open.mode, 'open');
    assert.equal(open.tool, 'ctr-loadgen');
    assert.equal(open.offeredRate, 400);
    assertShape(open);
    assert.match(open.sample ?? '', /"ctr"/);
    // The echo peer has no stage histograms: no server view rather than a wrong one.
    assert.equal(open.serverView, undefined);

    const batch = buildPool({ kind: 'batch', batchSize: 8, format: 'msgpack', size: 16, seed: 2, host: '127.0.0.1', port: peer.port });
    const closed = await runLoad({ host: '127.0.0.1', port: peer.port, mode: 'closed', rate: 0, connections: 2, threads: 1, warmupMs: 100, durationMs: 400, requests: batch.requests, rowsPerRequest: batch.rowsPerRequest });
    assert.equal(closed.mode, 'closed');
    assert.equal(closed.offeredRate, null);
    assertShape(closed);
    assert.equal(closed.rowsPerRequest, 8);
  } finally {
    peer.close();
  }
});

test('response framing survives any split of the byte stream', () => {
  const stream = Buffer.from(
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello' +
    'HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\nRetry-After: 1\r\n\r\n{}' +
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n' +
    'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', 'latin1');
  for (let cut = 1; cut < stream.length; cut++) {
    const seen: [number, boolean][] = [];
    let rest = stream.subarray(0, cut);
    let used = parseResponses(rest, (s, c) => seen.push([s, c]));
    rest = Buffer.concat([rest.subarray(used), stream.subarray(cut)]);
    used = parseResponses(rest, (s, c) => seen.push([s, c]));
    assert.equal(used, rest.length, `cut at ${cut}`);
    assert.deepEqual(seen, [[200, false], [503, false], [200, false], [400, true]], `cut at ${cut}`);
  }
});

test('gate verdict: a consistent slowdown fails, round-to-round noise alone passes', () => {
  const slow = ratioStats([1, 2, 3, 4, 5, 6, 7, 8].map((i) => ({ base: 1 + i / 100, current: 2 + i / 50 })));
  assert.equal(p99Verdict(slow, 0.1).regressed, true);
  // One disturbed round among many slow ones is outvoted.
  const slowOneWild = ratioStats([[1, 2], [1, 1.9], [1, 2.2], [3, 1], [1, 2], [1, 2.1], [1, 1.8], [1, 2]].map(([base, current]) => ({ base, current })));
  assert.equal(p99Verdict(slowOneWild, 0.1).regressed, true);
  const noisy = ratioStats([[1, 1.3], [1.2, 1], [1, 0.9], [1.1, 1.25], [1, 1.05], [1, 3], [2, 1]].map(([base, current]) => ({ base, current })));
  assert.equal(p99Verdict(noisy, 0.1).regressed, false);
});

test('gate throughput verdict: a consistent loss fails, noise passes; the upper bound mirrors the lower', () => {
  const xs = [0.5, 0.9, 1.1, 0.7, 1.3, 0.6, 0.8, 1.0, 1.2, 0.4];
  // 10 values: the sign-test bound is the 2nd from either end (P(Bin(10, ½) ≤ 1) = 11/1024 ≤ 5 %).
  assert.deepEqual(medianLowerBound(xs), { value: 0.5, rank: 2 });
  assert.deepEqual(medianUpperBound(xs), { value: 1.2, rank: 2 });
  // The slow-demo case measured on this machine: throughput ratios 0.49–0.66 in every round.
  const halved = ratioStats([0.54, 0.49, 0.66, 0.52, 0.55, 0.5, 0.58, 0.53, 0.51, 0.57].map((c) => ({ base: 1, current: c })));
  const v = throughputVerdict(halved, 0.1);
  assert.equal(v.regressed, true);
  assert.ok(v.bound < 0.9 && v.bound >= 0.58, String(v.bound));
  // Same-ref noise as measured (0.87–1.12): within bounds.
  const same = ratioStats([0.87, 1.12, 0.99, 1.0, 0.93, 1.05, 0.95, 1.01, 0.91, 1.1].map((c) => ({ base: 1, current: c })));
  assert.equal(throughputVerdict(same, 0.1).regressed, false);
  // Faster is never a throughput regression.
  assert.equal(throughputVerdict(ratioStats([1.5, 1.6, 1.4, 1.5, 1.7].map((c) => ({ base: 1, current: c }))), 0.1).regressed, false);
});

test('chart is well-formed SVG', () => {
  const svg = renderChart({ title: 'a < b', xLabel: 'x', yLabel: 'y', series: [{ label: 's', color: '#000', points: [{ x: 1, y: 0.5 }, { x: 2, y: 3 }] }] });
  assert.match(svg, /^<svg[^]*<\/svg>\n$/);
  assert.match(svg, /a &lt; b/);
});

/** Skips (with the reason) where the C generator cannot be built. */
function cAvailable(t: { skip(msg: string): void }): boolean {
  try { openLoopBinary(); return true; } catch (err) {
    if (!(err instanceof NoCompilerError)) throw err;
    t.skip(err.message);
    return false;
  }
}

test('C open-loop generator drives the echo peer: counts add up, histograms filled, duty cycle as in the JS generator', async (t) => {
  if (!cAvailable(t)) return;
  const peer = await startEcho(0);
  try {
    const pool = buildPool({ kind: 'single', batchSize: 1, format: 'msgpack', size: 32, seed: 3, host: '127.0.0.1', port: peer.port });
    const base: LoadOptions = { host: '127.0.0.1', port: peer.port, mode: 'open', rate: 400, connections: 4, threads: 1, warmupMs: 200, durationMs: 800, requests: pool.requests, rowsPerRequest: 1 };
    const r = await runLoad({ ...base, openTool: 'c' });
    assert.equal(r.tool, 'ctr-openloop-c');
    assert.equal(r.offeredRate, 400);
    assertShape(r);
    const statusSum = Object.values(r.statuses).reduce((a, b) => a + b, 0);
    const errorSum = Object.values(r.errors).reduce((a, b) => a + b, 0);
    assert.equal(statusSum + errorSum, r.requests.completed);
    assert.equal(r.requests.completed, r.requests.offered);
    assert.equal(r.latency.count, r.requests.completed);
    assert.equal(r.strict.count, r.latency.count);
    assert.ok(r.latency.p50 <= r.strict.p50 && r.latency.max <= r.strict.max);
    assert.equal(r.service.count, r.latency.count);
    assert.equal(r.sendLag.count, r.latency.count);
    assert.ok(r.selfLag !== undefined && r.selfLag.count === r.latency.count);
    assert.ok(r.service.p50 <= r.latency.max);
    assert.equal(typeof r.sample, 'string');

    // The same duty cycle offers the same slots in both generators (deterministic: no timing involved).
    const slice = { periodMs: 100, onFromMs: 50, onMs: 50 };
    const [c, js] = await Promise.all([runLoad({ ...base, slice, openTool: 'c' }), runLoad({ ...base, slice, openTool: 'js' })]);
    assert.equal(c.offeredRate, js.offeredRate);
    assert.equal(c.requests.offered, js.requests.offered);
    assert.equal(c.requests.offered, 160);
    // Two processes with one shared start (what bench:compare does).
    const two = await runLoad({ ...base, threads: 2, openTool: 'c' });
    assert.equal(two.threads, 2);
    assert.equal(two.requests.offered, r.requests.offered);
    assert.equal(two.errorCount, 0);
  } finally {
    peer.close();
  }
});

test('C open-loop generator counts chunked answers as parse errors instead of hanging', async (t) => {
  if (!cAvailable(t)) return;
  const server = net.createServer((sock) => {
    sock.on('data', () => sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n'));
    sock.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as net.AddressInfo).port;
    const pool = buildPool({ kind: 'single', batchSize: 1, format: 'json', size: 4, seed: 1, host: '127.0.0.1', port });
    const r = await runLoad({ host: '127.0.0.1', port, mode: 'open', rate: 200, connections: 2, threads: 1, warmupMs: 0, durationMs: 300, drainMs: 500, requests: pool.requests, rowsPerRequest: 1, openTool: 'c' });
    assert.equal(r.requests.ok, 0);
    assert.ok((r.errors.parse_chunked ?? 0) > 0, JSON.stringify(r.errors));
    // Each bad answer costs its connection (reconnected 50 ms later), so slots may go unsent: offered, never completed.
    assert.equal(r.requests.completed + (r.errors.unsent ?? 0), r.requests.offered);
  } finally {
    server.close();
  }
});

test('server view: stage buckets summed over models, window = after − before, percentiles inside their bucket', () => {
  const expo = (n: [number, number, number, number]) => [
    '# TYPE ctr_stage_latency_seconds histogram',
    ...['logistic', 'xgboost'].flatMap((model) => [
      `ctr_stage_latency_seconds_bucket{model="${model}",stage="end_to_end",le="0.0005"} ${n[0]}`,
      `ctr_stage_latency_seconds_bucket{model="${model}",stage="end_to_end",le="0.001"} ${n[1]}`,
      `ctr_stage_latency_seconds_bucket{model="${model}",stage="end_to_end",le="0.0025"} ${n[2]}`,
      `ctr_stage_latency_seconds_bucket{model="${model}",stage="end_to_end",le="+Inf"} ${n[3]}`,
      `ctr_stage_latency_seconds_count{model="${model}",stage="end_to_end"} ${n[3]}`,
    ]),
    'ctr_requests_total{model="xgboost"} 5',
  ].join('\n');
  const before = parseStageBuckets(expo([100, 100, 100, 100]));
  assert.deepEqual([...before.get('end_to_end')!.entries()], [[0.0005, 200], [0.001, 200], [0.0025, 200], [Infinity, 200]]);
  // Per model in the window: 45 within 0.5 ms, 4 more within 1 ms, 1 within 2.5 ms.
  const v = windowView(before, parseStageBuckets(expo([145, 149, 150, 150]))).end_to_end;
  assert.equal(v.count, 100);
  assert.equal(v.within1ms, 0.98);
  // The 50th of 100 lies in (0.5, 1] ms: 0.5 + 0.5 × (50 − 90 … ) — 90 are ≤ 0.5 ms, so p50 is inside the first bucket.
  assert.ok(Math.abs(v.p50 - 0.5 * (50 / 90)) < 1e-9, String(v.p50));
  // The 99th lies in (1, 2.5] ms, the last 2 of 100.
  assert.ok(v.p99 > 1 && v.p99 <= 2.5, String(v.p99));
  assert.equal(windowView(before, before).end_to_end.count, 0);
});

test('server view of a real engine over a measured window counts the window\'s requests', async (t) => {
  const server = await startServerProcess({ MONITOR_TICK_MS: '100' });
  t.after(() => server.stop());
  const pool = buildPool({ kind: 'single', batchSize: 1, format: 'json', size: 64, seed: 3, host: '127.0.0.1', port: server.port });
  const r = await runLoad({ host: '127.0.0.1', port: server.port, mode: 'open', rate: 500, connections: 8, threads: 1, warmupMs: 300, durationMs: 1000, requests: pool.requests, rowsPerRequest: 1, openTool: 'js', serverTickMs: 100 });
  assertShape(r);
  const e2e = r.serverView?.stages.end_to_end;
  assert.ok(e2e !== undefined, 'the engine exposes its stage histograms');
  // The server's window starts up to one tick (100 ms = 50 requests here) before the client's.
  assert.ok(e2e.count >= r.requests.ok - 5 && e2e.count <= r.requests.ok + 60, `server ${e2e.count} vs client ${r.requests.ok}`);
  assert.ok(e2e.p50 <= e2e.p99 && e2e.within1ms >= 0 && e2e.within1ms <= 1);
  for (const stage of ['queue_wait', 'inference']) assert.ok(r.serverView!.stages[stage].count > 0, stage);
});
