// Thousands of concurrent requests across several workers, singles and
// batches on both models: every one answered 200 with a plausible CTR, no
// crash, and the answers still match a sequential run.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTrafficSampler } from '../bench/lib/traffic_sampler.js';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';

let server: ServerProcess;
let client: TestClient;

before(async () => {
  server = await startServerProcess({ WORKERS: '3', BATCH_MAX_SIZE: '64' });
  client = new TestClient(server.url, 256);
});
after(async () => {
  await client.close();
  assert.equal(await server.stop(), 0, server.output());
});

test('4000 concurrent requests over 256 connections and 3 workers: no error, same answers as one by one', async () => {
  const sampler = createTrafficSampler({ seed: 99 });
  const singles = Array.from({ length: 3600 }, () => sampler.next());
  const batches = Array.from({ length: 40 }, () => Array.from({ length: 10 }, () => sampler.next()));
  const [singleReplies, batchReplies] = await Promise.all([
    Promise.all(singles.map((r) => client.postJson('/predict_ctr', r))),
    Promise.all(batches.map((b) => client.postJson('/predict_ctr/batch', { requests: b }))),
  ]);
  const statuses = new Map<number, number>();
  for (const r of [...singleReplies, ...batchReplies]) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
  assert.deepEqual([...statuses], [[200, singles.length + batches.length]]);
  for (const r of singleReplies) assert.ok(r.body.ctr > 0 && r.body.ctr < 1);
  // Under load rows share batches with strangers; the answer must not change.
  for (let i = 0; i < singles.length; i += 97) {
    const alone = await client.postJson('/predict_ctr', singles[i]);
    assert.equal(alone.body.ctr, singleReplies[i].body.ctr, `request ${i}`);
    assert.equal(alone.body.model, singleReplies[i].body.model);
  }
  for (let b = 0; b < batches.length; b += 7) {
    assert.equal(batchReplies[b].body.predictions.length, 10);
    const alone = await client.postJson('/predict_ctr', batches[b][4]);
    assert.equal(alone.body.ctr, batchReplies[b].body.predictions[4].ctr);
  }
  assert.equal((await client.get('/ready')).status, 200);
});
