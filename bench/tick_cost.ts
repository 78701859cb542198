// `node dist/bench/tick_cost.js`: what one coordinator tick costs, in process,
// without a server: under traffic (every tick rebuilds its windows) and idle
// (it reuses them). A tick runs on a thread of its own, but on a small box it
// takes a core from the request path once a second, so its cost shows in the
// tail (bench/README "Stop 13"). Telemetry buffers as a 2-worker server lays
// them out (2 models, 4 worker shards, 2 of them written) and the
// coordinator's default windows (1m, 5m), filled each simulated second with
// --rate requests of log-normal latencies; only tick() is timed.
import { createTelemetry } from '../engine/telemetry/buffers.js';
import { claimWorkerShard } from '../engine/telemetry/worker_recorder.js';
import { createMainRecorder } from '../engine/telemetry/main_recorder.js';
import { Coordinator } from '../engine/coordinator/coordinator.js';
import { num, parseCli, runMain } from './lib/options.js';
import { mulberry32 } from './lib/traffic_sampler.js';

const USAGE = `usage: node dist/bench/tick_cost.js [--rate 9000 (requests per simulated second)] [--ticks 360 (> 60: the first 60 warm up)] [--idle-ticks 60] [--json]`;

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

runMain(async () => {
  const v = parseCli({ ticks: { type: 'string', default: '360' }, 'idle-ticks': { type: 'string', default: '60' } }, USAGE);
  const rate = num('rate', (v.rate as string | undefined) ?? '9000', 0);
  // The first 60 ticks are warm-up (not counted).
  const ticks = num('ticks', v.ticks as string, 61);
  const idleTicks = num('idle-ticks', v['idle-ticks'] as string, 0);
  const models = ['xgboost', 'logistic'];
  const buffers = createTelemetry({ models, workerShards: 4 });
  const workers = [claimWorkerShard(buffers, 1), claimWorkerShard(buffers, 2)];
  const main = createMainRecorder(buffers);
  const coord = new Coordinator({ buffers, models: models.map((name) => ({ name, version: '1' })), tickMs: 1000 }, 0);
  // Seeded, so that runs compare.
  const rand = mulberry32(1);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
  const ctr = new Float32Array(8);
  const loaded: number[] = [], idle: number[] = [];
  let now = 0;
  for (let t = 0; t < ticks + idleTicks; t++) {
    if (t < ticks) {
      // One simulated second of traffic: batches of 1–8 rows over both workers and models.
      for (let sent = 0; sent < rate;) {
        const rows = 1 + Math.floor(rand() * 8);
        const m = rand() < 0.5 ? 0 : 1;
        for (let i = 0; i < rows; i++) ctr[i] = 0.02 * Math.exp(0.5 * gauss());
        workers[sent & 1].recordBatch(m, rows, 40 * Math.exp(gauss()), 30 * Math.exp(0.6 * gauss()), ctr);
        main.countRequest(m, rows);
        for (let i = 0; i < rows; i++) main.recordSuccess(m, 200 * Math.exp(0.8 * gauss()));
        sent += rows;
      }
    }
    now += 1000;
    const t0 = performance.now();
    coord.tick(now);
    const ms = performance.now() - t0;
    // The first minute's ticks warm the JIT and fill the shortest window: not counted.
    if (t >= 60 && t < ticks) loaded.push(ms);
    if (t >= ticks + 5) idle.push(ms);
  }
  const row = (what: string, xs: number[]) => ({ what, ticks: xs.length, p50_ms: quantile(xs, 0.5), p90_ms: quantile(xs, 0.9), max_ms: Math.max(...xs) });
  const out = [row(`loaded (${rate} req/s)`, loaded), ...(idle.length > 0 ? [row('idle', idle)] : [])];
  if (v.json === true) console.log(JSON.stringify(out));
  else for (const r of out) console.log(`${r.what.padEnd(22)} ticks ${String(r.ticks).padStart(4)}  p50 ${r.p50_ms.toFixed(3)} ms  p90 ${r.p90_ms.toFixed(3)} ms  max ${r.max_ms.toFixed(3)} ms`);
});
