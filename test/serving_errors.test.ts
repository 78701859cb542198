// Bad input as users send it: every error has the spec's body and status,
// and the server keeps serving afterwards.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';
import { assertError, assertStillServing, describeRequestErrors, GOOD } from './support/request_errors.js';

describeRequestErrors('request errors', (env) => startServerProcess(env));

describe('overload → 503 overloaded with Retry-After', () => {
  let server: ServerProcess;
  let client: TestClient;
  before(async () => {
    // One slow worker and a tiny queue: a burst must be shed, not queued without bound.
    server = await startServerProcess({ WORKERS: '1', QUEUE_BOUND: '4', BATCH_MAX_SIZE: '2', INJECT_INFERENCE_DELAY_MS: '40' });
    client = new TestClient(server.url, 64);
  });
  after(async () => {
    await client.close();
    assert.equal(await server.stop(), 0);
  });

  test('a burst beyond the queue bound is shed, the rest answered', async () => {
    const replies = await Promise.all(Array.from({ length: 60 }, () => client.postJson('/predict_ctr', { ...GOOD, model: 'xgboost' })));
    const shed = replies.filter((r) => r.status === 503);
    const ok = replies.filter((r) => r.status === 200);
    assert.ok(shed.length > 0, 'some requests were shed');
    assert.ok(ok.length > 0, 'some requests were served');
    assert.equal(shed.length + ok.length, replies.length, 'nothing else than 200 or 503');
    for (const r of shed) {
      assertError(r, 503, 'overloaded');
      assert.equal(r.headers['retry-after'], '1');
    }
    await assertStillServing(client);
  });
});

describe('deadline → 504 deadline_exceeded', () => {
  let server: ServerProcess;
  let client: TestClient;
  before(async () => {
    server = await startServerProcess({ WORKERS: '1', REQUEST_DEADLINE_MS: '30', INJECT_INFERENCE_DELAY_MS: '120' });
    client = new TestClient(server.url, 8);
  });
  after(async () => {
    await client.close();
    assert.equal(await server.stop(), 0);
  });

  test('a request whose inference outlives the deadline gets 504, single and batch', async () => {
    const started = performance.now();
    assertError(await client.postJson('/predict_ctr', GOOD), 504, 'deadline_exceeded');
    // answered by the deadline sweep, not after the slow inference finished
    assert.ok(performance.now() - started < 120 + 100);
    assertError(await client.postJson('/predict_ctr/batch', { requests: [GOOD, GOOD] }), 504, 'deadline_exceeded');
    assert.equal((await client.get('/ready')).status, 200);
    assert.equal((await client.get('/models')).status, 200);
  });
});
