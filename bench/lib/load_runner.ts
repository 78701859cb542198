// Runs a load spec and says whether the generator itself was the bottleneck.
// Open loop goes to the C generator (openloop_native.ts) unless told
// otherwise; closed loop, and open loop with the 'js' tool, to our JavaScript
// generator on one or more threads, whose histograms and counts are merged.
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { decodeHistogram, newHistogram, summarize, type Histogram } from './histogram.js';
import { runThread, type ThreadResult, type ThreadSpec } from './load_core.js';
import { addCounts, type GeneratorOutput, type LoadOptions, type LoadResult, type OpenTool } from './load_types.js';
import { NoCompilerError, openLoopBinary, runNativeOpenLoop } from './openloop_native.js';
import { cpuTicks, type ProcSample } from './proc_stats.js';
import { watchWindow } from './server_view.js';

export type { LoadOptions, LoadResult, OpenTool } from './load_types.js';




function runWorker(spec: ThreadSpec): Promise<ThreadResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./load_worker.js', import.meta.url), { workerData: spec });
    w.once('message', (r: ThreadResult) => { resolve(r); void w.terminate(); });
    w.once('error', reject);
  });
}



let warnedNoCompiler = false;
/** 'c' when the C generator is (or can be) built; otherwise 'js', with a warning once. */
function resolveOpenTool(tool: OpenTool): OpenTool {
  if (tool === 'js') return 'js';
  try {
    openLoopBinary();
    return 'c';
  } catch (err) {
    if (!(err instanceof NoCompilerError)) throw err;
    if (!warnedNoCompiler) console.error(`warning: ${err.message}; falling back to the JavaScript open-loop generator (1 ms timer granularity)`);
    warnedNoCompiler = true;
    return 'js';
  }
}

export async function runLoad(spec: LoadOptions): Promise<LoadResult> {
  const native = spec.mode === 'open' && resolveOpenTool(spec.openTool ?? 'c') === 'c';
  // A known start, so the server's own histograms can be read at the window's edges.
  const o: LoadOptions = { ...spec, startAt: spec.startAt ?? performance.timeOrigin + performance.now() + 300 };
  const windowOpen = o.startAt! - performance.timeOrigin + o.warmupMs;
  const view = watchWindow(o.host, o.port, windowOpen, windowOpen + o.durationMs, o.serverTickMs);
  const wall0 = performance.now();
  const srv0: ProcSample | null = o.serverPid !== undefined ? cpuTicks(o.serverPid) : null;
  const out = native ? await runNativeOpenLoop(o) : await runJs(o);
  const wallMs = performance.now() - wall0;
  const srv1: ProcSample | null = o.serverPid !== undefined ? cpuTicks(o.serverPid) : null;

  let errorCount = 0;
  for (const [k, v] of Object.entries(out.statuses)) if (!k.startsWith('2')) errorCount += v;
  for (const v of Object.values(out.errors)) errorCount += v;
  let note = out.note;
  // Requests that waited for a connection: the server fell behind (or --open-connections is too small for rate × latency).
  if (o.mode === 'open' && out.backlogMax > 0) note += `; up to ${out.backlogMax} due requests waited for a free connection (of ${o.connections})`;
  const seconds = o.durationMs / 1000;
  const result: LoadResult = {
    tool: out.tool, mode: o.mode,
    // With a duty cycle the offered rate is the average over on and off windows.
    offeredRate: o.mode !== 'open' ? null : o.slice === undefined ? o.rate : round((Math.max(1, Math.round(o.slice.onMs / (1000 / o.rate))) * 1000) / o.slice.periodMs),
    connections: o.connections, threads: out.threads, warmupS: o.warmupMs / 1000, durationS: seconds,
    throughput: round(out.ok / seconds), rowsPerRequest: o.rowsPerRequest, rowsPerSec: round((out.ok * o.rowsPerRequest) / seconds),
    requests: { offered: out.offered, completed: out.completed, ok: out.ok }, statuses: out.statuses, errors: out.errors, errorCount,
    latency: summarize(out.latency), strict: summarize(out.strict), service: summarize(out.service), sendLag: summarize(out.sendLag),
    generator: { cpuCores: round2(out.cpuCores), eluMax: round2(out.eluMax), bottleneck: out.bottleneck, note, backlogMax: out.backlogMax },
    sample: out.sample,
  };
  if (out.selfLag !== undefined) result.selfLag = summarize(out.selfLag);
  const serverView = await view;
  if (serverView !== null) result.serverView = serverView;
  if (srv0 !== null && srv1 !== null) {
    result.server = { cpuCores: round2((srv1.cpuMs - srv0.cpuMs) / wallMs), rssMB: round2(srv1.rssKB / 1024) };
  }
  return result;
}

/** Our JavaScript generator on one or more threads (worker_threads beyond the first). */
async function runJs(o: LoadOptions): Promise<GeneratorOutput> {
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
  const parts = await Promise.all(specs.map((s) => (threads === 1 ? runThread(s) : runWorker(s))));
  const wallMs = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);

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
    addCounts(statuses, p.statuses);
    addCounts(errors, p.errors);
    eluMax = Math.max(eluMax, p.elu);
    backlogMax += p.backlogMax;
    sample ??= p.sample;
  }
  // process.cpuUsage covers every thread of this process, so it is the whole generator.
  const cpuCores = (cpu.user + cpu.system) / 1000 / wallMs;
  // Saturated: an event loop busy nearly all the time, or every thread's core used up.
  const bottleneck = eluMax > 0.9 || cpuCores > 0.9 * threads;
  const note = bottleneck
    ? `generator saturated (event loop ${(eluMax * 100).toFixed(0)}% busy, ${cpuCores.toFixed(2)} cores on ${threads} thread(s)): figures are a lower bound on the server; add --threads or use wrk`
    : `generator had headroom (event loop ${(eluMax * 100).toFixed(0)}% busy, ${cpuCores.toFixed(2)} cores)`;
  return {
    tool: 'ctr-loadgen', threads, latency, strict, service, sendLag, offered, completed, ok, statuses, errors, backlogMax, sample,
    cpuCores, eluMax, bottleneck, note,
  };
}


const round = (x: number) => Math.round(x);
const round2 = (x: number) => Math.round(x * 100) / 100;
