// How a failed POST /predict_ctr/batch counts in /monitoring/stats (issue 14,
// item 6; the rule is in README, "Errors"): one error per item, the unit a
// successful batch counts in, under the model the items name, not `unrouted`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';
import { GOOD } from './support/request_errors.js';

let server: ServerProcess;
let client: TestClient;

before(async () => {
  server = await startServerProcess({ WORKERS: '1', MONITOR_TICK_MS: '100', QUEUE_BOUND: '10' });
  client = new TestClient(server.url, 2);
});

after(async () => {
  await client.close();
  await server.stop();
});

interface Counts { xgboost: Record<string, number>; logistic: Record<string, number>; unrouted: Record<string, number>; totals: Record<string, number> }

async function counts(): Promise<Counts> {
  const s = (await client.get('/monitoring/stats')).body;
  return {
    xgboost: s.models.xgboost.errors, logistic: s.models.logistic.errors, unrouted: s.unrouted.errors,
    totals: { xgboost: s.models.xgboost.total_requests, logistic: s.models.logistic.total_requests, unrouted: s.unrouted.total_requests },
  };
}

/** Waits for the monitor to show `check` true (it ticks every 100 ms); returns the counts it saw. */
async function until(what: string, check: (c: Counts) => boolean): Promise<Counts> {
  let c = await counts();
  for (let i = 0; i < 200 && !check(c); i++) {
    await new Promise((r) => setTimeout(r, 50));
    c = await counts();
  }
  assert.ok(check(c), `${what}: ${JSON.stringify(c)}`);
  return c;
}

const items = (n: number, model: string) => Array.from({ length: n }, (_, i) => ({ ...GOOD, user_id: `user_${i}`, model }));

test('a 20-item batch with one bad item: 400, and 20 invalid_request errors under the model the items name', async () => {
  const c0 = await counts();
  const requests = items(20, 'xgboost');
  requests[7] = { ...requests[7], device: 5 as unknown as string };
  const r = await client.postJson('/predict_ctr/batch', { requests });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.field, 'requests[7].device');
  const c = await until('20 errors under xgboost', (x) => x.xgboost.invalid_request - c0.xgboost.invalid_request === 20);
  assert.equal(c.totals.xgboost - c0.totals.xgboost, 20, 'requests = successes + errors, in rows');
  assert.equal(c.unrouted.invalid_request, c0.unrouted.invalid_request, 'nothing under unrouted');
});

test('an item naming an unknown model: 404, every item counted under the model the others named', async () => {
  const c0 = await counts();
  const requests = items(5, 'logistic');
  requests[3] = { ...requests[3], model: 'nope' };
  const r = await client.postJson('/predict_ctr/batch', { requests });
  assert.equal(r.status, 404);
  const c = await until('5 errors under logistic', (x) => x.logistic.model_not_found - c0.logistic.model_not_found === 5);
  assert.equal(c.unrouted.model_not_found, c0.unrouted.model_not_found);
});

test('a batch refused 503 (queue bound): each item counted under its own model', async () => {
  const c0 = await counts();
  const requests = [...items(12, 'xgboost'), ...items(8, 'logistic')];
  const r = await client.postJson('/predict_ctr/batch', { requests });
  assert.equal(r.status, 503);
  await until('12 + 8 overloaded', (x) => x.xgboost.overloaded - c0.xgboost.overloaded === 12 && x.logistic.overloaded - c0.logistic.overloaded === 8);
});

test('a body that is not a batch at all counts once, under unrouted (no item, no model)', async () => {
  const c0 = await counts();
  const r = await client.request('POST', '/predict_ctr/batch', { body: '{"requests": [', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400);
  await until('1 under unrouted', (x) => x.unrouted.invalid_request - c0.unrouted.invalid_request === 1);
  // A batch that fits is still served.
  const ok = await client.postJson('/predict_ctr/batch', { requests: items(3, 'xgboost') });
  assert.equal(ok.status, 200);
});
