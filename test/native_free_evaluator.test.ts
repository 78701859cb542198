// The pure-TypeScript ONNX evaluator (native-free-ts/) against onnxruntime-node
// in the same process: the shipped models on sampler traffic and edge rows,
// the external skl2onnx model, and tiny hand-built graphs per operator (built
// with test/support/onnx_builder.ts), plus the load-time failures.
//
// Tolerances: probabilities within 1e-6 absolute (measured: ≤ 2e-7, from
// onnxruntime's approximate MLAS sigmoid and its float32 GEMM); the xgboost
// margin before the sigmoid is compared bit for bit (both sum the trees in
// float32 in the same order; onnxruntime runs with one intra-op thread, as
// more threads reorder its sums).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { projectRoot } from '../engine/config.js';
import { FeatureEncoder } from '../engine/feature_encoder.js';
import { readManifest } from '../engine/manifest.js';
import { createTrafficSampler, mulberry32 } from '../bench/lib/traffic_sampler.js';
import { OnnxModelError, OnnxOpError, TsInferenceSession, zipMapRows, type TsTensor } from '../native-free-ts/evaluator/session.js';
import { appendGraphOutputs, buildModel, DT, treeAttrs, type AttrValue, type ModelSpec, type NodeSpec, type TreeNode, type TreeVote } from './support/onnx_builder.js';

const ROOT = projectRoot();
const PROB_TOL = 1e-6;
const ML = 'ai.onnx.ml';

type Feeds = Record<string, { data: Float32Array; dims: number[] }>;

async function ortSession(pathOrBytes: string | Uint8Array): Promise<ort.InferenceSession> {
  const opts = { intraOpNumThreads: 1, interOpNumThreads: 1 };
  return typeof pathOrBytes === 'string' ? ort.InferenceSession.create(pathOrBytes, opts) : ort.InferenceSession.create(pathOrBytes, opts);
}

async function runOrt(s: ort.InferenceSession, feeds: Feeds, fetches?: string[]): Promise<Record<string, ort.Tensor>> {
  const t: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) t[k] = new ort.Tensor('float32', v.data, v.dims);
  const out = fetches === undefined ? await s.run(t) : await s.run(t, fetches);
  return out as Record<string, ort.Tensor>;
}

/** Both engines on the same bytes and feeds: [ort outputs, ts outputs]. */
async function both(bytes: Uint8Array, feeds: Feeds, fetches?: string[]): Promise<[Record<string, ort.Tensor>, Record<string, TsTensor>]> {
  const o = await ortSession(bytes);
  try {
    const t = await TsInferenceSession.create(bytes);
    return [await runOrt(o, feeds, fetches), t.runSync(feeds, fetches)];
  } finally {
    await o.release();
  }
}

/** A numeric output's elements as numbers (int64 included). */
function numbers(d: unknown): number[] {
  return Array.from(d as ArrayLike<number | bigint>, (v) => Number(v));
}

/** Element-wise |a − b| ≤ tol, NaN matching NaN; the message names the first difference. */
function assertClose(actual: ArrayLike<number | bigint>, expected: ArrayLike<number | bigint>, tol: number, what: string): number {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = Number(actual[i]), e = Number(expected[i]);
    if (Number.isNaN(a) || Number.isNaN(e)) {
      assert.ok(Number.isNaN(a) && Number.isNaN(e), `${what}[${i}]: ${a} vs ${e}`);
      continue;
    }
    const d = a === e ? 0 : Math.abs(a - e);
    assert.ok(d <= tol, `${what}[${i}]: ts ${a} vs ort ${e} (|diff| ${d} > ${tol})`);
    worst = Math.max(worst, d);
  }
  return worst;
}

function f32rows(rows: number[][]): { data: Float32Array; dims: number[] } {
  return { data: Float32Array.from(rows.flat()), dims: [rows.length, rows[0].length] };
}

// ---------------------------------------------------------------------------
// The shipped models
// ---------------------------------------------------------------------------

/**
 * Sampler rows through the engine's encoder, then edge rows (all zero, all
 * one, NaN, ±large, -0, subnormal, ±∞). `huge` is the largest magnitude: a
 * dot product whose float32 partial sums overflow depends on the summation
 * order, which no two GEMMs share, so the MatMul model gets 1e30.
 */
function shippedRows(width: number, encoder: FeatureEncoder, n: number, huge = 3.4e38): Float32Array {
  const s = createTrafficSampler({ seed: 20240611 });
  const edges: ((j: number) => number)[] = [
    () => 0, () => 1, () => -0, () => NaN, () => huge, () => -huge, () => 1e-40, (j) => (j % 2 === 0 ? NaN : 1),
    (j) => (j % 3 === 0 ? 1e6 : -1e6), () => Infinity, () => -Infinity,
  ];
  const out = new Float32Array((n + edges.length) * width);
  for (let r = 0; r < n; r++) assert.equal(encoder.encodeInto(s.next(), out, r), null);
  edges.forEach((f, k) => {
    for (let j = 0; j < width; j++) out[(n + k) * width + j] = f(j);
  });
  return out;
}

for (const name of ['xgboost', 'logistic'] as const) {
  test(`${name}: 3000 sampler rows + edge rows, in batches of 64 and one by one, match onnxruntime within ${PROB_TOL}`, async (ctx) => {
    const dir = resolve(ROOT, 'engine/models', name);
    const manifest = readManifest(resolve(dir, 'manifest.json'));
    const path = resolve(dir, manifest.file);
    const encoder = new FeatureEncoder(manifest);
    const w = encoder.width;
    const x = shippedRows(w, encoder, 3000, name === 'logistic' ? 1e30 : 3.4e38);
    const rows = x.length / w;
    const o = await ortSession(path);
    const t = await TsInferenceSession.create(path);
    assert.deepEqual(t.inputNames, o.inputNames);
    assert.deepEqual(t.outputNames, o.outputNames);
    assert.deepEqual(t.inputMetadata, o.inputMetadata);
    assert.deepEqual(t.outputMetadata, o.outputMetadata);
    const input = manifest.input.name, output = manifest.output.name;
    const full = await runOrt(o, { [input]: { data: x, dims: [rows, w] } });
    const expected = full[output].data as Float32Array;
    let worst = 0;
    for (let r = 0; r < rows; r += 64) {
      const n = Math.min(64, rows - r);
      const got = await t.run({ [input]: { data: x.subarray(r * w, (r + n) * w), dims: [n, w] } });
      assert.deepEqual(got[output].dims, [n, 1]);
      assert.equal(got[output].type, 'float32');
      worst = Math.max(worst, assertClose(got[output].data as Float32Array, expected.subarray(r, r + n), PROB_TOL, `${name} rows ${r}…`));
    }
    for (let r = 0; r < rows; r += 7) {
      const got = t.runSync({ [input]: { data: x.subarray(r * w, (r + 1) * w), dims: [1, w] } }, [output]);
      assertClose(got[output].data as Float32Array, expected.subarray(r, r + 1), PROB_TOL, `${name} single row ${r}`);
    }
    // The sampler rows are real CTRs; edge rows may be NaN (logistic on NaN/∞ input) — the same NaN on both sides.
    for (let r = 0; r < 3000; r++) assert.ok(expected[r] > 0 && expected[r] < 1);
    ctx.diagnostic(`${name}: max |ts - ort| = ${worst.toExponential(2)} over ${rows} rows`);
    await o.release();
  });
}

test('xgboost: the margin before the Sigmoid equals onnxruntime bit for bit', async () => {
  const dir = resolve(ROOT, 'engine/models/xgboost');
  const manifest = readManifest(resolve(dir, 'manifest.json'));
  const encoder = new FeatureEncoder(manifest);
  // The same file with the TreeEnsembleRegressor's output exposed.
  const bytes = appendGraphOutputs(readFileSync(resolve(dir, manifest.file)), [{ name: 'margin', type: { tensor: DT.FLOAT } }]);
  const x = shippedRows(encoder.width, encoder, 2000);
  const feeds = { features: { data: x, dims: [x.length / encoder.width, encoder.width] } };
  const out = manifest.output.name;
  const [o, t] = await both(bytes, feeds, ['margin', out]);
  assertClose(t.margin.data as Float32Array, o.margin.data as Float32Array, 0, 'margin');
  assertClose(t[out].data as Float32Array, o[out].data as Float32Array, PROB_TOL, out);
});

// ---------------------------------------------------------------------------
// The external skl2onnx model
// ---------------------------------------------------------------------------

test('skl2onnx iris LogisticRegression: labels [0, 2, 1]; ZipMap probabilities equal onnxruntime\'s pre-ZipMap tensor', async () => {
  const bytes = readFileSync(resolve(ROOT, 'test/fixtures/external_models/skl2onnx_logreg_iris/model.onnx'));
  const t = await TsInferenceSession.create(bytes);
  assert.deepEqual(t.outputNames, ['output_label', 'output_probability']);
  assert.deepEqual(t.outputMetadata[1], { name: 'output_probability', isTensor: false });
  const X = f32rows([[5.1, 3.5], [6.7, 3.0], [5.9, 3.0]]);
  const out = t.runSync({ X });
  assert.equal(out.output_label.type, 'int64');
  assert.deepEqual(numbers(out.output_label.data), [0, 2, 1]);
  const zm = out.output_probability;
  assert.equal(zm.type, 'map');
  assert.deepEqual(zm.dims, [3, 3]);
  assert.deepEqual(zm.keys, [0, 1, 2]);
  const maps = zipMapRows(zm);
  assert.equal(maps.length, 3);
  for (const [r, m] of maps.entries()) {
    assert.deepEqual([...m.keys()], [0, 1, 2]);
    const sum = [...m.values()].reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-6, `row ${r} sums to ${sum}`);
    // the label is the most probable class
    const best = [...m.entries()].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
    assert.equal(best, Number(out.output_label.data[r]));
  }

  // onnxruntime cannot return the ZipMap; expose the tensors feeding it.
  const exposed = appendGraphOutputs(bytes, [{ name: 'probabilities', type: { tensor: DT.FLOAT } }, { name: 'probability_tensor', type: { tensor: DT.FLOAT } }]);
  const rand = mulberry32(7);
  const many = Array.from({ length: 500 }, () => [4 + rand() * 4, 2 + rand() * 2.5]);
  const [o, t2] = await both(exposed, { X: f32rows([...X.data.reduce<number[][]>((a, v, i) => (i % 2 ? a[a.length - 1].push(v) : a.push([v]), a), []), ...many]) },
    ['output_label', 'probabilities', 'probability_tensor']);
  assert.deepEqual(numbers(o.output_label.data).slice(0, 3), [0, 2, 1]);
  assert.deepEqual(numbers(t2.output_label.data), numbers(o.output_label.data));
  assertClose(t2.probability_tensor.data as Float32Array, o.probability_tensor.data as Float32Array, PROB_TOL, 'softmax scores');
  assertClose(t2.probabilities.data as Float32Array, o.probabilities.data as Float32Array, PROB_TOL, 'normalized probabilities');
  const zm2 = (await TsInferenceSession.create(exposed)).runSync({ X: f32rows(many) }, ['output_probability']).output_probability;
  assertClose(zm2.data as Float32Array, (t2.probabilities.data as Float32Array).subarray(9), 0, 'ZipMap values = the Normalizer output they zip');
});


// ---------------------------------------------------------------------------
// Hand-built models: tree ensembles
// ---------------------------------------------------------------------------

type Mode = TreeNode['mode'];

function regressorModel(attrs: Record<string, AttrValue>, width: number, nTargets: number): Uint8Array {
  return buildModel({
    nodes: [{ op: 'TreeEnsembleRegressor', domain: ML, inputs: ['X'], outputs: ['Y'], attrs }],
    inputs: [{ name: 'X', type: { tensor: DT.FLOAT, shape: [null, width] } }],
    outputs: [{ name: 'Y', type: { tensor: DT.FLOAT, shape: [null, nTargets] } }],
  });
}

/** One split on feature 0 at `value`: true leaf votes +1, false leaf −1. */
function stump(mode: Mode, value: number, missingTrue = false): Record<string, AttrValue> {
  return treeAttrs(
    [{ tree: 0, id: 0, mode, feature: 0, value, t: 1, f: 2, missingTrue }, { tree: 0, id: 1, mode: 'LEAF' }, { tree: 0, id: 2, mode: 'LEAF' }],
    [{ tree: 0, id: 1, target: 0, weight: 1 }, { tree: 0, id: 2, target: 0, weight: -1 }], 'target');
}

async function tsRun(bytes: Uint8Array, feeds: Feeds, fetches?: string[]): Promise<Record<string, TsTensor>> {
  return (await TsInferenceSession.create(bytes)).runSync(feeds, fetches);
}

test('tree modes at, below and above the threshold: BRANCH_LT vs LEQ at equality, all modes equal onnxruntime', async () => {
  const rows = [[0.25, 0], [0.5, 0], [0.75, 0], [-0, 0]];
  const expected: Record<Mode, number[]> = {
    BRANCH_LEQ: [1, 1, -1, 1], BRANCH_LT: [1, -1, -1, 1], BRANCH_GTE: [-1, 1, 1, -1], BRANCH_GT: [-1, -1, 1, -1],
    BRANCH_EQ: [-1, 1, -1, -1], BRANCH_NEQ: [1, -1, 1, 1], LEAF: [],
  };
  for (const mode of ['BRANCH_LEQ', 'BRANCH_LT', 'BRANCH_GTE', 'BRANCH_GT', 'BRANCH_EQ', 'BRANCH_NEQ'] as const) {
    const bytes = regressorModel({ ...stump(mode, 0.5), n_targets: 1 }, 2, 1);
    const [o, t] = await both(bytes, { X: f32rows(rows) });
    assert.deepEqual(numbers(t.Y.data), expected[mode], mode);
    assert.deepEqual(numbers(t.Y.data), numbers(o.Y.data), `${mode} vs onnxruntime`);
  }
  // Threshold 0 against -0: equal, as IEEE says.
  const t0 = await tsRun(regressorModel({ ...stump('BRANCH_LT', 0), n_targets: 1 }, 2, 1), { X: f32rows([[-0, 0]]) });
  assert.deepEqual(numbers(t0.Y.data), [-1]);
});

test('NaN features follow nodes_missing_value_tracks_true in every mode (the spec; onnxruntime differs only for BRANCH_NEQ)', async () => {
  for (const mode of ['BRANCH_LEQ', 'BRANCH_LT', 'BRANCH_GTE', 'BRANCH_GT', 'BRANCH_EQ', 'BRANCH_NEQ'] as const) {
    for (const missingTrue of [false, true]) {
      const bytes = regressorModel({ ...stump(mode, 0.5, missingTrue), n_targets: 1 }, 2, 1);
      const [o, t] = await both(bytes, { X: f32rows([[NaN, 0], [NaN, NaN]]) });
      const want = missingTrue ? 1 : -1;
      assert.deepEqual(numbers(t.Y.data), [want, want], `${mode} tracks_true=${missingTrue}`);
      // onnxruntime evaluates NaN != v as true for BRANCH_NEQ when the NaN tracks false.
      if (!(mode === 'BRANCH_NEQ' && !missingTrue)) assert.deepEqual(numbers(o.Y.data), [want, want], `${mode} vs onnxruntime`);
    }
  }
});

test('aggregate functions SUM, AVERAGE, MIN, MAX with base_values, 2 targets, equal onnxruntime', async () => {
  // Three stumps on features 0, 1, 2; every leaf votes for both targets.
  const nodes: TreeNode[] = [];
  const votes: TreeVote[] = [];
  const weights = [[1, 2, -3, 0.5], [0.25, -1, 4, 2], [-2, 8, 0.125, -0.75]];
  for (let tr = 0; tr < 3; tr++) {
    nodes.push({ tree: tr, id: 0, mode: 'BRANCH_LEQ', feature: tr, value: 0, t: 1, f: 2 }, { tree: tr, id: 1, mode: 'LEAF' }, { tree: tr, id: 2, mode: 'LEAF' });
    const [a, b, c, d] = weights[tr];
    votes.push({ tree: tr, id: 1, target: 0, weight: a }, { tree: tr, id: 1, target: 1, weight: b }, { tree: tr, id: 2, target: 0, weight: c }, { tree: tr, id: 2, target: 1, weight: d });
  }
  const rows = [[-1, -1, -1], [1, 1, 1], [-1, 1, -1], [1, -1, 1]];
  const hand: Record<string, number[][]> = {
    SUM: rows.map((r) => [0, 1].map((k) => r.reduce((s, v, tr) => s + weights[tr][(v <= 0 ? 0 : 2) + k], 0))),
  };
  hand.AVERAGE = hand.SUM.map((r) => r.map((v) => v / 3));
  hand.MIN = rows.map((r) => [0, 1].map((k) => Math.min(...r.map((v, tr) => weights[tr][(v <= 0 ? 0 : 2) + k]))));
  hand.MAX = rows.map((r) => [0, 1].map((k) => Math.max(...r.map((v, tr) => weights[tr][(v <= 0 ? 0 : 2) + k]))));
  for (const agg of ['SUM', 'AVERAGE', 'MIN', 'MAX']) {
    const bytes = regressorModel({ ...treeAttrs(nodes, votes, 'target'), n_targets: 2, aggregate_function: agg, base_values: { floats: [10, -10] } }, 3, 2);
    const [o, t] = await both(bytes, { X: f32rows(rows) });
    assert.deepEqual(t.Y.dims, [4, 2]);
    assertClose(t.Y.data as Float32Array, hand[agg].flatMap((r) => [r[0] + 10, r[1] - 10]), 1e-5, `${agg} by hand`);
    assertClose(t.Y.data as Float32Array, o.Y.data as Float32Array, 0, `${agg} vs onnxruntime`);
  }
});

test('post_transform SOFTMAX_ZERO keeps zero scores at 0 and softmaxes the rest; all-zero rows give 0.5 (the ONNX reference)', async () => {
  const nodes: TreeNode[] = [{ tree: 0, id: 0, mode: 'BRANCH_LEQ', feature: 0, value: 0.5, t: 1, f: 2 }, { tree: 0, id: 1, mode: 'LEAF' }, { tree: 0, id: 2, mode: 'LEAF' }];
  const votes: TreeVote[] = [
    { tree: 0, id: 1, target: 0, weight: 0 }, { tree: 0, id: 1, target: 1, weight: 2 }, { tree: 0, id: 1, target: 2, weight: 1 },
    { tree: 0, id: 2, target: 0, weight: 0 }, { tree: 0, id: 2, target: 1, weight: 0 }, { tree: 0, id: 2, target: 2, weight: 0 },
  ];
  const bytes = regressorModel({ ...treeAttrs(nodes, votes, 'target'), n_targets: 3, post_transform: 'SOFTMAX_ZERO' }, 1, 3);
  const [o, t] = await both(bytes, { X: f32rows([[0], [1]]) });
  const e = Math.exp(1);
  assertClose(t.Y.data.slice(0, 3) as Float32Array, [0, e / (e + 1), 1 / (e + 1)], 1e-7, 'softmax over the non-zero scores');
  assertClose(t.Y.data.slice(0, 3) as Float32Array, (o.Y.data as Float32Array).slice(0, 3), 0, 'vs onnxruntime');
  // onnxruntime divides 0 by 0 here (NaN); the ONNX reference implementation returns 0.5.
  assert.deepEqual(numbers(t.Y.data.slice(3)), [0.5, 0.5, 0.5]);
});

test('post_transform on a single-target regressor applies as the spec says (onnxruntime applies only PROBIT)', async () => {
  const logistic = await tsRun(regressorModel({ ...stump('BRANCH_LEQ', 0.5), n_targets: 1, post_transform: 'LOGISTIC' }, 1, 1), { X: f32rows([[0], [1]]) });
  assertClose(logistic.Y.data as Float32Array, [1 / (1 + Math.exp(-1)), 1 / (1 + Math.exp(1))], 1e-7, 'LOGISTIC');
  const probitBytes = regressorModel({ ...stump('BRANCH_LEQ', 0.5), n_targets: 1, post_transform: 'PROBIT', base_values: { floats: [-0.7] } }, 1, 1);
  const [o, t] = await both(probitBytes, { X: f32rows([[0], [1]]) });
  assertClose(t.Y.data as Float32Array, o.Y.data as Float32Array, 0, 'PROBIT vs onnxruntime');
  assert.ok(Math.abs((t.Y.data[0] as number) - -0.5244005) < 2e-3, 'probit(0.3) ≈ -0.5244 (Winitzki erfinv approximation)');
  assert.ok(Number.isNaN(t.Y.data[1] as number), 'probit outside (0, 1) is NaN');
});

test('a leaf with several votes counts them all; a leaf without votes adds nothing (the spec)', async () => {
  const votes = treeAttrs([{ tree: 0, id: 0, mode: 'LEAF', value: 5 }], [{ tree: 0, id: 0, target: 0, weight: 3 }, { tree: 0, id: 0, target: 0, weight: 4 }], 'target');
  assert.deepEqual(numbers((await tsRun(regressorModel({ ...votes, n_targets: 1 }, 1, 1), { X: f32rows([[0]]) })).Y.data), [7]);
  const none = treeAttrs([{ tree: 0, id: 0, mode: 'LEAF', value: 5 }], [], 'target');
  assert.deepEqual(numbers((await tsRun(regressorModel({ ...none, n_targets: 1, base_values: { floats: [0.5] } }, 1, 1), { X: f32rows([[0]]) })).Y.data), [0.5]);
});

// Random forests against onnxruntime. The generator stays inside what the spec
// decides the same way onnxruntime does (see the three tests above for where
// they part): NEQ nodes send NaN to the true branch, every leaf votes for
// every target, single-target regressors use NONE or PROBIT, SOFTMAX_ZERO
// sees positive scores only.
const THRESHOLDS = [-1, 0, 0.5, 1];
const INPUTS = [-1, 0, 0.5, 1, 2, NaN];
const MODES: Mode[] = ['BRANCH_LEQ', 'BRANCH_LT', 'BRANCH_GTE', 'BRANCH_GT', 'BRANCH_EQ', 'BRANCH_NEQ'];

interface ForestSpec { nodes: TreeNode[]; leaves: { tree: number; id: number }[] }

function forestArb(width: number, sameMode: boolean): fc.Arbitrary<ForestSpec> {
  return fc.record({
    trees: fc.integer({ min: 1, max: 4 }),
    seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    mode: fc.constantFrom(...MODES),
  }).map(({ trees, seed, mode }) => {
    const rand = mulberry32(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
    const nodes: TreeNode[] = [];
    const leaves: { tree: number; id: number }[] = [];
    for (let tree = 0; tree < trees; tree++) {
      const treeNodes: TreeNode[] = [];
      let next = 0;
      const grow = (depth: number): number => {
        const id = next++;
        if (depth >= 3 || (depth > 0 && rand() < 0.3)) {
          treeNodes.push({ tree, id, mode: 'LEAF' });
          leaves.push({ tree, id });
          return id;
        }
        const m = sameMode ? mode : pick(MODES);
        const node: TreeNode = { tree, id, mode: m, feature: Math.floor(rand() * width), value: pick(THRESHOLDS), missingTrue: m === 'BRANCH_NEQ' || rand() < 0.5 };
        treeNodes.push(node);
        node.t = grow(depth + 1);
        node.f = grow(depth + 1);
        return id;
      };
      grow(0);
      // Root first (both engines take the first listed node of a tree as its root); the rest in any order.
      const [root, ...rest] = treeNodes;
      rest.sort(() => rand() - 0.5);
      nodes.push(root, ...rest);
    }
    return { nodes, leaves };
  });
}

const rowsArb = (width: number) => fc.array(fc.array(fc.constantFrom(...INPUTS), { minLength: width, maxLength: width }), { minLength: 1, maxLength: 12 });
const WEIGHTS = [-2, -0.75, -0.1, 0.25, 0.5, 1.5, 3];
const POSITIVE = [0.25, 0.5, 1.5, 3];

test('random tree-ensemble regressors equal onnxruntime (property, 150 forests)', async () => {
  const width = 3;
  await fc.assert(fc.asyncProperty(
    forestArb(width, false), fc.boolean(), fc.integer({ min: 1, max: 3 }), fc.constantFrom('SUM', 'AVERAGE', 'MIN', 'MAX'),
    fc.constantFrom('NONE', 'LOGISTIC', 'SOFTMAX', 'SOFTMAX_ZERO', 'PROBIT'), fc.boolean(), fc.integer({ min: 1, max: 1e9 }), rowsArb(width),
    async (forest, sameModeUnused, nTargets, agg, postWanted, withBase, seed, rows) => {
      void sameModeUnused;
      const rand = mulberry32(seed);
      const post = nTargets === 1 && postWanted !== 'PROBIT' ? 'NONE' : postWanted;
      const pool = post === 'SOFTMAX_ZERO' ? POSITIVE : WEIGHTS;
      const votes: TreeVote[] = forest.leaves.flatMap((l) => Array.from({ length: nTargets }, (_, k) => ({ ...l, target: k, weight: pool[Math.floor(rand() * pool.length)] })));
      const attrs: Record<string, AttrValue> = { ...treeAttrs(forest.nodes, votes, 'target'), n_targets: nTargets, aggregate_function: agg, post_transform: post };
      if (withBase) attrs.base_values = { floats: Array.from({ length: nTargets }, () => (post === 'SOFTMAX_ZERO' ? 0.5 : pool[Math.floor(rand() * pool.length)])) };
      const [o, t] = await both(regressorModel(attrs, width, nTargets), { X: f32rows(rows) });
      assert.deepEqual(t.Y.dims, o.Y.dims);
      assertClose(t.Y.data as Float32Array, o.Y.data as Float32Array, post === 'NONE' ? 0 : 1e-6, `Y (${agg}, ${post})`);
    }), { numRuns: 150 });
});

test('random same-mode forests (the fast paths) equal onnxruntime (property, 60 forests)', async () => {
  const width = 4;
  await fc.assert(fc.asyncProperty(forestArb(width, true), fc.integer({ min: 1, max: 1e9 }), rowsArb(width), async (forest, seed, rows) => {
    const rand = mulberry32(seed);
    const votes = forest.leaves.map((l) => ({ ...l, target: 0, weight: WEIGHTS[Math.floor(rand() * WEIGHTS.length)] }));
    const [o, t] = await both(regressorModel({ ...treeAttrs(forest.nodes, votes, 'target'), n_targets: 1, base_values: { floats: [0.125] } }, width, 1), { X: f32rows(rows) });
    assertClose(t.Y.data as Float32Array, o.Y.data as Float32Array, 0, 'Y');
  }), { numRuns: 60 });
});

function classifierModel(attrs: Record<string, AttrValue>, width: number, nClasses: number, stringLabels: boolean): Uint8Array {
  return buildModel({
    nodes: [{ op: 'TreeEnsembleClassifier', domain: ML, inputs: ['X'], outputs: ['label', 'scores'], attrs }],
    inputs: [{ name: 'X', type: { tensor: DT.FLOAT, shape: [null, width] } }],
    outputs: [{ name: 'label', type: { tensor: stringLabels ? DT.STRING : DT.INT64, shape: [null] } }, { name: 'scores', type: { tensor: DT.FLOAT, shape: [null, nClasses] } }],
  });
}

test('random tree-ensemble classifiers, binary and multi-class, equal onnxruntime: labels exactly, scores within 1e-6 (property, 200 forests)', async () => {
  const width = 3;
  await fc.assert(fc.asyncProperty(
    forestArb(width, false), fc.integer({ min: 2, max: 4 }), fc.constantFrom('all', 'one0', 'one1', 'some'),
    fc.constantFrom('NONE', 'LOGISTIC', 'SOFTMAX', 'SOFTMAX_ZERO', 'PROBIT'), fc.constantFrom(0, 1, 2), fc.boolean(), fc.boolean(),
    fc.integer({ min: 1, max: 1e9 }), rowsArb(width),
    async (forest, nClasses, voting, post, baseLen, positiveOnly, stringLabels, seed, rows) => {
      const rand = mulberry32(seed);
      const pool = positiveOnly || post === 'SOFTMAX_ZERO' ? POSITIVE : WEIGHTS;
      const w = () => pool[Math.floor(rand() * pool.length)];
      const binary = nClasses === 2;
      // Multi-class: every leaf votes for every class (onnxruntime has no label for a row without votes).
      const classesOf = (): number[] => {
        if (!binary || voting === 'all') return Array.from({ length: nClasses }, (_, k) => k);
        if (voting === 'one0') return [0];
        if (voting === 'one1') return [1];
        return rand() < 0.5 ? [0] : [0, 1];
      };
      const votes: TreeVote[] = forest.leaves.flatMap((l) => classesOf().map((k) => ({ ...l, target: k, weight: w() })));
      // Where onnxruntime leaves the second score column unwritten, there is nothing to compare: avoid it.
      const binaryCase = binary && (voting === 'one0' || voting === 'one1');
      let nBase = binary ? baseLen : baseLen === 0 ? 0 : nClasses;
      if (binary && nBase < 2 && (post === 'PROBIT' || (!binaryCase && nBase === 1))) nBase = 2;
      const labels: Record<string, AttrValue> = stringLabels ? { classlabels_strings: Array.from({ length: nClasses }, (_, k) => `class_${k}`) } : { classlabels_int64s: Array.from({ length: nClasses }, (_, k) => 10 + 3 * k) };
      const attrs: Record<string, AttrValue> = { ...treeAttrs(forest.nodes, votes, 'class'), ...labels, post_transform: post };
      if (nBase > 0) attrs.base_values = { floats: Array.from({ length: nBase }, () => (post === 'SOFTMAX_ZERO' ? 0.5 : w())) };
      const [o, t] = await both(classifierModel(attrs, width, nClasses, stringLabels), { X: f32rows(rows) });
      const what = `${nClasses} classes, votes ${voting}, base ${nBase}, ${post}`;
      if (stringLabels) assert.deepEqual(t.label.strings, Array.from(o.label.data as string[]), `labels (${what})`);
      else assert.deepEqual(numbers(t.label.data), numbers(o.label.data), `labels (${what})`);
      assert.deepEqual(t.scores.dims, o.scores.dims);
      assertClose(t.scores.data as Float32Array, o.scores.data as Float32Array, 1e-6, `scores (${what})`);
    }), { numRuns: 200 });
});

/**
 * The batch fast path (complete-tree layout, branch-free walk, eight rows or
 * four trees at a time, NaN rows redone per node) against onnxruntime, bit for
 * bit: deep single-mode forests with up to 13 trees, batches of up to 21 rows,
 * infinities and NaNs among the inputs, regressors and binary classifiers.
 */
test('tree-ensemble batch fast path equals onnxruntime bit for bit: deep LT/LEQ forests, 1–21 rows, NaN and ±∞ inputs (property, 80 forests)', async () => {
  const width = 5;
  const VALUES = [-2, -0.5, 0, 0.5, 0.75, 1, 3, Infinity, -Infinity, NaN];
  await fc.assert(fc.asyncProperty(
    fc.integer({ min: 1, max: 13 }), fc.constantFrom<Mode>('BRANCH_LT', 'BRANCH_LEQ'), fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    fc.integer({ min: 1, max: 21 }), fc.double({ min: 0, max: 0.2, noNaN: true }), fc.boolean(),
    async (trees, mode, seed, nRows, nanShare, classifier) => {
      const rand = mulberry32(seed);
      const nodes: TreeNode[] = [];
      const votes: TreeVote[] = [];
      for (let tree = 0; tree < trees; tree++) {
        let next = 0;
        const grow = (depth: number): number => {
          const id = next++;
          if (depth >= 7 || (depth > 0 && rand() < 0.2)) {
            nodes.push({ tree, id, mode: 'LEAF' });
            // Float32 weights of mixed sign and scale, so the order of the float32 sums shows.
            if (rand() < 0.95) votes.push({ tree, id, target: 0, weight: Math.fround((rand() - 0.45) * 10 ** Math.floor(rand() * 4 - 2)) });
            return id;
          }
          const node: TreeNode = { tree, id, mode, feature: Math.floor(rand() * width), value: VALUES[Math.floor(rand() * 7)], missingTrue: rand() < 0.5 };
          nodes.push(node);
          node.t = grow(depth + 1);
          node.f = grow(depth + 1);
          return id;
        };
        grow(0);
      }
      const rows = Array.from({ length: nRows }, () => Array.from({ length: width }, () => (rand() < nanShare ? NaN : VALUES[Math.floor(rand() * 9)])));
      if (classifier) {
        const attrs: Record<string, AttrValue> = { ...treeAttrs(nodes, votes, 'class'), classlabels_int64s: [0, 1], post_transform: 'NONE' };
        const [o, t] = await both(classifierModel(attrs, width, 2, false), { X: f32rows(rows) });
        assert.deepEqual(numbers(t.label.data), numbers(o.label.data), 'labels');
        assertClose(t.scores.data as Float32Array, o.scores.data as Float32Array, 0, 'scores');
      } else {
        const [o, t] = await both(regressorModel({ ...treeAttrs(nodes, votes, 'target'), n_targets: 1, base_values: { floats: [0.125] } }, width, 1), { X: f32rows(rows) });
        assertClose(t.Y.data as Float32Array, o.Y.data as Float32Array, 0, 'Y');
      }
    }), { numRuns: 80 });
});

// ---------------------------------------------------------------------------
// Hand-built models: the other operators
// ---------------------------------------------------------------------------

function single(node: NodeSpec, inputs: ModelSpec['inputs'], outputs: ModelSpec['outputs'], extra: Partial<ModelSpec> = {}): Uint8Array {
  return buildModel({ nodes: [node], inputs, outputs, ...extra });
}
const floatIn = (name: string, shape: (number | string | null)[]) => ({ name, type: { tensor: DT.FLOAT, shape } });
const floatOut = (name: string) => ({ name, type: { tensor: DT.FLOAT } });

test('LinearClassifier: multi-class NONE / LOGISTIC / SOFTMAX / SOFTMAX_ZERO, binary with one coefficient row, string labels — equal onnxruntime', async () => {
  const X = f32rows([[1, 2], [-1, 0.5], [0, 0], [3, -4], [0.25, 0.75]]);
  const coef3 = [0.5, -1, 2, 0.25, -1.5, 1];
  for (const post of ['NONE', 'LOGISTIC', 'SOFTMAX', 'SOFTMAX_ZERO']) {
    for (const labels of [{ classlabels_ints: [4, 5, 6] }, { classlabels_strings: ['a', 'b', 'c'] }] as Record<string, AttrValue>[]) {
      const strings = 'classlabels_strings' in labels;
      const bytes = single(
        { op: 'LinearClassifier', domain: ML, inputs: ['X'], outputs: ['y', 'z'], attrs: { ...labels, coefficients: { floats: coef3 }, intercepts: { floats: [0.1, -0.2, 0.3] }, post_transform: post } },
        [floatIn('X', [null, 2])], [{ name: 'y', type: { tensor: strings ? DT.STRING : DT.INT64 } }, floatOut('z')]);
      const [o, t] = await both(bytes, { X });
      if (strings) assert.deepEqual(t.y.strings, Array.from(o.y.data as string[]));
      else assert.deepEqual(numbers(t.y.data), numbers(o.y.data));
      assertClose(t.z.data as Float32Array, o.z.data as Float32Array, 1e-6, `z ${post}`);
    }
  }
  const oneLabel = single(
    { op: 'LinearClassifier', domain: ML, inputs: ['X'], outputs: ['y', 'z'], attrs: { classlabels_ints: [1], coefficients: { floats: [0.3, -0.2] }, intercepts: { floats: [0.1] } } },
    [floatIn('X', [null, 2])], [{ name: 'y', type: { tensor: DT.INT64 } }, floatOut('z')]);
  await assert.rejects(TsInferenceSession.create(oneLabel), /needs 2 class labels, got 1/);
  await assert.rejects(ortSession(oneLabel), /exactly 2 elements/);
  for (const labels of [{ classlabels_ints: [3, 7] }, {}] as Record<string, AttrValue>[]) {
    for (const post of ['NONE', 'LOGISTIC', 'PROBIT']) {
      const bytes = single(
        { op: 'LinearClassifier', domain: ML, inputs: ['X'], outputs: ['y', 'z'], attrs: { ...labels, coefficients: { floats: [0.3, -0.2] }, intercepts: { floats: [0.1] }, post_transform: post } },
        [floatIn('X', [null, 2])], [{ name: 'y', type: { tensor: DT.INT64 } }, floatOut('z')]);
      const [o, t] = await both(bytes, { X: post === 'PROBIT' ? f32rows([[0.5, 0.25], [1, 1], [2, 3]]) : X });
      assert.deepEqual(numbers(t.y.data), numbers(o.y.data), `binary labels ${JSON.stringify(labels)} ${post}`);
      assert.deepEqual(t.z.dims, o.z.dims);
      // onnxruntime packs PROBIT scores of a two-label, one-row model into the wrong slots; ours follow the ONNX reference.
      if (post === 'PROBIT' && 'classlabels_ints' in labels && (labels.classlabels_ints as number[]).length === 2) continue;
      assertClose(t.z.data as Float32Array, o.z.data as Float32Array, 1e-6, `binary z ${JSON.stringify(labels)} ${post}`);
    }
  }
});

test('LinearRegressor, Normalizer (MAX, L1, L2, a zero row), Cast: equal onnxruntime', async () => {
  const X = f32rows([[1, 2, -3], [0, 0, 0], [-0.5, 0.25, 4], [1e-3, -7, 2]]);
  const lr = single({ op: 'LinearRegressor', domain: ML, inputs: ['X'], outputs: ['Y'], attrs: { coefficients: { floats: [1, 2, 3, -1, 0.5, 0.25] }, intercepts: { floats: [0.5, -0.5] }, targets: 2 } },
    [floatIn('X', [null, 3])], [floatOut('Y')]);
  const [o, t] = await both(lr, { X });
  assertClose(t.Y.data as Float32Array, o.Y.data as Float32Array, 1e-6, 'LinearRegressor');
  for (const norm of ['MAX', 'L1', 'L2']) {
    const bytes = single({ op: 'Normalizer', domain: ML, inputs: ['X'], outputs: ['Y'], attrs: { norm } }, [floatIn('X', [null, 3])], [floatOut('Y')]);
    const [o2, t2] = await both(bytes, { X });
    assertClose(t2.Y.data as Float32Array, o2.Y.data as Float32Array, 1e-7, `Normalizer ${norm}`);
  }
  const C = f32rows([[1.9, -1.9, 0.5, -0.5, 1e9, -3e9, 7, 2 ** 24 + 1]]);
  for (const [to, type] of [[DT.INT64, 'int64'], [DT.INT32, 'int32'], [DT.DOUBLE, 'float64'], [DT.FLOAT, 'float32']] as const) {
    const inRange = to === DT.INT32 ? f32rows([[1.9, -1.9, 0.5, -0.5, 1e9, -1e9, 7, 2 ** 24 + 1]]) : C;
    const bytes = single({ op: 'Cast', inputs: ['X'], outputs: ['Y'], attrs: { to } }, [floatIn('X', [1, 8])], [{ name: 'Y', type: { tensor: to } }]);
    const [o3, t3] = await both(bytes, { X: inRange });
    assert.equal(t3.Y.type, type);
    assert.deepEqual(numbers(t3.Y.data), numbers(o3.Y.data), `Cast to ${type}`);
  }
});

test('MatMul (batch broadcast, 1-D operands), Gemm (trans, alpha, beta, C broadcast), Add/Sub/Mul broadcasting, Sigmoid, Identity: equal onnxruntime', async () => {
  const rand = mulberry32(3);
  const fill = (n: number) => Float32Array.from({ length: n }, () => Math.fround(rand() * 4 - 2));
  // MatMul [2,3,4] x [4,5], [3] x [3,2]
  const mm = buildModel({
    nodes: [{ op: 'MatMul', inputs: ['A', 'B'], outputs: ['Y'] }, { op: 'MatMul', inputs: ['v', 'W'], outputs: ['Z'] }],
    inputs: [floatIn('A', [2, 3, 4]), floatIn('v', [3])], outputs: [floatOut('Y'), floatOut('Z')],
    initializers: [{ name: 'B', dataType: DT.FLOAT, dims: [4, 5], values: Array.from(fill(20)) }, { name: 'W', dataType: DT.FLOAT, dims: [3, 2], values: Array.from(fill(6)), raw: true }],
  });
  const [o, t] = await both(mm, { A: { data: fill(24), dims: [2, 3, 4] }, v: { data: fill(3), dims: [3] } });
  assert.deepEqual(t.Y.dims, [2, 3, 5]);
  assert.deepEqual(t.Z.dims, [2]);
  assertClose(t.Y.data as Float32Array, o.Y.data as Float32Array, 1e-6, 'MatMul batched');
  assertClose(t.Z.data as Float32Array, o.Z.data as Float32Array, 1e-6, 'MatMul 1-D');

  for (const [transA, transB, cDims] of [[0, 0, [4]], [1, 0, [3, 1]], [0, 1, [1]], [1, 1, [3, 4]]] as const) {
    const g = buildModel({
      nodes: [{ op: 'Gemm', inputs: ['A', 'B', 'C'], outputs: ['Y'], attrs: { alpha: 0.5, beta: 2, transA, transB }, floatAttrs: ['alpha', 'beta'] }],
      inputs: [floatIn('A', transA ? [5, 3] : [3, 5])], outputs: [floatOut('Y')],
      initializers: [
        { name: 'B', dataType: DT.FLOAT, dims: transB ? [4, 5] : [5, 4], values: Array.from(fill(20)) },
        { name: 'C', dataType: DT.FLOAT, dims: [...cDims], values: Array.from(fill((cDims as readonly number[]).reduce((p, d) => p * d, 1))) },
      ],
    });
    const [og, tg] = await both(g, { A: { data: fill(15), dims: transA ? [5, 3] : [3, 5] } });
    assert.deepEqual(tg.Y.dims, [3, 4]);
    assertClose(tg.Y.data as Float32Array, og.Y.data as Float32Array, 1e-6, `Gemm transA=${transA} transB=${transB} C${JSON.stringify(cDims)}`);
  }

  const ew = buildModel({
    nodes: [
      { op: 'Add', inputs: ['X', 'row'], outputs: ['a'] }, { op: 'Sub', inputs: ['a', 'col'], outputs: ['b'] },
      { op: 'Mul', inputs: ['b', 'k'], outputs: ['c'] }, { op: 'Sigmoid', inputs: ['c'], outputs: ['Y'] }, { op: 'Identity', inputs: ['X'], outputs: ['I'] },
    ],
    inputs: [floatIn('X', [2, 3, 4])], outputs: [floatOut('Y'), floatOut('I')],
    initializers: [
      { name: 'row', dataType: DT.FLOAT, dims: [4], values: [1, -1, 0.5, 2] },
      { name: 'col', dataType: DT.FLOAT, dims: [3, 1], values: [0.25, -3, 1] },
      { name: 'k', dataType: DT.FLOAT, dims: [], values: [1.5] },
    ],
  });
  const x = fill(24);
  const [oe, te] = await both(ew, { X: { data: x, dims: [2, 3, 4] } });
  assertClose(te.Y.data as Float32Array, oe.Y.data as Float32Array, 2e-7, 'Add/Sub/Mul/Sigmoid');
  assert.deepEqual(Array.from(te.I.data as Float32Array), Array.from(x));
  assert.notEqual(te.I.data, x, 'Identity copies: outputs never alias a feed');
});

test('Reshape (0 and -1), Flatten (axis), Softmax (opset 11 coerces to 2-D, opset 13 one axis): equal onnxruntime', async () => {
  const rand = mulberry32(9);
  const x = Float32Array.from({ length: 24 }, () => Math.fround(rand() * 6 - 3));
  const shapes = buildModel({
    nodes: [{ op: 'Reshape', inputs: ['X', 'shape'], outputs: ['R'] }, { op: 'Flatten', inputs: ['X'], outputs: ['F'], attrs: { axis: 2 } }, { op: 'Flatten', inputs: ['X'], outputs: ['G'], attrs: { axis: -3 } }],
    inputs: [floatIn('X', [2, 3, 4])], outputs: [floatOut('R'), floatOut('F'), floatOut('G')],
    initializers: [{ name: 'shape', dataType: DT.INT64, dims: [3], values: [0, -1, 2] }],
  });
  const [o, t] = await both(shapes, { X: { data: x, dims: [2, 3, 4] } });
  assert.deepEqual(t.R.dims, [2, 6, 2]);
  assert.deepEqual(t.F.dims, [6, 4]);
  assert.deepEqual(t.G.dims, [1, 24]);
  for (const k of ['R', 'F', 'G']) {
    assert.deepEqual(t[k].dims, o[k].dims.slice());
    assert.deepEqual(Array.from(t[k].data as Float32Array), Array.from(o[k].data as Float32Array));
  }
  for (const [opset, axis] of [[11, 1], [11, -1], [13, 1], [13, -1], [13, 0]] as const) {
    const sm = buildModel({
      nodes: [{ op: 'Softmax', inputs: ['X'], outputs: ['Y'], attrs: { axis } }],
      inputs: [floatIn('X', [2, 3, 4])], outputs: [floatOut('Y')], opsets: [{ domain: '', version: opset }],
    });
    const [os, ts] = await both(sm, { X: { data: x, dims: [2, 3, 4] } });
    assertClose(ts.Y.data as Float32Array, os.Y.data as Float32Array, 1e-6, `Softmax opset ${opset} axis ${axis}`);
  }
});

test('initializers in raw_data and in typed fields decode alike (float, double, int32, int64)', async () => {
  for (const raw of [false, true]) {
    const bytes = buildModel({
      nodes: [{ op: 'Add', inputs: ['X', 'b'], outputs: ['Y'] }, { op: 'Cast', inputs: ['d'], outputs: ['D'], attrs: { to: DT.FLOAT } },
        { op: 'Cast', inputs: ['i'], outputs: ['I'], attrs: { to: DT.FLOAT } }, { op: 'Cast', inputs: ['l'], outputs: ['L'], attrs: { to: DT.FLOAT } }],
      inputs: [floatIn('X', [2])], outputs: [floatOut('Y'), floatOut('D'), floatOut('I'), floatOut('L')],
      initializers: [
        { name: 'b', dataType: DT.FLOAT, dims: [2], values: [0.1, -2.5], raw },
        { name: 'd', dataType: DT.DOUBLE, dims: [2], values: [1.25, -1e10], raw },
        { name: 'i', dataType: DT.INT32, dims: [2], values: [-7, 2 ** 30], raw },
        { name: 'l', dataType: DT.INT64, dims: [2], values: [-5n, 2n ** 40n], raw },
      ],
    });
    const t = await tsRun(bytes, { X: { data: Float32Array.of(1, 2), dims: [2] } });
    assert.deepEqual(numbers(t.Y.data), [Math.fround(Math.fround(0.1) + 1), -0.5], `raw=${raw}`);
    assert.deepEqual(numbers(t.D.data), [1.25, Math.fround(-1e10)]);
    assert.deepEqual(numbers(t.I.data), [-7, 2 ** 30]);
    assert.deepEqual(numbers(t.L.data), [-5, 2 ** 40]);
  }
});

// ---------------------------------------------------------------------------
// Load-time failures and feed checks
// ---------------------------------------------------------------------------

test('a corrupt or truncated model file fails at load with a message saying so', async () => {
  const good = readFileSync(resolve(ROOT, 'engine/models/xgboost/model.onnx'));
  for (const cut of [good.length - 1, Math.floor(good.length / 2), 10, 3]) {
    await assert.rejects(TsInferenceSession.create(good.subarray(0, cut)), (err: Error) => {
      assert.ok(err instanceof OnnxModelError, `${err.name}: ${err.message}`);
      assert.match(err.message, /not a valid ONNX protobuf: truncated|has no graph/);
      return true;
    }, `cut at ${cut}`);
  }
  await assert.rejects(TsInferenceSession.create(new Uint8Array(0)), /empty model file/);
  await assert.rejects(TsInferenceSession.create(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), /not a valid ONNX protobuf/);
  await assert.rejects(TsInferenceSession.create(new TextEncoder().encode('{"not": "onnx"}')), OnnxModelError);
  await assert.rejects(TsInferenceSession.create('/nonexistent/model.onnx'), /cannot read the model file/);
  // onnxruntime refuses the truncated file too.
  await assert.rejects(ort.InferenceSession.create(good.subarray(0, Math.floor(good.length / 2))));
});

test('an unknown operator fails at load (not at run) naming the op and the node', async () => {
  const bytes = buildModel({
    nodes: [{ op: 'Relu', name: 'the_relu', inputs: ['X'], outputs: ['Y'] }],
    inputs: [floatIn('X', [null, 2])], outputs: [floatOut('Y')],
  });
  await assert.rejects(TsInferenceSession.create(bytes), (err: Error) => {
    assert.ok(err instanceof OnnxOpError);
    assert.match(err.message, /Relu node "the_relu": unsupported operator ai\.onnx::Relu/);
    return true;
  });
  const custom = buildModel({ nodes: [{ op: 'MyOp', domain: 'com.example', inputs: ['X'], outputs: ['Y'] }], inputs: [floatIn('X', [1])], outputs: [floatOut('Y')],
    opsets: [{ domain: '', version: 17 }, { domain: 'com.example', version: 1 }] });
  await assert.rejects(TsInferenceSession.create(custom), /unsupported operator com\.example::MyOp/);
});

test('bad graphs and attributes fail at load naming what is wrong', async () => {
  const cases: [string, ModelSpec, RegExp][] = [
    ['undefined input', { nodes: [{ op: 'Add', inputs: ['X', 'nope'], outputs: ['Y'] }], inputs: [floatIn('X', [1])], outputs: [floatOut('Y')] }, /input "nope" is not a graph input/],
    ['missing output', { nodes: [{ op: 'Sigmoid', inputs: ['X'], outputs: ['Y'] }], inputs: [floatIn('X', [1])], outputs: [floatOut('Z')] }, /graph output "Z" is produced by no node/],
    ['cast to string', { nodes: [{ op: 'Cast', inputs: ['X'], outputs: ['Y'], attrs: { to: DT.STRING } }], inputs: [floatIn('X', [1])], outputs: [floatOut('Y')] }, /casting to string is not supported/],
    ['tree cycle', {
      nodes: [{ op: 'TreeEnsembleRegressor', domain: ML, inputs: ['X'], outputs: ['Y'], attrs: { n_targets: 1, ...treeAttrs(
        [{ tree: 0, id: 0, mode: 'BRANCH_LEQ', feature: 0, value: 0, t: 1, f: 2 }, { tree: 0, id: 1, mode: 'BRANCH_LEQ', feature: 0, value: 1, t: 0, f: 2 }, { tree: 0, id: 2, mode: 'LEAF' }],
        [{ tree: 0, id: 2, target: 0, weight: 1 }], 'target') } }],
      inputs: [floatIn('X', [null, 1])], outputs: [floatOut('Y')],
    }, /a tree has a cycle/],
    ['dangling child', {
      nodes: [{ op: 'TreeEnsembleRegressor', domain: ML, inputs: ['X'], outputs: ['Y'], attrs: { n_targets: 1, ...treeAttrs(
        [{ tree: 0, id: 0, mode: 'BRANCH_LEQ', feature: 0, value: 0, t: 1, f: 9 }, { tree: 0, id: 1, mode: 'LEAF' }], [], 'target') } }],
      inputs: [floatIn('X', [null, 1])], outputs: [floatOut('Y')],
    }, /false node 9 does not exist/],
    ['bad mode', {
      nodes: [{ op: 'TreeEnsembleRegressor', domain: ML, inputs: ['X'], outputs: ['Y'], attrs: { n_targets: 1, ...treeAttrs(
        [{ tree: 0, id: 0, mode: 'BRANCH_MEMBER' as Mode, feature: 0, value: 0, t: 1, f: 1 }, { tree: 0, id: 1, mode: 'LEAF' }], [], 'target') } }],
      inputs: [floatIn('X', [null, 1])], outputs: [floatOut('Y')],
    }, /mode "BRANCH_MEMBER" is not one of/],
    ['bad post_transform', {
      nodes: [{ op: 'TreeEnsembleRegressor', domain: ML, inputs: ['X'], outputs: ['Y'], attrs: { n_targets: 1, post_transform: 'SIGMOID', ...stump('BRANCH_LEQ', 0) } }],
      inputs: [floatIn('X', [null, 1])], outputs: [floatOut('Y')],
    }, /post_transform "SIGMOID" is not one of/],
    ['wrong attribute type', { nodes: [{ op: 'Flatten', inputs: ['X'], outputs: ['Y'], attrs: { axis: 'one' } }], inputs: [floatIn('X', [1])], outputs: [floatOut('Y')] }, /attribute axis is STRING, expected INT/],
  ];
  for (const [what, spec, message] of cases) {
    await assert.rejects(TsInferenceSession.create(buildModel(spec)), (err: Error) => {
      assert.ok(err instanceof OnnxOpError || err instanceof OnnxModelError, `${what}: ${err.name}`);
      assert.match(err.message, message, what);
      return true;
    });
  }
});

test('feeds are checked like onnxruntime does: names, rank, fixed dimensions, data length', async () => {
  const t = await TsInferenceSession.create(resolve(ROOT, 'engine/models/logistic/model.onnx'));
  const ok = new Float32Array(2 * 141);
  assert.deepEqual(t.runSync({ features: { data: ok, dims: [2, 141] } }).ctr.dims, [2, 1]);
  assert.deepEqual(t.runSync({ features: { data: new Float32Array(0), dims: [0, 141] } }).ctr.dims, [0, 1]);
  assert.throws(() => t.runSync({}), /input "features" is missing/);
  assert.throws(() => t.runSync({ features: { data: ok, dims: [2, 141] }, extra: { data: ok, dims: [2, 141] } }), /feed "extra" is not an input/);
  assert.throws(() => t.runSync({ features: { data: new Float32Array(140), dims: [1, 140] } }), /dimension 1 is 140, the model expects 141/);
  assert.throws(() => t.runSync({ features: { data: ok, dims: [282] } }), /rank 1, the model expects rank 2/);
  assert.throws(() => t.runSync({ features: { data: ok, dims: [3, 141] } }), /need 423 values, data has 282/);
  assert.throws(() => t.runSync({ features: { data: ok, dims: [2, 141] } }, ['nope']), /fetch "nope" is not an output/);
});

test('int64 through the shared protobufjs schema: exact beyond 2^53 in tensors, refused beyond 2^53 where a JS number must hold it', async () => {
  const big = [-(2n ** 60n) - 3n, 2n ** 62n + 1n];
  const bytes = buildModel({
    nodes: [{ op: 'Identity', inputs: ['l'], outputs: ['L'] }, { op: 'Identity', inputs: ['X'], outputs: ['Y'] }],
    inputs: [floatIn('X', [1])], outputs: [floatOut('Y'), { name: 'L', type: { tensor: DT.INT64, shape: [2] } }],
    initializers: [{ name: 'l', dataType: DT.INT64, dims: [2], values: big }],
  });
  const t = await tsRun(bytes, { X: { data: Float32Array.of(1), dims: [1] } });
  assert.deepEqual(Array.from(t.L.data as BigInt64Array), big);
  const attr = buildModel({ nodes: [{ op: 'Flatten', inputs: ['X'], outputs: ['Y'], attrs: { axis: 2 ** 60 } }], inputs: [floatIn('X', [1])], outputs: [floatOut('Y')] });
  await assert.rejects(TsInferenceSession.create(attr), /attribute axis: int64 value 1152921504606846976 is beyond 2\^53/);
});
