// Server CPU against load, measured from outside (issue 17): cores per 10k
// req/s idle, at open-loop rates and in a closed loop, split into the main
// thread (the request thread: uWS, JSON, batching, inline inference) and every
// other thread of the process (inference workers, the coordinator, V8's own).
// Read from /proc/PID/task/*/stat over the measured part of each run, with
// the bench's own generator (dist/bench/loadgen.js) driving the load.
//
//   node dist/bench/cpu_vs_load.js [--target engine|echo] [--rates 2000,10000] [--closed]
//        [--idle-s 20] plus the common bench options (--duration, --warmup, --model, --server-env K=V, --json)
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { num, parseCli, parseCommon, runMain } from './lib/options.js';
import { startServer } from './lib/server_proc.js';
import { benchRoot, targetSpec } from './lib/targets.js';

const USAGE = `usage: node dist/bench/cpu_vs_load.js [--target engine|echo] [--rates 2000,10000] [--closed] [--idle-s 20]
  plus the loadgen options it passes on (--duration, --warmup, --model, --server-env K=V …)`;

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** CPU ms per thread of `pid` (utime + stime), by thread id. */
function threadCpu(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), (Number(f[11]) + Number(f[12])) * TICK_MS);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

interface Split { main: number; others: number; total: number }

/** Cores used between two samples: the main thread (tid = pid) and the rest. */
function coresBetween(pid: number, a: Map<number, number>, b: Map<number, number>, ms: number): Split {
  let main = 0, others = 0;
  for (const [tid, cpu] of b) {
    const d = cpu - (a.get(tid) ?? 0);
    if (tid === pid) main += d;
    else others += d;
  }
  return { main: main / ms, others: others / ms, total: (main + others) / ms };
}

interface Row { load: string; reqPerS: number; cores: Split; coresPer10k: number | null; mainUsPerReq: number | null; othersUsPerReq: number | null }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs loadgen against `url`; resolves with its JSON result. Samples the server's threads over the measured part. */
function runLoad(url: string, pid: number, args: string[], warmupS: number, durationS: number): Promise<{ result: { throughput: number }; cores: Split }> {
  return new Promise((resolve, reject) => {
    const out = join(tmpdir(), `cpu_vs_load-${process.pid}-${Date.now()}.json`);
    const child = spawn(process.execPath, [join(benchRoot(), 'dist/bench/loadgen.js'), '--url', url, ...args, '--out', out], { stdio: ['ignore', 'ignore', 'inherit'] });
    let first: Map<number, number> | null = null, last: Map<number, number> | null = null, t0 = 0, t1 = 0;
    // The measured part: from a second after the warm-up to half a second before the end (the generator's start-up and tail stay out).
    const startAt = setTimeout(() => { first = threadCpu(pid); t0 = performance.now(); }, (warmupS + 1) * 1000);
    const endAt = setTimeout(() => { last = threadCpu(pid); t1 = performance.now(); }, (warmupS + durationS - 0.5) * 1000);
    child.on('exit', (code) => {
      clearTimeout(startAt);
      clearTimeout(endAt);
      if (code !== 0) return reject(new Error(`loadgen exited ${code}`));
      if (first === null || last === null) return reject(new Error('loadgen ended before the measured window'));
      const json = JSON.parse(readFileSync(out, 'utf8'));
      rmSync(out, { force: true });
      resolve({ result: json, cores: coresBetween(pid, first, last, t1 - t0) });
    });
  });
}

function row(load: string, reqPerS: number, cores: Split): Row {
  const per = reqPerS > 0;
  return {
    load, reqPerS, cores,
    coresPer10k: per ? cores.total / reqPerS * 10_000 : null,
    mainUsPerReq: per ? cores.main / reqPerS * 1e6 : null,
    othersUsPerReq: per ? cores.others / reqPerS * 1e6 : null,
  };
}

runMain(async () => {
  const v = parseCli({ rates: { type: 'string', default: '2000,10000' }, closed: { type: 'boolean', default: false }, 'idle-s': { type: 'string', default: '20' } }, USAGE);
  const cfg = parseCommon(v);
  const rates = String(v.rates).split(',').filter(Boolean).map((r) => num('rates', r, 1));
  const idleS = num('idle-s', v['idle-s'] as string, 1);
  const durationS = cfg.durationMs / 1000, warmupS = cfg.warmupMs / 1000;
  const server = await startServer(targetSpec(cfg.target, { model: cfg.model, env: cfg.serverEnv }));
  const url = `http://${server.host}:${server.port}`;
  const rows: Row[] = [];
  try {
    // Idle first, after a moment for start-up work to settle.
    await sleep(2000);
    const a = threadCpu(server.pid), t0 = performance.now();
    await sleep(idleS * 1000);
    rows.push(row(`idle ${idleS} s`, 0, coresBetween(server.pid, a, threadCpu(server.pid), performance.now() - t0)));
    const common = ['--duration', String(durationS), '--warmup', String(warmupS), ...(cfg.model === undefined ? [] : ['--model', cfg.model])];
    for (const rate of rates) {
      const r = await runLoad(url, server.pid, ['--mode', 'open', '--rate', String(rate), ...common], warmupS, durationS);
      rows.push(row(`open ${rate}/s`, r.result.throughput, r.cores));
    }
    if (v.closed === true) {
      const r = await runLoad(url, server.pid, ['--mode', 'closed', '--tool', 'own', ...common], warmupS, durationS);
      rows.push(row('closed loop', r.result.throughput, r.cores));
    }
  } finally {
    await server.stop();
  }
  if (cfg.json) {
    console.log(JSON.stringify({ target: cfg.target, env: cfg.serverEnv, rows }, null, 2));
    return;
  }
  const f = (x: number | null, d = 2) => (x === null ? '–' : x.toFixed(d));
  console.log(`${cfg.target} ${Object.entries(cfg.serverEnv).map(([k, val]) => `${k}=${val}`).join(' ')}`);
  console.log('load            req/s     cores  main   others  cores/10k  main µs/req  others µs/req');
  for (const r of rows) {
    console.log(`${r.load.padEnd(14)} ${r.reqPerS.toFixed(0).padStart(7)}  ${f(r.cores.total, 3).padStart(6)} ${f(r.cores.main, 3).padStart(6)} ${f(r.cores.others, 3).padStart(6)}  ${f(r.coresPer10k).padStart(9)}  ${f(r.mainUsPerReq, 1).padStart(11)}  ${f(r.othersUsPerReq, 1).padStart(13)}`);
  }
});
