// The fleet view against two real servers on loopback with different traffic:
// GET /monitoring/histograms is the standard HdrHistogram encoding (read by an
// independent decoder, and by HdrHistogram for Java when Debian's
// libhdrhistogram-java is installed); the merged view's percentiles are exactly
// those of one HDR histogram holding every latency both servers recorded;
// counts sum; moments pool; and histogram_quantile over the summed Prometheus
// buckets agrees with the merged HDR within bucket resolution.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as hdr from 'hdr-histogram-js';
import { createTrafficSampler } from '../bench/lib/traffic_sampler.js';
import { fleetView, serveFleet } from '../bin/fleet.js';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';
import { decodeHdrV2, valueAtIndex } from './support/hdr_v2_decode.js';

const ENV = { MONITOR_TICK_MS: '100', MONITOR_WINDOWS_S: '60,300', WORKERS: '1' };
const STAGES = ['queue_wait', 'inference', 'end_to_end'] as const;
const PERCENTILES = [['p50', 50], ['p95', 95], ['p99', 99], ['p999', 99.9]] as const;
const ENTRY = fileURLToPath(new URL('../bin/ctr-engine.js', import.meta.url));
const JAR = '/usr/share/java/hdrhistogram.jar';

const servers: ServerProcess[] = [];
const clients: TestClient[] = [];
/** Requests each server answered, by model; errors sent to each. */
const sent = [new Map<string, number>(), new Map<string, number>()];
const invalidSent = [0, 0];
let hist: any[] = [];
let stats: any[] = [];
let metrics: string[] = [];

async function drive(k: number, n: number, seed: number, model?: string): Promise<void> {
  const sampler = createTrafficSampler({ seed, shift: k === 1 ? { device: { tablet: 0.6 }, hourOffset: 5 } : undefined });
  for (let done = 0; done < n; done += 100) {
    const batch = Array.from({ length: Math.min(100, n - done) }, () => (model ? { ...sampler.next(), model } : sampler.next()));
    const replies = await Promise.all(batch.map((r) => clients[k].postJson('/predict_ctr', r)));
    for (const r of replies) {
      assert.equal(r.status, 200, JSON.stringify(r.body));
      sent[k].set(r.body.model, (sent[k].get(r.body.model) ?? 0) + 1);
    }
  }
}

/** Waits until a server's stats account for every request sent to it. */
async function settled(k: number): Promise<any> {
  const want = [...sent[k].values()].reduce((a, b) => a + b, 0) + invalidSent[k];
  for (let i = 0; i < 200; i++) {
    const s = await clients[k].freshStats();
    let got = s.unrouted.total_requests;
    for (const m of Object.values<any>(s.models)) got += m.total_requests;
    if (got === want) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server ${k} never counted ${want} requests`);
}

/** One hdr-histogram-js histogram holding every latency the decoded strings recorded (decoded independently). */
function oneHistogram(strings: string[]): InstanceType<typeof hdr.Float64Histogram> {
  const h = new hdr.Float64Histogram(1, 60_000_000, 3);
  for (const s of strings) {
    const d = decodeHdrV2(s);
    assert.equal(d.lowest, 1);
    assert.equal(d.significantDigits, 3);
    for (const [i, c] of d.counts) h.recordValueWithCount(valueAtIndex(d, i), c);
  }
  return h;
}

const ms = (us: number) => Math.round(us) / 1000;

before(async () => {
  servers.push(...(await Promise.all([startServerProcess(ENV), startServerProcess(ENV)])));
  for (const s of servers) clients.push(new TestClient(s.url, 16));
  // Different traffic: server 0 gets the A/B split of both models, server 1 a
  // shifted mix, mostly xgboost, and some invalid requests.
  await drive(0, 1200, 11);
  await drive(1, 700, 22, 'xgboost');
  await drive(1, 200, 23, 'logistic');
  for (let i = 0; i < 15; i++) {
    const r = await clients[1].postJson('/predict_ctr', { model: 'xgboost', user_id: 'u', ad_id: 'ad_1', device: 'mobile', placement: 'feed', context: { hour: 99 } });
    assert.equal(r.status, 400);
    invalidSent[1]++;
  }
  stats = [await settled(0), await settled(1)];
  hist = await Promise.all(clients.map(async (c) => (await c.get('/monitoring/histograms')).body));
  metrics = await Promise.all(clients.map(async (c) => (await c.get('/metrics')).body as string));
  // Nothing moved in between: the snapshot behind each view is quiet.
  stats = await Promise.all(clients.map((c) => c.freshStats()));
});
after(async () => {
  for (const c of clients) await c.close();
  await Promise.all(servers.map((s) => s.stop()));
});

describe('GET /monitoring/histograms', () => {
  test('one server: standard V2 encoding whose percentiles and counts are that server\'s /monitoring/stats', () => {
    for (let k = 0; k < 2; k++) {
      assert.equal(hist[k].encoding, 'HdrHistogram V2 compressed, base64');
      for (const [name, m] of Object.entries<any>(hist[k].models)) {
        const st = stats[k].models[name];
        assert.equal(m.lifetime.counts.requests, st.total_requests);
        assert.equal(m.lifetime.counts.successes, st.successful_requests);
        for (const stage of STAGES) {
          const h = oneHistogram([m.lifetime.latency_us[stage].hdr]);
          assert.equal(h.totalCount, st.stages[stage].count, `${name} ${stage}`);
          for (const [key, p] of PERCENTILES) assert.equal(ms(h.getValueAtPercentile(p)), st.stages[stage][key], `${name} ${stage} ${key}`);
          assert.equal(ms(h.highestEquivalentValue(h.maxValue)), st.stages[stage].max); // the server reports a cell's highest value
        }
        // Prediction bins: one count per prediction; a window holds what the lifetime holds here (all traffic within 60 s).
        const bins = decodeHdrV2(m.lifetime.prediction.bins.hdr);
        assert.equal([...bins.counts.values()].reduce((a, b) => a + b, 0), st.prediction.count);
        assert.equal(m.windows['1m'].counts.requests, st.windows['1m'].total_requests);
        assert.equal(m.windows['1m'].latency_us.end_to_end.hdr, m.lifetime.latency_us.end_to_end.hdr);
      }
    }
    assert.ok(hist[1].models.xgboost.lifetime.counts.errors.invalid_request >= 15);
  });

  test('HdrHistogram for Java reads the strings and sums them to the same histogram', { skip: existsSync(JAR) && spawnSync('java', ['-version']).status === 0 ? false : `needs java and ${JAR} (apt-get install libhdrhistogram-java)` }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'hdr-java-'));
    try {
      const src = join(dir, 'Merge.java');
      writeFileSync(src, `
import org.HdrHistogram.*; import java.nio.ByteBuffer; import java.util.Base64;
public class Merge { public static void main(String[] a) throws Exception {
  Histogram total = new Histogram(1, 60000000L, 3);
  for (String s : a) total.add(Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(Base64.getDecoder().decode(s)), 0));
  System.out.println(total.getTotalCount() + " " + total.getMaxValue());
  for (HistogramIterationValue v : total.recordedValues()) System.out.println(v.getValueIteratedTo() + " " + v.getCountAtValueIteratedTo());
} }`);
      for (const stage of STAGES) {
        const strings = hist.map((h) => h.models.xgboost.lifetime.latency_us[stage].hdr);
        const out = execFileSync('java', ['-cp', JAR, src, ...strings], { encoding: 'utf8' }).trim().split('\n');
        const ref = oneHistogram(strings);
        const [count, max] = out[0].split(' ').map(Number);
        assert.equal(count, ref.totalCount, stage);
        assert.equal(max, ref.highestEquivalentValue(ref.maxValue), stage); // Java reports a cell's highest value
        const ours = new Map<number, number>();
        for (let i = 0; i < ref.countsArrayLength; i++) {
          const c = ref.getCountAtIndex(i);
          if (c > 0) ours.set(ref.highestEquivalentValue(ref.valueFromIndex(i)), c);
        }
        const theirs = new Map(out.slice(1).map((l) => l.split(' ').map(Number) as [number, number]));
        assert.deepEqual(theirs, ours, stage);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('fleet view', () => {
  let view: any;
  before(async () => {
    view = await fleetView(servers.map((s) => s.url));
  });

  test('percentiles are exactly those of one histogram holding both servers\' latencies; counts sum', () => {
    assert.equal(view.fleet.replicas_ok, 2);
    for (const name of ['xgboost', 'logistic']) {
      const f = view.models[name];
      const parts = stats.map((s) => s.models[name]);
      assert.equal(f.replicas, 2);
      assert.equal(f.total_requests, parts[0].total_requests + parts[1].total_requests);
      assert.equal(f.total_requests, (sent[0].get(name) ?? 0) + (sent[1].get(name) ?? 0) + (name === 'xgboost' ? invalidSent[1] : 0));
      assert.equal(f.successful_requests, parts[0].successful_requests + parts[1].successful_requests);
      assert.equal(f.error_count, parts[0].error_count + parts[1].error_count);
      assert.equal(f.errors.invalid_request, parts[0].errors.invalid_request + parts[1].errors.invalid_request);
      assert.equal(f.batch_size.count, parts[0].batch_size.count + parts[1].batch_size.count);
      for (const block of ['lifetime', '1m'] as const) {
        const fb = block === 'lifetime' ? f : f.windows[block];
        for (const stage of STAGES) {
          const ref = oneHistogram(hist.map((h) => (block === 'lifetime' ? h.models[name].lifetime : h.models[name].windows[block]).latency_us[stage].hdr));
          assert.equal(fb.stages[stage].count, ref.totalCount, `${name} ${block} ${stage}`);
          assert.equal(fb.stages[stage].count, parts[0].stages[stage].count + parts[1].stages[stage].count);
          for (const [key, p] of PERCENTILES) assert.equal(fb.stages[stage][key], ms(ref.getValueAtPercentile(p)), `${name} ${block} ${stage} ${key}`);
          assert.equal(fb.stages[stage].max, Math.max(parts[0].stages[stage].max, parts[1].stages[stage].max));
          assert.equal(fb.stages[stage].min, Math.min(parts[0].stages[stage].min, parts[1].stages[stage].min));
          // The exact sums: the merged mean is the count-weighted mean of the parts.
          const avg = (parts[0].stages[stage].avg * parts[0].stages[stage].count + parts[1].stages[stage].avg * parts[1].stages[stage].count) / ref.totalCount;
          assert.ok(Math.abs(fb.stages[stage].avg - avg) < 1e-9, `${stage} avg ${fb.stages[stage].avg} vs ${avg}`);
        }
        assert.deepEqual(fb.latency_ms, fb.stages.end_to_end);
      }
    }
    assert.equal(view.unrouted.total_requests, stats[0].unrouted.total_requests + stats[1].unrouted.total_requests);
    assert.deepEqual(view.workers, { alive: 2, expected: 2 });
  });

  test('prediction moments pool (Chan): count, mean, std, min, max of the union', () => {
    for (const name of ['xgboost', 'logistic']) {
      const [a, b] = stats.map((s) => s.models[name].prediction);
      const p = view.models[name].prediction;
      const n = a.count + b.count;
      assert.equal(p.count, n);
      const mean = (a.count * a.mean + b.count * b.mean) / n;
      const ss = (a.count - 1) * a.std ** 2 + (b.count - 1) * b.std ** 2 + (a.count * b.count / n) * (a.mean - b.mean) ** 2;
      assert.ok(Math.abs(p.mean - mean) < 1e-12, `${name} mean ${p.mean} vs ${mean}`);
      assert.ok(Math.abs(p.std - Math.sqrt(ss / (n - 1))) < 1e-9, `${name} std ${p.std}`);
      assert.equal(p.min, Math.min(a.min, b.min));
      assert.equal(p.max, Math.max(a.max, b.max));
      // The shifted traffic on server 1 really differs, so pooling is not trivially equal to either part.
      assert.notEqual(a.mean, b.mean);
    }
    assert.equal(view.models.xgboost.drift.window, '1m');
    assert.equal(view.models.xgboost.drift.current.prediction.count, view.models.xgboost.windows['1m'].prediction.count);
  });

  test('histogram_quantile over the summed Prometheus buckets agrees with the merged HDR within bucket resolution', () => {
    for (const name of ['xgboost', 'logistic']) {
      for (const stage of STAGES) {
        const summed = new Map<string, number>();
        for (const text of metrics) {
          const re = new RegExp(`^ctr_stage_latency_seconds_bucket\\{model="${name}",stage="${stage}",le="([^"]+)"\\} (\\S+)$`, 'gm');
          for (const m of text.matchAll(re)) summed.set(m[1], (summed.get(m[1]) ?? 0) + Number(m[2]));
        }
        const buckets = [...summed].map(([le, c]) => ({ le: le === '+Inf' ? Infinity : Number(le), c })).sort((x, y) => x.le - y.le);
        assert.ok(buckets.length > 2);
        const total = buckets[buckets.length - 1].c;
        assert.equal(total, view.models[name].stages[stage].count);
        for (const [key, p] of PERCENTILES) {
          const q = histogramQuantile(p / 100, buckets);
          const hdrS = view.models[name].stages[stage][key] / 1000;
          // The bucket holding the quantile bounds the answer: both must lie in it
          // (HDR's 0.1 % cells and its rank rounding allow one cell of slack at an edge).
          const i = buckets.findIndex((b) => b.c >= (p / 100) * total);
          const lo = i === 0 ? 0 : buckets[i - 1].le;
          const hi = buckets[i].le === Infinity ? buckets[i - 1].le : buckets[i].le;
          assert.ok(q >= lo && q <= hi, `${name} ${stage} ${key}: histogram_quantile ${q} outside [${lo}, ${hi}]`);
          const slack = hi * 0.001 + 1e-6;
          assert.ok(hdrS >= lo - slack && (buckets[i].le === Infinity || hdrS <= hi + slack) && Math.abs(q - hdrS) <= hi - lo + slack,
            `${name} ${stage} ${key}: HDR ${hdrS} s vs histogram_quantile ${q} s in bucket [${lo}, ${hi}]`);
        }
      }
    }
  });

  test('a replica that is down is reported, the others still merged; the CLI prints the same view', async () => {
    // A port that was just free: nothing listens there, the connection is refused.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const freed = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const dead = `http://127.0.0.1:${freed}`;
    const partial = await fleetView([servers[0].url, dead], 2000);
    assert.equal(partial.fleet.replicas_ok, 1);
    assert.equal(partial.fleet.replicas.find((r) => r.url === dead)?.ok, false);
    assert.match(partial.fleet.replicas.find((r) => r.url === dead)!.error!, /ECONNREFUSED/);
    assert.equal(partial.models.xgboost.total_requests, stats[0].models.xgboost.total_requests);
    assert.equal(partial.models.xgboost.stages.end_to_end.p99, stats[0].models.xgboost.stages.end_to_end.p99);

    // A replica whose answer is JSON but not histograms (a proxy's page, another version): reported, not merged.
    const impostor = createServer((_req, res) => { res.setHeader('content-type', 'application/json'); res.end('{"models":{"xgboost":{"lifetime":{}}}}'); });
    await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', () => r()));
    try {
      const addr = impostor.address();
      const odd = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
      const mixed = await fleetView([servers[1].url, odd], 2000);
      const entry = mixed.fleet.replicas.find((r) => r.url === odd)!;
      assert.equal(entry.ok, false);
      assert.match(entry.error!, /cannot merge/);
      assert.equal(mixed.models.xgboost.total_requests, stats[1].models.xgboost.total_requests);
      assert.equal(mixed.models.xgboost.replicas, 1);
    } finally {
      await new Promise((r) => impostor.close(r));
    }

    const cli = spawnSync(process.execPath, [ENTRY, 'fleet', ...servers.map((s) => s.url)], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(cli.status, 0, cli.stderr);
    const printed = JSON.parse(cli.stdout);
    for (const name of ['xgboost', 'logistic']) {
      assert.equal(printed.models[name].total_requests, view.models[name].total_requests);
      assert.deepEqual(printed.models[name].stages, view.models[name].stages);
    }
    const bad = spawnSync(process.execPath, [ENTRY, 'fleet', '--port', 'x', servers[0].url], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--port must be a non-negative integer/);
  });

  test('served with --port: GET /monitoring/stats is the merged view, anything else a 404 error body', async () => {
    const fleet = await serveFleet({ urls: servers.map((s) => s.url), port: 0, host: '127.0.0.1', timeoutMs: 5000 });
    try {
      const addr = fleet.address();
      const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
      const res = await fetch(`${base}/monitoring/stats`);
      assert.equal(res.status, 200);
      const served = (await res.json()) as any;
      assert.equal(served.fleet.replicas_ok, 2);
      for (const name of ['xgboost', 'logistic']) assert.deepEqual(served.models[name].stages, view.models[name].stages);
      const missing = await fetch(`${base}/nope`);
      assert.equal(missing.status, 404);
      assert.equal(((await missing.json()) as any).error.code, 'not_found');
    } finally {
      await new Promise((r) => fleet.close(r));
    }
  });
});

/** Prometheus' histogram_quantile (promql/quantile.go): linear within the bucket, the lowest bucket starting at 0, +Inf answered with the highest finite bound. */
function histogramQuantile(q: number, buckets: { le: number; c: number }[]): number {
  const total = buckets[buckets.length - 1].c;
  const rank = q * total;
  let i = buckets.findIndex((b) => b.c >= rank);
  if (buckets[i].le === Infinity) return buckets[buckets.length - 2].le;
  const lo = i === 0 ? 0 : buckets[i - 1].le;
  const below = i === 0 ? 0 : buckets[i - 1].c;
  const inBucket = buckets[i].c - below;
  if (inBucket === 0) return buckets[i].le;
  return lo + (buckets[i].le - lo) * ((rank - below) / inBucket);
}
