// The local file store: exact files for a known flush sequence (golden), read
// back the way MLflow's FileStore reads them, atomic writes, and crash recovery.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createMlflowSink } from '../engine/mlflow/index.js';
import { FileTrackingStore, resolveFileStoreRoot } from '../engine/mlflow/file_store.js';
import { listExperiments, listRunDirs, readRun } from '../engine/mlflow/file_reader.js';
import { parseFlatYaml } from '../engine/mlflow/yaml.js';

const FIXTURE = new URL('../../test/fixtures/mlflow_golden_file_store.json', import.meta.url);

function fixedClock(start: number) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

async function tree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(d: string): Promise<void> {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) { out[relative(root, p).split(sep).join('/') + '/'] = ''; await walk(p); }
      else out[relative(root, p).split(sep).join('/')] = await readFile(p, 'utf8');
    }
  }
  await walk(root);
  return out;
}

/** Replaces what differs run to run (ids, temp path, pid, user) with placeholders. */
function normalise(files: Record<string, string>, root: string, expId: string, runId: string, user: string): Record<string, string> {
  const rootUri = pathToFileURL(root).href;
  const swap = (s: string) => s.split(rootUri).join('file://<ROOT>').split(expId).join('<EXP>').split(runId).join('<RUN>')
    .replace(/^user_id: .*$/m, 'user_id: <USER>');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(files)) {
    let value = swap(v);
    if (k.endsWith('tags/pid')) value = '<PID>';
    if (k.endsWith('tags/instance_id')) value = '<INSTANCE>';
    if (k.endsWith('tags/mlflow.user')) value = value === user ? '<USER>' : value;
    out[swap(k)] = value;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

async function goldenRun(root: string) {
  const clock = fixedClock(Date.UTC(2025, 0, 2, 3, 4, 5, 678));
  const sink = createMlflowSink({ trackingUri: `file:${root}`, experimentName: 'ctr_prediction_production', clock,
    host: 'testhost', engineVersion: '0.1.0' });
  await sink.startRuns([{ name: 'xgboost', version: '1' }], { flush_interval_s: '10', workers: '2' }, { deployment: 'golden' });
  const t0 = clock.now();
  sink.record('xgboost', { 'requests/window_1m': 120, 'latency_ms/end_to_end/p99': 0.1, error_rate: 1e-5, health: 2 }, t0 + 10_000);
  sink.record('xgboost', { 'requests/window_1m': 130.5, 'latency_ms/end_to_end/p99': NaN, error_rate: 0, health: 1 }, t0 + 20_000);
  sink.record('xgboost', { 'requests/window_1m': 1e16, 'latency_ms/end_to_end/p99': Infinity, error_rate: -Infinity, health: 0 }, t0 + 30_000);
  await sink.idle();
  clock.advance(40_000);
  const stats = await sink.close({ deadlineMs: 2000 });
  return stats;
}

test('file store golden: exact files for a known flush sequence', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mlflow-golden-'));
  try {
    const mlruns = join(root, 'mlruns');
    const stats = await goldenRun(mlruns);
    assert.equal(stats.delivered, 3);
    assert.equal(stats.dropped, 0);
    const exps = (await listExperiments(mlruns)).filter((e) => e.id !== '0');
    assert.equal(exps.length, 1);
    assert.match(exps[0].id, /^[1-9]\d{17}$/, 'experiment ids are 18 digits like _generate_unique_integer_id');
    const runDirs = await listRunDirs(exps[0].dir);
    assert.equal(runDirs.length, 1);
    const runId = runDirs[0].split(sep).pop() as string;
    assert.match(runId, /^[0-9a-f]{32}$/);
    const { userInfo } = await import('node:os');
    const got = normalise(await tree(mlruns), mlruns, exps[0].id, runId, userInfo().username);
    if (process.env.UPDATE_GOLDEN === '1') await writeFile(FIXTURE, JSON.stringify(got, null, 2) + '\n');
    const want = JSON.parse(await readFile(FIXTURE, 'utf8')) as Record<string, string>;
    assert.deepEqual(got, want);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('reader parses the files back the way MLflow FileStore does', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mlflow-reader-'));
  try {
    const mlruns = join(root, 'mlruns');
    await goldenRun(mlruns);
    const defaultExp = parseFlatYaml(await readFile(join(mlruns, '0', 'meta.yaml'), 'utf8'));
    assert.deepEqual({ ...defaultExp, creation_time: 0, last_update_time: 0 }, {
      artifact_location: pathToFileURL(join(mlruns, '0')).href, creation_time: 0, experiment_id: '0',
      last_update_time: 0, lifecycle_stage: 'active', name: 'Default',
    });
    assert.ok((await stat(join(mlruns, '.trash'))).isDirectory());
    const exp = (await listExperiments(mlruns)).find((e) => e.meta.name === 'ctr_prediction_production');
    assert.ok(exp);
    const run = await readRun((await listRunDirs(exp.dir))[0]);
    assert.equal(run.meta.status, 3, 'FINISHED is 3 in the persisted enum');
    assert.equal(run.meta.experiment_id, exp.id);
    assert.equal(run.meta.source_type, 4);
    assert.equal(typeof run.meta.start_time, 'number');
    assert.equal(run.meta.end_time, (run.meta.start_time as number) + 40_000);
    const p99 = run.metrics['latency_ms/end_to_end/p99'];
    assert.equal(p99.length, 3);
    assert.equal(p99[0].value, 0.1);
    assert.ok(Number.isNaN(p99[1].value));
    assert.equal(p99[2].value, Infinity);
    assert.deepEqual(p99.map((m) => m.step), [0, 1, 2]);
    assert.deepEqual(run.metrics.error_rate.map((m) => m.value), [1e-5, 0, -Infinity]);
    assert.deepEqual(run.params, { flush_interval_s: '10', workers: '2' });
    assert.equal(run.tags.model, 'xgboost');
    assert.equal(run.tags.model_version, '1');
    assert.equal(run.tags.host, 'testhost');
    assert.equal(run.tags.engine_version, '0.1.0');
    assert.equal(run.tags.deployment, 'golden');
    assert.equal(run.tags['mlflow.runName'], run.meta.run_name);
    assert.match(String(run.meta.run_name), /^xgboost-v1@testhost-20250102T030405Z$/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('a run left RUNNING by a dead process on this host is ended KILLED at the next start', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mlflow-crash-'));
  try {
    const mlruns = join(root, 'mlruns');
    // A "crashed" server: a run created with a pid that no longer exists, never closed.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
    const store = new FileTrackingStore(mlruns);
    const expId = await store.getOrCreateExperiment('exp');
    const crashed = await store.createRun({ experimentId: expId, runName: 'old', startTime: 1, userId: 'u',
      tags: [{ key: 'host', value: 'h1' }, { key: 'model', value: 'm' }, { key: 'pid', value: String(dead) }] });
    const otherHost = await store.createRun({ experimentId: expId, runName: 'other', startTime: 1, userId: 'u',
      tags: [{ key: 'host', value: 'h2' }, { key: 'model', value: 'm' }, { key: 'pid', value: String(dead) }] });
    const alive = await store.createRun({ experimentId: expId, runName: 'alive', startTime: 1, userId: 'u',
      tags: [{ key: 'host', value: 'h1' }, { key: 'model', value: 'm' }, { key: 'pid', value: String(process.ppid) }] });
    const sink = createMlflowSink({ trackingUri: mlruns, experimentName: 'exp', host: 'h1' });
    await sink.startRuns([{ name: 'm', version: '2' }], {}, {});
    const status = async (runId: string) => (await readRun(join(mlruns, expId, runId))).meta.status;
    assert.equal(await status(crashed.runId), 5, 'KILLED');
    assert.equal((await readRun(join(mlruns, expId, crashed.runId))).tags.end_reason.length > 0, true);
    assert.equal(await status(otherHost.runId), 1, 'another host: unknowable, left alone');
    assert.equal(await status(alive.runId), 1, 'a live process on this host: left alone');
    await sink.close({ deadlineMs: 1000 });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('metric files only ever hold whole lines, even with many concurrent writers', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mlflow-lines-'));
  try {
    const store = new FileTrackingStore(join(root, 'mlruns'));
    const expId = await store.getOrCreateExperiment('e');
    const run = await store.createRun({ experimentId: expId, runName: 'r', startTime: 1, userId: 'u', tags: [] });
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.logBatch(run.runId,
      Array.from({ length: 20 }, (_, j) => ({ key: 'a/b', value: i + j / 100, timestamp: 1000 + i, step: i })), [], [])));
    const r = await readRun(join(root, 'mlruns', expId, run.runId));
    assert.equal(r.metrics['a/b'].length, 1000);
    const text = await readFile(join(root, 'mlruns', expId, run.runId, 'metrics', 'a', 'b'), 'utf8');
    assert.ok(text.endsWith('\n'));
    assert.ok(text.split('\n').slice(0, -1).every((l) => /^\d+ \S+ \d+$/.test(l)));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('file store refuses what MLflow refuses and keeps the rest', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mlflow-refuse-'));
  try {
    const store = new FileTrackingStore(join(root, 'mlruns'));
    const expId = await store.getOrCreateExperiment('e');
    const run = await store.createRun({ experimentId: expId, runName: 'r', startTime: 1, userId: 'u', tags: [] });
    assert.deepEqual(await store.logBatch(run.runId, [], [{ key: 'p', value: '1' }], []), []);
    const rej = await store.logBatch(run.runId, [{ key: '../x', value: 1, timestamp: 1, step: 0 }, { key: 'ok', value: 2, timestamp: 1, step: 0 }],
      [{ key: 'p', value: '2' }], []);
    assert.equal(rej.length, 2);
    assert.match(rej[0].message, /^Changing param values is not allowed\. Param with key='p' was already logged with value='1'/);
    assert.match(rej[1].message, /^Invalid metric name: '\.\.\/x'/);
    const r = await readRun(join(root, 'mlruns', expId, run.runId));
    assert.deepEqual(Object.keys(r.metrics), ['ok']);
    assert.equal(resolveFileStoreRoot(undefined, '/srv'), '/srv/mlruns');
    assert.equal(resolveFileStoreRoot('file:./x', '/srv'), '/srv/x');
    assert.equal(resolveFileStoreRoot('file:///data/mlruns'), '/data/mlruns');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('a key that is also another key\'s folder is refused on its own; the rest of the batch is written', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mlflow-conflict-'));
  try {
    const store = new FileTrackingStore(root);
    const exp = await store.getOrCreateExperiment('conflict');
    const { runId } = await store.createRun({ experimentId: exp, runName: 'r', startTime: 1, userId: 'u', tags: [] });
    const pt = (key: string, step: number) => ({ key, value: step, timestamp: 1000 + step, step });
    assert.deepEqual(await store.logBatch(runId, [pt('health', 0), pt('ok', 0)], [], []), []);
    const rejected = await store.logBatch(runId, [pt('health/error_rate', 1), pt('ok', 1)], [], []);
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0].kind, 'metric');
    assert.equal(rejected[0].key, 'health/error_rate');
    assert.match(rejected[0].message, /conflicts/);
    const exps = await listExperiments(root);
    const run = await readRun((await listRunDirs(exps.find((e) => e.meta.name === 'conflict')!.dir))[0]);
    assert.deepEqual(run.metrics.ok.map((m) => m.step), [0, 1]);
    assert.deepEqual(run.metrics.health.map((m) => m.step), [0]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
