// ai.onnx.ml TreeEnsembleRegressor and TreeEnsembleClassifier (opsets 1–3).
//
// At load the node tuples become flat typed arrays (feature, threshold, mode,
// true/false child index, missing-value direction) and each leaf's votes a
// contiguous slice of (target, weight) arrays; children are resolved to
// indices, ids checked, cycles refused. At run time every row walks every tree
// over those arrays: no objects per node or per row.
//
// Semantics, where the spec text decides (Operators-ml.md):
//  - a NaN feature takes the branch nodes_missing_value_tracks_true names, for
//    every mode (onnxruntime instead evaluates BRANCH_NEQ as `NaN != v`, true);
//  - every vote of a leaf counts (onnxruntime uses only the first vote of a
//    leaf when there is a single target), a leaf without votes adds nothing;
//  - base_values are added after the aggregate, post_transform applies to the
//    scores whatever their number (onnxruntime skips LOGISTIC/SOFTMAX when a
//    regressor has one target).
// Where the spec is silent (tree order, float32 accumulation, the classifier's
// binary-case scores and labels) this follows onnxruntime's
// tree_ensemble_aggregator.h, so outputs match it to the last float32 bit on
// the models converters produce.
import { numberAt, tensor, type Tensor } from '../tensor.js';
import { applyPostTransform, logistic32, PostTransform, probit32, readPostTransform } from './post_transform.js';
import { OnnxOpError, tensorInput, type Kernel, type NodeContext } from './op_types.js';

const f32 = Math.fround;

const enum Mode { LEQ = 0, LT = 1, GTE = 2, GT = 3, EQ = 4, NEQ = 5, LEAF = 6 }
const MODES: Record<string, Mode> = {
  BRANCH_LEQ: Mode.LEQ, BRANCH_LT: Mode.LT, BRANCH_GTE: Mode.GTE, BRANCH_GT: Mode.GT,
  BRANCH_EQ: Mode.EQ, BRANCH_NEQ: Mode.NEQ, LEAF: Mode.LEAF,
};

/** The trees of one node, flattened. Node arrays are indexed by position in the nodes_* attributes. */
export interface Forest {
  nTrees: number;
  roots: Int32Array;
  /** Feature index per node; -1 marks a leaf. */
  feature: Int32Array;
  threshold: Float64Array;
  mode: Uint8Array;
  /** The single branch mode of every non-leaf node, or -1 when modes are mixed. */
  sameMode: number;
  trueChild: Int32Array;
  falseChild: Int32Array;
  missingTrue: Uint8Array;
  maxFeature: number;
  /** Votes of node i are [voteStart[i], voteStart[i + 1]). */
  voteStart: Int32Array;
  voteTarget: Int32Array;
  voteWeight: Float64Array;
  /** Every leaf has at most one vote and all votes are for target 0. */
  singleVote: boolean;
}

/** Reads and checks the nodes_* and {target|class}_* attributes. */
export function buildForest(ctx: NodeContext, prefix: 'target' | 'class', nOutputs: number): Forest {
  const a = ctx.attrs;
  for (const name of ['nodes_values_as_tensor', 'nodes_hitrates_as_tensor', `${prefix}_weights_as_tensor`, 'base_values_as_tensor']) {
    a.refuse(name, 'double-precision *_as_tensor attributes are not implemented');
  }
  const need = <T>(name: string, v: T[] | undefined): T[] => {
    if (v === undefined) ctx.fail(`attribute ${name} is required`);
    return v;
  };
  const treeIds = need('nodes_treeids', a.ints('nodes_treeids'));
  const nodeIds = need('nodes_nodeids', a.ints('nodes_nodeids'));
  const featureIds = need('nodes_featureids', a.ints('nodes_featureids'));
  const values = need('nodes_values', a.floats('nodes_values'));
  const modeNames = need('nodes_modes', a.strings('nodes_modes'));
  const trueIds = need('nodes_truenodeids', a.ints('nodes_truenodeids'));
  const falseIds = need('nodes_falsenodeids', a.ints('nodes_falsenodeids'));
  const missing = a.ints('nodes_missing_value_tracks_true') ?? [];
  const n = treeIds.length;
  if (n === 0) ctx.fail('the ensemble has no nodes');
  for (const [name, arr] of [['nodes_nodeids', nodeIds], ['nodes_featureids', featureIds], ['nodes_values', values], ['nodes_modes', modeNames],
    ['nodes_truenodeids', trueIds], ['nodes_falsenodeids', falseIds]] as const) {
    if (arr.length !== n) ctx.fail(`${name} has ${arr.length} entries, nodes_treeids has ${n}`);
  }
  if (missing.length !== 0 && missing.length !== n) ctx.fail(`nodes_missing_value_tracks_true has ${missing.length} entries, expected 0 or ${n}`);

  const index = new Map<number, Map<number, number>>();
  const roots: number[] = [];
  for (let i = 0; i < n; i++) {
    let tree = index.get(treeIds[i]);
    if (tree === undefined) {
      tree = new Map();
      index.set(treeIds[i], tree);
      roots.push(i); // the first node listed for a tree is its root
    }
    if (tree.has(nodeIds[i])) ctx.fail(`node ${nodeIds[i]} of tree ${treeIds[i]} is listed twice`);
    tree.set(nodeIds[i], i);
  }
  const find = (tree: number, node: number, what: string, from: number): number => {
    const i = index.get(tree)?.get(node);
    if (i === undefined) ctx.fail(`node ${nodeIds[from]} of tree ${tree}: its ${what} node ${node} does not exist in that tree`);
    return i;
  };

  const feature = new Int32Array(n);
  const threshold = new Float64Array(n);
  const mode = new Uint8Array(n);
  const trueChild = new Int32Array(n);
  const falseChild = new Int32Array(n);
  const missingTrue = new Uint8Array(n);
  let sameMode = -2;
  let maxFeature = -1;
  for (let i = 0; i < n; i++) {
    const m = MODES[modeNames[i]];
    if (m === undefined) ctx.fail(`node ${nodeIds[i]} of tree ${treeIds[i]}: mode ${JSON.stringify(modeNames[i])} is not one of ${Object.keys(MODES).join(', ')}`);
    mode[i] = m;
    threshold[i] = values[i];
    missingTrue[i] = missing.length > 0 && missing[i] === 1 ? 1 : 0;
    if (m === Mode.LEAF) {
      feature[i] = -1;
      continue;
    }
    if (featureIds[i] < 0) ctx.fail(`node ${nodeIds[i]} of tree ${treeIds[i]}: negative feature id ${featureIds[i]}`);
    feature[i] = featureIds[i];
    maxFeature = Math.max(maxFeature, featureIds[i]);
    trueChild[i] = find(treeIds[i], trueIds[i], 'true', i);
    falseChild[i] = find(treeIds[i], falseIds[i], 'false', i);
    if (trueChild[i] === i || falseChild[i] === i) ctx.fail(`node ${nodeIds[i]} of tree ${treeIds[i]} points to itself`);
    sameMode = sameMode === -2 ? m : sameMode === m ? m : -1;
  }
  checkAcyclic(roots, feature, trueChild, falseChild, ctx);

  // Votes, grouped per leaf in attribute order.
  const vTrees = need(`${prefix}_treeids`, a.ints(`${prefix}_treeids`));
  const vNodes = need(`${prefix}_nodeids`, a.ints(`${prefix}_nodeids`));
  const vIds = need(`${prefix}_ids`, a.ints(`${prefix}_ids`));
  const vWeights = need(`${prefix}_weights`, a.floats(`${prefix}_weights`));
  const nv = vTrees.length;
  for (const [name, arr] of [[`${prefix}_nodeids`, vNodes], [`${prefix}_ids`, vIds], [`${prefix}_weights`, vWeights]] as const) {
    if (arr.length !== nv) ctx.fail(`${name} has ${arr.length} entries, ${prefix}_treeids has ${nv}`);
  }
  const perNode: number[][] = Array.from({ length: n }, () => []);
  for (let v = 0; v < nv; v++) {
    const i = index.get(vTrees[v])?.get(vNodes[v]);
    if (i === undefined) ctx.fail(`vote ${v} names node ${vNodes[v]} of tree ${vTrees[v]}, which does not exist`);
    if (vIds[v] < 0 || vIds[v] >= nOutputs) ctx.fail(`vote ${v}: ${prefix} id ${vIds[v]} is outside [0, ${nOutputs})`);
    // Votes on branch nodes are never reached; onnxruntime ignores them too (old converters wrote some).
    if (mode[i] !== Mode.LEAF) continue;
    perNode[i].push(v);
  }
  const voteStart = new Int32Array(n + 1);
  const voteTarget = new Int32Array(nv);
  const voteWeight = new Float64Array(nv);
  let k = 0;
  let singleVote = true;
  for (let i = 0; i < n; i++) {
    voteStart[i] = k;
    if (perNode[i].length > 1) singleVote = false;
    for (const v of perNode[i]) {
      voteTarget[k] = vIds[v];
      voteWeight[k] = vWeights[v];
      if (vIds[v] !== 0) singleVote = false;
      k++;
    }
  }
  voteStart[n] = k;
  return {
    nTrees: roots.length, roots: Int32Array.from(roots), feature, threshold, mode, sameMode: sameMode < 0 ? -1 : sameMode,
    trueChild, falseChild, missingTrue, maxFeature, voteStart, voteTarget: voteTarget.subarray(0, k), voteWeight: voteWeight.subarray(0, k), singleVote,
  };
}

/** A tree whose branches loop back would never reach a leaf: refuse it at load. */
function checkAcyclic(roots: readonly number[], feature: Int32Array, t: Int32Array, f: Int32Array, ctx: NodeContext): void {
  const state = new Uint8Array(feature.length); // 0 new, 1 on the current path, 2 done
  for (const root of roots) {
    const stack: number[] = [root];
    const next: number[] = [0];
    state[root] = 1;
    while (stack.length > 0) {
      const i = stack[stack.length - 1];
      const k = next[next.length - 1];
      if (feature[i] < 0 || k === 2) {
        state[i] = 2;
        stack.pop();
        next.pop();
        continue;
      }
      next[next.length - 1] = k + 1;
      const c = k === 0 ? f[i] : t[i];
      if (state[c] === 1) ctx.fail('a tree has a cycle: following its branches never reaches a leaf');
      if (state[c] === 0) {
        state[c] = 1;
        stack.push(c);
        next.push(0);
      }
    }
  }
}

/** The leaf of one tree (from `root`) for the row at x[off…]. */
function findLeaf(fo: Forest, x: ArrayLike<number>, off: number, root: number): number {
  const feature = fo.feature, thr = fo.threshold, tc = fo.trueChild, fc = fo.falseChild, miss = fo.missingTrue;
  let i = root;
  switch (fo.sameMode) {
    // Fast paths: one comparison kind everywhere (what XGBoost/LightGBM/sklearn exports produce).
    // For these modes a NaN compares false, so `cmp || (NaN && missing-true)` is the spec's rule.
    case Mode.LT:
      for (let j = feature[i]; j >= 0; j = feature[i]) {
        const v = x[off + j];
        i = v < thr[i] || (v !== v && miss[i] === 1) ? tc[i] : fc[i];
      }
      return i;
    case Mode.LEQ:
      for (let j = feature[i]; j >= 0; j = feature[i]) {
        const v = x[off + j];
        i = v <= thr[i] || (v !== v && miss[i] === 1) ? tc[i] : fc[i];
      }
      return i;
    default: {
      const mode = fo.mode;
      for (let j = feature[i]; j >= 0; j = feature[i]) {
        const v = x[off + j];
        let go: boolean;
        if (v !== v) go = miss[i] === 1;
        else {
          const th = thr[i];
          switch (mode[i]) {
            case Mode.LEQ: go = v <= th; break;
            case Mode.LT: go = v < th; break;
            case Mode.GTE: go = v >= th; break;
            case Mode.GT: go = v > th; break;
            case Mode.EQ: go = v === th; break;
            default: go = v !== th; break;
          }
        }
        i = go ? tc[i] : fc[i];
      }
      return i;
    }
  }
}

/**
 * The batch fast path for the single-score case (every leaf at most one vote,
 * all for one output: XGBoost, LightGBM and sklearn regressors and binary
 * classifiers). When every branch is BRANCH_LT or every one BRANCH_LEQ and
 * the trees are at most PACK_MAX_DEPTH deep, each tree is laid out as a
 * complete binary tree in heap order (a shallower leaf fills every slot below
 * it), so a row's walk is `depth` steps of `k = 2k + 1 + (x >= t)`: no leaf
 * test, no child arrays and no branch to mispredict, two loads and a compare
 * per level. BRANCH_LEQ becomes BRANCH_LT against the next double above the
 * threshold (x ≤ t ⇔ x < nextUp(t) for every double x). Trees are walked one
 * at a time over the whole batch, so a tree's nodes stay in cache, eight rows
 * at once so their walks overlap (four trees at once for the last rows and
 * at batch 1); each row still adds its trees' weights in tree order, in
 * float32, as onnxruntime does. Rows holding a NaN in a feature the trees read
 * are redone on the per-node path (findLeaf), which knows
 * nodes_missing_value_tracks_true.
 */
const PACK_MAX_DEPTH = 10;
const PACK_MAX_SLOTS = 1 << 22;

export interface PackedForest {
  depth: number;
  /** Internal slots per tree: 2^depth − 1. */
  inner: number;
  feature: Int32Array;
  threshold: Float64Array;
  /** Per leaf slot (2^depth per tree): its weight, and whether it holds a vote. */
  weight: Float64Array;
  voted: Uint8Array;
  /** The features the trees read, for the NaN check. */
  used: Int32Array;
}

const nextUpBits = new Float64Array(1);
const nextUpInt = new BigInt64Array(nextUpBits.buffer);
/** The least double above t (t finite or −∞). */
function nextUp(t: number): number {
  if (t === 0) return Number.MIN_VALUE;
  if (t === -Infinity) return -Number.MAX_VALUE;
  nextUpBits[0] = t;
  nextUpInt[0] += t > 0 ? 1n : -1n;
  return nextUpBits[0];
}

/** The complete-tree layout, or null when the forest does not qualify (mixed modes, too deep, a LEQ threshold of +∞). */
export function packForest(fo: Forest, leafWeight: (leaf: number) => number, leafVoted: (leaf: number) => boolean): PackedForest | null {
  const mode = fo.sameMode;
  if (mode !== Mode.LT && mode !== Mode.LEQ) return null;
  let depth = 0;
  const used = new Set<number>();
  for (let t = 0; t < fo.nTrees; t++) {
    const stack = [fo.roots[t], 0];
    while (stack.length > 0) {
      const d = stack.pop()!, i = stack.pop()!;
      if (fo.feature[i] < 0) { depth = Math.max(depth, d); continue; }
      if (d + 1 > PACK_MAX_DEPTH) return null;
      if (mode === Mode.LEQ && fo.threshold[i] === Infinity) return null;
      used.add(fo.feature[i]);
      stack.push(fo.trueChild[i], d + 1, fo.falseChild[i], d + 1);
    }
  }
  const inner = (1 << depth) - 1;
  const leaves = 1 << depth;
  if (fo.nTrees * (inner + leaves) > PACK_MAX_SLOTS) return null;
  const feature = new Int32Array(fo.nTrees * Math.max(inner, 1));
  const threshold = new Float64Array(feature.length);
  const weight = new Float64Array(fo.nTrees * leaves);
  const voted = new Uint8Array(weight.length);
  for (let t = 0; t < fo.nTrees; t++) {
    const nb = t * inner, lb = t * leaves;
    const stack = [fo.roots[t], 0, 0]; // node, heap position, depth
    while (stack.length > 0) {
      const d = stack.pop()!, k = stack.pop()!, i = stack.pop()!;
      if (fo.feature[i] < 0) {
        // Every leaf slot below heap position k: a shallower leaf answers whatever the padded levels compare.
        const span = 1 << (depth - d);
        const first = (k + 1) * span - 1 - inner;
        const w = leafWeight(i), v = leafVoted(i) ? 1 : 0;
        for (let j = 0; j < span; j++) { weight[lb + first + j] = w; voted[lb + first + j] = v; }
        continue;
      }
      feature[nb + k] = fo.feature[i];
      threshold[nb + k] = mode === Mode.LEQ ? nextUp(fo.threshold[i]) : fo.threshold[i];
      stack.push(fo.trueChild[i], 2 * k + 1, d + 1, fo.falseChild[i], 2 * k + 2, d + 1);
    }
  }
  return { depth, inner, feature, threshold, weight, voted, used: Int32Array.from(used) };
}

/**
 * Per row, the float32 sum of its leaves' weights in tree order (sums) and
 * whether any leaf it reached holds a vote (voted), over rows [0, n).
 */
export function sumPacked(p: PackedForest, fo: Forest, x: ArrayLike<number>, n: number, c: number, sums: Float64Array, voted: Uint8Array, nanRow: Uint8Array): void {
  const used = p.used;
  let nanRows = 0;
  for (let r = 0; r < n; r++) {
    const o = r * c;
    let nan = 0;
    for (let j = 0; j < used.length; j++) {
      const v = x[o + used[j]];
      if (v !== v) { nan = 1; break; }
    }
    nanRow[r] = nan;
    nanRows += nan;
    sums[r] = 0;
    voted[r] = 0;
  }
  const { depth, inner, feature: pf, threshold: pt, weight: pw, voted: pv } = p;
  const leaves = inner + 1;
  const nTrees = fo.nTrees;
  // The step is k = 2k + 1 + (x >= t): a compare turned into a number, not a
  // branch, so a row's walk costs no mispredictions. (NaN rows walk too, to
  // keep the loops simple, and are redone below.)
  const n8 = n - (n & 7);
  for (let t = 0; t < nTrees; t++) {
    const nb = t * inner, lb = t * leaves - inner;
    // Eight rows at a time: independent walks the CPU overlaps (eight beat four by a quarter here).
    for (let r = 0; r < n8; r += 8) {
      const o0 = r * c, o1 = o0 + c, o2 = o1 + c, o3 = o2 + c, o4 = o3 + c, o5 = o4 + c, o6 = o5 + c, o7 = o6 + c;
      let k0 = 0, k1 = 0, k2 = 0, k3 = 0, k4 = 0, k5 = 0, k6 = 0, k7 = 0;
      for (let d = 0; d < depth; d++) {
        k0 = 2 * k0 + 1 + (((x[o0 + pf[nb + k0]] >= pt[nb + k0]) as unknown as number) | 0);
        k1 = 2 * k1 + 1 + (((x[o1 + pf[nb + k1]] >= pt[nb + k1]) as unknown as number) | 0);
        k2 = 2 * k2 + 1 + (((x[o2 + pf[nb + k2]] >= pt[nb + k2]) as unknown as number) | 0);
        k3 = 2 * k3 + 1 + (((x[o3 + pf[nb + k3]] >= pt[nb + k3]) as unknown as number) | 0);
        k4 = 2 * k4 + 1 + (((x[o4 + pf[nb + k4]] >= pt[nb + k4]) as unknown as number) | 0);
        k5 = 2 * k5 + 1 + (((x[o5 + pf[nb + k5]] >= pt[nb + k5]) as unknown as number) | 0);
        k6 = 2 * k6 + 1 + (((x[o6 + pf[nb + k6]] >= pt[nb + k6]) as unknown as number) | 0);
        k7 = 2 * k7 + 1 + (((x[o7 + pf[nb + k7]] >= pt[nb + k7]) as unknown as number) | 0);
      }
      sums[r] = f32(sums[r] + pw[lb + k0]);
      sums[r + 1] = f32(sums[r + 1] + pw[lb + k1]);
      sums[r + 2] = f32(sums[r + 2] + pw[lb + k2]);
      sums[r + 3] = f32(sums[r + 3] + pw[lb + k3]);
      sums[r + 4] = f32(sums[r + 4] + pw[lb + k4]);
      sums[r + 5] = f32(sums[r + 5] + pw[lb + k5]);
      sums[r + 6] = f32(sums[r + 6] + pw[lb + k6]);
      sums[r + 7] = f32(sums[r + 7] + pw[lb + k7]);
      voted[r] |= pv[lb + k0];
      voted[r + 1] |= pv[lb + k1];
      voted[r + 2] |= pv[lb + k2];
      voted[r + 3] |= pv[lb + k3];
      voted[r + 4] |= pv[lb + k4];
      voted[r + 5] |= pv[lb + k5];
      voted[r + 6] |= pv[lb + k6];
      voted[r + 7] |= pv[lb + k7];
    }
  }

  // The last rows (all of them at batch 1): four trees at a time, added in tree order.
  const t4 = nTrees - (nTrees & 3);
  for (let r = n8; r < n; r++) {
    const o = r * c;
    let sum = 0, any = 0;
    let t = 0;
    for (; t < t4; t += 4) {
      const b0 = t * inner, b1 = b0 + inner, b2 = b1 + inner, b3 = b2 + inner;
      let k0 = 0, k1 = 0, k2 = 0, k3 = 0;
      for (let d = 0; d < depth; d++) {
        k0 = 2 * k0 + 1 + (((x[o + pf[b0 + k0]] >= pt[b0 + k0]) as unknown as number) | 0);
        k1 = 2 * k1 + 1 + (((x[o + pf[b1 + k1]] >= pt[b1 + k1]) as unknown as number) | 0);
        k2 = 2 * k2 + 1 + (((x[o + pf[b2 + k2]] >= pt[b2 + k2]) as unknown as number) | 0);
        k3 = 2 * k3 + 1 + (((x[o + pf[b3 + k3]] >= pt[b3 + k3]) as unknown as number) | 0);
      }
      const l0 = t * leaves - inner;
      const l1 = l0 + leaves, l2 = l1 + leaves, l3 = l2 + leaves;
      sum = f32(f32(f32(f32(sum + pw[l0 + k0]) + pw[l1 + k1]) + pw[l2 + k2]) + pw[l3 + k3]);
      any |= pv[l0 + k0] | pv[l1 + k1] | pv[l2 + k2] | pv[l3 + k3];
    }
    for (; t < nTrees; t++) {
      const nb = t * inner;
      let k = 0;
      for (let d = 0; d < depth; d++) k = 2 * k + 1 + (((x[o + pf[nb + k]] >= pt[nb + k]) as unknown as number) | 0);
      const l = t * leaves - inner;
      sum = f32(sum + pw[l + k]);
      any |= pv[l + k];
    }
    sums[r] = sum;
    voted[r] = any;
  }
  if (nanRows === 0) return;
  const roots = fo.roots, vs = fo.voteStart, vw = fo.voteWeight;
  for (let r = 0; r < n; r++) {
    if (nanRow[r] === 0) continue;
    let s = 0, any = 0;
    for (let t = 0; t < nTrees; t++) {
      const leaf = findLeaf(fo, x, r * c, roots[t]);
      if (vs[leaf + 1] > vs[leaf]) { s = f32(s + vw[vs[leaf]]); any = 1; }
    }
    sums[r] = s;
    voted[r] = any;
  }
}

/** Per-batch scratch for sumPacked, grown to the largest batch seen. */
class PackedScratch {
  sums = new Float64Array(64);
  voted = new Uint8Array(64);
  nanRow = new Uint8Array(64);
  ensure(n: number): void {
    if (this.sums.length >= n) return;
    this.sums = new Float64Array(n);
    this.voted = new Uint8Array(n);
    this.nanRow = new Uint8Array(n);
  }
}

/** The input as rows of numbers: [N, C] (a 1-D [C] input is one row). */
function rows(x: Tensor, fo: Forest, where: string): { data: ArrayLike<number>; n: number; c: number } {
  if (x.type === 'string') throw new OnnxOpError(`${where}: input X must be numeric, got string`);
  if (x.dims.length !== 1 && x.dims.length !== 2) throw new OnnxOpError(`${where}: input X must be 1-D or 2-D, got [${x.dims.join(', ')}]`);
  const n = x.dims.length === 1 ? 1 : x.dims[0];
  const c = x.dims.length === 1 ? x.dims[0] : x.dims[1];
  if (fo.maxFeature >= c) throw new OnnxOpError(`${where}: the trees read feature ${fo.maxFeature} but the input has ${c} columns`);
  let data: ArrayLike<number>;
  if (x.data instanceof Float32Array || x.data instanceof Float64Array) data = x.data;
  else {
    const d = new Float64Array(x.data.length);
    for (let i = 0; i < d.length; i++) d[i] = numberAt(x, i);
    data = d;
  }
  return { data, n, c };
}

function readBaseValues(ctx: NodeContext, allowed: readonly number[]): Float64Array {
  const b = ctx.attrs.floats('base_values') ?? [];
  if (!allowed.includes(b.length)) ctx.fail(`base_values has ${b.length} entries, expected one of ${[...new Set(allowed)].join(', ')}`);
  return Float64Array.from(b);
}

const enum Aggregate { SUM, AVERAGE, MIN, MAX }

export function treeEnsembleRegressor(ctx: NodeContext): Kernel {
  const nTargets = ctx.attrs.int('n_targets', 1);
  if (nTargets < 1) ctx.fail(`n_targets must be at least 1, got ${nTargets}`);
  const aggName = ctx.attrs.string('aggregate_function', 'SUM');
  const agg = ({ SUM: Aggregate.SUM, AVERAGE: Aggregate.AVERAGE, MIN: Aggregate.MIN, MAX: Aggregate.MAX } as Record<string, Aggregate>)[aggName];
  if (agg === undefined) ctx.fail(`aggregate_function ${JSON.stringify(aggName)} is not one of SUM, AVERAGE, MIN, MAX`);
  const post = readPostTransform(ctx);
  const fo = buildForest(ctx, 'target', nTargets);
  const base = readBaseValues(ctx, [0, nTargets]);
  const baseOf = (k: number) => (base.length === 0 ? 0 : base[k]);
  const nTrees = fo.nTrees;
  const fastSum = nTargets === 1 && fo.singleVote && (agg === Aggregate.SUM || agg === Aggregate.AVERAGE);
  // Per leaf, its one weight (0 when it has none): the single-target hot path reads one array.
  const leafWeight = new Float64Array(fo.feature.length);
  if (fastSum) for (let i = 0; i < leafWeight.length; i++) if (fo.voteStart[i + 1] > fo.voteStart[i]) leafWeight[i] = fo.voteWeight[fo.voteStart[i]];
  const scores = new Float64Array(nTargets);
  const has = new Uint8Array(nTargets);
  const packed = fastSum ? packForest(fo, (i) => leafWeight[i], (i) => fo.voteStart[i + 1] > fo.voteStart[i]) : null;
  const scratch = new PackedScratch();

  return (inputs) => {
    const { data: x, n, c } = rows(tensorInput(inputs, 0, ctx.where), fo, ctx.where);
    const out = new Float32Array(n * nTargets);
    const roots = fo.roots;
    if (packed) {
      scratch.ensure(n);
      const sums = scratch.sums;
      sumPacked(packed, fo, x, n, c, sums, scratch.voted, scratch.nanRow);
      for (let r = 0; r < n; r++) {
        let s = sums[r];
        if (agg === Aggregate.AVERAGE) s = f32(s / nTrees);
        scores[0] = f32(s + baseOf(0));
        applyPostTransform(post, scores, 0, 1);
        out[r] = scores[0];
      }
      return [tensor('float32', [n, 1], out)];
    }
    for (let r = 0; r < n; r++) {
      const off = r * c;
      if (fastSum) {
        let s = 0;
        for (let t = 0; t < nTrees; t++) s = f32(s + leafWeight[findLeaf(fo, x, off, roots[t])]);
        if (agg === Aggregate.AVERAGE) s = f32(s / nTrees);
        scores[0] = f32(s + baseOf(0));
      } else {
        scores.fill(0);
        has.fill(0);
        for (let t = 0; t < nTrees; t++) {
          const leaf = findLeaf(fo, x, off, roots[t]);
          for (let v = fo.voteStart[leaf]; v < fo.voteStart[leaf + 1]; v++) {
            const k = fo.voteTarget[v], w = fo.voteWeight[v];
            if (agg === Aggregate.SUM || agg === Aggregate.AVERAGE) scores[k] = f32(scores[k] + w);
            else if (has[k] === 0 || (agg === Aggregate.MIN ? w < scores[k] : w > scores[k])) scores[k] = w;
            has[k] = 1;
          }
        }
        for (let k = 0; k < nTargets; k++) {
          const s = agg === Aggregate.AVERAGE ? f32(scores[k] / nTrees) : scores[k];
          scores[k] = has[k] === 1 ? f32(s + baseOf(k)) : baseOf(k);
        }
      }
      applyPostTransform(post, scores, 0, nTargets);
      out.set(scores, r * nTargets);
    }
    return [tensor('float32', [n, nTargets], out)];
  };
}

/**
 * TreeEnsembleClassifier: votes summed per class in float32, then
 * onnxruntime's classifier finalisation (TreeAggregatorClassifier), which the
 * spec leaves open for two classes: with a single voted class the scores
 * are completed into two columns and the label chosen by a 0 or 0.5
 * threshold, depending on base_values, the sign of the weights and
 * post_transform. Outputs: Y labels [N] (int64 or string), Z scores [N, classes].
 */
export function treeEnsembleClassifier(ctx: NodeContext): Kernel {
  const intLabels = ctx.attrs.ints('classlabels_int64s') ?? [];
  const strLabels = ctx.attrs.strings('classlabels_strings') ?? [];
  if ((intLabels.length > 0) === (strLabels.length > 0)) ctx.fail('exactly one of classlabels_int64s and classlabels_strings must be given');
  const nClasses = intLabels.length + strLabels.length;
  if (nClasses < 2) ctx.fail(`a classifier needs at least 2 class labels, got ${nClasses}`);
  const post = readPostTransform(ctx);
  const fo = buildForest(ctx, 'class', nClasses);
  const base = readBaseValues(ctx, nClasses === 2 ? [0, 1, 2] : [0, nClasses]);
  const distinct = new Set(ctx.attrs.ints('class_ids'));
  const binaryCase = nClasses === 2 && distinct.size === 1;
  const allPositive = (ctx.attrs.floats('class_weights') ?? []).every((w) => w >= 0);
  const nTrees = fo.nTrees;
  const s = new Float64Array(nClasses);
  const has = new Uint8Array(nClasses);
  // Every vote for class 0, at most one per leaf (XGBoost's and LightGBM's binary classifiers): the batch fast path.
  const vs = fo.voteStart, vw = fo.voteWeight;
  const packed = fo.singleVote ? packForest(fo, (i) => (vs[i + 1] > vs[i] ? vw[vs[i]] : 0), (i) => vs[i + 1] > vs[i]) : null;
  const scratch = new PackedScratch();

  return (inputs) => {
    const { data: x, n, c } = rows(tensorInput(inputs, 0, ctx.where), fo, ctx.where);
    const labelIndex = new Int32Array(n);
    const z = new Float32Array(n * nClasses);
    const roots = fo.roots;
    if (packed) {
      scratch.ensure(n);
      sumPacked(packed, fo, x, n, c, scratch.sums, scratch.voted, scratch.nanRow);
    }
    for (let r = 0; r < n; r++) {
      s.fill(0);
      has.fill(0);
      const off = r * c;
      if (packed) {
        s[0] = scratch.sums[r];
        has[0] = scratch.voted[r];
      } else {
        for (let t = 0; t < nTrees; t++) {
          const leaf = findLeaf(fo, x, off, roots[t]);
          for (let v = fo.voteStart[leaf]; v < fo.voteStart[leaf + 1]; v++) {
            const k = fo.voteTarget[v];
            s[k] = f32(s[k] + fo.voteWeight[v]);
            has[k] = 1;
          }
        }
      }
      const zo = r * nClasses;
      // onnxruntime reads a score as 0 when no vote reached it (ScoreValue's
      // has_score), even after a base value was added to it.
      if (nClasses > 2) {
        for (let k = 0; k < base.length; k++) {
          s[k] = has[k] === 1 ? f32(s[k] + base[k]) : base[k];
          has[k] = 1;
        }
        let best = -1;
        for (let k = 0; k < nClasses; k++) if (has[k] === 1 && (best < 0 || s[k] > s[best])) best = k;
        labelIndex[r] = best < 0 ? 0 : best;
        for (let k = 0; k < nClasses; k++) if (has[k] === 0) s[k] = 0;
        applyPostTransform(post, s, 0, nClasses);
        z.set(s, zo);
        continue;
      }
      // Two classes.
      let write = -1;
      let count = 2;
      if (base.length === 2) {
        if (has[1] === 1) {
          s[1] = f32(base[1] + s[0]);
          s[0] = -s[1];
        } else {
          s[1] = f32(s[1] + base[1]);
          s[0] = f32(s[0] + base[0]);
        }
      } else {
        if (base.length === 1) s[0] = f32(s[0] + base[0]);
        else write = 3;
        if (has[1] === 0) count = 1;
      }
      const pos = count === 2 && has[1] === 1 ? s[1] : has[0] === 1 ? s[0] : 0;
      // onnxruntime's _set_score_binary: the label, and how the second score column is made.
      if (!binaryCase) labelIndex[r] = pos > 0 ? 1 : 0;
      else if (allPositive) {
        labelIndex[r] = pos > 0.5 ? 1 : 0;
        write = pos > 0.5 ? 0 : 1;
      } else {
        labelIndex[r] = pos > 0 ? 1 : 0;
        write = pos > 0 ? 2 : 3;
      }
      const v0 = has[0] === 1 ? s[0] : 0;
      if (count === 2) {
        s[0] = v0;
        if (has[1] === 0) s[1] = 0;
        applyPostTransform(post, s, 0, 2);
        z[zo] = s[0];
        z[zo + 1] = s[1];
      } else if (post === PostTransform.PROBIT) {
        z[zo] = probit32(v0);
      } else if (write >= 0 && post === PostTransform.LOGISTIC) {
        z[zo] = logistic32(-v0);
        z[zo + 1] = logistic32(v0);
      } else if (write === 0 || write === 1) {
        z[zo] = f32(1 - v0);
        z[zo + 1] = v0;
      } else if (write === 2 || write === 3) {
        z[zo] = -v0;
        z[zo + 1] = v0;
      } else {
        z[zo] = v0;
      }
    }
    return [labelsTensor(labelIndex, intLabels, strLabels, binaryCase || nClasses > 2), tensor('float32', [n, nClasses], z)];
  };
}

/**
 * Labels from class indices. onnxruntime's two-class path outside the
 * "binary case" returns the raw index 1/0 as the int64 label rather than the
 * class label; `mapInts` says whether indices map through the labels.
 */
export function labelsTensor(index: Int32Array, intLabels: readonly number[], strLabels: readonly string[], mapInts: boolean): Tensor {
  if (strLabels.length > 0) return tensor('string', [index.length], Array.from(index, (i) => strLabels[i]));
  const out = new BigInt64Array(index.length);
  for (let i = 0; i < index.length; i++) out[i] = BigInt(mapInts ? intLabels[index[i]] : index[i]);
  return tensor('int64', [index.length], out);
}
