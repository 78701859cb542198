// `npm run bench`: for each target (our engine and its peers), the closed-loop
// maximum throughput, then an open-loop sweep of offered rates, in one run on
// one machine; a table, our figures as ratios to each peer, a JSON result and
// an SVG chart of latency percentiles against offered load.
import { writeFileSync } from 'node:fs';
import { measure, poolFor } from './lib/measure.js';
import { parseCli, parseCommon, runMain, UsageError } from './lib/options.js';
import { resultPath, RESULT_HEADER, resultRow, table, writeResult, fmt } from './lib/report.js';
import { runInfo } from './lib/run_info.js';
import { PALETTE, PERCENTILE_DASH, renderChart, type Series } from './lib/svg_chart.js';
import { withTarget } from './lib/target_session.js';
import { benchRoot, builtEntry, isTargetName, TARGET_LABELS, type TargetName } from './lib/targets.js';
import type { LoadResult } from './lib/load_runner.js';
import { measureOrtBatch, type OrtBatchResult } from './peers/ort_batch.js';

const USAGE = `usage: npm run bench -- [options]
  --targets engine,echo,fastify[,native-free]   servers to measure, in order (default: those that are built)
  --fractions 0.1,0.25,0.5,0.75,0.9             open-loop rates as fractions of each target's measured maximum
  --rates 5000,10000,...                        or absolute open-loop rates, the same for every target
  --no-sweep                                    maximum throughput only
  --model xgboost                               model pinned in every request ('' lets the engine's A/B router pick)
  --objective-ms 10                             p99 objective drawn on the chart
  plus every loadgen option (--connections, --duration, --warmup, --kind, --batch-size, --format, --tool, --server-env …)`;

interface TargetRun {
  target: TargetName;
  label: string;
  max: LoadResult;
  sweep: LoadResult[];
}

runMain(async () => {
  const v = parseCli({
    targets: { type: 'string' }, fractions: { type: 'string', default: '0.1,0.25,0.5,0.75,0.9' }, rates: { type: 'string' },
    'no-sweep': { type: 'boolean', default: false }, 'objective-ms': { type: 'string', default: '10' },
  }, USAGE);
  if (v.model === undefined) v.model = 'xgboost';
  const cfg = parseCommon(v);
  if (cfg.model === '') cfg.model = undefined;
  const root = benchRoot();
  const built = (t: TargetName) => builtEntry(t, root) !== undefined;
  const targets = ((v.targets as string | undefined)?.split(',') ?? ['engine', 'echo', 'fastify', 'native-free'].filter((t) => built(t as TargetName))).map((t) => {
    if (!isTargetName(t)) throw new UsageError(`unknown target ${t}`);
    return t;
  });
  const fractions = (v.fractions as string).split(',').map(Number);
  const absRates = (v.rates as string | undefined)?.split(',').map(Number);
  const objective = Number(v['objective-ms']);
  const info = runInfo(root);

  const runs: TargetRun[] = [];
  for (const target of targets) {
    console.error(`[bench] ${target}: starting`);
    const run = await withTarget(target, cfg.url, { model: cfg.model, env: cfg.serverEnv }, async (ep) => {
      const pool = poolFor(cfg, ep);
      const max = await measure(cfg, ep, pool, { mode: 'closed' });
      console.error(`[bench] ${target}: max ${fmt(max.throughput)} req/s (${max.tool}), p99 ${max.latency.p99} ms`);
      const sweep: LoadResult[] = [];
      if (v['no-sweep'] !== true) {
        const rates = absRates ?? fractions.map((f) => Math.max(1, Math.round(max.throughput * f)));
        for (const rate of rates) {
          const r = await measure(cfg, ep, pool, { mode: 'open', rate });
          console.error(`[bench] ${target}: ${fmt(rate)}/s → p99 ${r.latency.p99} ms, errors ${r.errorCount}`);
          sweep.push(r);
        }
      }
      return { target, label: TARGET_LABELS[target], max, sweep };
    });
    runs.push(run);
  }

  let ortBatch: OrtBatchResult | undefined;
  if (cfg.kind === 'batch') {
    ortBatch = await measureOrtBatch({ model: cfg.model ?? 'xgboost', batchSize: cfg.batchSize, durationMs: Math.min(cfg.durationMs, 5000) });
  }

  // Our figures as ratios to each peer, same run.
  const engine = runs.find((r) => r.target === 'engine');
  const ratios: Record<string, number> = {};
  if (engine !== undefined) {
    for (const r of runs) if (r.target !== 'engine' && r.max.throughput > 0) ratios[`engine/${r.target} max throughput`] = round3(engine.max.throughput / r.max.throughput);
    if (ortBatch !== undefined) ratios['engine batch rows/s / ORT in-process rows/s'] = round3(engine.max.rowsPerSec / ortBatch.rowsPerSec);
  }

  const targetsMet = checkTargets(runs, ortBatch, cfg.kind);
  const result = { kind: 'bench', info, config: { ...cfg, url: cfg.url?.href }, runs, ortBatch, ratios, targets: targetsMet };
  const file = writeResult(resultPath('bench', 'json', cfg.out), result);
  const svgFile = file.replace(/\.json$/, '') + '.svg';
  writeFileSync(svgFile, chart(runs, cfg.kind, objective));

  const rows: (string | number)[][] = [];
  for (const r of runs) {
    rows.push(resultRow(r.target, r.max));
    for (const s of r.sweep) rows.push(resultRow(r.target, s));
  }
  console.log(table(RESULT_HEADER, rows));
  if (ortBatch !== undefined) console.log(`ORT in-process, ${ortBatch.model} batch ${ortBatch.batchSize}: ${fmt(ortBatch.rowsPerSec)} rows/s (run only), ${fmt(ortBatch.encodeAndRunRowsPerSec)} rows/s (encode + run)`);
  for (const [k, x] of Object.entries(ratios)) console.log(`${k}: ${x}`);
  for (const t of targetsMet) console.log(`target ${t.met ? 'MET    ' : 'NOT MET'}  ${t.target}: ${t.measured}`);
  if (runs.some((r) => r.max.generator.bottleneck || r.sweep.some((s) => s.generator.bottleneck))) {
    console.log('(!gen) marks runs where the load generator was saturated: those figures understate the server.');
  }
  console.log(`load avg at start ${info.loadavg.join(' ')} (the machine is shared)`);
  console.log(`result: ${file}\nchart:  ${svgFile}`);
});

interface TargetCheck { target: string; measured: string; met: boolean }

/** The performance targets that this run's figures can speak to. */
function checkTargets(runs: TargetRun[], ortBatch: OrtBatchResult | undefined, kind: string): TargetCheck[] {
  const out: TargetCheck[] = [];
  const get = (t: TargetName) => runs.find((r) => r.target === t);
  const engine = get('engine');
  if (engine === undefined) return out;
  const echo = get('echo'), fastify = get('fastify');
  if (kind === 'single') {
    if (echo) {
      const x = engine.max.throughput / echo.max.throughput;
      out.push({ target: 'single predictions ≥ 0.7× the uWS echo ceiling', measured: `${x.toFixed(2)}× (${fmt(engine.max.throughput)} vs ${fmt(echo.max.throughput)} req/s)`, met: x >= 0.7 });
    }
    if (fastify) {
      const x = engine.max.throughput / fastify.max.throughput;
      out.push({ target: 'single predictions ≥ 4× Fastify+ORT', measured: `${x.toFixed(2)}× (${fmt(engine.max.throughput)} vs ${fmt(fastify.max.throughput)} req/s)`, met: x >= 4 });
    }
    // The sweep point nearest half of the measured maximum.
    const half = engine.sweep.reduce<LoadResult | undefined>((best, s) =>
      best === undefined || Math.abs((s.offeredRate ?? 0) - engine.max.throughput / 2) < Math.abs((best.offeredRate ?? 0) - engine.max.throughput / 2) ? s : best, undefined);
    if (half !== undefined) {
      out.push({ target: 'p99 ≤ 1 ms at half capacity, open loop', measured: `p99 ${half.latency.p99} ms at ${fmt(half.offeredRate ?? 0)} req/s (max ${fmt(engine.max.throughput)})`, met: half.latency.p99 <= 1 && half.errorCount === 0 });
    }
  }
  if (kind === 'batch' && ortBatch !== undefined) {
    const x = engine.max.rowsPerSec / ortBatch.rowsPerSec;
    out.push({ target: `batch rows/s ≥ 70 % of ORT in-process (batch ${ortBatch.batchSize})`, measured: `${(x * 100).toFixed(0)} % (${fmt(engine.max.rowsPerSec)} vs ${fmt(ortBatch.rowsPerSec)} rows/s)`, met: x >= 0.7 });
  }
  return out;
}

function chart(runs: TargetRun[], kind: string, objective: number): string {
  const series: Series[] = [];
  runs.forEach((r, i) => {
    for (const [key, pick] of [['p50', (l: LoadResult) => l.latency.p50], ['p99', (l: LoadResult) => l.latency.p99], ['p99.9', (l: LoadResult) => l.latency.p999]] as const) {
      series.push({
        label: `${r.target} ${key}`, color: PALETTE[i % PALETTE.length], dash: PERCENTILE_DASH[key],
        points: r.sweep.map((s) => ({ x: s.offeredRate ?? 0, y: pick(s) })),
      });
    }
  });
  return renderChart({
    title: `Latency against offered load (${kind}, open loop)`, xLabel: 'offered load (requests/s)', yLabel: 'latency (ms, log scale)',
    series, hlines: [{ y: objective, label: `p99 objective ${objective} ms` }],
  });
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
