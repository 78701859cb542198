// The request-error contract both front ends keep (api/ on uWS and the
// native-free node:http one): test/serving_errors.test.ts and
// test/native_free_server.test.ts run it against their server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pack } from 'msgpackr';
import type { ServerProcess } from './server_process.js';
import { TestClient, type Reply } from './http_client.js';

export const REQUEST_ERRORS_ENV = { MAX_BODY_BYTES: '4096', MAX_BATCH_REQUESTS: '10' };

export const GOOD = { user_id: 'user_1', ad_id: 'ad_1', device: 'mobile', placement: 'header', context: { hour: 13 } };

export function assertError(r: Reply, status: number, code: string, field?: string): void {
  assert.equal(r.status, status, `status for ${code}: ${JSON.stringify(r.body)}`);
  assert.equal(typeof r.body, 'object');
  assert.equal(r.body.error.code, code);
  assert.equal(typeof r.body.error.message, 'string');
  assert.ok(r.body.error.message.length > 0);
  if (field !== undefined) {
    assert.equal(r.body.error.field, field);
    assert.ok(r.body.error.message.includes(field), `message names ${field}: ${r.body.error.message}`);
  }
}

export async function assertStillServing(client: TestClient): Promise<void> {
  const r = await client.postJson('/predict_ctr', GOOD);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.ok(r.body.ctr > 0 && r.body.ctr < 1);
  assert.equal((await client.get('/ready')).status, 200);
}

/**
 * Bad input as users send it, against a server started by `start` with
 * MAX_BODY_BYTES=4096 and MAX_BATCH_REQUESTS=10 (REQUEST_ERRORS_ENV): every
 * error has the spec's body and status, and the server keeps serving.
 */
export function describeRequestErrors(name: string, start: (env: Record<string, string>) => Promise<ServerProcess>): void {
  describe(name, () => {
    let server: ServerProcess;
    let client: TestClient;
    before(async () => {
      server = await start(REQUEST_ERRORS_ENV);
      client = new TestClient(server.url, 4);
    });
    after(async () => {
      await client.close();
      assert.equal(await server.stop(), 0);
    });

    test('malformed bodies → 400 invalid_request naming the body', async () => {
      for (const body of ['{bad', '', 'null', '[1,2]', '"text"', '42', '{"user_id":"u"']) {
        const r = await client.request('POST', '/predict_ctr', { body, headers: { 'content-type': 'application/json' } });
        assert.equal(r.status, 400, body);
        assert.equal(r.body.error.code, 'invalid_request');
      }
      const badPack = await client.request('POST', '/predict_ctr', { body: Buffer.from([0xc1, 0xff, 0x00]), headers: { 'content-type': 'application/msgpack' } });
      assertError(badPack, 400, 'invalid_request', 'body');
    });

    test('missing or wrongly typed fields → 400 naming the field', async () => {
      for (const field of ['user_id', 'ad_id', 'device', 'placement']) {
        const missing: Record<string, unknown> = { ...GOOD };
        delete missing[field];
        assertError(await client.postJson('/predict_ctr', missing), 400, 'invalid_request', field);
        assertError(await client.postJson('/predict_ctr', { ...GOOD, [field]: 7 }), 400, 'invalid_request', field);
        assertError(await client.postJson('/predict_ctr', { ...GOOD, [field]: '' }), 400, 'invalid_request', field);
        assertError(await client.postJson('/predict_ctr', { ...GOOD, [field]: 'x'.repeat(300) }), 400, 'invalid_request', field);
      }
      assertError(await client.postJson('/predict_ctr', { ...GOOD, model: 5 }), 400, 'invalid_request', 'model');
      assertError(await client.postJson('/predict_ctr', { ...GOOD, context: 'evening' }), 400, 'invalid_request', 'context');
      assertError(await client.postJson('/predict_ctr', { ...GOOD, context: [13] }), 400, 'invalid_request', 'context');
      assertError(await client.postJson('/predict_ctr', { ...GOOD, context: { hour: '13' } }), 400, 'invalid_request', 'context.hour');
      assertError(await client.postJson('/predict_ctr', { ...GOOD, context: { hour: 24.5 } }), 400, 'invalid_request', 'context.hour');
      assertError(await client.postJson('/predict_ctr', { ...GOOD, context: { hour: -1 } }), 400, 'invalid_request', 'context.hour');
      // msgpack can carry what JSON cannot
      assertError(await client.postMsgpack('/predict_ctr', { ...GOOD, context: { hour: NaN } }), 400, 'invalid_request', 'context.hour');
      assertError(await client.postMsgpack('/predict_ctr', { ...GOOD, user_id: Buffer.from('user_1') }), 400, 'invalid_request', 'user_id');
    });

    test('unknown fields and unknown context keys are ignored; null optional fields mean absent', async () => {
      const r = await client.postJson('/predict_ctr', { ...GOOD, extra: true, context: { hour: 3, weather: 'rain' }, model: null });
      assert.equal(r.status, 200);
    });

    test('unknown model → 404 model_not_found', async () => {
      assertError(await client.postJson('/predict_ctr', { ...GOOD, model: 'gbdt_v9' }), 404, 'model_not_found', 'model');
    });

    test('oversize body → 413 payload_too_large', async () => {
      const big = JSON.stringify({ ...GOOD, padding: 'x'.repeat(5000) });
      assertError(await client.request('POST', '/predict_ctr', { body: big, headers: { 'content-type': 'application/json' } }), 413, 'payload_too_large');
    });

    test('wrong media type → 415 unsupported_media_type, naming the types that work', async () => {
      for (const type of ['application/xml', 'image/png']) {
        const r = await client.request('POST', '/predict_ctr', { body: JSON.stringify(GOOD), headers: { 'content-type': type } });
        assertError(r, 415, 'unsupported_media_type');
        assert.match(r.body.error.message, /application\/json.*application\/msgpack/);
      }
      // parameters on the JSON type are fine
      const ok = await client.request('POST', '/predict_ctr', { body: JSON.stringify(GOOD), headers: { 'content-type': 'application/json; charset=utf-8' } });
      assert.equal(ok.status, 200);
    });

    test('JSON sent as text/plain or a form type (curl -d) is read as JSON; a real form body is a 400 saying why', async () => {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'text/plain; charset=utf-8']) {
        const r = await client.request('POST', '/predict_ctr', { body: JSON.stringify(GOOD), headers: { 'content-type': type } });
        assert.equal(r.status, 200, `${type}: ${r.raw}`);
        assert.equal(typeof r.body.ctr, 'number');
      }
      const form = await client.request('POST', '/predict_ctr', { body: 'user_id=u1&ad_id=a1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      assertError(form, 400, 'invalid_request', 'body');
      assert.match(form.body.error.message, /read as JSON/);
    });

    test('batch envelope and items are validated, naming the item', async () => {
      assertError(await client.postJson('/predict_ctr/batch', { requests: 'all' }), 400, 'invalid_request', 'requests');
      assertError(await client.postJson('/predict_ctr/batch', { requests: [] }), 400, 'invalid_request', 'requests');
      assertError(await client.postJson('/predict_ctr/batch', [GOOD]), 400, 'invalid_request', 'body');
      const items = [GOOD, GOOD, GOOD, { ...GOOD, device: 3 }];
      assertError(await client.postJson('/predict_ctr/batch', { requests: items }), 400, 'invalid_request', 'requests[3].device');
      assertError(await client.postJson('/predict_ctr/batch', { requests: [GOOD, { ...GOOD, model: 'nope' }] }), 404, 'model_not_found', 'requests[1].model');
      assertError(await client.postJson('/predict_ctr/batch', { requests: Array(11).fill(GOOD) }), 413, 'payload_too_large', 'requests');
    });

    test('unknown routes → 404 not_found; wrong method → 405 with Allow', async () => {
      assertError(await client.get('/predict'), 404, 'not_found');
      const r = await client.get('/predict_ctr');
      assertError(r, 405, 'method_not_allowed');
      assert.equal(r.headers.allow, 'POST');
    });

    test('errors come as msgpack when Accept asks for it', async () => {
      const r = await client.request('POST', '/predict_ctr', { body: pack({ ...GOOD, device: 1 }), headers: { 'content-type': 'application/msgpack', accept: 'application/msgpack' } });
      assert.match(String(r.headers['content-type']), /msgpack/);
      assertError(r, 400, 'invalid_request', 'device');
    });

    test('after all of that the server still serves', async () => {
      await assertStillServing(client);
    });
  });
}
