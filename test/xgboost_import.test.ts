// `import-xgboost` against XGBoost's own predictions: each model in
// test/fixtures/xgboost/ (made by engine/training/make_xgboost_goldens.py with
// Debian's python3-xgboost) is converted, run in onnxruntime-node and in the
// TypeScript evaluator, and compared with what XGBoost predicted on the same
// rows (NaN in every split feature, values exactly at thresholds and one float
// below, all-NaN rows) within 1e-5 absolute. Then the refusals, and the CLI
// end to end through the real server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { decodeModelMessage, int64ToNumber } from '../engine/onnx/onnx_proto.js';
import { validateManifest } from '../engine/manifest.js';
import { buildModelMessage, graphOutput, xgboostToOnnx } from '../engine/xgboost_import/onnx_graph.js';
import { parseBaseScore, parseXgboostJson, readXgboostModel, XgboostImportError } from '../engine/xgboost_import/xgboost_json.js';
import { TsInferenceSession } from '../native-free-ts/evaluator/session.js';
import { startServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = join(ROOT, 'test', 'fixtures', 'xgboost');
const CLI = join(ROOT, 'dist', 'bin', 'ctr-engine.js');
const TOLERANCE = 1e-5;

interface Golden {
  model: string;
  description: string;
  objective: string;
  split_features: number[];
  rows: (number | null)[][];
  prediction: number[];
  margin: number[];
}

const GOLDENS = ['binary_logistic', 'reg_logistic', 'reg_squarederror', 'binary_logitraw', 'single_tree', 'leaf_only', 'v3_string_array_base_score'];

function golden(name: string): Golden {
  return JSON.parse(readFileSync(join(FIXTURES, `${name}.golden.json`), 'utf8'));
}
function modelText(file: string): string {
  return readFileSync(join(FIXTURES, file), 'utf8');
}
function rowsTensor(g: Golden): { data: Float32Array; dims: number[] } {
  const width = g.rows[0].length;
  const data = new Float32Array(g.rows.length * width);
  g.rows.forEach((r, i) => r.forEach((v, j) => (data[i * width + j] = v === null ? NaN : v)));
  return { data, dims: [g.rows.length, width] };
}

/** Largest |got - want| and the rows where it occurs. */
function worst(got: ArrayLike<number>, want: number[]): { diff: number; rows: number[] } {
  assert.equal(got.length, want.length);
  let diff = 0;
  let rows: number[] = [];
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    assert.ok(Number.isFinite(got[i]), `row ${i}: got ${got[i]}`);
    if (d > diff) { diff = d; rows = [i]; } else if (d === diff && diff > 0) rows.push(i);
  }
  return { diff, rows };
}

const measured: string[] = [];
let overall = { diff: 0, where: 'none' };

for (const name of GOLDENS) {
  test(`import-xgboost ${name}: onnxruntime-node and the TS evaluator reproduce XGBoost within ${TOLERANCE}`, async (t) => {
    const g = golden(name);
    const model = parseXgboostJson(modelText(g.model));
    assert.equal(model.objective, g.objective);
    const bytes = xgboostToOnnx(model, { name, producerVersion: 'test' });
    const out = graphOutput(model);
    // The graph's output is what XGBoost's predict() gives, except binary:logitraw
    // whose margin the server maps through the sigmoid (kind "logit").
    const want = g.objective === 'binary:logitraw' ? g.margin : g.prediction;
    if (g.objective === 'binary:logitraw') assert.equal(out.kind, 'logit');
    const feed = rowsTensor(g);

    const ortSession = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    const ortOut = await ortSession.run({ features: new ort.Tensor('float32', feed.data, feed.dims) });
    const ortValues = ortOut[out.name].data as Float32Array;
    assert.deepEqual(ortOut[out.name].dims, [g.rows.length, 1]);
    const tsSession = TsInferenceSession.createSync(bytes);
    const tsValues = tsSession.runSync({ features: feed })[out.name].data as Float32Array;

    for (const [backend, values] of [['onnxruntime-node', ortValues], ['ts evaluator', tsValues]] as const) {
      const w = worst(values, want);
      const line = `${name} ${backend}: largest |diff| ${w.diff.toExponential(2)} at rows ${w.rows.slice(0, 6).join(',')} of ${want.length}`;
      t.diagnostic(line);
      measured.push(line);
      if (w.diff > overall.diff) overall = { diff: w.diff, where: `${name} ${backend} rows ${w.rows.join(',')}` };
      assert.ok(w.diff <= TOLERANCE, line);
    }
    if ((g.objective === 'binary:logistic' || g.objective === 'reg:logistic') && name !== 'leaf_only') {
      // The probability passes through a Sigmoid node; the margin is not exposed, so check the rows cover both sides.
      assert.ok(want.some((p) => p < 0.5) && want.some((p) => p > 0.5), 'the golden rows reach both sides of 0.5');
    }
  });
}

test('the golden rows put NaN in every split feature and sit exactly on thresholds', () => {
  for (const name of GOLDENS.filter((n) => n !== 'leaf_only')) {
    const g = golden(name);
    for (const f of g.split_features) assert.ok(g.rows.some((r) => r[f] === null && r.some((v) => v !== null)), `${name}: a row with only feature ${f} missing`);
    assert.ok(g.rows.some((r) => r.every((v) => v === null)), `${name}: an all-NaN row`);
  }
  const leaf = parseXgboostJson(modelText('leaf_only.model.json'));
  assert.ok(leaf.trees.every((t) => t.left[0] === -1), 'every tree of leaf_only is a single leaf');
  assert.ok(leaf.trees[0].left.length > 1, 'leaf_only keeps pruned nodes in its arrays (the converter must skip them)');
  assert.equal(parseXgboostJson(modelText('single_tree.model.json')).trees.length, 1);
});

test('the ONNX graph: BRANCH_LT to the yes child, missing values follow default_left, logit(base_score) as base value, Sigmoid last', () => {
  const model = parseXgboostJson(modelText('single_tree.model.json'));
  const raw = JSON.parse(modelText('single_tree.model.json'));
  const tree = raw.learner.gradient_booster.model.trees[0];
  // Decoded with the same schema from the bytes, not from the object that made them.
  const decoded = decodeModelMessage(xgboostToOnnx(model, { name: 'single', producerVersion: 'test' })) as any;
  assert.deepEqual(decoded.opset_import.map((o: any) => [o.domain, int64ToNumber(o.version)]), [['', 17], ['ai.onnx.ml', 3]]);
  const [trees, sigmoid] = decoded.graph.node;
  assert.equal(trees.op_type, 'TreeEnsembleRegressor');
  assert.equal(sigmoid.op_type, 'Sigmoid');
  const a = Object.fromEntries(trees.attribute.map((x: any) => [x.name, { ...x, ints: x.ints.map(int64ToNumber) }]));
  const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');
  assert.equal(text(a.post_transform.s), 'NONE');
  assert.ok(Math.abs(a.base_values.floats[0] - 0) < 1e-7, 'base_score 0.5 → margin 0');
  // The root: XGBoost node 0 → ONNX node 0, yes child = left child (BFS id 1), default_left → tracks_true.
  assert.equal(text(a.nodes_modes.strings[0]), 'BRANCH_LT');
  assert.equal(a.nodes_featureids.ints[0], tree.split_indices[0]);
  assert.equal(a.nodes_values.floats[0], Math.fround(tree.split_conditions[0]));
  assert.equal(a.nodes_truenodeids.ints[0], 1);
  assert.equal(a.nodes_falsenodeids.ints[0], 2);
  const branches = a.nodes_modes.strings.map(text).filter((m: string) => m === 'BRANCH_LT').length;
  const tracks = a.nodes_missing_value_tracks_true.ints.filter((v: number) => v === 1).length;
  const defaultLeft = tree.default_left.filter((d: number, i: number) => d === 1 && tree.left_children[i] !== -1).length;
  assert.equal(tracks, defaultLeft);
  assert.equal(branches, tree.left_children.filter((c: number) => c !== -1).length);

  const logistic = parseXgboostJson(modelText('binary_logistic.model.json'));
  assert.equal(logistic.baseScore, 0.3);
  assert.equal(logistic.baseMargin, Math.fround(Math.log(0.3 / 0.7)));
  const reg = parseXgboostJson(modelText('reg_squarederror.model.json'));
  assert.equal(reg.baseMargin, 2.5, 'reg:squarederror: base_score as is');
  assert.equal(parseXgboostJson(modelText('binary_logitraw.model.json')).baseMargin, Math.fround(0.4), 'binary:logitraw: base_score is already a margin');
  assert.equal(buildModelMessage(reg, { name: 'r', producerVersion: 't' }).graph.node.length, 1, 'no Sigmoid for a regression');
});

test('base_score: 1.x/2.x strings, 3.x string arrays; several values refused', () => {
  assert.equal(parseBaseScore('5E-1'), 0.5);
  assert.equal(parseBaseScore('[4.6E-1]'), 0.46);
  assert.equal(parseBaseScore(' [ 2.5E0 ] '), 2.5);
  assert.equal(parseBaseScore(0.25), 0.25);
  assert.throws(() => parseBaseScore('[1E-1,2E-1]'), /holds 2 values/);
  assert.throws(() => parseBaseScore('abc'), /base_score must be a number/);
});

function mutated(file: string, change: (m: any) => void): unknown {
  const m = JSON.parse(modelText(file));
  change(m);
  return m;
}

test('refused: multi-class and other objectives (named), dart, categorical splits, vector leaves, bad trees, non-JSON', () => {
  assert.throws(() => parseXgboostJson(modelText('multiclass_refused.model.json')), (err: Error) => {
    assert.ok(err instanceof XgboostImportError);
    assert.match(err.message, /objective multi:softprob \(multi-class\) is not supported/);
    return true;
  });
  for (const objective of ['count:poisson', 'reg:gamma', 'binary:hinge', 'rank:pairwise', 'multi:softmax']) {
    assert.throws(() => readXgboostModel(mutated('single_tree.model.json', (m) => (m.learner.objective.name = objective))), new RegExp(`objective ${objective}`));
  }
  assert.throws(() => readXgboostModel(mutated('single_tree.model.json', (m) => (m.learner.learner_model_param.num_class = '3'))), /num_class 3 \(multi-class\)/);
  assert.throws(() => readXgboostModel(mutated('single_tree.model.json', (m) => (m.learner.gradient_booster.name = 'dart'))), /booster "dart" is not supported/);
  assert.throws(() => readXgboostModel(mutated('single_tree.model.json', (m) => (m.learner.gradient_booster.model.trees[0].split_type[0] = 1))), /categorical splits/);
  assert.throws(() => readXgboostModel(mutated('single_tree.model.json', (m) => (m.learner.feature_types = ['q', 'c', 'q', 'q']))), /feature f1 is categorical/);
  assert.throws(() => readXgboostModel(mutated('single_tree.model.json', (m) => (m.learner.gradient_booster.model.trees[0].tree_param.size_leaf_vector = '2'))), /vector leaves/);
  assert.throws(() => readXgboostModel(mutated('single_tree.model.json', (m) => (m.learner.gradient_booster.model.trees[0].split_indices[0] = 9))), /tree 0 node 0 splits on feature 9, outside 0..3/);
  assert.throws(() => readXgboostModel(mutated('single_tree.model.json', (m) => (m.learner.gradient_booster.model.trees[0].left_children[1] = 0))), /child 0/);
  assert.throws(() => readXgboostModel(mutated('single_tree.model.json', (m) => (m.learner.learner_model_param.base_score = '1E0'))), /base_score 1 must lie in \(0, 1\)/);
  assert.throws(() => parseXgboostJson('\u0000binary'), /not valid JSON \(UBJSON/);
  assert.throws(() => readXgboostModel({ version: [2, 0, 0] }), /"learner" is missing/);
});

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('CLI: import-xgboost writes model.onnx + manifest, refuses to overwrite without --force, refuses multi-class naming the objective', () => {
  const out = mkdtempSync(join(tmpdir(), 'xgb-cli-'));
  try {
    const ok = cli(['import-xgboost', join(FIXTURES, 'binary_logistic.model.json'), '--name', 'team_model', '--out', out, '--version', '7']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /binary:logistic, 12 trees, 4 features/);
    const manifest = JSON.parse(readFileSync(join(out, 'team_model', 'manifest.json'), 'utf8'));
    assert.deepEqual(manifest.input, { name: 'features', dtype: 'float32', shape: [-1, 4] });
    assert.deepEqual(manifest.output, { name: 'probability', kind: 'probability', column: 0 });
    assert.equal(manifest.version, '7');
    assert.deepEqual(manifest.fields.map((f: any) => [f.name, f.type, f.required]), [['price', 'number', false], ['age_days', 'number', false], ['hour', 'number', false], ['score', 'number', false]]);
    assert.deepEqual(manifest.features, ['price', 'age_days', 'hour', 'score'].map((field) => ({ kind: 'number', field })));
    assert.ok(existsSync(join(out, 'team_model', 'model.onnx')));

    const again = cli(['import-xgboost', join(FIXTURES, 'binary_logistic.model.json'), '--name', 'team_model', '--out', out]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already holds a model; pass --force/);
    const forced = cli(['import-xgboost', join(FIXTURES, 'binary_logitraw.model.json'), '--name', 'team_model', '--out', out, '--force']);
    assert.equal(forced.status, 0, forced.stderr);
    assert.equal(JSON.parse(readFileSync(join(out, 'team_model', 'manifest.json'), 'utf8')).output.kind, 'logit');

    // Unnamed features → f0..f3; --features replaces fields and features.
    const enc = join(out, 'features.json');
    writeFileSync(enc, JSON.stringify({ fields: [{ name: 'a', type: 'number', required: true }], features: [{ kind: 'number', field: 'a' }] }));
    const withEnc = cli(['import-xgboost', join(FIXTURES, 'reg_logistic.model.json'), '--name', 'enc', '--out', out, '--features', enc]);
    assert.equal(withEnc.status, 0, withEnc.stderr);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'enc', 'manifest.json'), 'utf8')).fields, [{ name: 'a', type: 'number', required: true }]);
    const skeleton = cli(['import-xgboost', join(FIXTURES, 'reg_logistic.model.json'), '--name', 'plain', '--out', out]);
    assert.equal(skeleton.status, 0, skeleton.stderr);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'plain', 'manifest.json'), 'utf8')).fields.map((f: any) => f.name), ['f0', 'f1', 'f2', 'f3']);

    const multi = cli(['import-xgboost', join(FIXTURES, 'multiclass_refused.model.json'), '--name', 'multi', '--out', out]);
    assert.equal(multi.status, 1);
    assert.match(multi.stderr, /objective multi:softprob/);
    assert.ok(!existsSync(join(out, 'multi')), 'nothing written for a refused model');
    const usage = cli(['import-xgboost', join(FIXTURES, 'single_tree.model.json'), '--out', out]);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /needs --name/);
    const badName = cli(['import-xgboost', join(FIXTURES, 'single_tree.model.json'), '--name', '../escape', '--out', out]);
    assert.equal(badName.status, 1);
    assert.match(badName.stderr, /--name/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('CLI + server: an imported model serves XGBoost\'s predictions through POST /predict_ctr and /predict_ctr/batch', async (t) => {
  const modelsDir = mkdtempSync(join(tmpdir(), 'xgb-serve-'));
  const g = golden('binary_logistic');
  const imported = cli(['import-xgboost', join(FIXTURES, g.model), '--name', 'team_model', '--out', modelsDir, '--version', '3']);
  assert.equal(imported.status, 0, imported.stderr);
  const manifestPath = join(modelsDir, 'team_model', 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  const names: string[] = manifest.fields.map((f: { name: string }) => f.name);
  // The fields/features format is loaded by engine/manifest.ts once issue 13's
  // manifest work lands. Until then the server reads the legacy form: numeric
  // features over `context.<name>` (missing → a default, so no NaN reaches the
  // model and only complete rows are served here).
  // TODO(issue 13): drop the legacy branch once the fields format loads; then missing fields are sent as NaN too.
  let fieldsFormat = true;
  try {
    validateManifest(manifest, manifestPath);
  } catch {
    fieldsFormat = false;
    const legacy = { ...manifest, features: names.map((field) => ({ kind: 'numeric', field, default: 0 })) };
    delete legacy.fields;
    validateManifest(legacy, manifestPath);
    writeFileSync(manifestPath, JSON.stringify(legacy, null, 2));
  }
  t.diagnostic(`serving the ${fieldsFormat ? 'fields' : 'legacy numeric'} manifest format`);
  const cases = g.rows.map((r, i) => ({ r, want: g.prediction[i] })).filter(({ r }) => fieldsFormat || r.every((v) => v !== null));
  assert.ok(cases.length >= 20);
  const request = (r: (number | null)[]) => {
    const values: Record<string, number> = {};
    r.forEach((v, j) => { if (v !== null) values[names[j]] = v; });
    return fieldsFormat ? values : { user_id: 'u1', ad_id: 'a1', device: 'mobile', placement: 'feed', context: values };
  };

  try {
    // Both inference backends: onnxruntime-node behind uWS, the TypeScript evaluator behind node:http.
    for (const entry of ['api', 'native-free'] as const) {
      const server = await startServerProcess({ MODELS_DIR: modelsDir, WORKERS: '1' }, 30_000, { entry });
      const client = new TestClient(server.url, 2);
      try {
        const models = await client.get('/models');
        assert.equal(models.status, 200);
        let largest = 0;
        for (const { r, want } of cases) {
          const res = await client.postJson('/predict_ctr', request(r));
          assert.equal(res.status, 200, JSON.stringify(res.body));
          assert.equal(res.body.model, 'team_model');
          assert.equal(res.body.model_version, '3');
          largest = Math.max(largest, Math.abs(res.body.ctr - want));
          assert.ok(Math.abs(res.body.ctr - want) <= TOLERANCE, `${entry} row ${JSON.stringify(r)}: served ${res.body.ctr}, XGBoost ${want}`);
        }
        const batch = await client.postJson('/predict_ctr/batch', { requests: cases.map(({ r }) => request(r)) });
        assert.equal(batch.status, 200, JSON.stringify(batch.body));
        assert.equal(batch.body.predictions.length, cases.length);
        batch.body.predictions.forEach((p: { ctr: number }, i: number) => {
          largest = Math.max(largest, Math.abs(p.ctr - cases[i].want));
          assert.ok(Math.abs(p.ctr - cases[i].want) <= TOLERANCE, `${entry} batch item ${i}: served ${p.ctr}, XGBoost ${cases[i].want}`);
        });
        t.diagnostic(`${entry}: served ${cases.length} rows (single and batch): largest |diff| to XGBoost ${largest.toExponential(2)}`);
      } finally {
        await client.close();
        await server.stop();
      }
    }
  } finally {
    rmSync(modelsDir, { recursive: true, force: true });
  }
});

test('report: the largest difference to XGBoost', (t) => {
  for (const line of measured) t.diagnostic(line);
  t.diagnostic(`overall largest |diff| to XGBoost: ${overall.diff.toExponential(2)} (${overall.where})`);
  assert.equal(measured.length, GOLDENS.length * 2, 'every golden model ran in both backends');
});
