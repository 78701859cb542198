// The highest offered rate at which the p99 stays under an objective with no
// errors: a bisection over open-loop runs between 0 and a little above the
// closed-loop maximum, then the best rate re-run once because one lucky run
// on a noisy machine proves little.
import type { LoadResult } from './load_runner.js';
import { measure, type Endpoint } from './measure.js';
import type { CommonConfig } from './options.js';
import type { RequestPool } from './request_pool.js';

export interface CapacityOptions {
  objectiveMs: number;
  /** Stop when the bracket is narrower than this fraction of its top. */
  precision: number;
  maxProbes: number;
  log?: (line: string) => void;
}

export interface Probe { rate: number; pass: boolean; why: string; result: LoadResult }

export interface CapacityResult {
  objectiveMs: number;
  /** Highest passing rate (req/s), 0 when none passed. */
  capacity: number;
  maxThroughput: number;
  probes: Probe[];
}

export function judge(r: LoadResult, objectiveMs: number): { pass: boolean; why: string } {
  if (r.errorCount > 0) return { pass: false, why: `${r.errorCount} errors` };
  if (r.offeredRate !== null && r.throughput < 0.97 * r.offeredRate) return { pass: false, why: `served ${r.throughput}/s of ${r.offeredRate}/s` };
  if (r.latency.p99 > objectiveMs) return { pass: false, why: `p99 ${r.latency.p99} ms > ${objectiveMs} ms` };
  return { pass: true, why: `p99 ${r.latency.p99} ms` };
}

export async function findCapacity(cfg: CommonConfig, ep: Endpoint, pool: RequestPool, o: CapacityOptions): Promise<CapacityResult> {
  const log = o.log ?? (() => {});
  const max = await measure(cfg, ep, pool, { mode: 'closed' });
  log(`closed-loop maximum ${max.throughput} req/s (${max.tool})`);
  const probes: Probe[] = [];
  const probe = async (rate: number) => {
    const result = await measure(cfg, ep, pool, { mode: 'open', rate });
    const { pass, why } = judge(result, o.objectiveMs);
    probes.push({ rate, pass, why, result });
    log(`${rate} req/s: ${pass ? 'pass' : 'fail'} (${why})${result.generator.bottleneck ? ' [generator saturated]' : ''}`);
    return pass;
  };
  let lo = 0;
  let hi = Math.max(10, Math.round(max.throughput * 1.1));
  while (probes.length < o.maxProbes && (hi - lo) / hi > o.precision) {
    const mid = Math.round((lo + hi) / 2);
    if (await probe(mid)) lo = mid; else hi = mid;
  }
  // Confirm: the best passing rate must pass again; otherwise step down.
  for (let tries = 0; lo > 0 && tries < 3; tries++) {
    if (await probe(lo)) break;
    lo = Math.round(lo * 0.9);
  }
  return { objectiveMs: o.objectiveMs, capacity: lo, maxThroughput: max.throughput, probes };
}
