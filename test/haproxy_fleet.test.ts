// Two replicas behind a real HAProxy (bench/lib/local_fleet.ts) under steady
// traffic; one is killed mid-run (SIGKILL: no drain, its connections simply
// die) and started again. The requests in flight on the killed replica are
// the only ones that may fail — HAProxy resends those that got no answer, so
// usually none does — and traffic reaches the restarted replica once its
// /ready check passes. Then the fleet view (`ctr-engine fleet` over both
// replicas) must count exactly the answers the client got from the two live
// processes, with the percentiles of one HDR histogram holding every latency
// both recorded. Skipped, saying so, without Debian's haproxy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Pool } from 'undici';
import * as hdr from 'hdr-histogram-js';
import { startLocalFleet } from '../bench/lib/local_fleet.js';
import { fleetView } from '../bin/fleet.js';
import { decodeHdrV2, valueAtIndex } from './support/hdr_v2_decode.js';

const hasHaproxy = spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).status === 0;
const SKIP = hasHaproxy ? false : 'haproxy is not installed (apt-get install haproxy): the load-balancer test did not run';

const BODY = JSON.stringify({ user_id: 'user_1', ad_id: 'ad_1', device: 'mobile', placement: 'header' });
const CONCURRENCY = 8;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Tally { ok: number; byReplica: Map<string, number>; failures: string[] }

/** CONCURRENCY closed loops of POST /predict_ctr until `done()`; each answer is tallied in the phase current when it ends. */
async function drive(url: string, done: () => boolean, current: () => Tally): Promise<void> {
  const pool = new Pool(url, { connections: CONCURRENCY, pipelining: 1 });
  const loop = async () => {
    while (!done()) {
      try {
        const res = await pool.request({ path: '/predict_ctr', method: 'POST', body: BODY, headers: { 'content-type': 'application/json' } });
        const text = await res.body.text();
        const tally = current();
        if (res.statusCode === 200) {
          tally.ok++;
          // request ids are "<replica's prefix>-<n>": which replica answered.
          const prefix = (JSON.parse(text) as { request_id: string }).request_id.split('-')[0];
          tally.byReplica.set(prefix, (tally.byReplica.get(prefix) ?? 0) + 1);
        } else tally.failures.push(`${res.statusCode} ${text.slice(0, 120)}`);
      } catch (err) {
        current().failures.push(String((err as Error).message));
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  await pool.close();
}

test('HAProxy + 2 replicas: a replica killed mid-run fails at most its in-flight requests; restarted, it serves again', { skip: SKIP, timeout: 120_000 }, async () => {
  const fleet = await startLocalFleet({ replicas: 2, env: { WORKERS: '1', MONITOR_TICK_MS: '100' }, checkIntervalMs: 300 });
  try {
    let stop = false;
    const before: Tally = { ok: 0, byReplica: new Map(), failures: [] };
    const during: Tally = { ok: 0, byReplica: new Map(), failures: [] };
    const after: Tally = { ok: 0, byReplica: new Map(), failures: [] };
    let phase = before;
    const traffic = drive(fleet.url, () => stop, () => phase);
    await sleep(1500);
    phase = during;
    await fleet.kill(1, 'SIGKILL');
    // HAProxy notices at its next check (every 300 ms here) or at the first failed connection.
    let state = await fleet.serverState(1);
    for (let i = 0; i < 50 && state.startsWith('UP'); i++) state = (await sleep(100), await fleet.serverState(1));
    assert.match(state, /DOWN/, 'HAProxy marks the dead replica down');
    await sleep(500);
    await fleet.restart(1);
    phase = after;
    await sleep(1500);
    stop = true;
    await traffic;

    assert.ok(before.ok > 50 && before.byReplica.size === 2, `both replicas served before the kill: ${JSON.stringify([...before.byReplica])}`);
    assert.deepEqual(before.failures, []);
    assert.ok(during.ok > 50, 'the surviving replica kept serving');
    assert.ok(during.failures.length <= CONCURRENCY, `only requests in flight at the kill may fail: ${during.failures.join('; ')}`);
    assert.deepEqual(after.failures, []);
    assert.equal(after.byReplica.size, 2, `the restarted replica serves again: ${JSON.stringify([...after.byReplica])}`);
    console.log(`haproxy fleet: before ${before.ok} ok; during the kill ${during.ok} ok, ${during.failures.length} failed; after restart ${after.ok} ok`);

    // The killed process's id prefix answered before the kill and never after.
    const killed = [...before.byReplica.keys()].filter((p) => !after.byReplica.has(p));
    assert.equal(killed.length, 1, `one prefix is the killed replica's: ${[...before.byReplica.keys()]} / ${[...after.byReplica.keys()]}`);
    let liveOk = 0;
    for (const t of [before, during, after]) for (const [p, n] of t.byReplica) if (p !== killed[0]) liveOk += n;
    // A few ticks: every answer is in both replicas' snapshots.
    await sleep(600);
    const urls = fleet.replicas.map((r) => `http://${r.host}:${r.port}`);
    const view = await fleetView(urls);
    assert.equal(view.fleet.replicas_ok, 2);
    const served = Object.values(view.models).reduce((n, m) => n + m.successful_requests, 0);
    assert.equal(served, liveOk, 'the fleet counts exactly what the two live replicas answered');
    const hists = await Promise.all(urls.map(async (u) => (await fetch(`${u}/monitoring/histograms`)).json() as Promise<any>));
    for (const [name, m] of Object.entries(view.models)) {
      const all = new hdr.Float64Histogram(1, 60_000_000, 3);
      for (const h of hists) {
        const d = decodeHdrV2(h.models[name].lifetime.latency_us.end_to_end.hdr);
        for (const [i, c] of d.counts) all.recordValueWithCount(valueAtIndex(d, i), c);
      }
      assert.equal(m.stages.end_to_end.count, all.totalCount, name);
      for (const [key, p] of [['p50', 50], ['p99', 99], ['p999', 99.9]] as const) {
        assert.equal(m.stages.end_to_end[key], Math.round(all.getValueAtPercentile(p)) / 1000, `${name} ${key}: the fleet's is the merged histogram's`);
      }
    }
  } finally {
    await fleet.stop();
  }
});
