// The shipped XGBoost demo model, end to end against XGBoost itself: the
// training script (engine/training/train.py) saved XGBoost's JSON model and
// Booster.predict's answers for held-out requests, requests without the
// optional field, unknown categories and malformed ids
// (engine/training/xgboost_served_predictions.json); `ctr-engine
// import-xgboost` made engine/models/xgboost/ from that JSON
// (engine/training/regenerate.sh). Here the real server answers those raw
// requests through POST /predict_ctr and /predict_ctr/batch, on both front
// ends (uWS + onnxruntime-node, node:http + the TypeScript evaluator), within
// 1e-5 of XGBoost's own prediction.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { projectRoot } from '../engine/config.js';
import { FeatureEncoder } from '../engine/feature_encoder.js';
import { readManifest } from '../engine/manifest.js';
import { RequestSchema } from '../engine/request_schema.js';
import { startServerProcess, type ServerProcess, type ServerProcessOptions } from './support/server_process.js';
import { TestClient } from './support/http_client.js';

const ROOT = projectRoot();

interface ServedCase {
  kind: 'holdout' | 'missing' | 'edge'; request: Record<string, unknown>; xgboost: number; margin: number;
  /** The row features.py encoded, as its non-zero [column, value] pairs. */
  encoded_nonzero: [number, number][];
}
const golden = JSON.parse(readFileSync(resolve(ROOT, 'engine/training/xgboost_served_predictions.json'), 'utf8')) as {
  tolerance: number; xgboost_version: string; cases: ServedCase[];
};
const TOL = 1e-5;
// Batches below the server's per-call limit (MAX_BATCH_REQUESTS, 1000 by default) and of uneven sizes.
const BATCH = 97;

/** The largest |served - XGBoost| and the rows that reach it. */
function compare(label: string, served: number[]): { worst: number; rows: string } {
  assert.equal(served.length, golden.cases.length);
  let worst = 0;
  const diffs = served.map((ctr, i) => {
    const c = golden.cases[i];
    assert.equal(typeof ctr, 'number', `${label} row ${i}`);
    const d = Math.abs(ctr - c.xgboost);
    assert.ok(d <= TOL, `${label} row ${i} (${c.kind} ${JSON.stringify(c.request)}): served ${ctr}, XGBoost ${c.xgboost}, |diff| ${d}`);
    worst = Math.max(worst, d);
    return d;
  });
  const rows = diffs.flatMap((d, i) => (d === worst ? [`${i} (${golden.cases[i].kind})`] : [])).slice(0, 5).join(', ');
  return { worst, rows };
}

test('the golden file covers held-out rows, rows without the optional field, unknown categories and malformed ids', () => {
  assert.equal(golden.tolerance, TOL);
  const kinds = new Map<string, number>();
  for (const c of golden.cases) kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1);
  assert.ok((kinds.get('holdout') ?? 0) >= 100, 'held-out rows');
  assert.ok(golden.cases.some((c) => c.kind === 'missing' && !('context' in c.request)), 'a request without context');
  assert.ok(golden.cases.some((c) => c.kind === 'edge' && !['mobile', 'desktop', 'tablet'].includes(c.request.device as string)), 'an unknown device');
  assert.ok(golden.cases.some((c) => c.kind === 'edge' && !/^ad_[0-9]{1,9}$/.test(c.request.ad_id as string)), 'a malformed ad id');
  // The predictions differ from row to row: a constant model would pass a loose check.
  assert.ok(new Set(golden.cases.map((c) => c.xgboost)).size > golden.cases.length / 2);
});

test('the shipped manifest is the one import-xgboost wrote from the training script\'s features file', () => {
  const manifest = JSON.parse(readFileSync(resolve(ROOT, 'engine/models/xgboost/manifest.json'), 'utf8'));
  const features = JSON.parse(readFileSync(resolve(ROOT, 'engine/training/xgboost_features.json'), 'utf8'));
  assert.deepEqual(manifest.fields, features.fields);
  assert.deepEqual(manifest.features, features.features);
  assert.equal(manifest.description, features.description);
  assert.deepEqual(manifest.output, { name: 'probability', kind: 'probability', column: 0 });
});

test('the server\'s encoder builds exactly the rows engine/training/features.py built (one-hot, buckets, lookup table, hour)', () => {
  const manifest = readManifest(resolve(ROOT, 'engine/models/xgboost/manifest.json'));
  const encoder = new FeatureEncoder(manifest);
  const schema = new RequestSchema(manifest);
  golden.cases.forEach((c, i) => {
    assert.equal(schema.check(c.request), null, `case ${i} is a valid request`);
    const want = new Float32Array(encoder.width);
    for (const [col, v] of c.encoded_nonzero) want[col] = v;
    // exact: each golden value is a float32 written as a double
    assert.deepEqual(encoder.encode(c.request as never), want, `case ${i} (${c.kind}) ${JSON.stringify(c.request)}`);
  });
});

const FRONT_ENDS: [string, ServerProcessOptions][] = [
  ['uWS + onnxruntime-node', { entry: 'api' }],
  ['native-free (node:http + TypeScript evaluator)', { entry: 'native-free' }],
];

for (const [label, opts] of FRONT_ENDS) {
  describe(`${label}: the demo XGBoost model answers as XGBoost does`, () => {
    let server: ServerProcess;
    let client: TestClient;

    before(async () => {
      // A generous deadline: the answers are checked, and a busy machine must not turn them into 504s.
      server = await startServerProcess({ REQUEST_DEADLINE_MS: '10000' }, 60_000, opts);
      client = new TestClient(server.url, 4);
    });
    after(async () => {
      await client.close();
      assert.equal(await server.stop(), 0);
    });

    test('POST /predict_ctr, one request at a time', async (t) => {
      const served: number[] = [];
      for (const c of golden.cases) {
        const r = await client.postJson('/predict_ctr', { ...c.request, model: 'xgboost' });
        assert.equal(r.status, 200, `${JSON.stringify(c.request)}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.model, 'xgboost');
        served.push(r.body.ctr);
      }
      const { worst, rows } = compare(`${label} single`, served);
      t.diagnostic(`${label} /predict_ctr: ${golden.cases.length} rows, max |served - XGBoost ${golden.xgboost_version}| = ${worst.toExponential(2)} at rows ${rows}`);
    });

    test('POST /predict_ctr/batch', async (t) => {
      const served: number[] = [];
      for (let i = 0; i < golden.cases.length; i += BATCH) {
        const part = golden.cases.slice(i, i + BATCH);
        const r = await client.postJson('/predict_ctr/batch', { requests: part.map((c) => ({ ...c.request, model: 'xgboost' })) });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(r.body.predictions.length, part.length);
        for (const p of r.body.predictions) {
          assert.equal(p.model, 'xgboost');
          served.push(p.ctr);
        }
      }
      const { worst, rows } = compare(`${label} batch`, served);
      t.diagnostic(`${label} /predict_ctr/batch: ${golden.cases.length} rows, max |served - XGBoost ${golden.xgboost_version}| = ${worst.toExponential(2)} at rows ${rows}`);
    });
  });
}
