// One measurement against a running server: builds the request pool for its
// address and runs either our generator (open or closed loop) or wrk.
import { execFileSync } from 'node:child_process';
import type { LoadResult } from './load_runner.js';
import { runLoad } from './load_runner.js';
import { buildPool, type RequestPool } from './request_pool.js';
import { runWrkLoad } from './wrk.js';
import type { CommonConfig } from './options.js';

export interface Endpoint { host: string; port: number; pid?: number }

let wrkChecked: boolean | undefined;
export function wrkAvailable(): boolean {
  if (wrkChecked === undefined) {
    try { execFileSync('wrk', ['-v'], { stdio: 'ignore' }); wrkChecked = true; } catch (err) {
      // wrk -v exits 1 after printing its version; only a missing binary throws ENOENT.
      wrkChecked = (err as NodeJS.ErrnoException).code !== 'ENOENT';
    }
  }
  return wrkChecked;
}

export function poolFor(cfg: CommonConfig, ep: Endpoint): RequestPool {
  return buildPool({
    kind: cfg.kind, batchSize: cfg.batchSize, format: cfg.format, size: cfg.poolSize,
    seed: cfg.seed, model: cfg.model, host: ep.host, port: ep.port,
  });
}

export interface MeasureRequest {
  mode: 'open' | 'closed';
  rate?: number;
  durationMs?: number;
  warmupMs?: number;
}

/** The started server's coordinator tick, when --server-env sets it. */
export function tickOf(cfg: CommonConfig): number | undefined {
  const t = Number(cfg.serverEnv.MONITOR_TICK_MS);
  return Number.isFinite(t) && t > 0 ? t : undefined;
}

export async function measure(cfg: CommonConfig, ep: Endpoint, pool: RequestPool, m: MeasureRequest): Promise<LoadResult> {
  const durationMs = m.durationMs ?? cfg.durationMs;
  const warmupMs = m.warmupMs ?? cfg.warmupMs;
  if (m.mode === 'closed' && (cfg.tool === 'wrk' || (cfg.tool === 'auto' && wrkAvailable()))) {
    return runWrkLoad({
      host: ep.host, port: ep.port, connections: cfg.connections, threads: cfg.wrkThreads,
      warmupMs, durationMs, requests: pool.requests, rowsPerRequest: pool.rowsPerRequest,
      statuses: true, serverPid: ep.pid,
    });
  }
  if (m.mode === 'open' && (m.rate === undefined || m.rate <= 0)) throw new Error('open loop needs a rate');
  return runLoad({
    host: ep.host, port: ep.port, mode: m.mode, rate: m.rate ?? 0, connections: m.mode === 'open' ? cfg.openConnections : cfg.connections,
    threads: cfg.threads, warmupMs, durationMs, requests: pool.requests, rowsPerRequest: pool.rowsPerRequest,
    serverPid: ep.pid, openTool: cfg.openTool, openQuantumUs: cfg.openQuantumUs, serverTickMs: tickOf(cfg),
  });
}
