// Baselines are never lost silently (issue 14, item 9): each write is atomic
// and keeps the previous file as baselines.json.prev; a POST whose baseline
// cannot be saved is refused (503 storage_unavailable, with the reason) and
// leaves the baseline in force unchanged; a corrupt baselines.json stops the
// start with a message naming the file, instead of starting empty and letting
// the next POST overwrite it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BaselineFileError, loadBaselines, saveBaselines } from '../engine/coordinator/baseline.js';
import type { Baseline } from '../engine/coordinator/snapshot.js';
import { startServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';
import { GOOD } from './support/request_errors.js';

const MODELS = ['xgboost', 'logistic'];
const base = (mean: number): Baseline => ({
  mean_prediction: mean, std_prediction: 0.01, mean_latency_ms: 2, std_latency_ms: 1, source: 'manual', set_at: '2026-01-01T00:00:00.000Z', model_version: '1',
});
const body = (mean: number) => ({ model_name: 'xgboost', mean_prediction: mean, std_prediction: 0.015, mean_latency_ms: 50, std_latency_ms: 10 });

test('save: the new file replaces the old atomically, the old one is kept as .prev, no temp file is left', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctr-baselines-'));
  try {
    const path = join(dir, 'state', 'baselines.json');
    saveBaselines(path, new Map([['xgboost', base(0.02)]]));
    assert.equal(existsSync(`${path}.prev`), false, 'nothing to keep on the first write');
    saveBaselines(path, new Map([['xgboost', base(0.03)]]));
    assert.equal(loadBaselines(path, MODELS).baselines.get('xgboost')!.mean_prediction, 0.03);
    assert.equal(loadBaselines(`${path}.prev`, MODELS).baselines.get('xgboost')!.mean_prediction, 0.02);
    assert.deepEqual(readdirSync(join(dir, 'state')).sort(), ['baselines.json', 'baselines.json.prev']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('load: a missing file is empty; truncated, non-JSON, wrong-shaped or invalid files are errors naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctr-baselines-'));
  try {
    const path = join(dir, 'baselines.json');
    assert.equal(loadBaselines(path, MODELS).baselines.size, 0);
    saveBaselines(path, new Map([['xgboost', base(0.02)]]));
    const good = readFileSync(path, 'utf8');
    for (const bad of [good.slice(0, good.length / 2), '', 'null', '[]', '{"version":1,"baselines":[]}',
      JSON.stringify({ version: 1, baselines: { xgboost: { ...base(0.02), std_prediction: -1 } } })]) {
      writeFileSync(path, bad);
      assert.throws(() => loadBaselines(path, MODELS), (e: unknown) => e instanceof BaselineFileError && e.message.includes(path), JSON.stringify(bad));
    }
    // A model that is no longer loaded is skipped with a warning, not an error.
    writeFileSync(path, JSON.stringify({ version: 1, baselines: { retired: base(0.02), xgboost: base(0.04) } }));
    const { baselines, warning } = loadBaselines(path, MODELS);
    assert.deepEqual([...baselines.keys()], ['xgboost']);
    assert.match(warning!, /retired/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('server: a baseline that cannot be saved is refused with 503 and the reason; the one in force stays; serving goes on', async () => {
  const root = mkdtempSync(join(tmpdir(), 'ctr-baselines-srv-'));
  const dataDir = join(root, 'data');
  mkdirSync(dataDir);
  const server = await startServerProcess({ DATA_DIR: dataDir, WORKERS: '1' });
  const client = new TestClient(server.url, 2);
  try {
    assert.equal((await client.postJson('/monitoring/baseline', body(0.02))).status, 200);
    assert.equal((await client.postJson('/monitoring/baseline', body(0.03))).status, 200);
    const file = join(dataDir, 'baselines.json');
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).baselines.xgboost.mean_prediction, 0.03);
    assert.equal(JSON.parse(readFileSync(`${file}.prev`, 'utf8')).baselines.xgboost.mean_prediction, 0.02);

    // DATA_DIR becomes unusable: a plain file where the folder was.
    rmSync(dataDir, { recursive: true, force: true });
    writeFileSync(dataDir, 'not a folder');
    const r = await client.postJson('/monitoring/baseline', body(0.05));
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'storage_unavailable');
    assert.match(r.body.error.message, /could not be saved/);
    assert.ok(r.body.error.message.includes(file), r.body.error.message);
    const drift = await client.get('/monitoring/drift/xgboost');
    assert.equal(drift.body.baseline.mean_prediction, 0.03, 'the refused baseline is not in force');
    assert.equal((await client.postJson('/predict_ctr', GOOD)).status, 200);
  } finally {
    await client.close();
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  }
});

test('server: a truncated baselines.json stops the start (exit ≠ 0) with a message naming the file', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ctr-baselines-bad-'));
  try {
    const file = join(dataDir, 'baselines.json');
    writeFileSync(file, '{"version": 1, "baselines": {"xgboost": {"mean_prediction": 0.02, "std_pred');
    await assert.rejects(startServerProcess({ DATA_DIR: dataDir, WORKERS: '1' }), (e: Error) => {
      assert.match(e.message, /server exited with [1-9]\d* before ready/);
      assert.ok(e.message.includes(file), e.message);
      return true;
    });
    assert.match(readFileSync(file, 'utf8'), /std_pred$/, 'the file is left as it was, for the operator');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
