// `npm run bench:soak`: a long open-loop run at a fixed fraction of capacity
// (default half, 10 minutes), in segments, sampling the server's RSS, to show
// whether memory stays flat (target: < 5 % growth) and the tail stays put.
import { findCapacity } from './lib/capacity_search.js';
import { measure, poolFor } from './lib/measure.js';
import { num, parseCli, parseCommon, runMain } from './lib/options.js';
import { rssKB } from './lib/proc_stats.js';
import { resultPath, table, writeResult } from './lib/report.js';
import { runInfo } from './lib/run_info.js';
import { withTarget } from './lib/target_session.js';
import { benchRoot } from './lib/targets.js';
import { median } from './lib/gate_stats.js';

const USAGE = `usage: npm run bench:soak -- [--rate N | --fraction 0.5 [--capacity N]] [--duration S (600)] [--segment S (30)]
  [--sample S (5)] [--warmup S (30)] [--max-growth 0.05] [--objective-ms 10], plus loadgen options (--target, --url, --kind, --format, --model …)
  Without --rate: rate = fraction × capacity (--capacity, or a quick capacity search first).`;

runMain(async () => {
  const v = parseCli({
    fraction: { type: 'string', default: '0.5' }, capacity: { type: 'string' }, segment: { type: 'string', default: '30' },
    sample: { type: 'string', default: '5' }, 'max-growth': { type: 'string', default: '0.05' }, 'objective-ms': { type: 'string', default: '10' },
  }, USAGE);
  if (!process.argv.some((a) => a.startsWith('--duration'))) v.duration = '600';
  // Memory settles during the first seconds of load (JIT, pools, buffers): that is warm-up, not growth.
  if (!process.argv.some((a) => a.startsWith('--warmup'))) v.warmup = '30';
  const cfg = parseCommon(v);
  const segmentMs = num('segment', v.segment as string, 1) * 1000;
  const sampleMs = num('sample', v.sample as string, 0.5) * 1000;
  const maxGrowth = num('max-growth', v['max-growth'] as string);
  const log = (l: string) => console.error(`[soak] ${l}`);

  const out = await withTarget(cfg.target, cfg.url, { model: cfg.model, env: cfg.serverEnv }, async (ep) => {
    if (ep.pid === undefined) throw new Error('soak needs the server pid to read its RSS: let it start the target (no --url)');
    const pool = poolFor(cfg, ep);
    let rate = cfg.rate;
    let capacity: number | undefined = v.capacity !== undefined ? num('capacity', v.capacity as string, 1) : undefined;
    if (rate === undefined) {
      if (capacity === undefined) {
        const c = await findCapacity({ ...cfg, durationMs: 3000, warmupMs: 1000 }, ep, pool, { objectiveMs: Number(v['objective-ms']), precision: 0.1, maxProbes: 6, log });
        capacity = c.capacity;
      }
      rate = Math.max(1, Math.round(capacity * Number(v.fraction)));
    }
    log(`soaking at ${rate} req/s for ${cfg.durationMs / 1000} s`);
    await measure(cfg, ep, pool, { mode: 'open', rate, durationMs: cfg.warmupMs || 1000, warmupMs: 0 });

    const t0 = Date.now();
    const samples: { t: number; rssMB: number }[] = [];
    const sample = () => samples.push({ t: (Date.now() - t0) / 1000, rssMB: rssKB(ep.pid!) / 1024 });
    sample();
    const timer = setInterval(sample, sampleMs);
    const segments = [];
    try {
      while (Date.now() - t0 < cfg.durationMs) {
        const r = await measure(cfg, ep, pool, { mode: 'open', rate, durationMs: Math.min(segmentMs, cfg.durationMs - (Date.now() - t0)), warmupMs: 0 });
        segments.push({ t: (Date.now() - t0) / 1000, throughput: r.throughput, p50: r.latency.p50, p99: r.latency.p99, p999: r.latency.p999, max: r.latency.max, errors: r.errorCount, generatorBottleneck: r.generator.bottleneck });
        log(`${segments.at(-1)!.t.toFixed(0)} s: p99 ${r.latency.p99} ms, errors ${r.errorCount}, rss ${samples.at(-1)!.rssMB.toFixed(1)} MB`);
      }
    } finally {
      clearInterval(timer);
    }
    sample();
    // Compare the first and last tenth (at least one sample each) by their medians, so one GC peak moves nothing.
    const tenth = Math.max(1, Math.floor(samples.length / 10));
    const first = median(samples.slice(0, tenth).map((s) => s.rssMB));
    const last = median(samples.slice(-tenth).map((s) => s.rssMB));
    const growth = (last - first) / first;
    return { rate, capacity, samples, segments, rss: { firstMB: round1(first), lastMB: round1(last), maxMB: round1(Math.max(...samples.map((s) => s.rssMB))), growth: Math.round(growth * 1000) / 1000 } };
  });

  console.log(table(['t s', 'achieved/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'errors'], out.segments.map((s) => [Math.round(s.t), s.throughput, s.p50, s.p99, s.p999, s.max, s.errors])));
  const flat = out.rss.growth < maxGrowth;
  const errors = out.segments.reduce((a, s) => a + s.errors, 0);
  console.log(`RSS ${out.rss.firstMB} MB → ${out.rss.lastMB} MB (max ${out.rss.maxMB} MB): growth ${(out.rss.growth * 100).toFixed(1)} % — ${flat ? 'flat' : 'NOT flat'} (limit ${maxGrowth * 100} %); errors ${errors}`);
  const file = writeResult(resultPath('soak', 'json', cfg.out), { kind: 'soak', info: runInfo(benchRoot()), config: { ...cfg, url: cfg.url?.href }, ...out, flat, errors });
  console.log(`result: ${file}`);
  return flat && errors === 0 ? 0 : 1;
});

const round1 = (x: number) => Math.round(x * 10) / 10;
