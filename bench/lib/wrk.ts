// Closed-loop maximum throughput with wrk (C, epoll): the cheapest load this
// machine can generate, so the server, not the generator, sets the ceiling.
// Its latencies are service times (closed loop), reported as such.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LatencySummary } from './histogram.js';
import type { LoadResult } from './load_runner.js';
import { cpuTicks } from './proc_stats.js';

export interface WrkOptions {
  host: string;
  port: number;
  connections: number;
  threads: number;
  warmupMs: number;
  durationMs: number;
  requests: Buffer[];
  rowsPerRequest: number;
  /** Count answers per status (costs wrk a header parse per answer). */
  statuses?: boolean;
  serverPid?: number;
  wrkPath?: string;
}

interface WrkJson {
  requests: number;
  duration_us: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latency_us: { mean: number; p50: number; p90: number; p99: number; p999: number; max: number };
  statuses: Record<string, number>;
}

const SCRIPT = fileURLToPath(new URL('../../../bench/lib/wrk_pool.lua', import.meta.url));

function writePool(dir: string, requests: Buffer[]): string {
  const parts: Buffer[] = [];
  for (const r of requests) parts.push(Buffer.from(`${r.length}\n`, 'latin1'), r);
  const file = join(dir, 'pool.bin');
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

/** Runs wrk under bash so that `times` can report the CPU wrk used. */
function runWrk(o: WrkOptions, poolFile: string, ms: number): Promise<{ json: WrkJson; cpuS: number }> {
  const wrk = o.wrkPath ?? 'wrk';
  const args = [
    '-t', String(o.threads), '-c', String(o.connections), '-d', `${Math.max(1, Math.round(ms / 1000))}s`,
    '--timeout', '10s', '-s', SCRIPT, `http://${o.host}:${o.port}/`, '--', poolFile, o.statuses ? 'statuses' : '',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', '"$0" "$@"; rc=$?; times; exit $rc', wrk, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('WRKJSON '));
      if (code !== 0 || line === undefined) { reject(new Error(`wrk failed (${code}): ${err}${out}`)); return; }
      // `times` prints shell then children user/system times, e.g. "0m1.234s 0m0.500s".
      const t = [...out.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
      const cpuS = t.length >= 4 ? t[2] + t[3] : NaN;
      resolve({ json: JSON.parse(line.slice(8)) as WrkJson, cpuS });
    });
  });
}

export async function runWrkLoad(o: WrkOptions): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'ctr-bench-wrk-'));
  try {
    const pool = writePool(dir, o.requests);
    if (o.warmupMs > 0) await runWrk({ ...o, statuses: false }, pool, o.warmupMs);
    const srv0 = o.serverPid !== undefined ? cpuTicks(o.serverPid) : null;
    const t0 = performance.now();
    const { json, cpuS } = await runWrk(o, pool, o.durationMs);
    const wallMs = performance.now() - t0;
    const srv1 = o.serverPid !== undefined ? cpuTicks(o.serverPid) : null;
    const seconds = json.duration_us / 1e6;
    const e = json.errors;
    const errors: Record<string, number> = {};
    for (const k of ['connect', 'read', 'write', 'timeout'] as const) if (e[k] > 0) errors[k] = e[k];
    const statuses: Record<string, number> = { ...json.statuses };
    if (!o.statuses) {
      const bad = e.status;
      statuses['2xx'] = json.requests - bad;
      if (bad > 0) statuses['non-2xx'] = bad;
    }
    const ok = json.requests - e.status;
    const ms = (us: number) => Math.round(us) / 1000;
    const l = json.latency_us;
    const latency: LatencySummary = { count: json.requests, mean: ms(l.mean), p50: ms(l.p50), p90: ms(l.p90), p99: ms(l.p99), p999: ms(l.p999), max: ms(l.max) };
    const cpuCores = cpuS / (wallMs / 1000);
    const result: LoadResult = {
      tool: 'wrk', mode: 'closed', offeredRate: null, connections: o.connections, threads: o.threads,
      warmupS: o.warmupMs / 1000, durationS: seconds,
      throughput: Math.round(ok / seconds), rowsPerRequest: o.rowsPerRequest, rowsPerSec: Math.round((ok * o.rowsPerRequest) / seconds),
      requests: { offered: json.requests, completed: json.requests, ok },
      statuses, errors, errorCount: e.status + e.connect + e.read + e.write + e.timeout,
      latency, strict: latency, service: latency, sendLag: { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 },
      generator: {
        cpuCores: Math.round(cpuCores * 100) / 100, eluMax: NaN,
        bottleneck: cpuCores > 0.9 * o.threads, backlogMax: 0,
        note: cpuCores > 0.9 * o.threads ? `wrk used ${cpuCores.toFixed(2)} cores of its ${o.threads} thread(s): add -t` : 'wrk had headroom',
      },
    };
    if (srv0 !== null && srv1 !== null) result.server = { cpuCores: Math.round(((srv1.cpuMs - srv0.cpuMs) / wallMs) * 100) / 100, rssMB: Math.round(srv1.rssKB / 10.24) / 100 };
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
