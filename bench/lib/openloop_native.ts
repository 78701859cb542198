// Open loop through the C generator (bench/native/openloop.c): paces each
// request to the microsecond (epoll_pwait2 / clock_nanosleep, 1 ns timer
// slack) and times answers by the kernel's receive timestamps, where the
// JavaScript generator wakes on a 1 ms timer and its GC lands in the tail it
// measures. Compiled on demand from the current tree's source (so a compare
// against an older base still uses this generator), run as one process per
// --threads, its JSON turned into the LoadResult every report reads.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { newHistogram, type Histogram } from './histogram.js';
import { addCounts, type GeneratorOutput, type LoadOptions, type RunCounts } from './load_types.js';

const SOURCE = fileURLToPath(new URL('../../../bench/native/openloop.c', import.meta.url));
const BINARY = fileURLToPath(new URL('../native/openloop', import.meta.url));

/**
 * The generator's own send lateness (p99) may be at most this share of the
 * p99 it reports: beyond, much of that tail is the generator's (or this
 * machine's), not the server's. On a loaded 2-core VM it reaches 1–2 ms.
 */
export const SELF_LAG_SHARE = 0.25;

export class NoCompilerError extends Error {}

let built: string | undefined;

/** dist/bench/native/openloop, (re)compiled when missing or older than its source. */
export function openLoopBinary(): string {
  if (built !== undefined) return built;
  if (!existsSync(SOURCE)) throw new Error(`C generator source missing: ${SOURCE}`);
  if (existsSync(BINARY) && statSync(BINARY).mtimeMs >= statSync(SOURCE).mtimeMs) return (built = BINARY);
  const cc = process.env.CC ?? 'cc';
  mkdirSync(dirname(BINARY), { recursive: true });
  // Built aside and renamed, so a concurrent bench process never runs half a binary.
  const tmp = `${BINARY}.${process.pid}.tmp`;
  const r = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-o', tmp, SOURCE], { encoding: 'utf8' });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new NoCompilerError(`no C compiler ('${cc}') to build the open-loop generator ${SOURCE}: install one (Debian: apt-get install gcc), set CC, or pass --open-tool js`);
  }
  if (r.error !== undefined || r.status !== 0) throw new Error(`compiling ${SOURCE} with ${cc} failed:\n${r.error?.message ?? r.stderr}`);
  if (r.stderr.trim() !== '') console.error(r.stderr.trim());
  renameSync(tmp, BINARY);
  return (built = BINARY);
}

/** The C generator's JSON line (times in ns, histograms as [value, count] of non-empty buckets). */
interface NativeOutput extends RunCounts {
  tool: 'ctr-openloop-c';
  pacing: string;
  wakeups: number;
  rxTimestampsMissing: number;
  cpu: { userS: number; sysS: number; windowS: number };
  wallS: number;
  windowWallS: number;
  busy: number;
  histograms: Record<'latency' | 'latencyLessOwnLag' | 'service' | 'sendLag' | 'selfLag', [number, number][]>;
}

/** performance.timeOrigin-based epoch ms → CLOCK_MONOTONIC ns (what process.hrtime and the C side read). */
function monoNsAt(epochMs: number): bigint {
  return process.hrtime.bigint() + BigInt(Math.round((epochMs - (performance.timeOrigin + performance.now())) * 1e6));
}

function poolBytes(requests: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of requests) parts.push(Buffer.from(`${r.length}\n`, 'latin1'), r);
  return Buffer.concat(parts);
}

function runProcess(bin: string, args: string[], pool: Buffer): Promise<NativeOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    child.stdin.on('error', () => { /* reported by the exit code */ });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const text = Buffer.concat(out).toString('latin1').trim();
      if (code !== 0 || text === '') { reject(new Error(`${bin} ${args.join(' ')} failed (${code ?? signal}): ${err}`)); return; }
      resolve(JSON.parse(text.slice(text.lastIndexOf('\n') + 1)) as NativeOutput);
    });
    child.stdin.end(pool);
  });
}

/** ns buckets → an HDR histogram in µs (1 µs – 120 s, the bench's resolution). */
function addBuckets(h: Histogram, buckets: [number, number][]): void {
  for (const [ns, n] of buckets) h.recordValueWithCount(Math.min(120_000_000, Math.max(1, Math.round(ns / 1000))), n);
}

export async function runNativeOpenLoop(o: LoadOptions): Promise<GeneratorOutput> {
  const bin = openLoopBinary();
  const threads = Math.max(1, Math.min(o.threads, o.connections));
  // One process starts once its connections are up; several, or a caller's shared start, need one clock.
  const startAt = o.startAt ?? (threads > 1 ? performance.timeOrigin + performance.now() + 300 : undefined);
  const pool = poolBytes(o.requests);
  const runs: Promise<NativeOutput>[] = [];
  for (let t = 0; t < threads; t++) {
    const args = [
      '--host', o.host, '--port', String(o.port), '--rate', String(o.rate),
      '--connections', String(Math.floor(o.connections / threads) + (t < o.connections % threads ? 1 : 0)),
      '--warmup-ms', String(o.warmupMs), '--duration-ms', String(o.durationMs), '--drain-ms', String(o.drainMs ?? 2000),
      '--thread', String(t), '--threads', String(threads),
    ];
    if (startAt !== undefined) args.push('--start-mono-ns', String(monoNsAt(startAt)));
    if (o.slice !== undefined) args.push('--slice', `${o.slice.periodMs},${o.slice.onFromMs},${o.slice.onMs}`);
    if (o.keepSample ?? t === 0) args.push('--sample');
    if ((o.openQuantumUs ?? 0) > 0) args.push('--quantum-us', String(o.openQuantumUs));
    runs.push(runProcess(bin, args, pool));
  }
  const parts = await Promise.all(runs);

  const strict = newHistogram(), latency = newHistogram(), service = newHistogram(), sendLag = newHistogram(), selfLag = newHistogram();
  const statuses: Record<string, number> = {}, errors: Record<string, number> = {};
  let offered = 0, completed = 0, ok = 0, backlogMax = 0, cpuS = 0, windowS = 0, busy = 0, missing = 0;
  let sample: string | undefined;
  for (const p of parts) {
    addBuckets(strict, p.histograms.latency);
    addBuckets(latency, p.histograms.latencyLessOwnLag);
    addBuckets(service, p.histograms.service);
    addBuckets(sendLag, p.histograms.sendLag);
    addBuckets(selfLag, p.histograms.selfLag);
    offered += p.offered; completed += p.completed; ok += p.ok;
    addCounts(statuses, p.statuses);
    addCounts(errors, p.errors);
    backlogMax += p.backlogMax;
    // CPU over the measured window (getrusage at its edges), so connecting and draining do not dilute it.
    cpuS += p.windowWallS > 0 ? p.cpu.windowS : p.cpu.userS + p.cpu.sysS;
    windowS = Math.max(windowS, p.windowWallS > 0 ? p.windowWallS : p.wallS);
    busy = Math.max(busy, p.busy);
    missing += p.rxTimestampsMissing;
    sample ??= p.sample;
  }
  const cpuCores = windowS > 0 ? cpuS / windowS : 0;
  const p99 = (h: Histogram) => (h.totalCount > 0 ? h.getValueAtPercentile(99) / 1000 : 0);
  const selfLagP99 = p99(selfLag), latencyP99 = p99(latency);
  // Saturated: a process's core used up. Late: sends late through the generator's
  // own fault (not for want of a free connection) by a fair share of the tail it
  // reports; that lateness is left out of latency, but the bursts it makes are not.
  const saturated = cpuCores >= 0.9 * threads;
  const late = selfLagP99 > SELF_LAG_SHARE * latencyP99;
  let note = `C generator ${saturated ? 'saturated' : late ? 'late' : 'had headroom'} (${cpuCores.toFixed(2)} cores on ${threads} process(es), busy ${(busy * 100).toFixed(0)}%, ` +
    `own send lateness p99 ${selfLagP99.toFixed(3)} ms${late ? `, over ${SELF_LAG_SHARE * 100}% of the p99 it measured: that tail is partly the generator's or the machine's` : ''}; ${parts[0].pacing}${(o.openQuantumUs ?? 0) > 0 ? `, wake-ups ≥ ${o.openQuantumUs} µs apart` : ''})`;
  if (missing > 0) note += `; ${missing} reads without a kernel timestamp (timed at wake-up)`;
  return {
    // strict: from the scheduled time. latency: the same less the generator's own
    // lateness (a late wake-up of this VM's vCPU), like the JS generator's latency.
    tool: 'ctr-openloop-c', threads, latency, strict, service, sendLag, selfLag,
    offered, completed, ok, statuses, errors, backlogMax, sample, cpuCores, eluMax: busy, bottleneck: saturated || late, note,
  };
}
