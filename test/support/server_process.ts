// Runs the real server (`node dist/bin/ctr-engine.js`, with the uWS front end
// or, for entry 'native-free', FRONT_END=native-free) as a child process on a
// free loopback port and waits until it reports ready.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ENTRY = fileURLToPath(new URL('../../bin/ctr-engine.js', import.meta.url));
/** The environment each entry adds (the test's own env wins). */
const ENTRIES = {
  api: {},
  'native-free': { FRONT_END: 'native-free' },
};

export interface ServerProcessOptions {
  /** Which front end: uWS (default) or the native-free node:http one. */
  entry?: keyof typeof ENTRIES;
  /** Node options before the entry point, e.g. ['--import', …]. */
  nodeArgs?: string[];
}

export interface ServerProcess {
  url: string;
  port: number;
  child: ChildProcess;
  output: () => string;
  stop(): Promise<number | null>;
}

export async function startServerProcess(env: Record<string, string> = {}, timeoutMs = 30_000, opts: ServerProcessOptions = {}): Promise<ServerProcess> {
  // DRAIN_GRACE_MS=0: stop() is not behind a balancer, so no grace period (test/drain.test.ts sets one).
  // State (baselines, the MLflow file store) goes to a scratch folder unless the test names one,
  // so tests never write into the checkout or see each other's baselines.
  const scratch = mkdtempSync(join(tmpdir(), 'ctr-server-'));
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), ENTRY], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', WORKERS: '2', DRAIN_GRACE_MS: '0', DATA_DIR: scratch, MLFLOW_TRACKING_URI: `file:${join(scratch, 'mlruns')}`, ...ENTRIES[opts.entry ?? 'api'], ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Not left running behind a failed test.
      child.kill('SIGKILL');
      reject(new Error(`server not ready in ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const check = () => {
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (m && (out.includes('ctr-engine: ready') || out.includes('"msg":"ready"'))) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before ready:\n${out}`));
    });
  }).catch((err: unknown) => {
    rmSync(scratch, { recursive: true, force: true });
    throw err;
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    output: () => out,
    stop: () =>
      new Promise<number | null>((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }).finally(() => rmSync(scratch, { recursive: true, force: true })),
  };
}
