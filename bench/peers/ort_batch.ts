// The batch target's reference: rows/s that onnxruntime-node alone scores
// in-process for a model and batch size, with the features encoded up front
// (run only) and, for contrast, encoded inside the loop (encode + run).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { newHistogram, recordMs, summarize, type LatencySummary } from '../lib/histogram.js';
import { resultPath, table, writeResult } from '../lib/report.js';
import { sampleRequests } from '../lib/request_pool.js';
import { benchRoot } from '../lib/targets.js';
import { loadModel } from './ort_model.js';

export interface OrtBatchResult {
  model: string;
  batchSize: number;
  /** 0 = onnxruntime's default thread pool. */
  intraOpThreads: number;
  runsPerSec: number;
  rowsPerSec: number;
  encodeAndRunRowsPerSec: number;
  runLatency: LatencySummary;
}

export async function measureOrtBatch(o: { model: string; batchSize: number; durationMs: number; intraOpThreads?: number; modelsDir?: string }): Promise<OrtBatchResult> {
  const intra = o.intraOpThreads ?? 0;
  const m = await loadModel(o.modelsDir ?? join(benchRoot(), 'engine/models'), o.model, intra > 0 ? { intraOpNumThreads: intra } : {});
  const POOL = 64;
  const reqs = sampleRequests(POOL * o.batchSize, 7);
  const batches = Array.from({ length: POOL }, (_, i) => reqs.slice(i * o.batchSize, (i + 1) * o.batchSize));
  const tensors = batches.map((b) => m.encode(b));
  // Warm-up: first runs allocate and tune.
  for (let i = 0; i < 50; i++) await m.run(tensors[i % POOL], o.batchSize);

  const hist = newHistogram();
  let runs = 0;
  const t0 = performance.now();
  let now = t0;
  while (now - t0 < o.durationMs) {
    const s = now;
    await m.run(tensors[runs % POOL], o.batchSize);
    now = performance.now();
    recordMs(hist, now - s);
    runs++;
  }
  const runSeconds = (now - t0) / 1000;

  let runs2 = 0;
  const t1 = performance.now();
  while (performance.now() - t1 < o.durationMs / 2) {
    await m.run(m.encode(batches[runs2 % POOL]), o.batchSize);
    runs2++;
  }
  const encSeconds = (performance.now() - t1) / 1000;
  await m.session.release();
  return {
    model: o.model, batchSize: o.batchSize, intraOpThreads: intra,
    runsPerSec: Math.round(runs / runSeconds), rowsPerSec: Math.round((runs * o.batchSize) / runSeconds),
    encodeAndRunRowsPerSec: Math.round((runs2 * o.batchSize) / encSeconds), runLatency: summarize(hist),
  };
}

const USAGE = `usage: node dist/bench/peers/ort_batch.js [--model xgboost] [--batch-sizes 1,8,32,128,256] [--duration S (3)] [--intra-op N (0 = ORT default)] [--out FILE]`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'xgboost' }, 'batch-sizes': { type: 'string', default: '1,8,32,128,256' },
      duration: { type: 'string', default: '3' }, 'intra-op': { type: 'string', default: '0' }, out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) { console.log(USAGE); return; }
  const sizes = values['batch-sizes'].split(',').map(Number);
  const results: OrtBatchResult[] = [];
  for (const b of sizes) {
    results.push(await measureOrtBatch({ model: values.model, batchSize: b, durationMs: Number(values.duration) * 1000, intraOpThreads: Number(values['intra-op']) }));
  }
  console.log(table(['model', 'batch', 'runs/s', 'rows/s (run)', 'rows/s (encode+run)', 'run p50 ms', 'run p99 ms'],
    results.map((r) => [r.model, r.batchSize, r.runsPerSec, r.rowsPerSec, r.encodeAndRunRowsPerSec, r.runLatency.p50, r.runLatency.p99])));
  console.log(`result: ${writeResult(resultPath('ort-batch', 'json', values.out), { kind: 'ort-batch', results })}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
