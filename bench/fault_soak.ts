// `npm run soak`: the engine at half its capacity for 10 minutes while things
// go wrong — an inference worker killed every 2 minutes (INJECT_WORKER_KILL +
// SIGUSR2, as a crash would end it), the MLflow server down for a while every
// 2 minutes (a fake MLflow REST server in this process, stopped and started
// again), and a SIGTERM at the end — then checks what an operator relies on:
//   - no unexpected errors: only 500 inference_failed within a few seconds of
//     a kill (the rows that were on the killed worker) are expected, counted apart;
//   - the server's RSS stays within 5 % (median of the first tenth vs the last), after
//     a warm-up that runs the same faults;
//   - counters reconcile: the server's requests = successes + errors, and match
//     what this client sent and got; MLflow's last lifetime total = the stats total;
//   - MLflow's last point is healthy (health 0, workers/alive = workers/expected = N)
//     and the runs end FINISHED; the server exits 0 on SIGTERM.
// Exits 1 when a check fails. The load is the bench's open-loop generator in
// 10 s segments; a 500 is told apart by the server's per-code counts.
import { FakeMlflowServer, type FakeRun } from './lib/fake_mlflow_server.js';
import { median } from './lib/gate_stats.js';
import { measure, poolFor } from './lib/measure.js';
import { num, parseCli, parseCommon, runMain } from './lib/options.js';
import { rssKB } from './lib/proc_stats.js';
import { resultPath, writeResult } from './lib/report.js';
import { runInfo } from './lib/run_info.js';
import { startServer } from './lib/server_proc.js';
import { benchRoot, targetSpec } from './lib/targets.js';

const USAGE = `usage: npm run soak -- [--capacity N] [--fraction 0.5] [--duration S (600)] [--fault-every S (120)]
  [--mlflow-outage S (min(30, fault-every/3))] [--workers N (2)] [--sample S (5)] [--warmup S (330)]
  [--max-growth 0.05] [--server-env K=V ...] [--out FILE], plus loadgen options (--model, --open-tool …)
  Without --capacity: a short closed-loop run measures it first.`;

const EXPERIMENT = 'ctr_fault_soak';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface StatsTotals { total: number; ok: number; errors: number; perModelConsistent: boolean; errorCodes: Record<string, number> }

runMain(async () => {
  const v = parseCli({
    capacity: { type: 'string' }, fraction: { type: 'string', default: '0.5' }, 'fault-every': { type: 'string', default: '120' },
    'mlflow-outage': { type: 'string' }, workers: { type: 'string', default: '2' }, sample: { type: 'string', default: '5' },
    'max-growth': { type: 'string', default: '0.05' },
  }, USAGE);
  if (!process.argv.some((a) => a.startsWith('--duration'))) v.duration = '600';
  // The warm-up runs the same faults as the window: bounded structures reach
  // their size (the 5-minute monitoring window's ring of steps) and every
  // kind of event has happened before RSS is compared (a replacement worker's
  // first heap, MLflow's first outage buffer, the allocator's high-water
  // marks). What grows after that is growth.
  if (!process.argv.some((a) => a.startsWith('--warmup'))) v.warmup = '330';
  const cfg = parseCommon(v);
  const durationMs = cfg.durationMs;
  const faultEveryMs = num('fault-every', v['fault-every'] as string, 1) * 1000;
  const outageMs = v['mlflow-outage'] !== undefined ? num('mlflow-outage', v['mlflow-outage'] as string, 0.1) * 1000 : Math.min(30_000, faultEveryMs / 3);
  const workers = num('workers', v.workers as string, 1);
  const sampleMs = num('sample', v.sample as string, 0.2) * 1000;
  const maxGrowth = num('max-growth', v['max-growth'] as string, -1);
  const log = (l: string) => console.error(`[fault-soak] ${l}`);

  // Times from the start of the warm-up: kills at every fault-every, MLflow
  // outages half a period earlier, none in the last half period, so the last
  // MLflow point reflects a settled server. The window is the last durationMs.
  const warmupMs = cfg.warmupMs;
  const totalMs = warmupMs + durationMs;
  const lastEventAt = totalMs - faultEveryMs / 2;
  const allKills: number[] = [];
  for (let t = faultEveryMs; t <= lastEventAt; t += faultEveryMs) allKills.push(t);
  const allOutages: number[] = [];
  for (let t = faultEveryMs / 2; t + outageMs <= lastEventAt; t += faultEveryMs) allOutages.push(t);
  const inWindow = (t: number) => t >= warmupMs;
  const kills = allKills.filter(inWindow).map((t) => t - warmupMs);
  const outages = allOutages.filter(inWindow).map((t) => t - warmupMs);

  const mlflow = await FakeMlflowServer.start();
  const flushMs = Math.max(1000, Math.min(10_000, Math.floor(durationMs / 20)));
  const spec = targetSpec('engine', {
    env: {
      WORKERS: String(workers), INJECT_WORKER_KILL: '1', MLFLOW_TRACKING_URI: mlflow.url, MLFLOW_EXPERIMENT_NAME: EXPERIMENT,
      MLFLOW_FLUSH_INTERVAL_MS: String(flushMs), DRAIN_GRACE_MS: '500', ...cfg.serverEnv,
    },
  });
  const server = await startServer(spec);
  const base = `http://${server.host}:${server.port}`;
  const ep = { host: server.host, port: server.port, pid: server.pid };
  let stopped = false;
  try {
    let capacity = v.capacity !== undefined ? num('capacity', v.capacity as string, 1) : undefined;
    if (capacity === undefined) {
      const r = await measure({ ...cfg, mode: 'closed' }, ep, poolFor(cfg, ep), { mode: 'closed', durationMs: 5000, warmupMs: 1000 });
      capacity = Math.round(r.throughput);
      log(`capacity (closed loop, ${cfg.connections} connections, 5 s): ${capacity} req/s`);
    }
    const rate = Math.max(1, Math.round(capacity * Number(v.fraction)));
    log(`soaking at ${rate} req/s for ${durationMs / 1000} s; worker kills at ${kills.map((t) => t / 1000).join(', ')} s; MLflow down ${outageMs / 1000} s from ${outages.map((t) => t / 1000).join(', ')} s`);

    const pool = poolFor(cfg, ep);
    // The rows a kill may fail (worker_crash semantics): the batches on the killed worker, at most tasks × batch size.
    const env = spec.env ?? {};
    const rowsPerKill = Number(env.TASKS_PER_WORKER ?? 1) * Number(env.BATCH_MAX_SIZE ?? 256);
    const tally = { sent: 0, answered: 0, ok: 0, statuses: {} as Record<string, number>, failures: {} as Record<string, number> };
    const segmentMs = 10_000;
    const load = async (ms: number, onSegment?: () => void): Promise<void> => {
      const t = Date.now();
      while (Date.now() - t < ms - 50) {
        const r = await measure(cfg, ep, pool, { mode: 'open', rate, durationMs: Math.min(segmentMs, ms - (Date.now() - t)), warmupMs: 0 });
        tally.sent += r.requests.offered;
        tally.answered += Object.values(r.statuses).reduce((a, n) => a + n, 0); // HTTP answers, whatever the status
        tally.ok += r.requests.ok;
        addTo(tally.statuses, r.statuses);
        addTo(tally.failures, r.errors);
        onSegment?.();
      }
    };

    // Event times are logged from the window's start (negative: warm-up).
    const events: { t: number; what: string }[] = [];
    const tStart = Date.now();
    let t0 = tStart + warmupMs;
    let k = 0;
    let o = 0;
    let mlflowDownUntil = Infinity;
    const event = (what: string) => {
      const t = (Date.now() - t0) / 1000;
      events.push({ t, what });
      log(`${t.toFixed(0)} s: ${what}`);
    };
    const faults = setInterval(() => {
      const el = Date.now() - tStart;
      if (k < allKills.length && el >= allKills[k]) {
        k++;
        process.kill(server.pid, 'SIGUSR2');
        event('worker killed');
      }
      if (o < allOutages.length && el >= allOutages[o] && mlflow.isUp) {
        o++;
        mlflowDownUntil = el + outageMs;
        void mlflow.down();
        event('MLflow down');
      }
      if (el >= mlflowDownUntil && !mlflow.isUp) {
        mlflowDownUntil = Infinity;
        void mlflow.up();
        event('MLflow up');
      }
    }, 100);

    // RSS from the start (t < 0: warm-up, reported, not judged).
    const samples: { t: number; rssMB: number }[] = [];
    const sample = () => samples.push({ t: (Date.now() - t0) / 1000, rssMB: rssKB(server.pid) / 1024 });
    sample();
    const sampler = setInterval(sample, sampleMs);
    let lastReport = 0;
    let before: Awaited<ReturnType<typeof statsTotals>>;
    let at0: typeof tally;
    try {
      if (warmupMs > 0) await load(warmupMs);
      await sleep(2500); // two coordinator ticks: the stats below include the warm-up
      before = await statsTotals(base);
      at0 = { ...tally, statuses: { ...tally.statuses }, failures: { ...tally.failures } };
      const shift = (Date.now() - t0) / 1000; // re-based on the window's real start
      for (const x of samples) x.t -= shift;
      for (const e of events) e.t -= shift;
      t0 = Date.now();
      sample();
      await load(durationMs, () => {
        const el = Date.now() - t0;
        if (el - lastReport < 30_000 && el < durationMs - 100) return;
        lastReport = el;
        log(`${(el / 1000).toFixed(0)} s: sent ${tally.sent - at0.sent}, ok ${tally.ok - at0.ok}, statuses ${JSON.stringify(diff(tally.statuses, at0.statuses))}, rss ${samples.at(-1)!.rssMB.toFixed(1)} MB`);
      });
    } finally {
      clearInterval(sampler);
      clearInterval(faults);
    }
    sample();
    const judged = samples.filter((x) => x.t >= 0);
    const killsInWindow = events.filter((e) => e.t >= 0 && e.what === 'worker killed').length;
    if (!mlflow.isUp) await mlflow.up();
    const sent = tally.sent - at0.sent;
    const answered = tally.answered - at0.answered;
    const ok = tally.ok - at0.ok;
    const clientErrors = answered - ok;
    const statuses = diff(tally.statuses, at0.statuses);
    const failures = diff(tally.failures, at0.failures);

    // Wait for the coordinator to have counted every answer.
    let after = await statsTotals(base);
    for (let i = 0; i < 50 && after.total - before.total < answered; i++) { await sleep(200); after = await statsTotals(base); }
    // The workers came back: every kill was replaced.
    const alive = await workersAlive(base);

    await server.stop(); // SIGTERM: drain, final MLflow flush, exit
    stopped = true;
    const exitCode = server.exitCode();

    // Expected: the 500s the server counts as inference_failed (a worker died
    // under its rows), at most one batch per task per kill. Anything else —
    // another status, a 500 of another kind, a lost or unsent request — is unexpected.
    const failedByServer = (after.errorCodes.inference_failed ?? 0) - (before.errorCodes.inference_failed ?? 0);
    const client500 = statuses['500'] ?? 0;
    const expected = Math.min(client500, failedByServer);
    const unexpectedKinds: Record<string, number> = { ...failures };
    for (const [st, n] of Object.entries(statuses)) if (!st.startsWith('2') && st !== '500') unexpectedKinds[`status ${st}`] = n;
    if (client500 > expected) unexpectedKinds['500 not inference_failed'] = client500 - expected;
    const unexpected = Object.values(unexpectedKinds).reduce((a, n) => a + n, 0);
    const counts = { expected, unexpected, network: Object.values(failures).reduce((a, n) => a + n, 0) };

    const tenth = Math.max(1, Math.floor(judged.length / 10));
    const firstMB = median(judged.slice(0, tenth).map((s) => s.rssMB));
    const lastMB = median(judged.slice(-tenth).map((s) => s.rssMB));
    const growth = (lastMB - firstMB) / firstMB;

    const runs = mlflow.runsOf(EXPERIMENT);
    const last = runs.map((r) => ({ model: r.tags.get('model') ?? r.info.run_name, status: r.info.status, total: lastValue(r, 'lifetime/total_requests'), health: lastValue(r, 'health'), alive: lastValue(r, 'workers/alive'), expected: lastValue(r, 'workers/expected') }));
    const mlflowTotal = last.reduce((a, r) => a + (r.total ?? 0), 0);
    const statsTotal = after.total - after.unroutedTotal;

    const checks: { name: string; pass: boolean; detail: string }[] = [
      { name: 'no unexpected errors', pass: counts.unexpected === 0, detail: `${counts.unexpected} unexpected ${JSON.stringify(unexpectedKinds)}; ${counts.expected} expected (500 inference_failed on killed workers; server counted ${failedByServer})` },
      { name: 'kills failed only their rows', pass: expected <= killsInWindow * rowsPerKill, detail: `${expected} rows failed by ${killsInWindow} kills, at most ${rowsPerKill} each (tasks per worker × batch size)` },
      { name: 'every request answered', pass: answered === sent && counts.network === 0, detail: `sent ${sent}, answered ${answered}, network errors ${counts.network}` },
      { name: `RSS within ${maxGrowth * 100} %`, pass: growth <= maxGrowth, detail: `${firstMB.toFixed(1)} → ${lastMB.toFixed(1)} MB (${(growth * 100).toFixed(2)} %), max ${Math.max(...judged.map((s) => s.rssMB)).toFixed(1)} MB; at the warm-up's start ${samples[0].rssMB.toFixed(1)} MB` },
      { name: 'stats: requests = successes + errors', pass: after.perModelConsistent && after.total === after.ok + after.errors, detail: `total ${after.total} = ok ${after.ok} + errors ${after.errors}` },
      { name: 'stats = client counts', pass: after.total - before.total === answered && after.ok - before.ok === ok && after.errors - before.errors === clientErrors, detail: `server +${after.total - before.total} (ok +${after.ok - before.ok}, errors +${after.errors - before.errors}); client ${answered} (ok ${ok}, errors ${clientErrors})` },
      { name: 'MLflow total = stats total', pass: mlflowTotal === statsTotal, detail: `MLflow last lifetime/total_requests summed over ${runs.length} runs: ${mlflowTotal}; stats (routed): ${statsTotal}` },
      { name: 'last MLflow point healthy', pass: last.length > 0 && last.every((r) => r.health === 0 && r.alive === workers && r.expected === workers), detail: last.map((r) => `${r.model}: health ${r.health}, workers/alive ${r.alive}/${r.expected}`).join('; ') },
      { name: 'MLflow runs FINISHED', pass: last.length > 0 && last.every((r) => r.status === 'FINISHED'), detail: last.map((r) => `${r.model} ${r.status}`).join('; ') },
      { name: 'workers replaced after kills', pass: alive === workers, detail: `${alive} of ${workers} alive before SIGTERM` },
      { name: 'exit 0 on SIGTERM', pass: exitCode === 0, detail: `exit ${exitCode}` },
    ];
    console.log(`fault soak: ${rate} req/s (half of ${capacity}) for ${durationMs / 1000} s after ${warmupMs / 1000} s of warm-up under the same faults, ${workers} workers, ${killsInWindow} worker kills and ${outages.length} MLflow outages of ${outageMs / 1000} s in the window`);
    console.log(`  sent ${sent}, ok ${ok}, expected errors ${counts.expected}, unexpected ${counts.unexpected}`);
    for (const c of checks) console.log(`  ${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);
    const file = writeResult(resultPath('fault_soak', 'json', cfg.out), {
      kind: 'fault_soak', info: runInfo(benchRoot()), rate, capacity, durationS: durationMs / 1000, workers, kills: kills.map((t) => t / 1000), outages: outages.map((t) => t / 1000), outageS: outageMs / 1000,
      counts: { sent, answered, ok, expected: counts.expected, unexpected: counts.unexpected, unexpectedKinds, statuses }, stats: { before, after }, mlflow: last,
      rss: { firstMB, lastMB, growth, samples }, events, checks,
    });
    console.log(`result: ${file}`);
    if (counts.unexpected > 0 || !checks.every((c) => c.pass)) console.error(server.output().slice(-3000));
    return checks.every((c) => c.pass) ? 0 : 1;
  } finally {
    if (!stopped) await server.stop();
    await mlflow.close();
  }
});

/** The metric's value at its latest timestamp (the last logged at that time). */
function lastValue(run: FakeRun, key: string): number | undefined {
  let best: { timestamp: number; step: number; value: number } | undefined;
  for (const m of run.metrics) if (m.key === key && (best === undefined || m.timestamp > best.timestamp || (m.timestamp === best.timestamp && m.step >= best.step))) best = m;
  return best?.value;
}

async function statsTotals(base: string): Promise<StatsTotals & { unroutedTotal: number }> {
  const res = await fetch(`${base}/monitoring/stats`);
  const s = (await res.json()) as { models: Record<string, { total_requests: number; successful_requests: number; error_count: number; errors: Record<string, number> }>; unrouted: { total_requests: number; error_count: number; errors: Record<string, number> } };
  const out = { total: s.unrouted.total_requests, ok: 0, errors: s.unrouted.error_count, perModelConsistent: true, errorCodes: { ...s.unrouted.errors }, unroutedTotal: s.unrouted.total_requests };
  for (const m of Object.values(s.models)) {
    const l = m;
    out.total += l.total_requests;
    out.ok += l.successful_requests;
    out.errors += l.error_count;
    if (l.total_requests !== l.successful_requests + l.error_count) out.perModelConsistent = false;
    for (const [c, n] of Object.entries(l.errors)) out.errorCodes[c] = (out.errorCodes[c] ?? 0) + n;
  }
  return out;
}

async function workersAlive(base: string): Promise<number> {
  const s = (await (await fetch(`${base}/monitoring/stats`)).json()) as { workers?: { alive: number } };
  return s.workers?.alive ?? -1;
}

function addTo(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
}

function diff(now: Record<string, number>, then: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(now)) if (n - (then[k] ?? 0) !== 0) out[k] = n - (then[k] ?? 0);
  return out;
}
