// Command-line options shared by every bench command, parsed with node:util
// parseArgs; each command adds its own on top.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { BodyFormat, RequestKind } from './request_pool.js';
import { isTargetName, type TargetName } from './targets.js';
import type { OpenTool } from './load_types.js';

export const COMMON_OPTIONS = {
  target: { type: 'string', default: 'engine' },
  url: { type: 'string' },
  mode: { type: 'string', default: 'open' },
  rate: { type: 'string' },
  connections: { type: 'string', default: '64' },
  'open-connections': { type: 'string', default: '256' },
  threads: { type: 'string', default: '1' },
  duration: { type: 'string', default: '10' },
  warmup: { type: 'string', default: '3' },
  kind: { type: 'string', default: 'single' },
  'batch-size': { type: 'string', default: '32' },
  format: { type: 'string', default: 'json' },
  model: { type: 'string' },
  pool: { type: 'string', default: '4096' },
  seed: { type: 'string', default: '1' },
  tool: { type: 'string', default: 'auto' },
  'open-tool': { type: 'string', default: 'c' },
  'open-quantum-us': { type: 'string', default: '50' },
  'wrk-threads': { type: 'string', default: '2' },
  'server-env': { type: 'string', multiple: true },
  out: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const satisfies ParseArgsConfig['options'];

export interface CommonConfig {
  target: TargetName;
  /** Attach to an already running server instead of starting one. */
  url?: URL;
  mode: 'open' | 'closed';
  rate?: number;
  /** Closed loop: the concurrency. */
  connections: number;
  /** Open loop: enough that requests never queue for a connection unless the server is overloaded. */
  openConnections: number;
  threads: number;
  durationMs: number;
  warmupMs: number;
  kind: RequestKind;
  batchSize: number;
  format: BodyFormat;
  model?: string;
  poolSize: number;
  seed: number;
  /** Closed-loop tool: wrk (C) or our own generator; auto = wrk when installed. */
  tool: 'auto' | 'wrk' | 'own';
  /** Open-loop generator: C (bench/native/openloop.c, µs pacing) or our JavaScript one (1 ms timer). */
  openTool: OpenTool;
  /**
   * C generator: wake no sooner than this many µs after its last wake-up and
   * send everything that fell due. Each timed wake-up costs ~25 µs of CPU on
   * this VM (timer and halt exits), so at 37k req/s a wake per request used
   * a whole core and starved the server; 50 µs halves that (bench/README).
   */
  openQuantumUs: number;
  wrkThreads: number;
  serverEnv: Record<string, string>;
  out?: string;
  json: boolean;
}

export function num(name: string, v: string | undefined, min = 0): number {
  const n = Number(v);
  if (v === undefined || !Number.isFinite(n) || n < min) throw new UsageError(`--${name} must be a number >= ${min} (got ${v})`);
  return n;
}

export class UsageError extends Error {}

function oneOf<T extends string>(name: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')} (got ${v})`);
  return v as T;
}

export function parseCommon(values: Record<string, string | boolean | string[] | undefined>): CommonConfig {
  const s = (k: string) => values[k] as string | undefined;
  const target = s('target')!;
  if (!isTargetName(target)) throw new UsageError(`--target must be engine, echo, fastify or native-free (got ${target})`);
  const url = s('url') !== undefined ? new URL(s('url')!) : undefined;
  if (url !== undefined && url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') throw new UsageError('--url must point at 127.0.0.1: the bench only loads loopback');
  const serverEnv: Record<string, string> = {};
  for (const kv of (values['server-env'] as string[] | undefined) ?? []) {
    const i = kv.indexOf('=');
    if (i < 1) throw new UsageError(`--server-env takes KEY=VALUE (got ${kv})`);
    serverEnv[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const openTool = oneOf('open-tool', s('open-tool')!, ['c', 'js'] as const);
  // Every open-loop run of this command (measure, compare's interleaved runs) uses it.
  return {
    target, url,
    mode: oneOf('mode', s('mode')!, ['open', 'closed'] as const),
    rate: s('rate') !== undefined ? num('rate', s('rate'), 1) : undefined,
    connections: num('connections', s('connections'), 1),
    openConnections: num('open-connections', s('open-connections'), 1),
    threads: num('threads', s('threads'), 1),
    durationMs: num('duration', s('duration'), 0.1) * 1000,
    warmupMs: num('warmup', s('warmup')) * 1000,
    kind: oneOf('kind', s('kind')!, ['single', 'batch'] as const),
    batchSize: num('batch-size', s('batch-size'), 1),
    format: oneOf('format', s('format')!, ['json', 'msgpack'] as const),
    model: s('model'),
    poolSize: num('pool', s('pool'), 1),
    seed: num('seed', s('seed')),
    tool: oneOf('tool', s('tool')!, ['auto', 'wrk', 'own'] as const),
    openTool,
    openQuantumUs: num('open-quantum-us', s('open-quantum-us')),
    wrkThreads: num('wrk-threads', s('wrk-threads'), 1),
    serverEnv,
    out: s('out'),
    json: values.json === true,
  };
}

/** parseArgs over process.argv with the common options plus a command's own. */
export function parseCli<O extends ParseArgsConfig['options']>(own: O, usage: string) {
  const { values } = parseArgs({ options: { ...COMMON_OPTIONS, ...own }, allowPositionals: false, strict: true });
  const v = values as Record<string, string | boolean | string[] | undefined>;
  if (v.help === true) { console.log(usage); process.exit(0); }
  return v;
}

/** Runs a command's main, printing usage errors without a stack and exiting 2. */
export function runMain(main: () => Promise<number | void>): void {
  main().then((code) => process.exit(code ?? 0), (err) => {
    if (err instanceof UsageError) { console.error(`error: ${err.message}`); process.exit(2); }
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  });
}
