// A worker that dies mid-batch: its rows are answered 500 inference_failed
// (not left hanging), Piscina starts a replacement that attaches and serves,
// and the telemetry the dead worker wrote is kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../engine/config.js';
import { startServer } from '../bin/start_server.js';
import { TestClient } from './support/http_client.js';

const GOOD = { user_id: 'user_1', ad_id: 'ad_1', device: 'mobile', placement: 'header', model: 'logistic' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('killing a worker mid-batch fails only its rows; a replacement serves', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctr-crash-'));
  const cfg = loadConfig({ PORT: '0', WORKERS: '2', DATA_DIR: dir, MONITOR_TICK_MS: '100', INJECT_INFERENCE_DELAY_MS: '150', MLFLOW_TRACKING_URI: `file:${join(dir, 'mlruns')}` }, []);
  const server = await startServer(cfg);
  await server.ready;
  const client = new TestClient(`http://127.0.0.1:${server.port}`, 32);
  try {
    for (let i = 0; i < 10; i++) assert.equal((await client.postJson('/predict_ctr', GOOD)).status, 200);
    await sleep(250);
    const servedBefore = server.monitor.latest().models.logistic.lifetime.successful_requests;
    assert.equal(servedBefore, 10);

    // Two waves, so both workers hold a batch when one is killed.
    const inflight = Array.from({ length: 10 }, () => client.postJson('/predict_ctr', GOOD));
    await sleep(30);
    inflight.push(...Array.from({ length: 10 }, () => client.postJson('/predict_ctr', GOOD)));
    await sleep(30);
    await server.pool.piscina.threads[0].terminate();
    const replies = await Promise.all(inflight);
    const statuses = replies.map((r) => r.status);
    assert.ok(statuses.every((s) => s === 200 || s === 500), statuses.join(','));
    assert.ok(statuses.includes(500), 'the dead worker\'s rows were failed, not left hanging');
    for (const r of replies.filter((x) => x.status === 500)) assert.equal(r.body.error.code, 'inference_failed');

    for (let i = 0; i < 100 && server.pool.threadsAlive < 2; i++) await sleep(50);
    assert.equal(server.pool.threadsAlive, 2, 'a replacement worker attached');
    const after = await Promise.all(Array.from({ length: 10 }, () => client.postJson('/predict_ctr', GOOD)));
    assert.ok(after.every((r) => r.status === 200));
    await sleep(300);
    const served = server.monitor.latest().models.logistic.lifetime.successful_requests;
    assert.equal(served, servedBefore + statuses.filter((s) => s === 200).length + 10, 'no recorded count was lost with the worker');
  } finally {
    await client.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
