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

export function isTargetName(s: string): s is TargetName {
  return (TARGETS as readonly string[]).includes(s);
}

export function targetSpec(name: TargetName, o: TargetOptions = {}): ServerSpec {
  const root = o.root ?? benchRoot();
  const scratch = o.scratch ?? join(root, 'bench/results/scratch');
  mkdirSync(scratch, { recursive: true });
  const node = process.execPath;
  const env = { ...o.env };
  let entry: string;
  switch (name) {
    case 'engine':
      entry = 'dist/api/main.js';
      // Server working files (mlruns, data) go to the scratch folder, not the tree.
      env.DATA_DIR ??= join(scratch, 'data');
      break;
    case 'echo':
      entry = 'dist/bench/peers/echo.js';
      break;
    case 'fastify':
      entry = 'dist/bench/peers/fastify_ort.js';
      env.BENCH_MODEL ??= o.model ?? 'xgboost';
      env.MODELS_DIR ??= join(root, 'engine/models');
      break;
    case 'native-free':
      entry = 'dist/native-free-ts/main.js';
      break;
  }
  const file = join(root, entry);
  if (!existsSync(file)) throw new Error(`${name}: ${file} does not exist (build with npx tsc -p . in ${root})`);
  return { name, command: [node, file], cwd: scratch, env };
}
