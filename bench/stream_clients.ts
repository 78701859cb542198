// The cost of live-stream subscribers on prediction serving: the engine under
// a closed-loop wrk load (c=64) with 0, 100 and 500 WebSocket clients on
// /monitoring/stream, rounds alternating (ABC, CBA, …) so drift of this
// shared machine spreads evenly. The clients live in a child process of their
// own, so their cost is not charged to the load generator or the server.
//
//   node dist/bench/stream_clients.js [--clients 0,100,500] [--rounds 2] [--duration 6] [--stuck]
//   (--stuck: the clients never read, so every frame backs up and they are skipped, then closed)
//   node dist/bench/stream_clients.js --hold N --url ws://…   (the child)
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { WsClient } from './lib/ws_client.js';
import { startServer } from './lib/server_proc.js';

const args = process.argv.slice(2);
const USAGE = `usage: node dist/bench/stream_clients.js [--clients 0,100,500] [--rounds 2] [--duration 6] [--tick-ms 1000] [--stuck]
  the engine under closed-loop wrk load (c=64) with N WebSocket clients on /monitoring/stream, rounds alternating
  --stuck   the clients never read: every frame backs up, they are skipped, then closed`;
if (args.includes('--help') || args.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : args[i + 1];
};

async function hold(n: number, url: string, stuck: boolean): Promise<void> {
  const clients: WsClient[] = [];
  while (clients.length < n) clients.push(...(await Promise.all(Array.from({ length: Math.min(50, n - clients.length) }, () => WsClient.connect(url)))));
  // Stuck clients stop reading their sockets (the server must skip and close them);
  // the others read and drop frames, like a dashboard that keeps up.
  if (stuck) clients.forEach((c) => c.socket.pause());
  else setInterval(() => clients.forEach((c) => c.discard()), 200);
  process.stdout.write(`ready ${clients.length}\n`);
}

async function holder(n: number, url: string): Promise<() => void> {
  if (n === 0) return () => {};
  const extra = args.includes('--stuck') ? ['--stuck'] : [];
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--hold', String(n), '--url', url, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
    child.on('exit', (code) => reject(new Error(`stream holder exited ${code}`)));
  });
  return () => child.kill('SIGKILL');
}

async function main(): Promise<void> {
  if (args.includes('--hold')) return hold(Number(opt('hold', '0')), opt('url', ''), args.includes('--stuck'));
  const counts = opt('clients', '0,100,500').split(',').map(Number);
  const rounds = Number(opt('rounds', '2'));
  const duration = Number(opt('duration', '6'));
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const lua = join(tmpdir(), 'ctr-stream-bench.lua');
  writeFileSync(lua, 'wrk.method="POST"\nwrk.headers["Content-Type"]="application/json"\n'
    + 'wrk.body=\'{"user_id":"user_1","ad_id":"ad_1","device":"mobile","placement":"header","context":{"hour":13}}\'\n');
  // Baselines and the MLflow store of this run go to a scratch folder, not the checkout.
  const scratch = mkdtempSync(join(tmpdir(), 'ctr-stream-bench-'));
  const server = await startServer({
    name: 'engine', command: [process.execPath, 'dist/bin/ctr-engine.js'], cwd: root,
    env: { MONITOR_TICK_MS: opt('tick-ms', '1000'), DATA_DIR: scratch, MLFLOW_TRACKING_URI: `file:${join(scratch, 'mlruns')}` },
  });
  const base = `127.0.0.1:${server.port}`;
  const rows: { round: number; clients: number; rps: number; p50: string; p99: string; skipped: string }[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const n of round % 2 === 1 ? counts : [...counts].reverse()) {
        // interval=100: as many frames as the tick allows, so stuck clients back up fast.
        const stop = await holder(n, `ws://${base}/monitoring/stream?interval=${args.includes('--stuck') ? 100 : 1000}`);
        await new Promise((r) => setTimeout(r, 1500));
        const { stdout } = await promisify(execFile)('wrk', ['-t2', '-c64', `-d${duration}s`, '--latency', '-s', lua, `http://${base}/predict_ctr`]);
        const metrics = await (await fetch(`http://${base}/metrics`)).text();
        stop();
        rows.push({
          round, clients: n,
          rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)![1]),
          p50: / 50%\s+(\S+)/.exec(stdout)![1],
          p99: / 99%\s+(\S+)/.exec(stdout)![1],
          skipped: /ctr_stream_frames_skipped_total (\d+)/.exec(metrics)?.[1] ?? '?',
        });
        console.log(JSON.stringify(rows[rows.length - 1]));
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    await server.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
  console.log('\nclients  req/s (per round)      p99 (per round)');
  for (const n of counts) {
    const r = rows.filter((x) => x.clients === n);
    console.log(`${String(n).padStart(7)}  ${r.map((x) => Math.round(x.rps)).join(' / ').padEnd(22)} ${r.map((x) => x.p99).join(' / ')}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
