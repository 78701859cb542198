// PUT /ab against the real server: the split changes at run time (observed
// over many user ids through the real router and batcher), stays sticky per
// user, shows in GET /models, GET /ab and the stream's hello; bad weights get
// a 400 naming the field and change nothing; with AB_WEIGHTS_PERSIST the
// weights survive a restart, without it they do not.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unpack } from 'msgpackr';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';
import { WsClient, type WsMessage } from '../bench/lib/ws_client.js';

const JSON_TYPE = { 'content-type': 'application/json' };
const row = (i: number) => ({ user_id: `user_${i}`, ad_id: `ad_${i % 97}`, device: 'mobile', placement: 'feed' });

async function put(client: TestClient, body: unknown, headers: Record<string, string> = JSON_TYPE) {
  return client.request('PUT', '/ab', { body: typeof body === 'string' ? body : JSON.stringify(body), headers });
}

/** Share of `n` distinct users routed to each model (no model named), through /predict_ctr/batch. */
async function observedShare(client: TestClient, n: number, offset = 0): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let start = 0; start < n; start += 500) {
    const requests = Array.from({ length: Math.min(500, n - start) }, (_, i) => row(offset + start + i));
    const r = await client.postJson('/predict_ctr/batch', { requests });
    assert.equal(r.status, 200, JSON.stringify(r.body).slice(0, 300));
    for (const p of r.body.predictions) counts.set(p.model, (counts.get(p.model) ?? 0) + 1);
  }
  return new Map([...counts].map(([k, v]) => [k, v / n]));
}

const weightOf = async (client: TestClient, name: string) =>
  (await client.get('/models')).body.models.find((m: { name: string }) => m.name === name).ab_weight as number;

describe('PUT /ab', () => {
  let data: string;
  let server: ServerProcess;
  let client: TestClient;

  before(async () => {
    data = mkdtempSync(join(tmpdir(), 'ctr-ab-'));
    server = await startServerProcess({ DATA_DIR: data, AB_WEIGHTS_PERSIST: 'on', MODELS_WATCH: 'off' });
    client = new TestClient(server.url, 4);
  });
  after(async () => {
    await client?.close();
    await server?.stop();
    rmSync(data, { recursive: true, force: true });
  });

  it('changes the observed split over many users, sticky per user, and shows it in /models, /ab and the stream hello', async () => {
    assert.equal(await weightOf(client, 'xgboost'), 0.5);
    const before = await observedShare(client, 4000);
    assert.ok(Math.abs((before.get('xgboost') ?? 0) - 0.5) < 0.05, `even split: ${[...before]}`);

    const r = await put(client, { weights: { xgboost: 0.9, logistic: 0.1 } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.weights, { logistic: 0.1, xgboost: 0.9 });
    assert.equal(await weightOf(client, 'xgboost'), 0.9);
    assert.equal(await weightOf(client, 'logistic'), 0.1);
    assert.deepEqual((await client.get('/ab')).body.configured, { xgboost: 0.9, logistic: 0.1 });

    const after = await observedShare(client, 4000);
    // 4000 users: the binomial standard deviation of the share is under 0.005.
    assert.ok(Math.abs((after.get('xgboost') ?? 0) - 0.9) < 0.03, `90/10 split observed: ${[...after]}`);
    // Sticky: the same users, asked again, land where they did.
    const again = await observedShare(client, 4000);
    assert.equal(again.get('xgboost'), after.get('xgboost'));

    // Relative weights, and a model left out gets nothing.
    assert.equal((await put(client, { weights: { logistic: 3 } })).status, 200);
    const only = await observedShare(client, 1000, 10_000);
    assert.equal(only.get('logistic'), 1);
    assert.equal(await weightOf(client, 'xgboost'), 0);

    // A new stream client's hello carries the split in force.
    const decode = (m: WsMessage) => (m.binary ? unpack(m.data) : JSON.parse(m.data.toString('utf8')));
    const ws = await WsClient.connect(`ws://127.0.0.1:${server.port}/monitoring/stream?interval=1000&format=msgpack`);
    const hello = decode(await ws.next());
    assert.equal(hello.type, 'hello');
    assert.deepEqual(hello.settings.ab_weights, { xgboost: 0, logistic: 1 });
    // A client already connected gets a settings frame when the split changes.
    assert.equal((await put(client, { weights: { xgboost: 1, logistic: 1 } })).status, 200);
    let frame = decode(await ws.next());
    while (frame.type !== 'settings') frame = decode(await ws.next());
    assert.deepEqual(frame.settings.ab_weights, { xgboost: 0.5, logistic: 0.5 });
    await ws.close();
  });

  it('refuses bad weights with a 400 naming the field, and the split stays', async () => {
    assert.equal((await put(client, { weights: { xgboost: 1, logistic: 1 } })).status, 200);
    const cases: [unknown, string][] = [
      [{}, 'weights'],
      [{ weights: [1, 2] }, 'weights'],
      [{ weights: {} }, 'weights'],
      [{ weights: { nope: 1 } }, 'weights.nope'],
      [{ weights: { xgboost: -0.5 } }, 'weights.xgboost'],
      [{ weights: { xgboost: '0.5' } }, 'weights.xgboost'],
      ['{"weights": {"logistic": 1e999}}', 'weights.logistic'],
      [{ weights: { xgboost: 0, logistic: 0 } }, 'weights'],
    ];
    for (const [body, field] of cases) {
      const r = await put(client, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'invalid_request');
      assert.equal(r.body.error.field, field, JSON.stringify(r.body));
    }
    const bad = await put(client, '{"weights": ', JSON_TYPE);
    assert.equal(bad.status, 400);
    const untyped = await put(client, { weights: { xgboost: 1 } }, {});
    assert.equal(untyped.status, 415);
    assert.equal(await weightOf(client, 'xgboost'), 0.5, 'no bad request changed the split');
    assert.equal((await client.postJson('/predict_ctr', row(1))).status, 200);
  });

  it('persists across a restart with AB_WEIGHTS_PERSIST=on, and only then', async () => {
    assert.equal((await put(client, { weights: { xgboost: 0.25, logistic: 0.75 } })).status, 200);
    const file = join(data, 'ab_weights.json');
    assert.ok(existsSync(file));
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).weights, { xgboost: 0.25, logistic: 0.75 });
    await client.close();
    await server.stop();

    server = await startServerProcess({ DATA_DIR: data, AB_WEIGHTS_PERSIST: 'on', MODELS_WATCH: 'off', AB_WEIGHTS: 'xgboost=1,logistic=1' });
    client = new TestClient(server.url, 4);
    assert.equal(await weightOf(client, 'xgboost'), 0.25);
    await client.close();
    await server.stop();

    server = await startServerProcess({ DATA_DIR: data, MODELS_WATCH: 'off' });
    client = new TestClient(server.url, 4);
    assert.equal(await weightOf(client, 'xgboost'), 0.5, 'persistence off: the saved file is not read');
  });

  it('needs the admin token when one is set', async () => {
    const s = await startServerProcess({ ADMIN_TOKEN: 'sesame', MODELS_WATCH: 'off' });
    const c = new TestClient(s.url, 2);
    try {
      const no = await put(c, { weights: { xgboost: 1 } });
      assert.equal(no.status, 401);
      const yes = await put(c, { weights: { xgboost: 1 } }, { ...JSON_TYPE, authorization: 'Bearer sesame' });
      assert.equal(yes.status, 200);
      const reload = await c.request('POST', '/models/xgboost/reload', { headers: JSON_TYPE });
      assert.equal(reload.status, 401);
    } finally {
      await c.close();
      await s.stop();
    }
  });
});
