// A model this project did not produce (skl2onnx's logistic regression on
// Iris, shared/fixtures) loads through the registry and serves: its ZipMap
// output cannot be returned by onnxruntime-node, so the engine must fetch
// only the output the manifest names.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';

const MODELS_DIR = fileURLToPath(new URL('../../test/fixtures/external_models', import.meta.url));
let server: ServerProcess;
let client: TestClient;

before(async () => {
  server = await startServerProcess({ MODELS_DIR, WORKERS: '2' });
  client = new TestClient(server.url, 4);
});
after(async () => {
  await client.close();
  await server.stop();
});

test('skl2onnx LogisticRegression: labels [0, 2, 1] for the documented inputs', async () => {
  const inputs = [[5.1, 3.5], [6.7, 3.0], [5.9, 3.0]];
  const requests = inputs.map(([a, b]) => ({ user_id: 'u', ad_id: 'a', device: 'd', placement: 'p', context: { sepal_length: a, sepal_width: b } }));
  const r = await client.postJson('/predict_ctr/batch', { requests });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.predictions.map((p: { ctr: number }) => p.ctr), [0, 2, 1]);
  assert.equal(r.body.predictions[0].model, 'iris_label');
  const models = await client.get('/models');
  assert.equal(models.body.models[0].version, 'skl2onnx-1.11.2');
});
