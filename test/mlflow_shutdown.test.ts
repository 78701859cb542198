// A real process with a sink: SIGTERM → final flush → runs FINISHED → clean exit.
// (The server's own SIGTERM test belongs with the server; this covers the sink's part.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listExperiments, listRunDirs, readRun } from '../engine/mlflow/file_reader.js';

const INDEX = fileURLToPath(new URL('../engine/mlflow/index.js', import.meta.url));

const CHILD = `
import { createMlflowSink } from ${JSON.stringify(INDEX)};
const sink = createMlflowSink({ trackingUri: process.argv[1], experimentName: 'shutdown' });
await sink.startRuns([{ name: 'm', version: '1' }], { flush_interval_s: '10' }, {});
let step = 0;
const timer = setInterval(() => sink.record('m', { 'requests/window_1m': step++ }, Date.now()), 20);
process.once('SIGTERM', async () => {
  clearInterval(timer);
  sink.record('m', { 'requests/window_1m': step++ }, Date.now());
  const s = await sink.close({ deadlineMs: 2000 });
  process.stdout.write(JSON.stringify({ ...s, steps: step }));
  process.exit(0);
});
process.stdout.write('ready\\n');
`;

test('SIGTERM: final flush, runs FINISHED, exit 0', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mlflow-sigterm-'));
  try {
    const mlruns = join(root, 'mlruns');
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, mlruns], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    await new Promise<void>((resolve) => { const t = setInterval(() => { if (out.includes('ready')) { clearInterval(t); resolve(); } }, 10); });
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 0);
    const stats = JSON.parse(out.slice(out.indexOf('{'))) as { delivered: number; dropped: number; pending: number; steps: number };
    assert.equal(stats.dropped, 0);
    assert.equal(stats.pending, 0);
    assert.equal(stats.delivered, stats.steps);
    const exp = (await listExperiments(mlruns)).find((e) => e.meta.name === 'shutdown');
    assert.ok(exp);
    const run = await readRun((await listRunDirs(exp.dir))[0]);
    assert.equal(run.meta.status, 3);
    assert.equal(run.metrics['requests/window_1m'].length, stats.steps, 'the final flush landed');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
