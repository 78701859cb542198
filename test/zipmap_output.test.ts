// skl2onnx classifiers end in a ZipMap (a sequence of maps, which neither a
// batch slot nor onnxruntime-node can return). A manifest that names the
// tensor the ZipMap reads ("probabilities") gets the graph rewritten at load
// (engine/onnx/zipmap_rewrite.ts: the ZipMap dropped, its input a graph
// output), and both backends serve the class probability the manifest's
// column picks, equal to scikit-learn's predict_proba within 1e-5
// (test/fixtures/skl2onnx_iris_proba/golden.json, made by make_golden.py).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { projectRoot } from '../engine/config.js';
import { decodeModelMessage } from '../engine/onnx/onnx_proto.js';
import { exposeZipMapInput } from '../engine/onnx/zipmap_rewrite.js';
import { parseOnnxSignature } from '../engine/onnx_signature.js';
import { TsInferenceSession } from '../native-free-ts/evaluator/session.js';
import { startServerProcess, type ServerProcess, type ServerProcessOptions } from './support/server_process.js';
import { TestClient } from './support/http_client.js';

const ROOT = projectRoot();
const MODEL = resolve(ROOT, 'test/fixtures/external_models/skl2onnx_logreg_iris/model.onnx');
const golden = JSON.parse(readFileSync(resolve(ROOT, 'test/fixtures/skl2onnx_iris_proba/golden.json'), 'utf8')) as {
  rows: [number, number][]; predict_proba: number[][]; predict: number[]; classes: number[];
};
const TOL = 1e-5;
const N = golden.rows.length;

function assertProba(got: ArrayLike<number>, column: number | null, label: string): number {
  let worst = 0;
  for (let r = 0; r < N; r++) {
    for (let c = 0; c < golden.classes.length; c++) {
      if (column !== null && c !== column) continue;
      const v = column === null ? got[r * golden.classes.length + c] : got[r];
      const d = Math.abs(v - golden.predict_proba[r][c]);
      assert.ok(d <= TOL, `${label}: row ${r} ${JSON.stringify(golden.rows[r])} class ${c}: ${v} vs sklearn ${golden.predict_proba[r][c]}`);
      worst = Math.max(worst, d);
    }
  }
  return worst;
}

test('exposeZipMapInput drops the ZipMap and makes its input a float [N, 3] graph output', () => {
  const bytes = readFileSync(MODEL);
  const before = parseOnnxSignature(bytes);
  assert.deepEqual(before.outputs.map((o) => o.name), ['output_label', 'output_probability']);
  assert.equal(before.outputs[1].elemType, null, 'the ZipMap output is not a tensor');

  const rw = exposeZipMapInput(bytes, 'probabilities');
  assert.ok(rw !== null);
  assert.equal(rw.removedOutput, 'output_probability');
  assert.equal(rw.classes, 3);
  const after = parseOnnxSignature(rw.bytes);
  assert.deepEqual(after.inputs, before.inputs);
  assert.deepEqual(after.outputs.map((o) => [o.name, o.elemType]), [['output_label', 7], ['probabilities', 1]]);
  assert.equal(after.outputs[1].shape?.[1], 3);
  const ops = decodeModelMessage(rw.bytes).graph.node.map((n: { op_type: string }) => n.op_type);
  assert.deepEqual(ops, ['LinearClassifier', 'Cast', 'Normalizer']);

  // Nothing to rewrite: a name that is already an output, the maps themselves, a name no ZipMap reads.
  assert.equal(exposeZipMapInput(bytes, 'output_label'), null);
  assert.equal(exposeZipMapInput(bytes, 'output_probability'), null);
  assert.equal(exposeZipMapInput(bytes, 'probability_tensor'), null);
});

test('the rewritten graph: onnxruntime-node and the TypeScript evaluator give sklearn\'s predict_proba', async (t) => {
  const rw = exposeZipMapInput(readFileSync(MODEL), 'probabilities')!;
  const x = Float32Array.from(golden.rows.flat());
  const session = await ort.InferenceSession.create(rw.bytes, { intraOpNumThreads: 1 });
  try {
    const out = await session.run({ X: new ort.Tensor('float32', x, [N, 2]) }, ['probabilities']);
    assert.deepEqual(out.probabilities.dims, [N, 3]);
    const worst = assertProba(out.probabilities.data as Float32Array, null, 'ort');
    t.diagnostic(`ort: max |p - sklearn| = ${worst.toExponential(2)} over ${N} rows × 3 classes`);
  } finally {
    await session.release();
  }
  const ts = await TsInferenceSession.create(rw.bytes);
  const got = ts.runSync({ X: { data: x, dims: [N, 2] } }, ['probabilities']);
  const worst = assertProba(got.probabilities.data as Float32Array, null, 'ts');
  t.diagnostic(`ts: max |p - sklearn| = ${worst.toExponential(2)} over ${N} rows × 3 classes`);
});

// Served: one folder per class column over the same file, and one naming the maps (refused, the others serve).
function modelsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'zipmap-models-'));
  const manifest = (name: string, output: Record<string, unknown>) => ({
    name, version: '1', description: 'skl2onnx LogisticRegression on two Iris features', file: 'model.onnx',
    input: { name: 'X', dtype: 'float32', shape: [-1, 2] }, output,
    fields: [
      { name: 'sepal_length', type: 'number', required: true, min: 0, max: 20 },
      { name: 'sepal_width', type: 'number', required: true, min: 0, max: 20 },
    ],
    features: [{ kind: 'number', field: 'sepal_length' }, { kind: 'number', field: 'sepal_width' }],
  });
  const folders: [string, Record<string, unknown>][] = [
    ['iris_setosa', manifest('iris_setosa', { name: 'probabilities', kind: 'probability', column: 0 })],
    ['iris_virginica', manifest('iris_virginica', { name: 'probabilities', kind: 'probability', column: 2 })],
    ['iris_maps', manifest('iris_maps', { name: 'output_probability', kind: 'probability' })],
  ];
  for (const [folder, m] of folders) {
    mkdirSync(join(dir, folder));
    copyFileSync(MODEL, join(dir, folder, 'model.onnx'));
    writeFileSync(join(dir, folder, 'manifest.json'), JSON.stringify(m, null, 2));
  }
  return dir;
}

const FRONT_ENDS: [string, ServerProcessOptions][] = [
  ['uWS + onnxruntime-node', { entry: 'api' }],
  ['native-free (node:http + TypeScript evaluator)', { entry: 'native-free' }],
];

for (const [label, opts] of FRONT_ENDS) {
  describe(`${label}: a ZipMap classifier serves its class probabilities`, () => {
    let dir: string;
    let server: ServerProcess;
    let client: TestClient;

    before(async () => {
      dir = modelsDir();
      server = await startServerProcess({ MODELS_DIR: dir, REQUEST_DEADLINE_MS: '10000' }, 60_000, opts);
      client = new TestClient(server.url, 4);
    });
    after(async () => {
      await client.close();
      assert.equal(await server.stop(), 0);
      rmSync(dir, { recursive: true, force: true });
    });

    test('/models: the probability columns load; the model naming the maps is failed, saying why', async () => {
      const r = await client.get('/models');
      assert.equal(r.status, 200);
      const byName = new Map<string, { status: string; reason?: string }>(r.body.models.map((m: { name: string }) => [m.name, m]));
      assert.equal(byName.get('iris_setosa')?.status, 'ready');
      assert.equal(byName.get('iris_virginica')?.status, 'ready');
      assert.equal(byName.get('iris_maps')?.status, 'failed');
      assert.match(byName.get('iris_maps')?.reason ?? '', /output output_probability is not a tensor .*the probability tensor the ZipMap reads/);
    });

    for (const [model, column] of [['iris_setosa', 0], ['iris_virginica', 2]] as const) {
      test(`${model}: POST /predict_ctr and /predict_ctr/batch give predict_proba[:, ${column}]`, async (t) => {
        const requests = golden.rows.map(([a, b]) => ({ model, sepal_length: a, sepal_width: b }));
        const single: number[] = [];
        for (const req of requests) {
          const r = await client.postJson('/predict_ctr', req);
          assert.equal(r.status, 200, JSON.stringify(r.body));
          assert.equal(r.body.model, model);
          single.push(r.body.ctr);
        }
        const worst = assertProba(single, column, `${label} ${model} single`);
        const b = await client.postJson('/predict_ctr/batch', { requests });
        assert.equal(b.status, 200, JSON.stringify(b.body));
        assertProba(b.body.predictions.map((p: { ctr: number }) => p.ctr), column, `${label} ${model} batch`);
        t.diagnostic(`${label} ${model}: max |ctr - sklearn predict_proba[:, ${column}]| = ${worst.toExponential(2)} over ${N} rows`);
      });
    }
  });
}
