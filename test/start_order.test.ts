// Start order (issue 14, item 10): every worker has run every model before the
// server listens and before the MLflow runs open, so the first request a
// listening server sees finds it ready; and a start that fails after the runs
// opened (here: the port is taken) ends them FAILED, not FINISHED.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listExperiments, listRunDirs, readRun } from '../engine/mlflow/file_reader.js';
import { startServerProcess } from './support/server_process.js';

const ENTRY = fileURLToPath(new URL('../bin/ctr-engine.js', import.meta.url));
/** Each warm-up inference is held this long (fault injection): the start takes at least this. */
const WARM_MS = 1500;

function getStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

async function runsOf(root: string, experiment: string) {
  const exp = (await listExperiments(root)).find((e) => e.meta.name === experiment);
  return exp ? Promise.all((await listRunDirs(exp.dir)).map(readRun)) : [];
}

test('the server listens, and MLflow runs open, only after the workers are warm: /ready is 200 at the first chance', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctr-start-order-'));
  const spawnedAt = Date.now();
  const child = spawn(process.execPath, [ENTRY], {
    env: {
      ...process.env, PORT: '0', HOST: '127.0.0.1', WORKERS: '1', DATA_DIR: dir, INJECT_INFERENCE_DELAY_MS: String(WARM_MS),
      MLFLOW_TRACKING_URI: `file:${join(dir, 'mlruns')}`, MLFLOW_EXPERIMENT_NAME: 'start_order', MLFLOW_FLUSH_INTERVAL_MS: '60000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr!.on('data', (d) => (out += d));
  try {
    // The moment the listening line appears, ask /ready.
    const firstReady = await new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (d) => {
        out += d;
        const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
        if (m) getStatus(Number(m[1]), '/ready').then(resolve, reject);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
    });
    assert.equal(firstReady, 200, `/ready at the first chance:\n${out}`);
    // Runs are created in the background (a down MLflow must not hold up the start): wait for both.
    let runs = await runsOf(join(dir, 'mlruns'), 'start_order');
    for (let i = 0; i < 200 && runs.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
      runs = await runsOf(join(dir, 'mlruns'), 'start_order');
    }
    assert.equal(runs.length, 2, 'one run per model');
    for (const run of runs) {
      assert.ok(Number(run.meta.start_time) >= spawnedAt + WARM_MS, `run opened ${Number(run.meta.start_time) - spawnedAt} ms after spawn, before the ${WARM_MS} ms warm-up ended`);
    }
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a start that fails after the MLflow runs opened (port taken) exits non-zero and ends the runs FAILED', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctr-start-failed-'));
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
  const port = (squatter.address() as AddressInfo).port;
  try {
    await assert.rejects(startServerProcess({
      FRONT_END: 'native-free', PORT: String(port), WORKERS: '1', DATA_DIR: dir,
      MLFLOW_TRACKING_URI: `file:${join(dir, 'mlruns')}`, MLFLOW_EXPERIMENT_NAME: 'start_failed', MLFLOW_FLUSH_INTERVAL_MS: '60000',
    }), /server exited with [1-9]\d* before ready/);
    const runs = await runsOf(join(dir, 'mlruns'), 'start_failed');
    assert.equal(runs.length, 2, 'the runs were opened (after warm-up) before listening failed');
    for (const run of runs) assert.equal(String(run.meta.status), '4', `run ${run.meta.run_name ?? ''} FAILED (4), not FINISHED (3)`);
  } finally {
    squatter.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
