// The types every load generator shares (the JS one in load_core.ts, the C
// one behind openloop_native.ts, wrk) and the runner that merges them: kept
// apart so that none of those modules imports another for a type.
import type { Histogram, LatencySummary } from './histogram.js';
import type { ServerView } from './server_view.js';

export type LoadMode = 'open' | 'closed';

/**
 * Duty cycle (open loop): offer `rate` only during [onFromMs, onFromMs + onMs)
 * of every `periodMs`, nothing in between. Two generators with opposite
 * phases interleave two servers finely, so both see the same machine.
 */
export interface SliceSpec { periodMs: number; onFromMs: number; onMs: number }

/** Open-loop generator: 'c' = bench/native/openloop.c (µs pacing), 'js' = load_core.ts (1 ms timer). */
export type OpenTool = 'c' | 'js';

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
  slice?: SliceSpec;
  /** Open-loop generator (default 'c'). */
  openTool?: OpenTool;
  /** The server's coordinator tick (MONITOR_TICK_MS), for reading its /metrics at the window's edges; 1000. */
  serverTickMs?: number;
  /** C generator's wake-up quantum, µs (CommonConfig.openQuantumUs; 0: wake for every request). */
  openQuantumUs?: number;
}

export interface LoadResult {
  tool: 'ctr-loadgen' | 'ctr-openloop-c' | 'wrk';
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
  /**
   * Open loop: from the scheduled send time, less the generator's own
   * lateness (JS: from its first wake-up at or after it; C: less its measured
   * send lateness); waits for a free connection count. Closed loop: send → answer.
   */
  latency: LatencySummary;
  /** Open loop: from the scheduled time itself, the generator's own lateness included (JS: its up-to-1 ms timer granularity). */
  strict: LatencySummary;
  /** Send → answer, whatever the schedule said (the coordinated-omission view, for contrast). */
  service: LatencySummary;
  /**
   * JS generator: scheduled → first generator wake-up (its own lateness).
   * C generator: scheduled → actual send (waits for a free connection included).
   */
  sendLag: LatencySummary;
  /** C generator: actual send − max(scheduled, a connection free): its own lateness alone. */
  selfLag?: LatencySummary;
  generator: { cpuCores: number; eluMax: number; bottleneck: boolean; note: string; backlogMax: number };
  server?: { cpuCores: number; rssMB: number };
  /** The server's own stage latencies over the measured window (servers with GET /metrics: engine, native-free). */
  serverView?: ServerView;
  sample?: string;
}

/** Counts over the measured window, as every generator reports them. */
export interface RunCounts {
  /** Scheduled (open loop; unsent ones included) or sent (closed loop). */
  offered: number;
  /** Answered or failed (errors by kind); unsent slots are not in it. */
  completed: number;
  ok: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
  /** Most due requests ever waiting for a free connection at once (open loop). */
  backlogMax: number;
  sample?: string;
}

/** What a generator hands back; runLoad adds the figures common to all. */
export interface GeneratorOutput extends RunCounts {
  tool: LoadResult['tool'];
  threads: number;
  latency: Histogram;
  strict: Histogram;
  service: Histogram;
  sendLag: Histogram;
  selfLag?: Histogram;
  cpuCores: number;
  eluMax: number;
  bottleneck: boolean;
  note: string;
}

/** Adds every count of `from` into `into`. */
export function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}
