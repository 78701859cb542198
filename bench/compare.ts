// `npm run bench:compare -- --base <git ref>`: the p99 regression gate. Builds
// the base ref in a temporary worktree; then, round after round, starts a
// fresh server of each build side by side and measures each in turn on the
// same machine with short runs, flipping who goes first every round (AB BA …). A burst
// of other work on this shared machine lasts seconds, so it lands inside one
// round and hits both sides of that round alike; ratios are taken per round.
// Each run: open loop at one fixed rate (p99), then optionally closed loop
// (throughput). Exits 1 when p99 or p90 (--percentile) or throughput
// regressed beyond threshold and noise: on this machine a change that made
// p90 6.5× slower and halved throughput passed a p99-only gate, its p99
// drowned in the round-to-round noise (bench/README.md, "The gate").
import { spawnSync } from 'node:child_process';
import { measure, poolFor, tickOf } from './lib/measure.js';
import { num, parseCli, parseCommon, runMain, UsageError, type CommonConfig } from './lib/options.js';
import { resultPath, table, writeResult, fmt } from './lib/report.js';
import { runInfo } from './lib/run_info.js';
import { startServer } from './lib/server_proc.js';
import { benchRoot, entryAlternatives, targetSpec } from './lib/targets.js';
import { buildTree, prepareWorktree, removeWorktree, resolveCommit, type BuiltTree } from './lib/worktree.js';
import { p99Verdict, ratioStats, median, throughputVerdict, type Verdict } from './lib/gate_stats.js';
import { runLoad, type LoadResult } from './lib/load_runner.js';
import type { RequestPool } from './lib/request_pool.js';

const USAGE = `usage: npm run bench:compare -- --base <git ref> [options]
  --base REF            the reference build (required)
  --head REF            compare against another ref instead of the current working tree
  --rounds N (10)       base/current pairs; the order flips every round (≥ 5 for a 95 % verdict)
  --threshold F (0.10)  allowed growth of a gated percentile before noise, as a fraction
  --percentile 90,99    the gated percentiles (any of 90, 99, 99.9); all three are reported
  --tput-threshold F (0.10)  allowed throughput loss before noise (gated when --tput-duration > 0)
  --rate N              open-loop rate for the p99 runs (default: --fraction of the base's closed-loop maximum)
  --fraction F (0.25)   see --rate; a server well below saturation has a steadier p99, so small per-request costs show
  --slice-ms N (250)    within a round the two servers take turns every N ms (each gets half of --duration)
  --tput-duration S (2) closed-loop throughput run per side and round (0 = skip)
  --no-build            do not rebuild the current tree first
  --keep-worktree       keep the base worktree (reused by the next compare of the same commit)
  Exit: 0 pass, 1 regression, 2 usage error, 3 inconclusive (most rounds lost to dead servers, or a regression
        seen in fewer than 5 rounds, too few for a 95 % bound).
  plus loadgen options: --target (engine), --duration (6, per round), --warmup (1, per run), --connections, --kind, --format, --model, --server-env …`;

interface SideRun { side: 'base' | 'head'; round: number; open: LoadResult; closed?: LoadResult }

runMain(async () => {
  const v = parseCli({
    base: { type: 'string' }, head: { type: 'string' }, rounds: { type: 'string', default: '10' },
    threshold: { type: 'string', default: '0.10' }, fraction: { type: 'string', default: '0.25' },
    'tput-duration': { type: 'string', default: '2' }, 'no-build': { type: 'boolean', default: false },
    'slice-ms': { type: 'string', default: '250' }, percentile: { type: 'string', default: '90,99' },
    'tput-threshold': { type: 'string', default: '0.10' },
    'keep-worktree': { type: 'boolean', default: false },
  }, USAGE);
  if (typeof v.base !== 'string') throw new UsageError('--base <git ref> is required');
  if (!process.argv.some((a) => a.startsWith('--duration'))) v.duration = '6';
  if (!process.argv.some((a) => a.startsWith('--warmup'))) v.warmup = '1';
  const cfg = parseCommon(v);
  if (cfg.url !== undefined) throw new UsageError('compare starts both servers itself; --url does not apply');
  const rounds = num('rounds', v.rounds as string, 1);
  const threshold = num('threshold', v.threshold as string, 0);
  const fraction = num('fraction', v.fraction as string, 0.001);
  const tputMs = num('tput-duration', v['tput-duration'] as string) * 1000;
  const sliceMs = num('slice-ms', v['slice-ms'] as string, 10);
  const PCT = { '90': 'p90', '99': 'p99', '99.9': 'p999' } as const;
  const pcts = (v.percentile as string).split(',').map((x) => PCT[x.trim() as keyof typeof PCT]);
  if (pcts.length === 0 || pcts.some((p) => p === undefined)) throw new UsageError('--percentile takes a comma list of 90, 99, 99.9');
  const tputThreshold = num('tput-threshold', v['tput-threshold'] as string, 0);
  if (tputThreshold >= 1) throw new UsageError('--tput-threshold must be below 1');
  const log = (l: string) => console.error(`[compare] ${l}`);
  const repo = benchRoot();
  const entries = [entryAlternatives(cfg.target)];

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

  const start = () => Promise.all([base, head].map((t) => startServer(targetSpec(cfg.target, { root: t.root, model: cfg.model, env: cfg.serverEnv }))));
  let servers = await start();
  try {
    let rate = cfg.rate;
    if (rate === undefined) {
      const ep = { host: servers[0].host, port: servers[0].port, pid: servers[0].pid };
      const max = await measure(cfg, ep, poolFor(cfg, ep), { mode: 'closed', durationMs: Math.max(tputMs, 3000), warmupMs: 1000 });
      rate = Math.max(1, Math.round(max.throughput * fraction));
      log(`base closed-loop maximum ${max.throughput} req/s → open-loop rate ${rate} req/s (${fraction} of it)`);
    }
    const runs: SideRun[] = [];
    const discarded: { round: number; why: string }[] = [];
    for (let r = 0; r < rounds; r++) {
      // Fresh servers every round: two instances of one build can differ by
      // tens of percent for their whole life (thread placement, JIT luck), and
      // that must become round-to-round noise, not a bias for one side.
      if (r > 0) { await Promise.all(servers.map((s) => s.stop())); servers = await start(); }
      const eps = servers.map((s) => ({ host: s.host, port: s.port, pid: s.pid }));
      const pools = eps.map((ep) => poolFor(cfg, ep));
      const order: ('base' | 'head')[] = r % 2 === 0 ? ['base', 'head'] : ['head', 'base'];
      const both = await interleaved(cfg, eps, pools, rate, sliceMs, order[0] === 'base' ? 0 : 1);
      // A server that died (or was killed by someone else on this shared machine) spoils the round, not the verdict.
      const dead = servers.filter((s) => s.exitCode() !== null);
      const refused = both.some((b) => Object.keys(b.errors).some((k) => k.startsWith('connect_')));
      if (dead.length > 0 || refused) {
        const why = dead.length > 0 ? `server exited (${dead.map((s) => `${s.name} pid ${s.pid} code ${s.exitCode()}`).join(', ')})` : 'connections refused';
        log(`round ${r + 1}/${rounds} discarded: ${why}${dead.length > 0 ? `\n${dead[0].output().split('\n').slice(-6).join('\n')}` : ''}`);
        discarded.push({ round: r, why });
        continue;
      }
      for (const side of order) {
        const open = both[side === 'base' ? 0 : 1];
        runs.push({ side, round: r, open });
        log(`round ${r + 1}/${rounds} ${side}: p99 ${open.latency.p99} ms, p99.9 ${open.latency.p999} ms, errors ${open.errorCount}`);
      }
      if (tputMs > 0) {
        for (const side of order) {
          const i = side === 'base' ? 0 : 1;
          runs.find((x) => x.round === r && x.side === side)!.closed = await measure(cfg, eps[i], pools[i], { mode: 'closed', durationMs: tputMs, warmupMs: 0 });
        }
      }
    }
    if (discarded.length > rounds / 2) {
      log(`${discarded.length} of ${rounds} rounds discarded: inconclusive`);
      return 3;
    }
    return report(cfg, base, head, rate, threshold, tputThreshold, pcts, runs, discarded);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    if (v['keep-worktree'] !== true) {
      for (const t of [base, head]) if (t.root !== repo) removeWorktree(repo, t.root);
    }
  }
});

/**
 * Both servers under open loop in one window, taking turns every `sliceMs`
 * (base on while current rests, then the other way round), so that whatever
 * else the machine is doing lands on both. `first` goes first in each period.
 */
async function interleaved(cfg: CommonConfig, eps: { host: string; port: number; pid: number }[], pools: RequestPool[], rate: number, sliceMs: number, first: number): Promise<LoadResult[]> {
  const startAt = performance.timeOrigin + performance.now() + 200;
  const run = (i: number, onFromMs: number) => runLoad({
    host: eps[i].host, port: eps[i].port, mode: 'open', rate, connections: cfg.openConnections, threads: 1,
    warmupMs: cfg.warmupMs, durationMs: cfg.durationMs, requests: pools[i].requests, rowsPerRequest: pools[i].rowsPerRequest,
    serverPid: eps[i].pid, startAt, slice: { periodMs: 2 * sliceMs, onFromMs, onMs: sliceMs }, openTool: cfg.openTool, openQuantumUs: cfg.openQuantumUs, serverTickMs: tickOf(cfg),
  });
  const out: LoadResult[] = [];
  [out[first], out[1 - first]] = await Promise.all([run(first, 0), run(1 - first, sliceMs)]);
  return out;
}

function report(cfg: CommonConfig, base: BuiltTree, head: BuiltTree, rate: number, threshold: number, tputThreshold: number, pcts: ('p90' | 'p99' | 'p999')[], runs: SideRun[], discarded: { round: number; why: string }[]): number {
  const rounds = [...new Set(runs.map((r) => r.round))];
  const pick = (round: number, side: 'base' | 'head') => runs.find((r) => r.round === round && r.side === side)!;
  const p99 = ratioStats(rounds.map((r) => ({ base: pick(r, 'base').open.latency.p99, current: pick(r, 'head').open.latency.p99 })));
  const p999 = ratioStats(rounds.map((r) => ({ base: pick(r, 'base').open.latency.p999, current: pick(r, 'head').open.latency.p999 })));
  const p90 = ratioStats(rounds.map((r) => ({ base: pick(r, 'base').open.latency.p90, current: pick(r, 'head').open.latency.p90 })));
  const hasTput = runs.every((r) => r.closed !== undefined);
  const tput = hasTput ? ratioStats(rounds.map((r) => ({ base: pick(r, 'base').closed!.throughput, current: pick(r, 'head').closed!.throughput }))) : undefined;
  const names = { p90: 'p90', p99: 'p99', p999: 'p99.9' } as const;
  const verdicts: (Verdict & { metric: string })[] = pcts.map((p) => ({ metric: names[p], ...p99Verdict({ p90, p99, p999 }[p], threshold, names[p]) }));
  if (tput) verdicts.push({ metric: 'throughput', ...throughputVerdict(tput, tputThreshold) });
  const baseErrors = runs.filter((r) => r.side === 'base').reduce((a, r) => a + r.open.errorCount, 0);
  const headErrors = runs.filter((r) => r.side === 'head').reduce((a, r) => a + r.open.errorCount, 0);
  const newErrors = headErrors > 0 && baseErrors === 0;

  console.log(table(['round', 'order', 'base p99', 'cur p99', 'ratio', 'base p99.9', 'cur p99.9', 'base max/s', 'cur max/s', 'base err', 'cur err'],
    rounds.map((r) => {
      const b = pick(r, 'base'), h = pick(r, 'head');
      return [r + 1, r % 2 === 0 ? 'base first' : 'cur first', b.open.latency.p99, h.open.latency.p99, round3(h.open.latency.p99 / b.open.latency.p99),
        b.open.latency.p999, h.open.latency.p999, b.closed?.throughput ?? NaN, h.closed?.throughput ?? NaN, b.open.errorCount, h.open.errorCount];
    })));
  const spread = (s: { median: number; min: number; max: number; noise: number; lower95: number | null; upper95: number | null }) =>
    `median ${s.median.toFixed(3)}, range ${s.min.toFixed(3)}–${s.max.toFixed(3)}, σ ${s.noise.toFixed(3)}, 95 % bounds of the median ${s.lower95?.toFixed(3) ?? 'n/a'}–${s.upper95?.toFixed(3) ?? 'n/a'}`;
  console.log(`open loop at ${fmt(rate)} req/s, the two taking turns over ${cfg.durationMs / 1000} s per round after ${cfg.warmupMs / 1000} s warm-up, ${rounds.length} rounds`);
  console.log(`p90 ratio current/base:    ${spread(p90)}`);
  console.log(`p99 ratio current/base:    ${spread(p99)}`);
  console.log(`p99.9 ratio current/base:  ${spread(p999)}`);
  if (tput) console.log(`throughput ratio cur/base: ${spread(tput)}`);
  const p99Of = (side: SideRun['side']) => median(runs.filter((r) => r.side === side).map((r) => r.open.latency.p99)).toFixed(3);
  console.log(`base p99 median ${p99Of('base')} ms, current ${p99Of('head')} ms`);
  for (const vd of verdicts) console.log(vd.reason);
  if (newErrors) console.log(`current had ${headErrors} errors where base had none`);
  if (discarded.length > 0) console.log(`${discarded.length} round(s) discarded: ${discarded.map((d) => `${d.round + 1} (${d.why})`).join(', ')}`);
  // A regression seen in fewer than 5 rounds has no 95 % bound behind it: inconclusive (exit 3), not FAIL.
  const fail = verdicts.some((vd) => vd.regressed && vd.confident) || newErrors;
  const inconclusive = !fail && verdicts.some((vd) => vd.regressed);
  const file = writeResult(resultPath('compare', 'json', cfg.out), {
    kind: 'compare', info: runInfo(benchRoot()), base: { ref: base.label, commit: base.commit }, current: { ref: head.label, commit: head.commit },
    config: { ...cfg, url: undefined }, rate, threshold, tputThreshold, gated: verdicts.map((vd) => vd.metric), p90, p99, p999, throughput: tput, verdicts, baseErrors, headErrors, fail, inconclusive, runs, discarded,
  });
  if (inconclusive) console.log(`INCONCLUSIVE (exit 3): a regression showed in only ${rounds.length} rounds, too few for a 95 % bound; run --rounds 5 or more — result: ${file}`);
  else console.log(`${fail ? 'FAIL' : 'PASS'} — result: ${file}`);
  return fail ? 1 : inconclusive ? 3 : 0;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
