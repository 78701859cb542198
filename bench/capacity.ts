// `npm run bench:capacity`: the highest offered rate at which p99 stays under
// the objective (default 10 ms) with no errors, for one target.
import { findCapacity } from './lib/capacity_search.js';
import { poolFor } from './lib/measure.js';
import { num, parseCli, parseCommon, runMain } from './lib/options.js';
import { resultPath, table, writeResult } from './lib/report.js';
import { runInfo } from './lib/run_info.js';
import { withTarget } from './lib/target_session.js';
import { benchRoot } from './lib/targets.js';

const USAGE = `usage: npm run bench:capacity -- [--target engine] [--objective-ms 10] [--precision 0.05] [--max-probes 8]
  plus every loadgen option (--url, --duration (default 5 here), --warmup, --kind, --batch-size, --format, --model, --connections …)`;

runMain(async () => {
  const v = parseCli({ 'objective-ms': { type: 'string', default: '10' }, precision: { type: 'string', default: '0.05' }, 'max-probes': { type: 'string', default: '8' } }, USAGE);
  if (!process.argv.some((a) => a.startsWith('--duration'))) v.duration = '5';
  const cfg = parseCommon(v);
  const opts = {
    objectiveMs: num('objective-ms', v['objective-ms'] as string, 0.001),
    precision: num('precision', v.precision as string, 0.001),
    maxProbes: num('max-probes', v['max-probes'] as string, 1),
    log: (l: string) => console.error(`[capacity] ${l}`),
  };
  const result = await withTarget(cfg.target, cfg.url, { model: cfg.model, env: cfg.serverEnv }, (ep) => findCapacity(cfg, ep, poolFor(cfg, ep), opts));
  console.log(table(['rate/s', 'verdict', 'p50 ms', 'p99 ms', 'p99.9 ms', 'achieved/s', 'errors', 'why'],
    result.probes.map((p) => [p.rate, p.pass ? 'pass' : 'FAIL', p.result.latency.p50, p.result.latency.p99, p.result.latency.p999, p.result.throughput, p.result.errorCount, p.why])));
  console.log(`capacity of ${cfg.url?.href ?? cfg.target} at p99 ≤ ${result.objectiveMs} ms with no errors: ${result.capacity} req/s (closed-loop maximum ${result.maxThroughput} req/s)`);
  const file = writeResult(resultPath('capacity', 'json', cfg.out), { kind: 'capacity', info: runInfo(benchRoot()), config: { ...cfg, url: cfg.url?.href }, ...result });
  console.log(`result: ${file}`);
});
