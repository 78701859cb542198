// A small ONNX *encoder* for tests: builds ModelProto bytes for hand-made
// graphs (one TreeEnsemble node with chosen attributes, a MatMul…) that
// onnxruntime-node and the native-free evaluator can both load. Messages are
// plain objects with onnx-ml.proto's field names, encoded by protobufjs
// through engine/onnx/onnx_proto.ts: the same schema the evaluator decodes
// with and import-xgboost writes with.
import { ATTRIBUTE_TYPE, DATA_TYPE, encodeMessage, int64Value } from '../../engine/onnx/onnx_proto.js';

type Msg = Record<string, unknown>;
const utf8 = (s: string) => new TextEncoder().encode(s);
/** int64 values, exact beyond 2^53 (protobufjs takes a Long there). */
const int64s = (vs: readonly (number | bigint)[]) => vs.map(int64Value);

export type AttrValue = number | string | number[] | string[] | { floats: number[] } | { ints: number[] } | { tensor: TensorSpec };

/** A node: `attrs` values map by JS type — integer → INT, non-integer → FLOAT, string → STRING, arrays likewise (use {floats} to force FLOATS). */
export interface NodeSpec {
  op: string;
  domain?: string;
  name?: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
  /** Force FLOAT for a numeric scalar attribute that happens to be an integer. */
  floatAttrs?: string[];
}

export interface TensorSpec {
  name?: string;
  dataType: number;
  dims: number[];
  values: number[] | bigint[] | string[];
  /** Encode numbers in raw_data (little-endian) instead of the typed field. */
  raw?: boolean;
}

export type TypeSpec =
  | { tensor: number; shape?: (number | string | null)[] }
  | { sequenceOfMap: { key: number; valueTensor: number } };

export interface ValueSpec { name: string; type: TypeSpec }

export interface ModelSpec {
  irVersion?: number;
  opsets?: { domain: string; version: number }[];
  producer?: string;
  nodes: NodeSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  initializers?: TensorSpec[];
}

export const DT = DATA_TYPE;

function attribute(name: string, v: AttrValue, forceFloat: boolean): Msg {
  if (typeof v === 'number') {
    return Number.isInteger(v) && !forceFloat ? { name, type: ATTRIBUTE_TYPE.INT, i: v } : { name, type: ATTRIBUTE_TYPE.FLOAT, f: v };
  }
  if (typeof v === 'string') return { name, type: ATTRIBUTE_TYPE.STRING, s: utf8(v) };
  if (Array.isArray(v)) {
    if (v.length > 0 && typeof v[0] === 'string') return { name, type: ATTRIBUTE_TYPE.STRINGS, strings: (v as string[]).map(utf8) };
    if ((v as number[]).every((x) => Number.isInteger(x)) && !forceFloat) return { name, type: ATTRIBUTE_TYPE.INTS, ints: int64s(v as number[]) };
    return { name, type: ATTRIBUTE_TYPE.FLOATS, floats: v };
  }
  if ('floats' in v) return { name, type: ATTRIBUTE_TYPE.FLOATS, floats: v.floats };
  if ('ints' in v) return { name, type: ATTRIBUTE_TYPE.INTS, ints: int64s(v.ints) };
  return { name, type: ATTRIBUTE_TYPE.TENSOR, t: tensorProto(v.tensor) };
}

/** A TensorProto as a plain object. */
export function tensorProto(t: TensorSpec): Msg {
  const w: Msg = { dims: int64s(t.dims), data_type: t.dataType };
  if (t.name !== undefined) w.name = t.name;
  const vals = t.values;
  if (t.dataType === DATA_TYPE.STRING) return { ...w, string_data: (vals as string[]).map(utf8) };
  if (t.raw === true) {
    const width = t.dataType === DATA_TYPE.DOUBLE || t.dataType === DATA_TYPE.INT64 ? 8 : 4;
    const b = new Uint8Array(vals.length * width);
    const dv = new DataView(b.buffer);
    vals.forEach((v, i) => {
      switch (t.dataType) {
        case DATA_TYPE.FLOAT: dv.setFloat32(i * 4, Number(v), true); break;
        case DATA_TYPE.DOUBLE: dv.setFloat64(i * 8, Number(v), true); break;
        case DATA_TYPE.INT32: dv.setInt32(i * 4, Number(v), true); break;
        case DATA_TYPE.INT64: dv.setBigInt64(i * 8, BigInt(v), true); break;
        default: throw new Error(`raw encoding of data type ${t.dataType} is not implemented in the test builder`);
      }
    });
    return { ...w, raw_data: b };
  }
  switch (t.dataType) {
    case DATA_TYPE.FLOAT: return { ...w, float_data: vals };
    case DATA_TYPE.DOUBLE: return { ...w, double_data: vals };
    case DATA_TYPE.INT32: return { ...w, int32_data: vals };
    case DATA_TYPE.INT64: return { ...w, int64_data: int64s(vals as (number | bigint)[]) };
    default: throw new Error(`data type ${t.dataType} is not implemented in the test builder`);
  }
}

function typeProto(t: TypeSpec): Msg {
  if ('tensor' in t) {
    const tt: Msg = { elem_type: t.tensor };
    if (t.shape !== undefined) {
      tt.shape = { dim: t.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : typeof d === 'string' ? { dim_param: d } : {})) };
    }
    return { tensor_type: tt };
  }
  const value = { tensor_type: { elem_type: t.sequenceOfMap.valueTensor } };
  return { sequence_type: { elem_type: { map_type: { key_type: t.sequenceOfMap.key, value_type: value } } } };
}

function valueInfo(v: ValueSpec): Msg {
  return { name: v.name, type: typeProto(v.type) };
}

/** Serializes a ModelProto. Defaults: IR 8, ai.onnx 17 and ai.onnx.ml 3 (what onnxruntime-node 1.30 loads). */
export function buildModel(spec: ModelSpec): Uint8Array {
  const node = spec.nodes.map((n, i) => {
    const m: Msg = { input: n.inputs, output: n.outputs, name: n.name ?? `${n.op}_${i}`, op_type: n.op };
    if (n.domain !== undefined) m.domain = n.domain;
    m.attribute = Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v, n.floatAttrs?.includes(k) ?? false));
    return m;
  });
  return encodeMessage('ModelProto', {
    ir_version: spec.irVersion ?? 8,
    producer_name: spec.producer ?? 'onnx_builder (test)',
    opset_import: (spec.opsets ?? [{ domain: '', version: 17 }, { domain: 'ai.onnx.ml', version: 3 }]).map((o) => ({ domain: o.domain, version: o.version })),
    graph: {
      node, name: 'test_graph', initializer: (spec.initializers ?? []).map(tensorProto),
      input: spec.inputs.map(valueInfo), output: spec.outputs.map(valueInfo),
    },
  });
}

/**
 * Adds graph outputs to serialized model bytes without re-encoding it: a
 * second ModelProto.graph field holding only `output` entries, which protobuf
 * parsers merge into the first (repeated fields concatenate). Lets a test
 * fetch an intermediate value (a margin before its Sigmoid) from an
 * unmodified model file.
 */
export function appendGraphOutputs(model: Uint8Array, outputs: ValueSpec[]): Uint8Array {
  const tail = encodeMessage('ModelProto', { graph: { output: outputs.map(valueInfo) } });
  const out = new Uint8Array(model.length + tail.length);
  out.set(model, 0);
  out.set(tail, model.length);
  return out;
}

/** One tree-ensemble node's attributes, written as per-node tuples for readability. */
export interface TreeNode {
  tree: number;
  id: number;
  mode: 'BRANCH_LEQ' | 'BRANCH_LT' | 'BRANCH_GTE' | 'BRANCH_GT' | 'BRANCH_EQ' | 'BRANCH_NEQ' | 'LEAF';
  feature?: number;
  value?: number;
  t?: number;
  f?: number;
  missingTrue?: boolean;
}
export interface TreeVote { tree: number; id: number; target: number; weight: number }

/** The nodes_… and target_…/class_… attribute arrays for a list of nodes and votes. */
export function treeAttrs(nodes: TreeNode[], votes: TreeVote[], prefix: 'target' | 'class'): Record<string, AttrValue> {
  return {
    nodes_treeids: nodes.map((n) => n.tree),
    nodes_nodeids: nodes.map((n) => n.id),
    nodes_featureids: nodes.map((n) => n.feature ?? 0),
    nodes_values: { floats: nodes.map((n) => n.value ?? 0) },
    nodes_modes: nodes.map((n) => n.mode),
    nodes_truenodeids: nodes.map((n) => n.t ?? 0),
    nodes_falsenodeids: nodes.map((n) => n.f ?? 0),
    nodes_missing_value_tracks_true: nodes.map((n) => (n.missingTrue === true ? 1 : 0)),
    [`${prefix}_treeids`]: votes.map((v) => v.tree),
    [`${prefix}_nodeids`]: votes.map((v) => v.id),
    [`${prefix}_ids`]: votes.map((v) => v.target),
    [`${prefix}_weights`]: { floats: votes.map((v) => v.weight) },
  };
}
