// The real server process logs to MLflow's file store from its coordinator
// thread, and on SIGTERM makes a final flush, ends its runs FINISHED and
// exits 0 — one run per model, side by side in one experiment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listExperiments, listRunDirs, readRun } from '../engine/mlflow/file_reader.js';
import { createTrafficSampler } from '../bench/lib/traffic_sampler.js';
import { startServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';

test('SIGTERM: final flush (workers still alive, healthy), runs FINISHED, exit 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctr-mlflow-'));
  try {
    const root = join(dir, 'mlruns');
    const server = await startServerProcess({
      MLFLOW_TRACKING_URI: `file:${root}`, MLFLOW_EXPERIMENT_NAME: 'ctr_shutdown_test', MLFLOW_FLUSH_INTERVAL_MS: '60000',
      MONITOR_TICK_MS: '200', DATA_DIR: dir,
      // Health here should reflect the stop sequence only, not this box's load on the latency objective.
      LATENCY_OBJECTIVE_MS: '60000',
    });
    const client = new TestClient(server.url, 16);
    const sampler = createTrafficSampler({ seed: 8 });
    const counts = new Map<string, number>();
    for (const r of await Promise.all(Array.from({ length: 400 }, () => client.postJson('/predict_ctr', sampler.next())))) {
      assert.equal(r.status, 200);
      counts.set(r.body.model, (counts.get(r.body.model) ?? 0) + 1);
    }
    await client.close();
    // The flush interval is a minute: whatever reaches MLflow comes from the shutdown flush.
    assert.equal(await server.stop(), 0, server.output());

    const experiments = await listExperiments(root);
    const exp = experiments.find((e) => e.meta.name === 'ctr_shutdown_test');
    assert.ok(exp, `experiments: ${experiments.map((e) => e.meta.name).join(', ')}`);
    assert.ok(experiments.some((e) => e.id === '0'), 'the Default experiment exists, as MLflow creates it');
    const runs = await Promise.all((await listRunDirs(exp.dir)).map(readRun));
    assert.equal(runs.length, 2, 'one run per model');
    for (const run of runs) {
      const model = run.tags.model ?? run.tags['ctr.model'];
      assert.ok(model && counts.has(model), JSON.stringify(run.tags));
      assert.equal(String(run.meta.status), '3', 'FINISHED');
      assert.ok(Number(run.meta.end_time) >= Number(run.meta.start_time));
      const total = run.metrics['lifetime/successful_requests'];
      assert.ok(total && total.length >= 1, Object.keys(run.metrics).slice(0, 10).join(', '));
      assert.equal(total[total.length - 1].value, counts.get(model), `${model}: the final flush carries all traffic`);
      assert.equal(run.params.workers, '2');
      // A clean stop's last point shows the server as it was while serving: the
      // final flush happens before the pool closes.
      const last = (key: string) => run.metrics[key]?.at(-1)?.value;
      assert.equal(last('workers/alive'), 2, `${model}: workers/alive at the final flush`);
      assert.equal(last('health'), 0, `${model}: health at the final flush (0 = healthy)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
