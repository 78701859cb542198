// `npm run bench:load`: one measurement, open loop at --rate or closed loop,
// against a target this command starts or a server at --url.
import { unpack } from 'msgpackr';
import { describeOne, resultPath, writeResult } from './lib/report.js';
import { measure, poolFor } from './lib/measure.js';
import { parseCli, parseCommon, runMain, UsageError } from './lib/options.js';
import { withTarget } from './lib/target_session.js';

const USAGE = `usage: node dist/bench/loadgen.js [options]
  --target engine|echo|fastify|native-free   server to start (default engine)
  --url http://127.0.0.1:PORT                 use a running server instead
  --mode open|closed      open loop at --rate (latency from schedule) or closed-loop max throughput
  --rate N                offered requests/s (open loop)
  --connections N (64, closed loop)  --open-connections N (256, open loop)  --threads N (1, generator threads)  --duration S (10)  --warmup S (3)
  --kind single|batch  --batch-size N (32)  --format json|msgpack  --model NAME ('' or none: the A/B router picks)
  --tool auto|wrk|own     closed-loop generator (auto: wrk when installed)  --wrk-threads N (2)
  --open-tool c|js        open-loop generator: the C one (default; compiled on first use) or the JavaScript one
  --open-quantum-us Q     C generator: wake at most every Q µs and send all that fell due (50; 0: one wake-up per request)
  --server-env K=V        extra environment for the started server (repeatable)
  --out FILE              result JSON (default bench/results/load-<time>.json)  --json  print the JSON`;

runMain(async () => {
  const cfg = parseCommon(parseCli({}, USAGE));
  // --model '' means "no model named": the engine's A/B router picks (as in bench/run.ts), not a request naming "".
  if (cfg.model === '') cfg.model = undefined;
  if (cfg.mode === 'open' && cfg.rate === undefined) throw new UsageError('--mode open needs --rate');
  const result = await withTarget(cfg.target, cfg.url, { model: cfg.model, env: cfg.serverEnv }, async (ep) => {
    const pool = poolFor(cfg, ep);
    const r = await measure(cfg, ep, pool, { mode: cfg.mode, rate: cfg.rate });
    return { ...r, target: cfg.url?.href ?? cfg.target, kind: cfg.kind, format: cfg.format, avgBodyBytes: pool.avgBodyBytes };
  });
  const file = writeResult(resultPath('load', 'json', cfg.out), result);
  if (cfg.json) console.log(JSON.stringify(result, null, 2));
  console.log(describeOne(result.target, result));
  if (result.sample !== undefined) {
    // msgpack answers are shown decoded; a truncated sample may not decode, then raw.
    let shown = result.sample;
    if (cfg.format === 'msgpack') { try { shown = JSON.stringify(unpack(Buffer.from(shown, 'latin1'))); } catch { /* keep raw */ } }
    console.log(`sample answer: ${shown.slice(0, 200)}`);
  }
  console.log(`result: ${file}`);
});
