// Per-row cost of what click labels and feature watching add to the request
// path, in-process: PredictionLog.record (hash of the id + typed-array stores,
// evicting as the ring wraps), FeatureWatch.observe (every row, and one in 4),
// and PredictionLog.feedback for unknown ids. Node's clock over a few million
// calls; compare with a request's own cost (tens of µs end to end).
//   npx tsc -p . && node dist/bench/label_watch_cost.js
import { join } from 'node:path';
import { projectRoot } from '../engine/config.js';
import { FeatureWatch, createFeatureWatchBuffers } from '../engine/features/feature_watch.js';
import { PredictionLog } from '../engine/labels/prediction_log.js';
import { createQualityBuffers } from '../engine/labels/quality_layout.js';
import { readManifest } from '../engine/manifest.js';
import { createTrafficSampler } from '../bench/lib/traffic_sampler.js';

const N = 2_000_000;
const manifest = readManifest(join(projectRoot(), 'engine/models/xgboost/manifest.json'));

function ns(label: string, rows: number, f: () => void): void {
  f(); // warm-up round
  const t0 = process.hrtime.bigint();
  f();
  const per = Number(process.hrtime.bigint() - t0) / rows;
  console.log(`${label.padEnd(48)} ${per.toFixed(1)} ns/row`);
}

const ids = Array.from({ length: N }, (_, i) => 'k97l0a-' + i.toString(36));
const log = new PredictionLog(createQualityBuffers(['xgboost', 'logistic']), ['1', '1'], { capacity: 1 << 20, windowMs: 300_000, implicitNonclicks: true, sweepEveryMs: 0 });
let t = 0;
ns('PredictionLog.record (ring 2^20, wrapping)', N, () => { for (let i = 0; i < N; i++) log.record(ids[i], i & 1, 0, 0.02, t++); });
ns('PredictionLog.feedback, unknown id', N, () => { for (let i = 0; i < N; i++) log.feedback('x' + ids[i], true, t); });

const sampler = createTrafficSampler({ seed: 1 });
const rows = Array.from({ length: 100_000 }, () => sampler.next());
for (const sample of [1, 4]) {
  const w = new FeatureWatch(createFeatureWatchBuffers([{ name: 'xgboost', manifest }]), sample);
  ns(`FeatureWatch.observe, sample ${sample}`, N, () => { for (let i = 0; i < N; i++) w.observe(0, rows[i % rows.length]); });
}
log.close();
