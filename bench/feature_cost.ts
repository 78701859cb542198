// `node dist/bench/feature_cost.js`: what feature watching and click labels
// cost in throughput (issue 15, aim ≤ 5 %). Two servers of this build side by
// side, one with the defaults (FEATURE_WATCH_SAMPLE=4, LABEL_CAPACITY=2^20:
// on), one with FEATURE_WATCH_SAMPLE=0 LABEL_CAPACITY=0 (off); round after
// round each gets a closed-loop run in turn, the order flipped every round (on
// off, off on, …), so a burst of other work on this shared machine hits both
// sides of a round alike. The ratio on/off is taken per round; the report is
// the median ratio and its range.
import { measure, poolFor } from './lib/measure.js';
import { num, parseCli, parseCommon, runMain } from './lib/options.js';
import { resultPath, table, writeResult, fmt } from './lib/report.js';
import { runInfo } from './lib/run_info.js';
import { startServer, type ServerHandle } from './lib/server_proc.js';
import { benchRoot, targetSpec } from './lib/targets.js';
import { median } from './lib/gate_stats.js';
import type { LoadResult } from './lib/load_runner.js';

const USAGE = `usage: node dist/bench/feature_cost.js [--rounds N (7)] [--duration S (5)] [--warmup S (1)]
  plus loadgen options (--connections, --kind, --batch-size, --format, --model, --tool, --server-env for both sides …)`;

const OFF = { FEATURE_WATCH_SAMPLE: '0', LABEL_CAPACITY: '0' };

runMain(async () => {
  const v = parseCli({ rounds: { type: 'string', default: '7' } }, USAGE);
  if (!process.argv.some((a) => a.startsWith('--duration'))) v.duration = '5';
  if (!process.argv.some((a) => a.startsWith('--warmup'))) v.warmup = '1';
  const cfg = parseCommon(v);
  const rounds = num('rounds', v.rounds as string, 1);
  const log = (l: string) => console.error(`[feature-cost] ${l}`);

  const servers: Record<'on' | 'off', ServerHandle> = {
    on: await startServer(targetSpec('engine', { env: { ...cfg.serverEnv } })),
    off: await startServer(targetSpec('engine', { env: { ...cfg.serverEnv, ...OFF } })),
  };
  const rows: { round: number; on: LoadResult; off: LoadResult; ratio: number }[] = [];
  try {
    const pools = {
      on: poolFor(cfg, { host: servers.on.host, port: servers.on.port }),
      off: poolFor(cfg, { host: servers.off.host, port: servers.off.port }),
    };
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? (['on', 'off'] as const) : (['off', 'on'] as const);
      const got: Partial<Record<'on' | 'off', LoadResult>> = {};
      for (const side of order) {
        const s = servers[side];
        got[side] = await measure(cfg, { host: s.host, port: s.port, pid: s.pid }, pools[side], { mode: 'closed' });
      }
      const ratio = got.on!.throughput / got.off!.throughput;
      rows.push({ round, on: got.on!, off: got.off!, ratio });
      log(`round ${round} (${order.join(' → ')}): on ${fmt(got.on!.throughput)} req/s, off ${fmt(got.off!.throughput)} req/s, on/off ${ratio.toFixed(3)}`);
    }
  } finally {
    await servers.on.stop();
    await servers.off.stop();
  }

  const ratios = rows.map((r) => r.ratio);
  const med = median(ratios);
  const errors = rows.reduce((a, r) => a + r.on.errorCount + r.off.errorCount, 0);
  console.log(table(['round', 'on req/s', 'off req/s', 'on/off', 'on p99 ms', 'off p99 ms'],
    rows.map((r) => [r.round, fmt(r.on.throughput), fmt(r.off.throughput), r.ratio.toFixed(3), r.on.latency.p99, r.off.latency.p99])));
  console.log(`feature watching + labels on/off throughput: median ${med.toFixed(3)} (cost ${((1 - med) * 100).toFixed(1)} %), range ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)} over ${rows.length} rounds (${rows[0]?.on.tool}, ${cfg.connections} connections, ${cfg.durationMs / 1000} s each); errors ${errors}`);
  const file = writeResult(resultPath('feature_cost', 'json', cfg.out), {
    kind: 'feature_cost', info: runInfo(benchRoot()), config: { ...cfg, url: undefined }, off: OFF,
    rounds: rows.map((r) => ({ round: r.round, on: r.on.throughput, off: r.off.throughput, ratio: r.ratio, onP99: r.on.latency.p99, offP99: r.off.latency.p99 })),
    median: med, min: Math.min(...ratios), max: Math.max(...ratios), errors,
  });
  console.log(`result: ${file}`);
  return errors === 0 ? 0 : 1;
});
