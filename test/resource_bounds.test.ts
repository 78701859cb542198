// Issue 14 item 12: stream connections are capped (STREAM_MAX_CONNECTIONS,
// 503 overloaded past it, a slot freed by a close is usable again), and
// baseline values are bounded (1e308 and friends get 400 naming the field).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';
import { assertError } from './support/request_errors.js';
import { WsClient, WsHandshakeError } from '../bench/lib/ws_client.js';

describe('bounded resources (uWS)', () => {
  let server: ServerProcess;
  let client: TestClient;
  before(async () => {
    server = await startServerProcess({ WORKERS: '1', STREAM_MAX_CONNECTIONS: '2' }, 60_000);
    client = new TestClient(server.url, 2);
  });
  after(async () => {
    await client.close();
    assert.equal(await server.stop(), 0);
  });

  test('STREAM_MAX_CONNECTIONS=2: a third stream connection gets 503 overloaded; a freed slot is usable again', async () => {
    const url = `ws://127.0.0.1:${server.port}/monitoring/stream`;
    const a = await WsClient.connect(url);
    const b = await WsClient.connect(url);
    await assert.rejects(WsClient.connect(url), (err: unknown) => {
      assert.ok(err instanceof WsHandshakeError, String(err));
      assert.equal(err.status, 503);
      const body = JSON.parse(err.body);
      assert.equal(body.error.code, 'overloaded');
      assert.match(body.error.message, /STREAM_MAX_CONNECTIONS/);
      return true;
    });
    await a.close();
    // The server sees the close shortly after; retry until the slot is free (a guard, not a timing assertion).
    let c: WsClient | null = null;
    for (let i = 0; i < 100 && c === null; i++) {
      c = await WsClient.connect(url).catch(() => null);
      if (c === null) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(c !== null, 'a closed connection frees its slot');
    await c.close();
    await b.close();
    const stats = await client.get('/metrics');
    assert.match(stats.body, /stream/);
  });

  test('baseline values beyond their bounds get 400 naming the field', async () => {
    const good = { model_name: 'xgboost', mean_prediction: 0.02, std_prediction: 0.01, mean_latency_ms: 5, std_latency_ms: 1 };
    const cases: [string, number][] = [
      ['mean_latency_ms', 1e308], ['std_latency_ms', 1e308], ['mean_prediction', 1e308], ['std_prediction', 1e308],
      ['mean_prediction', 1.5], ['std_prediction', 2], ['mean_latency_ms', 3_600_001],
    ];
    for (const [field, value] of cases) {
      assertError(await client.postJson('/monitoring/baseline', { ...good, [field]: value }), 400, 'invalid_request', field);
    }
    assert.equal((await client.postJson('/monitoring/baseline', good)).status, 200);
    assert.equal((await client.postJson('/monitoring/baseline', { ...good, mean_prediction: 1, std_prediction: 1, mean_latency_ms: 3_600_000 })).status, 200);
  });
});
