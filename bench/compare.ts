// `npm run bench:compare -- --base <git ref>`: the p99 regression gate. Builds
// the base ref in a temporary worktree, then runs base and current in turns on
// the same machine, several rounds, flipping who goes first each round
// (AB BA AB …) so slow drifts of a shared machine hit both sides alike. Each
// run: open loop at one fixed rate (p99), then closed loop (throughput).
// Exits 1 when p99 regressed beyond threshold + the noise the rounds show.
import { spawnSync } from 'node:child_process';
import { measure, poolFor } from './lib/measure.js';
import { num, parseCli, parseCommon, runMain, UsageError, type CommonConfig } from './lib/options.js';
import { resultPath, table, writeResult, fmt } from './lib/report.js';
import { runInfo } from './lib/run_info.js';
import { startServer } from './lib/server_proc.js';
import { benchRoot, targetSpec, type TargetName } from './lib/targets.js';
import { buildTree, prepareWorktree, removeWorktree, resolveCommit, type BuiltTree } from './lib/worktree.js';
import { p99Verdict, ratioStats, median } from './lib/gate_stats.js';
import type { LoadResult } from './lib/load_runner.js';

const USAGE = `usage: npm run bench:compare -- --base <git ref> [options]
  --base REF            the reference build (required)
  --head REF            compare against another ref instead of the current working tree
  --rounds N (5)        base/current pairs; the order flips every round
  --threshold F (0.10)  allowed p99 growth before noise, as a fraction
  --rate N              open-loop rate for the p99 runs (default: --fraction of the base's closed-loop maximum)
  --fraction F (0.5)    see --rate
  --tput-duration S (5) closed-loop throughput run per side and round (0 = skip)
  --no-build            do not rebuild the current tree first
  --keep-worktree       keep the base worktree (reused by the next compare of the same commit)
  plus loadgen options: --target (engine), --duration (10), --warmup (3), --connections, --kind, --format, --model, --server-env …`;

interface SideRun { side: 'base' | 'head'; round: number; open: LoadResult; closed?: LoadResult }

const ENTRY: Record<TargetName, string> = {
  engine: 'dist/api/main.js', echo: 'dist/bench/peers/echo.js', fastify: 'dist/bench/peers/fastify_ort.js', 'native-free': 'dist/native-free-ts/main.js',
};

runMain(async () => {
  const v = parseCli({
    base: { type: 'string' }, head: { type: 'string' }, rounds: { type: 'string', default: '5' },
    threshold: { type: 'string', default: '0.10' }, fraction: { type: 'string', default: '0.5' },
    'tput-duration': { type: 'string', default: '5' }, 'no-build': { type: 'boolean', default: false },
    'keep-worktree': { type: 'boolean', default: false },
  }, USAGE);
  if (typeof v.base !== 'string') throw new UsageError('--base <git ref> is required');
  const cfg = parseCommon(v);
  if (cfg.url !== undefined) throw new UsageError('compare starts both servers itself; --url does not apply');
  const rounds = num('rounds', v.rounds as string, 1);
  const threshold = num('threshold', v.threshold as string, 0);
  const fraction = num('fraction', v.fraction as string, 0.001);
  const tputMs = num('tput-duration', v['tput-duration'] as string) * 1000;
  const log = (l: string) => console.error(`[compare] ${l}`);
  const repo = benchRoot();
  const entries = [ENTRY[cfg.target]];

  const base = prepareWorktree(repo, v.base, entries, log);
  let head: BuiltTree;
  if (typeof v.head === 'string') {
    head = prepareWorktree(repo, v.head, entries, log);
  } else {
    if (v['no-build'] !== true) { log('building the current tree'); buildTree(repo, repo, entries, log); }
    const status = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: repo, encoding: 'utf8' }).stdout.trim();
    head = { root: repo, commit: resolveCommit(repo, 'HEAD') + (status === '' ? '' : '+dirty'), label: 'current tree', reused: true };
  }
  log(`base ${base.label} = ${base.commit.slice(0, 12)}; current ${head.label} = ${head.commit.slice(0, 12)}`);

  try {
    const once = (tree: BuiltTree, fn: (ep: { host: string; port: number; pid: number }) => Promise<LoadResult[]>) =>
      runSide(cfg, tree, fn);
    let rate = cfg.rate;
    if (rate === undefined) {
      const [max] = await once(base, async (ep) => [await measure(cfg, ep, poolFor(cfg, ep), { mode: 'closed', durationMs: Math.max(tputMs, 3000) })]);
      rate = Math.max(1, Math.round(max.throughput * fraction));
      log(`base closed-loop maximum ${max.throughput} req/s → open-loop rate ${rate} req/s (${fraction} of it)`);
    }
    const runs: SideRun[] = [];
    for (let r = 0; r < rounds; r++) {
      const order: ('base' | 'head')[] = r % 2 === 0 ? ['base', 'head'] : ['head', 'base'];
      for (const side of order) {
        const [open, closed] = await once(side === 'base' ? base : head, async (ep) => {
          const pool = poolFor(cfg, ep);
          const o = await measure(cfg, ep, pool, { mode: 'open', rate });
          const out = [o];
          if (tputMs > 0) out.push(await measure(cfg, ep, pool, { mode: 'closed', durationMs: tputMs, warmupMs: 0 }));
          return out;
        });
        runs.push({ side, round: r, open, closed });
        log(`round ${r + 1}/${rounds} ${side}: p99 ${open.latency.p99} ms, p99.9 ${open.latency.p999} ms, errors ${open.errorCount}` +
          (closed ? `, max ${closed.throughput} req/s` : ''));
      }
    }
    return report(cfg, base, head, rate, threshold, runs);
  } finally {
    if (v['keep-worktree'] !== true) {
      for (const t of [base, head]) if (t.root !== repo) removeWorktree(repo, t.root);
    }
  }
});

async function runSide(cfg: CommonConfig, tree: BuiltTree, fn: (ep: { host: string; port: number; pid: number }) => Promise<LoadResult[]>): Promise<LoadResult[]> {
  const server = await startServer(targetSpec(cfg.target, { root: tree.root, model: cfg.model, env: cfg.serverEnv }));
  try {
    return await fn({ host: server.host, port: server.port, pid: server.pid });
  } finally {
    await server.stop();
  }
}

function report(cfg: CommonConfig, base: BuiltTree, head: BuiltTree, rate: number, threshold: number, runs: SideRun[]): number {
  const rounds = [...new Set(runs.map((r) => r.round))];
  const pick = (round: number, side: 'base' | 'head') => runs.find((r) => r.round === round && r.side === side)!;
  const p99 = ratioStats(rounds.map((r) => ({ base: pick(r, 'base').open.latency.p99, current: pick(r, 'head').open.latency.p99 })));
  const p999 = ratioStats(rounds.map((r) => ({ base: pick(r, 'base').open.latency.p999, current: pick(r, 'head').open.latency.p999 })));
  const hasTput = runs.every((r) => r.closed !== undefined);
  const tput = hasTput ? ratioStats(rounds.map((r) => ({ base: pick(r, 'base').closed!.throughput, current: pick(r, 'head').closed!.throughput }))) : undefined;
  const verdict = p99Verdict(p99, threshold);
  const baseErrors = runs.filter((r) => r.side === 'base').reduce((a, r) => a + r.open.errorCount, 0);
  const headErrors = runs.filter((r) => r.side === 'head').reduce((a, r) => a + r.open.errorCount, 0);
  const newErrors = headErrors > 0 && baseErrors === 0;

  console.log(table(['round', 'order', 'base p99', 'cur p99', 'ratio', 'base p99.9', 'cur p99.9', 'base max/s', 'cur max/s', 'base err', 'cur err'],
    rounds.map((r) => {
      const b = pick(r, 'base'), h = pick(r, 'head');
      return [r + 1, r % 2 === 0 ? 'base first' : 'cur first', b.open.latency.p99, h.open.latency.p99, round3(h.open.latency.p99 / b.open.latency.p99),
        b.open.latency.p999, h.open.latency.p999, b.closed?.throughput ?? NaN, h.closed?.throughput ?? NaN, b.open.errorCount, h.open.errorCount];
    })));
  const spread = (s: { median: number; min: number; max: number; noise: number }) => `${s.median.toFixed(3)} [${s.min.toFixed(3)}–${s.max.toFixed(3)}], noise σ ${s.noise.toFixed(3)}`;
  console.log(`open loop at ${fmt(rate)} req/s, ${cfg.durationMs / 1000} s per run, ${rounds.length} rounds`);
  console.log(`p99 ratio current/base:    ${spread(p99)}`);
  console.log(`p99.9 ratio current/base:  ${spread(p999)}`);
  if (tput) console.log(`throughput ratio cur/base: ${spread(tput)}`);
  console.log(`base p99 median ${median(runs.filter((r) => r.side === 'base').map((r) => r.open.latency.p99))} ms, current ${median(runs.filter((r) => r.side === 'head').map((r) => r.open.latency.p99))} ms`);
  console.log(verdict.reason);
  if (newErrors) console.log(`current had ${headErrors} errors where base had none`);
  const fail = verdict.regressed || newErrors;
  const file = writeResult(resultPath('compare', 'json', cfg.out), {
    kind: 'compare', info: runInfo(benchRoot()), base: { ref: base.label, commit: base.commit }, current: { ref: head.label, commit: head.commit },
    config: { ...cfg, url: undefined }, rate, threshold, p99, p999, throughput: tput, verdict, baseErrors, headErrors, fail, runs,
  });
  console.log(`${fail ? 'FAIL' : 'PASS'} — result: ${file}`);
  return fail ? 1 : 0;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
