// Reads XGBoost's JSON model (`booster.save_model("model.json")`, XGBoost 1.x,
// 2.x and 3.x) into the trees and the starting margin the ONNX graph needs,
// refusing with a message naming what it cannot reproduce exactly.
//
// How XGBoost predicts, which this module and onnx_graph.ts reproduce:
//  - margin = base margin + the sum of every tree's leaf (float32);
//  - at a split, `x < split_condition` goes to left_children (the "yes"
//    branch), anything else to right_children, and a missing value (NaN)
//    follows default_left;
//  - a leaf's value is its split_conditions entry (already scaled by eta);
//  - the margin starts at the objective's ProbToMargin(base_score):
//    logit(base_score) for binary:logistic and reg:logistic (base_score is a
//    probability), base_score itself for reg:squarederror and binary:logitraw
//    (whose base_score is already a margin; the golden test confirms it);
//  - binary:logistic and reg:logistic output sigmoid(margin);
//    binary:logitraw and reg:squarederror output the margin.
//  1.x/2.x write base_score as a string ("5E-1"), 3.x as a string holding an
//  array ("[4.6E-1]"); default_left is 0/1 or true/false.

/** The objectives the converter reproduces, and what the model outputs. */
export const OBJECTIVES = {
  'binary:logistic': { link: 'logit', output: 'probability' },
  'reg:logistic': { link: 'logit', output: 'probability' },
  'binary:logitraw': { link: 'identity', output: 'margin' },
  'reg:squarederror': { link: 'identity', output: 'value' },
} as const;
export type SupportedObjective = keyof typeof OBJECTIVES;

export class XgboostImportError extends Error {
  override name = 'XgboostImportError';
}

/** One tree as XGBoost stores it: parallel arrays indexed by node id; only nodes reachable from 0 count. */
export interface XgbTree {
  left: number[];
  right: number[];
  /** Split feature per node (meaningless at a leaf). */
  feature: number[];
  /** Split threshold, or leaf value at a leaf; float32 as XGBoost holds it. */
  value: number[];
  defaultLeft: boolean[];
}

export interface XgbModel {
  /** [major, minor, patch] of the XGBoost that saved it, when recorded. */
  version: number[] | null;
  objective: SupportedObjective;
  /** base_score as stored (output space). */
  baseScore: number;
  /** The margin the trees are added onto (float32). */
  baseMargin: number;
  numFeature: number;
  /** learner.feature_names when the model was trained with names, else null. */
  featureNames: string[] | null;
  trees: XgbTree[];
  /** learner.attributes.best_iteration when recorded (early stopping); all trees are converted regardless. */
  bestIteration: number | null;
  /** Boosting rounds (trees / num_parallel_tree). */
  rounds: number;
}

const SUPPORTED = Object.keys(OBJECTIVES).join(', ');

function fail(msg: string): never {
  throw new XgboostImportError(msg);
}
function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function obj(v: unknown, where: string): Record<string, unknown> {
  if (!isObj(v)) fail(`${where} is missing or not an object: not an XGBoost JSON model (booster.save_model("model.json"))`);
  return v;
}
/** XGBoost writes most scalars as strings ("4", "5E-1"); numbers are accepted too. */
function num(v: unknown, where: string): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n)) fail(`${where} must be a number, got ${JSON.stringify(v)}`);
  return n;
}
function int(v: unknown, where: string): number {
  const n = num(v, where);
  if (!Number.isInteger(n)) fail(`${where} must be an integer, got ${JSON.stringify(v)}`);
  return n;
}
function numArray(v: unknown, where: string, length?: number): number[] {
  if (!Array.isArray(v)) fail(`${where} must be an array`);
  if (length !== undefined && v.length !== length) fail(`${where} has ${v.length} entries, expected ${length}`);
  return v.map((x, i) => num(x, `${where}[${i}]`));
}

/** base_score: "5E-1" (1.x, 2.x), "[4.6E-1]" (3.x), or a number. A vector of several (multi-target) is refused. */
export function parseBaseScore(v: unknown): number {
  if (typeof v === 'number') return num(v, 'learner_model_param.base_score');
  if (typeof v !== 'string') fail(`learner_model_param.base_score must be a string, got ${JSON.stringify(v)}`);
  const s = v.trim();
  if (s.startsWith('[')) {
    if (!s.endsWith(']')) fail(`learner_model_param.base_score ${JSON.stringify(v)} is not a number or a [number] array`);
    const parts = s.slice(1, -1).split(',').map((p) => p.trim()).filter((p) => p !== '');
    if (parts.length !== 1) fail(`learner_model_param.base_score ${JSON.stringify(v)} holds ${parts.length} values; only single-target models are supported`);
    return num(parts[0], 'learner_model_param.base_score');
  }
  return num(s, 'learner_model_param.base_score');
}

/** The margin XGBoost starts from, in float32: its ProbToMargin(base_score) for the objective. */
export function baseMargin(objective: SupportedObjective, baseScore: number): number {
  if (OBJECTIVES[objective].link === 'identity') return Math.fround(baseScore);
  if (!(baseScore > 0 && baseScore < 1)) fail(`base_score ${baseScore} must lie in (0, 1) for ${objective}`);
  return Math.fround(Math.log(baseScore / (1 - baseScore)));
}

/** Parses the text of a model.json. */
export function parseXgboostJson(text: string): XgbModel {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const hint = text.length > 0 && text.charCodeAt(0) === 0x7b ? '' : ' (UBJSON or the old binary format? save with booster.save_model("model.json"))';
    fail(`not valid JSON${hint}: ${(err as Error).message}`);
  }
  return readXgboostModel(raw);
}

/** Validates an already-parsed XGBoost JSON model. */
export function readXgboostModel(raw: unknown): XgbModel {
  const top = obj(raw, 'the top level');
  const learner = obj(top.learner, '"learner"');
  const version = Array.isArray(top.version) && top.version.every((x) => Number.isInteger(x)) ? (top.version as number[]) : null;

  const objectiveName = obj(learner.objective, 'learner.objective').name;
  if (typeof objectiveName !== 'string') fail('learner.objective.name must be a string');
  const param = obj(learner.learner_model_param, 'learner.learner_model_param');
  const numClass = param.num_class === undefined ? 0 : int(param.num_class, 'learner_model_param.num_class');
  if (!(objectiveName in OBJECTIVES)) {
    const why = objectiveName.startsWith('multi:') ? ' (multi-class)' : '';
    fail(`objective ${objectiveName}${why} is not supported; supported objectives: ${SUPPORTED}`);
  }
  const objective = objectiveName as SupportedObjective;
  if (numClass > 1) fail(`objective ${objective} with num_class ${numClass} (multi-class) is not supported`);
  const numTarget = param.num_target === undefined ? 1 : int(param.num_target, 'learner_model_param.num_target');
  if (numTarget > 1) fail(`objective ${objective} with num_target ${numTarget} (multi-target) is not supported`);
  const numFeature = int(param.num_feature, 'learner_model_param.num_feature');
  if (numFeature < 1) fail(`learner_model_param.num_feature is ${numFeature}; the model must read at least one feature`);
  const baseScore = parseBaseScore(param.base_score);

  let featureNames: string[] | null = null;
  if (Array.isArray(learner.feature_names) && learner.feature_names.length > 0) {
    if (learner.feature_names.length !== numFeature || !learner.feature_names.every((n) => typeof n === 'string')) {
      fail(`learner.feature_names has ${learner.feature_names.length} entries for ${numFeature} features`);
    }
    featureNames = learner.feature_names as string[];
  }
  if (Array.isArray(learner.feature_types)) {
    const cat = learner.feature_types.findIndex((t) => t === 'c');
    if (cat >= 0) fail(`feature ${featureNames?.[cat] ?? `f${cat}`} is categorical (feature_types "c"); categorical splits are not supported`);
  }

  const gb = obj(learner.gradient_booster, 'learner.gradient_booster');
  if (gb.name !== 'gbtree') {
    fail(`booster ${JSON.stringify(gb.name)} is not supported; only gbtree (dart scales trees by weight_drop, gblinear has no trees)`);
  }
  const model = obj(gb.model, 'gradient_booster.model');
  if (!Array.isArray(model.trees)) fail('gradient_booster.model.trees must be an array');
  if (Array.isArray(model.tree_info) && model.tree_info.some((g) => g !== 0)) fail('tree_info assigns trees to several output groups (multi-class); not supported');
  const gbParam = isObj(model.gbtree_model_param) ? model.gbtree_model_param : {};
  const parallel = gbParam.num_parallel_tree === undefined ? 1 : Math.max(1, int(gbParam.num_parallel_tree, 'gbtree_model_param.num_parallel_tree'));
  const trees = model.trees.map((t: unknown, i: number) => readTree(t, i, numFeature));

  const attrs = isObj(learner.attributes) ? learner.attributes : {};
  const bestIteration = attrs.best_iteration === undefined ? null : int(attrs.best_iteration, 'learner.attributes.best_iteration');
  return {
    version, objective, baseScore, baseMargin: baseMargin(objective, baseScore), numFeature, featureNames, trees, bestIteration,
    rounds: Math.ceil(trees.length / parallel),
  };
}

function readTree(raw: unknown, t: number, numFeature: number): XgbTree {
  const where = `tree ${t}`;
  const tree = obj(raw, where);
  const tp = isObj(tree.tree_param) ? tree.tree_param : {};
  if (tp.size_leaf_vector !== undefined && int(tp.size_leaf_vector, `${where} size_leaf_vector`) > 1) fail(`${where} has vector leaves (multi-target); not supported`);
  const left = numArray(tree.left_children, `${where} left_children`);
  const n = left.length;
  if (n === 0) fail(`${where} has no nodes`);
  const right = numArray(tree.right_children, `${where} right_children`, n);
  const feature = numArray(tree.split_indices, `${where} split_indices`, n);
  // float32 as XGBoost holds them: its JSON prints each float32 in the shortest form that reads back exactly.
  const value = numArray(tree.split_conditions, `${where} split_conditions`, n).map(Math.fround);
  if (!Array.isArray(tree.default_left) || tree.default_left.length !== n) fail(`${where} default_left must be an array of ${n}`);
  const defaultLeft = tree.default_left.map((d) => d === true || d === 1);
  if (Array.isArray(tree.split_type) && tree.split_type.some((s) => s !== 0)) fail(`${where} has categorical splits (split_type 1); not supported`);

  // Walk from the root: pruned trees keep deleted nodes in the arrays, unreachable.
  const seen = new Uint8Array(n);
  const stack = [0];
  while (stack.length > 0) {
    const i = stack.pop()!;
    if (seen[i]) fail(`${where} node ${i} is reached twice (not a tree)`);
    seen[i] = 1;
    if (left[i] === -1) continue;
    for (const c of [left[i], right[i]]) {
      if (!Number.isInteger(c) || c <= 0 || c >= n) fail(`${where} node ${i} has child ${c}, outside 1..${n - 1}`);
      stack.push(c);
    }
    if (!Number.isInteger(feature[i]) || feature[i] < 0 || feature[i] >= numFeature) fail(`${where} node ${i} splits on feature ${feature[i]}, outside 0..${numFeature - 1}`);
  }
  return { left, right, feature, value, defaultLeft };
}
