// Runs a load spec on one or more generator threads, merges their histograms
// and counts, and says whether the generator itself was the bottleneck.
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { decodeHistogram, newHistogram, summarize, type LatencySummary } from './histogram.js';
import { runThread, type LoadMode, type ThreadResult, type ThreadSpec } from './load_core.js';
import { cpuTicks, type ProcSample } from './proc_stats.js';

export interface LoadOptions {
  host: string;
  port: number;
  mode: LoadMode;
  /** Offered rate, requests/s (open loop only). */
  rate: number;
  connections: number;
  threads: number;
  warmupMs: number;
  durationMs: number;
  drainMs?: number;
  requests: Buffer[];
  rowsPerRequest: number;
  /** Server pid, to report its CPU use over the run. */
  serverPid?: number;
  keepSample?: boolean;
  /** Shared start time (performance.timeOrigin-based epoch ms), to line up concurrent runs. */
  startAt?: number;
  slice?: ThreadSpec['slice'];
}

export interface LoadResult {
  tool: 'ctr-loadgen' | 'wrk';
  mode: LoadMode;
  offeredRate: number | null;
  connections: number;
  threads: number;
  warmupS: number;
  durationS: number;
  /** 2xx answers per second over the measured window. */
  throughput: number;
  rowsPerRequest: number;
  rowsPerSec: number;
  requests: { offered: number; completed: number; ok: number };
  statuses: Record<string, number>;
  errors: Record<string, number>;
  errorCount: number;
  /** Open loop: from the scheduled send time. Closed loop: send → answer. */
  latency: LatencySummary;
  /** Open loop: from the scheduled time itself, the generator's up-to-1 ms timer granularity included. */
  strict: LatencySummary;
  /** Send → answer, whatever the schedule said (the coordinated-omission view, for contrast). */
  service: LatencySummary;
  /** Scheduled → first generator wake-up (open loop): the generator's own lateness. */
  sendLag: LatencySummary;
  generator: { cpuCores: number; eluMax: number; bottleneck: boolean; note: string; backlogMax: number };
  server?: { cpuCores: number; rssMB: number };
  sample?: string;
}

function runWorker(spec: ThreadSpec): Promise<ThreadResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./load_worker.js', import.meta.url), { workerData: spec });
    w.once('message', (r: ThreadResult) => { resolve(r); void w.terminate(); });
    w.once('error', reject);
  });
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const threads = Math.max(1, Math.min(o.threads, o.connections));
  // Threads need a moment to start and connect before the shared start time.
  const startAt = o.startAt ?? performance.timeOrigin + performance.now() + (threads > 1 ? 400 : 150);
  const specs: ThreadSpec[] = [];
  for (let t = 0; t < threads; t++) {
    specs.push({
      host: o.host, port: o.port, mode: o.mode, rate: o.rate,
      connections: Math.floor(o.connections / threads) + (t < o.connections % threads ? 1 : 0),
      startAt, warmupMs: o.warmupMs, durationMs: o.durationMs, drainMs: o.drainMs ?? 2000,
      thread: t, threads, requests: o.requests, keepSample: o.keepSample ?? t === 0, slice: o.slice,
    });
  }
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const srv0: ProcSample | null = o.serverPid !== undefined ? cpuTicks(o.serverPid) : null;
  const parts = await Promise.all(specs.map((s) => (threads === 1 ? runThread(s) : runWorker(s))));
  const wallMs = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  const srv1: ProcSample | null = o.serverPid !== undefined ? cpuTicks(o.serverPid) : null;

  const latency = newHistogram(), strict = newHistogram(), service = newHistogram(), sendLag = newHistogram();
  const statuses: Record<string, number> = {}, errors: Record<string, number> = {};
  let offered = 0, completed = 0, ok = 0, eluMax = 0, backlogMax = 0;
  let sample: string | undefined;
  for (const p of parts) {
    latency.add(decodeHistogram(p.latency));
    strict.add(decodeHistogram(p.strict));
    service.add(decodeHistogram(p.service));
    sendLag.add(decodeHistogram(p.sendLag));
    offered += p.offered; completed += p.completed; ok += p.ok;
    for (const [k, v] of Object.entries(p.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
    for (const [k, v] of Object.entries(p.errors)) errors[k] = (errors[k] ?? 0) + v;
    eluMax = Math.max(eluMax, p.elu);
    backlogMax += p.backlogMax;
    sample ??= p.sample;
  }
  let errorCount = 0;
  for (const [k, v] of Object.entries(statuses)) if (!k.startsWith('2')) errorCount += v;
  for (const v of Object.values(errors)) errorCount += v;

  // process.cpuUsage covers every thread of this process, so it is the whole generator.
  const cpuCores = (cpu.user + cpu.system) / 1000 / wallMs;
  // Saturated: an event loop busy nearly all the time, or every thread's core used up.
  const bottleneck = eluMax > 0.9 || cpuCores > 0.9 * threads;
  let note = bottleneck
    ? `generator saturated (event loop ${(eluMax * 100).toFixed(0)}% busy, ${cpuCores.toFixed(2)} cores on ${threads} thread(s)): figures are a lower bound on the server; add --threads or use wrk`
    : `generator had headroom (event loop ${(eluMax * 100).toFixed(0)}% busy, ${cpuCores.toFixed(2)} cores)`;
  // Requests that waited for a connection: the server fell behind (or --open-connections is too small for rate × latency).
  if (o.mode === 'open' && backlogMax > 0) note += `; up to ${backlogMax} due requests waited for a free connection (of ${o.connections})`;
  const seconds = o.durationMs / 1000;
  const result: LoadResult = {
    tool: 'ctr-loadgen', mode: o.mode,
    // With a duty cycle the offered rate is the average over on and off windows.
    offeredRate: o.mode !== 'open' ? null : o.slice === undefined ? o.rate : round((Math.max(1, Math.round(o.slice.onMs / (1000 / o.rate))) * 1000) / o.slice.periodMs),
    connections: o.connections, threads, warmupS: o.warmupMs / 1000, durationS: seconds,
    throughput: round(ok / seconds), rowsPerRequest: o.rowsPerRequest, rowsPerSec: round((ok * o.rowsPerRequest) / seconds),
    requests: { offered, completed, ok }, statuses, errors, errorCount,
    latency: summarize(latency), strict: summarize(strict), service: summarize(service), sendLag: summarize(sendLag),
    generator: { cpuCores: round2(cpuCores), eluMax: round2(eluMax), bottleneck, note, backlogMax },
    sample,
  };
  if (srv0 !== null && srv1 !== null) {
    result.server = { cpuCores: round2((srv1.cpuMs - srv0.cpuMs) / wallMs), rssMB: round2(srv1.rssKB / 1024) };
  }
  return result;
}

const round = (x: number) => Math.round(x);
const round2 = (x: number) => Math.round(x * 100) / 100;
