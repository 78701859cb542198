// The native-free server as the oracle of the native one: the same few
// hundred requests (the demo traffic, bench/lib/traffic_sampler.ts), single and
// batched, sent to the real uWS + onnxruntime-node server and to the
// native-free server (node:http + the pure-TypeScript evaluator) get the same
// model and version and a ctr equal within 1e-6. The uWS server with
// INFERENCE_BACKEND=ts serves and agrees too.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTrafficSampler } from '../bench/lib/traffic_sampler.js';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient, type Reply } from './support/http_client.js';

const TOLERANCE = 1e-6;
const SINGLES = 300;
const BATCHES = 5;
const BATCH_SIZE = 40;

interface Target { name: string; server: ServerProcess; client: TestClient }
let targets: Target[] = [];

/** Demo requests: two in three left to the A/B router (sticky per user), the rest naming a model. */
function requests(seed: number, n: number): Record<string, unknown>[] {
  const sampler = createTrafficSampler({ seed });
  return Array.from({ length: n }, (_, i) => (i % 3 === 0 ? { ...sampler.next(), model: i % 2 === 0 ? 'xgboost' : 'logistic' } : { ...sampler.next() }));
}

/** Sends every body to one target, 16 at a time, answers in order. */
async function sendAll(t: Target, path: string, bodies: unknown[]): Promise<Reply[]> {
  const out: Reply[] = [];
  for (let i = 0; i < bodies.length; i += 16) {
    out.push(...(await Promise.all(bodies.slice(i, i + 16).map((b) => t.client.postJson(path, b)))));
  }
  for (const r of out) assert.equal(r.status, 200, `${t.name}: ${JSON.stringify(r.body)}`);
  return out;
}

/** Runs `f` on each target in turn (not at once: the servers share the machine). */
async function eachTarget<T>(f: (t: Target) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (const t of targets) out.push(await f(t));
  return out;
}

interface Prediction { ctr: number; model: string; model_version: string }

/** Asserts the oracle's predictions equal the reference's; returns the largest |Δctr|. */
function compare(label: string, reference: Prediction[], oracle: Prediction[]): number {
  assert.equal(oracle.length, reference.length);
  let worst = 0;
  for (let i = 0; i < reference.length; i++) {
    const a = reference[i];
    const b = oracle[i];
    assert.equal(b.model, a.model, `${label} #${i}: model`);
    assert.equal(b.model_version, a.model_version, `${label} #${i}: model_version`);
    const d = Math.abs(a.ctr - b.ctr);
    assert.ok(d <= TOLERANCE, `${label} #${i} (${a.model}): ctr ${a.ctr} vs ${b.ctr}, |Δ| ${d}`);
    worst = Math.max(worst, d);
  }
  return worst;
}

// Values, not latency, are compared: a generous deadline, so three servers sharing a busy machine answer 200.
const ENV = { WORKERS: '1', REQUEST_DEADLINE_MS: '30000' };

before(async () => {
  const specs: [string, Promise<ServerProcess>][] = [
    ['uWS + onnxruntime-node', startServerProcess({ ...ENV, INFERENCE_BACKEND: 'ort' })],
    ['native-free (node:http + TS evaluator)', startServerProcess(ENV, 60_000, { entry: 'native-free' })],
    ['uWS + TS evaluator', startServerProcess({ ...ENV, INFERENCE_BACKEND: 'ts' }, 60_000)],
  ];
  const started = await Promise.allSettled(specs.map(([, p]) => p));
  targets = started.flatMap((s, i) => (s.status === 'fulfilled' ? [{ name: specs[i][0], server: s.value, client: new TestClient(s.value.url, 16) }] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  assert.match(targets[0].server.output(), /uWebSockets\.js from .*; inference backend ort/);
  assert.match(targets[1].server.output(), /node:http \(native-free-ts\); inference backend ts/);
  assert.match(targets[2].server.output(), /uWebSockets\.js from .*; inference backend ts/);
});

after(async () => {
  for (const t of targets) {
    await t.client.close();
    assert.equal(await t.server.stop(), 0, `${t.name} exits cleanly`);
  }
});

test(`${SINGLES} single predictions: same model, ctr within ${TOLERANCE}, on every target`, async (t) => {
  const bodies = requests(41, SINGLES);
  const [reference, ...others] = await eachTarget((target) => sendAll(target, '/predict_ctr', bodies));
  const models = new Set(reference.map((r) => r.body.model));
  assert.deepEqual([...models].sort(), ['logistic', 'xgboost'], 'both models are exercised');
  others.forEach((replies, k) => {
    const worst = compare(`${targets[k + 1].name} single`, reference.map((r) => r.body), replies.map((r) => r.body));
    t.diagnostic(`${targets[k + 1].name}: ${SINGLES} singles, max |Δctr| ${worst}`);
  });
});

test(`${BATCHES} batches of ${BATCH_SIZE}: same predictions in the same order on every target`, async (t) => {
  const batches = Array.from({ length: BATCHES }, (_, b) => ({ requests: requests(50 + b, BATCH_SIZE) }));
  const [reference, ...others] = await eachTarget((target) => sendAll(target, '/predict_ctr/batch', batches));
  others.forEach((replies, k) => {
    const worst = compare(`${targets[k + 1].name} batch`, reference.flatMap((r) => r.body.predictions), replies.flatMap((r) => r.body.predictions));
    t.diagnostic(`${targets[k + 1].name}: ${BATCHES * BATCH_SIZE} batch items, max |Δctr| ${worst}`);
  });
});
