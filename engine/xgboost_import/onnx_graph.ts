// XGBoost trees → an ONNX graph (bytes via engine/onnx/onnx_proto.ts):
// one ai.onnx.ml TreeEnsembleRegressor summing every tree onto the base
// margin, then a Sigmoid for the objectives whose output is a probability.
// The mapping (xgboost_json.ts says why each holds):
//   split   → BRANCH_LT on the same float32 threshold, true branch = XGBoost's
//             left ("yes") child; nodes_missing_value_tracks_true = default_left
//   leaf    → LEAF with one vote of its value for target 0
//   margin  → base_values = [base margin]; post_transform NONE (onnxruntime
//             ignores LOGISTIC on a one-target regressor, hence the Sigmoid node)
// Only nodes reachable from each root are written, renumbered 0.. in
// breadth-first order.
import { attr, DATA_TYPE, encodeModel, type ModelMessage, type NodeMessage } from '../onnx/onnx_proto.js';
import { OBJECTIVES, type XgbModel } from './xgboost_json.js';

export const IR_VERSION = 8;
/** What onnxruntime-node 1.30 and the TypeScript evaluator both load. */
export const OPSETS = [{ domain: '', version: 17 }, { domain: 'ai.onnx.ml', version: 3 }];
export const INPUT_NAME = 'features';

/** The output the graph ends in and how the server must read it (manifest `output.kind`). */
export interface GraphOutput {
  name: string;
  /** 'logit' when the server must apply the sigmoid; 'probability' when it serves the value as is. */
  kind: 'probability' | 'logit';
}

/**
 * binary:logistic, reg:logistic → "probability" (the graph ends in a Sigmoid);
 * binary:logitraw → "margin", kind "logit" (the server applies the sigmoid);
 * reg:squarederror → "prediction", kind "probability": the raw regression
 * value, served as is (it is not a probability; the server does not clamp it).
 */
export function graphOutput(m: XgbModel): GraphOutput {
  switch (OBJECTIVES[m.objective].output) {
    case 'probability': return { name: 'probability', kind: 'probability' };
    case 'margin': return { name: 'margin', kind: 'logit' };
    case 'value': return { name: 'prediction', kind: 'probability' };
  }
}

export interface TreeAttributes {
  nodes_treeids: number[]; nodes_nodeids: number[]; nodes_featureids: number[]; nodes_values: number[];
  nodes_modes: string[]; nodes_truenodeids: number[]; nodes_falsenodeids: number[]; nodes_missing_value_tracks_true: number[];
  target_treeids: number[]; target_nodeids: number[]; target_ids: number[]; target_weights: number[];
}

/** The TreeEnsembleRegressor node arrays for every tree. */
export function treeAttributes(m: XgbModel): TreeAttributes {
  const a: TreeAttributes = {
    nodes_treeids: [], nodes_nodeids: [], nodes_featureids: [], nodes_values: [], nodes_modes: [], nodes_truenodeids: [],
    nodes_falsenodeids: [], nodes_missing_value_tracks_true: [], target_treeids: [], target_nodeids: [], target_ids: [], target_weights: [],
  };
  m.trees.forEach((tree, t) => {
    const order = [0];
    const newId = new Map<number, number>([[0, 0]]);
    for (let k = 0; k < order.length; k++) {
      const i = order[k];
      if (tree.left[i] === -1) continue;
      for (const c of [tree.left[i], tree.right[i]]) {
        newId.set(c, order.length);
        order.push(c);
      }
    }
    order.forEach((i, id) => {
      const leaf = tree.left[i] === -1;
      a.nodes_treeids.push(t);
      a.nodes_nodeids.push(id);
      a.nodes_featureids.push(leaf ? 0 : tree.feature[i]);
      a.nodes_values.push(leaf ? 0 : tree.value[i]);
      a.nodes_modes.push(leaf ? 'LEAF' : 'BRANCH_LT');
      a.nodes_truenodeids.push(leaf ? 0 : newId.get(tree.left[i])!);
      a.nodes_falsenodeids.push(leaf ? 0 : newId.get(tree.right[i])!);
      a.nodes_missing_value_tracks_true.push(!leaf && tree.defaultLeft[i] ? 1 : 0);
      if (leaf) {
        a.target_treeids.push(t);
        a.target_nodeids.push(id);
        a.target_ids.push(0);
        a.target_weights.push(tree.value[i]);
      }
    });
  });
  return a;
}

export interface GraphOptions {
  /** Written into the model's metadata and graph name. */
  name: string;
  producerVersion: string;
}

/** The ModelProto as plain objects (see onnx_proto.ts for the field names). */
export function buildModelMessage(m: XgbModel, opts: GraphOptions): ModelMessage {
  const out = graphOutput(m);
  const sigmoid = OBJECTIVES[m.objective].output === 'probability';
  const a = treeAttributes(m);
  const trees: NodeMessage = {
    name: 'xgboost_trees',
    op_type: 'TreeEnsembleRegressor',
    domain: 'ai.onnx.ml',
    input: [INPUT_NAME],
    output: [sigmoid ? 'margin' : out.name],
    attribute: [
      attr.int('n_targets', 1),
      attr.string('aggregate_function', 'SUM'),
      attr.string('post_transform', 'NONE'),
      attr.floats('base_values', [m.baseMargin]),
      attr.ints('nodes_treeids', a.nodes_treeids),
      attr.ints('nodes_nodeids', a.nodes_nodeids),
      attr.ints('nodes_featureids', a.nodes_featureids),
      attr.floats('nodes_values', a.nodes_values),
      attr.strings('nodes_modes', a.nodes_modes),
      attr.ints('nodes_truenodeids', a.nodes_truenodeids),
      attr.ints('nodes_falsenodeids', a.nodes_falsenodeids),
      attr.ints('nodes_missing_value_tracks_true', a.nodes_missing_value_tracks_true),
      attr.ints('target_treeids', a.target_treeids),
      attr.ints('target_nodeids', a.target_nodeids),
      attr.ints('target_ids', a.target_ids),
      attr.floats('target_weights', a.target_weights),
    ],
  };
  const nodes: NodeMessage[] = [trees];
  if (sigmoid) nodes.push({ name: 'sigmoid', op_type: 'Sigmoid', domain: '', input: ['margin'], output: [out.name] });
  const tensor = (name: string, width: number) => ({
    name, type: { tensor_type: { elem_type: DATA_TYPE.FLOAT, shape: { dim: [{ dim_param: 'N' }, { dim_value: width }] } } },
  });
  return {
    ir_version: IR_VERSION,
    producer_name: 'ctr-engine import-xgboost',
    producer_version: opts.producerVersion,
    opset_import: OPSETS,
    graph: { name: opts.name, node: nodes, input: [tensor(INPUT_NAME, m.numFeature)], output: [tensor(out.name, 1)] },
    metadata_props: [
      { key: 'xgboost_objective', value: m.objective },
      { key: 'xgboost_version', value: m.version?.join('.') ?? 'unknown' },
      { key: 'xgboost_base_score', value: String(m.baseScore) },
      { key: 'xgboost_trees', value: String(m.trees.length) },
    ],
  };
}

/** The serialized ONNX model. */
export function xgboostToOnnx(m: XgbModel, opts: GraphOptions): Uint8Array {
  return encodeModel(buildModelMessage(m, opts));
}
