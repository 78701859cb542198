// Splits one logical batch into runs/log-batch requests within MLflow's
// limits: ≤1000 metrics, ≤100 params, ≤100 tags, ≤1000 entities and < 1 MB.
import {
  MAX_BATCH_LOG_REQUEST_SIZE, MAX_ENTITIES_PER_BATCH, MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH,
} from './limits.js';
import type { KeyValue, MetricPoint } from './types.js';

export interface BatchChunk { metrics: MetricPoint[]; params: KeyValue[]; tags: KeyValue[] }

// Headroom under the 1 MB body limit for JSON framing and the run id.
const BYTE_BUDGET = MAX_BATCH_LOG_REQUEST_SIZE - 4096;
const metricBytes = (m: MetricPoint) => m.key.length * 6 + 96;
const kvBytes = (kv: KeyValue) => (kv.key.length + kv.value.length) * 6 + 32;

export function chunkBatch(metrics: MetricPoint[], params: KeyValue[], tags: KeyValue[]): BatchChunk[] {
  const chunks: BatchChunk[] = [];
  let mi = 0; let pi = 0; let ti = 0;
  while (mi < metrics.length || pi < params.length || ti < tags.length) {
    const chunk: BatchChunk = { metrics: [], params: [], tags: [] };
    let bytes = 0;
    let entities = 0;
    const fits = (b: number) => entities < MAX_ENTITIES_PER_BATCH && (entities === 0 || bytes + b <= BYTE_BUDGET);
    while (pi < params.length && chunk.params.length < MAX_PARAMS_TAGS_PER_BATCH && fits(kvBytes(params[pi]))) {
      bytes += kvBytes(params[pi]); entities++; chunk.params.push(params[pi++]);
    }
    while (ti < tags.length && chunk.tags.length < MAX_PARAMS_TAGS_PER_BATCH && fits(kvBytes(tags[ti]))) {
      bytes += kvBytes(tags[ti]); entities++; chunk.tags.push(tags[ti++]);
    }
    while (mi < metrics.length && chunk.metrics.length < MAX_METRICS_PER_BATCH && fits(metricBytes(metrics[mi]))) {
      bytes += metricBytes(metrics[mi]); entities++; chunk.metrics.push(metrics[mi++]);
    }
    chunks.push(chunk);
  }
  return chunks;
}

export function chunkSize(c: BatchChunk): number {
  return c.metrics.length + c.params.length + c.tags.length;
}

/** Halves a chunk, to find the entity a server refuses without dropping the rest. */
export function splitChunk(c: BatchChunk): [BatchChunk, BatchChunk] {
  const all: Array<['m', MetricPoint] | ['p', KeyValue] | ['t', KeyValue]> = [
    ...c.params.map((p) => ['p', p] as ['p', KeyValue]),
    ...c.tags.map((t) => ['t', t] as ['t', KeyValue]),
    ...c.metrics.map((m) => ['m', m] as ['m', MetricPoint]),
  ];
  const half = Math.ceil(all.length / 2);
  const build = (items: typeof all): BatchChunk => {
    const out: BatchChunk = { metrics: [], params: [], tags: [] };
    for (const [k, v] of items) {
      if (k === 'm') out.metrics.push(v as MetricPoint);
      else if (k === 'p') out.params.push(v as KeyValue);
      else out.tags.push(v as KeyValue);
    }
    return out;
  };
  return [build(all.slice(0, half)), build(all.slice(half))];
}
