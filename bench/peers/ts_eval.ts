// The native-free evaluator's speed against onnxruntime-node, both in this
// thread on the same encoded rows: rows/s per model and batch size (features
// encoded up front, run only), and the largest difference between the two
// outputs as a sanity check. onnxruntime runs with one intra-op thread by
// default so both sides use one core; --intra-op 0 gives it its default pool.
// Each side gets three alternating rounds and keeps its best.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { TsInferenceSession } from '../../native-free-ts/evaluator/session.js';
import { resultPath, table, writeResult } from '../lib/report.js';
import { sampleRequests } from '../lib/request_pool.js';
import { benchRoot } from '../lib/targets.js';
import { loadModel } from './ort_model.js';

export interface TsEvalResult {
  model: string;
  batchSize: number;
  ortRowsPerSec: number;
  tsRowsPerSec: number;
  /** ts / ort */
  ratio: number;
  ortUsPerRun: number;
  tsUsPerRun: number;
  maxAbsDiff: number;
}

/** Runs `step` for `ms` after a warm-up; returns runs per second. */
async function timeRuns(ms: number, step: (i: number) => unknown): Promise<number> {
  for (let i = 0; i < 200; i++) await step(i);
  let runs = 0;
  const t0 = performance.now();
  let now = t0;
  while (now - t0 < ms) {
    for (let k = 0; k < 16; k++) await step(runs++);
    now = performance.now();
  }
  return runs / ((now - t0) / 1000);
}

export async function measureTsEval(o: { model: string; batchSize: number; durationMs: number; intraOpThreads: number; modelsDir?: string }): Promise<TsEvalResult> {
  const dir = o.modelsDir ?? join(benchRoot(), 'engine/models');
  const m = await loadModel(dir, o.model, o.intraOpThreads > 0 ? { intraOpNumThreads: o.intraOpThreads, interOpNumThreads: 1 } : {});
  const ts = await TsInferenceSession.create(join(dir, o.model, m.manifest.file));
  const input = m.manifest.input.name, output = m.manifest.output.name;
  const POOL = 64;
  const reqs = sampleRequests(POOL * o.batchSize, 11);
  const tensors = Array.from({ length: POOL }, (_, i) => m.encode(reqs.slice(i * o.batchSize, (i + 1) * o.batchSize)));
  const feeds = tensors.map((t) => ({ [input]: { data: t.data as Float32Array, dims: t.dims } }));
  const fetches = [output];

  let maxAbsDiff = 0;
  for (let i = 0; i < POOL; i++) {
    const a = (await m.session.run({ [input]: tensors[i] }, fetches))[output].data as Float32Array;
    const b = ts.runSync(feeds[i], fetches)[output].data as Float32Array;
    for (let r = 0; r < a.length; r++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(a[r] - b[r]));
  }

  // Alternating rounds, best rate of each side: a busy machine slows one round, not the comparison.
  let ortRuns = 0, tsRuns = 0;
  for (let round = 0; round < 3; round++) {
    ortRuns = Math.max(ortRuns, await timeRuns(o.durationMs / 3, (i) => m.session.run({ [input]: tensors[i % POOL] }, fetches)));
    tsRuns = Math.max(tsRuns, await timeRuns(o.durationMs / 3, (i) => ts.runSync(feeds[i % POOL], fetches)));
  }
  await m.session.release();
  return {
    model: o.model, batchSize: o.batchSize,
    ortRowsPerSec: Math.round(ortRuns * o.batchSize), tsRowsPerSec: Math.round(tsRuns * o.batchSize),
    ratio: Math.round((tsRuns / ortRuns) * 100) / 100,
    ortUsPerRun: Math.round((1e6 / ortRuns) * 10) / 10, tsUsPerRun: Math.round((1e6 / tsRuns) * 10) / 10,
    maxAbsDiff,
  };
}

const USAGE = `usage: node dist/bench/peers/ts_eval.js [--models xgboost,logistic] [--batch-sizes 1,64] [--duration S per side (3)] [--intra-op N (1; 0 = onnxruntime's default pool)] [--out FILE]`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: 'xgboost,logistic' }, 'batch-sizes': { type: 'string', default: '1,64' },
      duration: { type: 'string', default: '3' }, 'intra-op': { type: 'string', default: '1' }, out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) { console.log(USAGE); return; }
  const results: TsEvalResult[] = [];
  for (const model of values.models.split(',')) {
    for (const b of values['batch-sizes'].split(',').map(Number)) {
      results.push(await measureTsEval({ model, batchSize: b, durationMs: Number(values.duration) * 1000, intraOpThreads: Number(values['intra-op']) }));
    }
  }
  console.log(`onnxruntime-node ${ort.env.versions.common} (intra-op threads: ${values['intra-op'] === '0' ? 'default' : values['intra-op']}) vs native-free-ts, node ${process.version}, one thread each`);
  console.log(table(['model', 'batch', 'ort rows/s', 'ts rows/s', 'ts/ort', 'ort µs/run', 'ts µs/run', 'max |ts-ort|'],
    results.map((r) => [r.model, r.batchSize, r.ortRowsPerSec, r.tsRowsPerSec, r.ratio, r.ortUsPerRun, r.tsUsPerRun, r.maxAbsDiff.toExponential(1)])));
  console.log(`result: ${writeResult(resultPath('ts-eval', 'json', values.out), { kind: 'ts-eval', results })}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
