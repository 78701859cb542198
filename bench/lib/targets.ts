// The servers a bench run can start: our engine and its peers, each as a
// command line relative to a project tree (the current one, or a base ref's
// worktree when comparing).
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerSpec } from './server_proc.js';

export const TARGETS = ['engine', 'echo', 'fastify', 'native-free'] as const;
export type TargetName = (typeof TARGETS)[number];

export const TARGET_LABELS: Record<TargetName, string> = {
  engine: 'ctr-engine (uWS + batcher + Piscina/ORT)',
  echo: 'uWS JSON echo (HTTP ceiling)',
  fastify: 'Fastify + ORT in main thread',
  'native-free': 'native-free-ts (node:http + TS evaluator)',
};

/** The project root of this bench's own tree (dist/bench/lib → root). */
export function benchRoot(): string {
  return resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
}

export interface TargetOptions {
  /** Project tree whose dist/ is run (defaults to this one). */
  root?: string;
  model?: string;
  /** Extra environment for the server, e.g. WORKERS=2. */
  env?: Record<string, string>;
  /** Folder for the server's working files (mlruns, data). */
  scratch?: string;
}

/**
 * Where each target's entry point is in a built tree, newest layout first: a
 * base ref from before the composition root (bin/) has the older entries, so
 * the gate can compare across the move.
 */
export const TARGET_ENTRIES: Record<TargetName, readonly { entry: string; env?: Record<string, string> }[]> = {
  engine: [{ entry: 'dist/bin/ctr-engine.js' }, { entry: 'dist/api/main.js' }],
  echo: [{ entry: 'dist/bench/peers/echo.js' }],
  fastify: [{ entry: 'dist/bench/peers/fastify_ort.js' }],
  'native-free': [{ entry: 'dist/bin/ctr-engine.js', env: { FRONT_END: 'native-free' } }, { entry: 'dist/native-free-ts/main.js' }],
};

/** The entry files that may serve `name` in a tree (any one of them will do). */
export function entryAlternatives(name: TargetName): string[] {
  return TARGET_ENTRIES[name].map((e) => e.entry);
}

/** The built entry of `name` under `root`, or undefined when none of its entries is built. */
export function builtEntry(name: TargetName, root: string): { entry: string; env?: Record<string, string> } | undefined {
  return TARGET_ENTRIES[name].find((e) => existsSync(join(root, e.entry)));
}

export function isTargetName(s: string): s is TargetName {
  return (TARGETS as readonly string[]).includes(s);
}

export function targetSpec(name: TargetName, o: TargetOptions = {}): ServerSpec {
  const root = o.root ?? benchRoot();
  const scratch = o.scratch ?? join(root, 'bench/results/scratch');
  mkdirSync(scratch, { recursive: true });
  const node = process.execPath;
  const built = builtEntry(name, root);
  if (built === undefined) throw new Error(`${name}: none of ${entryAlternatives(name).join(', ')} exists in ${root} (build with npx tsc -p . there)`);
  const env: Record<string, string> = { ...built.env, ...o.env };
  switch (name) {
    case 'engine':
      // Server working files (mlruns, data) go to the scratch folder, not the tree.
      env.DATA_DIR ??= join(scratch, 'data');
      break;
    case 'fastify':
      env.BENCH_MODEL ??= o.model ?? 'xgboost';
      env.MODELS_DIR ??= join(root, 'engine/models');
      break;
    default:
      break;
  }
  const file = join(root, built.entry);
  return { name, command: [node, file], cwd: scratch, env };
}
