// A tiny ONNX protobuf *encoder* for tests: builds ModelProto bytes for
// hand-made graphs (one TreeEnsemble node with chosen attributes, a MatMul…)
// that onnxruntime-node and the native-free evaluator can both load. Field
// numbers come from the evaluator's onnx_fields.ts, the one place they are
// written down; this file only knows the wire format.
import {
  ATTRIBUTE, ATTRIBUTE_TYPE, DATA_TYPE, DIMENSION, GRAPH, MODEL, NODE, OPSET_ID, SHAPE, TENSOR, TYPE, TYPE_MAP,
  TYPE_SEQUENCE, TYPE_TENSOR, VALUE_INFO,
} from '../../native-free-ts/evaluator/onnx_fields.js';

/** Appends protobuf fields to a growing byte list. */
class Writer {
  private readonly bytes: number[] = [];

  varint(v: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.bytes.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.bytes.push(Number(x));
    return this;
  }

  tag(field: number, wire: number): this {
    return this.varint(field * 8 + wire);
  }

  int(field: number, v: number | bigint): this {
    return this.tag(field, 0).varint(v);
  }

  float(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.tag(field, 5);
    this.bytes.push(...b);
    return this;
  }

  bytesField(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length);
    for (const x of b) this.bytes.push(x);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytesField(field, new TextEncoder().encode(s));
  }

  message(field: number, m: Writer): this {
    return this.bytesField(field, m.finish());
  }

  packedFloats(field: number, vs: readonly number[]): this {
    const b = new Uint8Array(vs.length * 4);
    const dv = new DataView(b.buffer);
    vs.forEach((v, i) => dv.setFloat32(i * 4, v, true));
    return this.bytesField(field, b);
  }

  packedInts(field: number, vs: readonly (number | bigint)[]): this {
    const inner = new Writer();
    for (const v of vs) inner.varint(v);
    return this.bytesField(field, inner.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

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

function attribute(name: string, v: AttrValue, forceFloat: boolean): Writer {
  const a = new Writer().string(ATTRIBUTE.name, name);
  if (typeof v === 'number') {
    if (Number.isInteger(v) && !forceFloat) a.int(ATTRIBUTE.type, ATTRIBUTE_TYPE.INT).int(ATTRIBUTE.i, v);
    else a.int(ATTRIBUTE.type, ATTRIBUTE_TYPE.FLOAT).float(ATTRIBUTE.f, v);
  } else if (typeof v === 'string') {
    a.int(ATTRIBUTE.type, ATTRIBUTE_TYPE.STRING).string(ATTRIBUTE.s, v);
  } else if (Array.isArray(v)) {
    if (v.length > 0 && typeof v[0] === 'string') {
      a.int(ATTRIBUTE.type, ATTRIBUTE_TYPE.STRINGS);
      for (const s of v as string[]) a.string(ATTRIBUTE.strings, s);
    } else if ((v as number[]).every((x) => Number.isInteger(x)) && !forceFloat) {
      a.int(ATTRIBUTE.type, ATTRIBUTE_TYPE.INTS).packedInts(ATTRIBUTE.ints, v as number[]);
    } else {
      a.int(ATTRIBUTE.type, ATTRIBUTE_TYPE.FLOATS).packedFloats(ATTRIBUTE.floats, v as number[]);
    }
  } else if ('floats' in v) {
    a.int(ATTRIBUTE.type, ATTRIBUTE_TYPE.FLOATS).packedFloats(ATTRIBUTE.floats, v.floats);
  } else if ('ints' in v) {
    a.int(ATTRIBUTE.type, ATTRIBUTE_TYPE.INTS).packedInts(ATTRIBUTE.ints, v.ints);
  } else {
    a.int(ATTRIBUTE.type, ATTRIBUTE_TYPE.TENSOR).message(ATTRIBUTE.t, tensorProto(v.tensor));
  }
  return a;
}

export function tensorProto(t: TensorSpec): Writer {
  const w = new Writer();
  for (const d of t.dims) w.int(TENSOR.dims, d);
  w.int(TENSOR.data_type, t.dataType);
  if (t.name !== undefined) w.string(TENSOR.name, t.name);
  const vals = t.values;
  if (t.dataType === DATA_TYPE.STRING) {
    for (const s of vals as string[]) w.string(TENSOR.string_data, s);
    return w;
  }
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
    return w.bytesField(TENSOR.raw_data, b);
  }
  switch (t.dataType) {
    case DATA_TYPE.FLOAT: return w.packedFloats(TENSOR.float_data, vals as number[]);
    case DATA_TYPE.DOUBLE: {
      const b = new Uint8Array(vals.length * 8);
      const dv = new DataView(b.buffer);
      (vals as number[]).forEach((v, i) => dv.setFloat64(i * 8, v, true));
      return w.bytesField(TENSOR.double_data, b);
    }
    case DATA_TYPE.INT32: return w.packedInts(TENSOR.int32_data, vals as number[]);
    case DATA_TYPE.INT64: return w.packedInts(TENSOR.int64_data, vals as (number | bigint)[]);
    default: throw new Error(`data type ${t.dataType} is not implemented in the test builder`);
  }
}

function typeProto(t: TypeSpec): Writer {
  const w = new Writer();
  if ('tensor' in t) {
    const tt = new Writer().int(TYPE_TENSOR.elem_type, t.tensor);
    if (t.shape !== undefined) {
      const shape = new Writer();
      for (const d of t.shape) {
        const dim = new Writer();
        if (typeof d === 'number') dim.int(DIMENSION.dim_value, d);
        else if (typeof d === 'string') dim.string(DIMENSION.dim_param, d);
        shape.message(SHAPE.dim, dim);
      }
      tt.message(TYPE_TENSOR.shape, shape);
    }
    return w.message(TYPE.tensor_type, tt);
  }
  const value = new Writer().message(TYPE.tensor_type, new Writer().int(TYPE_TENSOR.elem_type, t.sequenceOfMap.valueTensor));
  const map = new Writer().int(TYPE_MAP.key_type, t.sequenceOfMap.key).message(TYPE_MAP.value_type, value);
  const seq = new Writer().message(TYPE_SEQUENCE.elem_type, new Writer().message(TYPE.map_type, map));
  return w.message(TYPE.sequence_type, seq);
}

function valueInfo(v: ValueSpec): Writer {
  return new Writer().string(VALUE_INFO.name, v.name).message(VALUE_INFO.type, typeProto(v.type));
}

/** Serializes a ModelProto. Defaults: IR 8, ai.onnx 17 and ai.onnx.ml 3 (what onnxruntime-node 1.30 loads). */
export function buildModel(spec: ModelSpec): Uint8Array {
  const graph = new Writer();
  spec.nodes.forEach((n, i) => {
    const node = new Writer();
    for (const x of n.inputs) node.string(NODE.input, x);
    for (const x of n.outputs) node.string(NODE.output, x);
    node.string(NODE.name, n.name ?? `${n.op}_${i}`);
    node.string(NODE.op_type, n.op);
    if (n.domain !== undefined) node.string(NODE.domain, n.domain);
    for (const [k, v] of Object.entries(n.attrs ?? {})) node.message(NODE.attribute, attribute(k, v, n.floatAttrs?.includes(k) ?? false));
    graph.message(GRAPH.node, node);
  });
  graph.string(GRAPH.name, 'test_graph');
  for (const t of spec.initializers ?? []) graph.message(GRAPH.initializer, tensorProto(t));
  for (const v of spec.inputs) graph.message(GRAPH.input, valueInfo(v));
  for (const v of spec.outputs) graph.message(GRAPH.output, valueInfo(v));
  const model = new Writer().int(MODEL.ir_version, spec.irVersion ?? 8).string(MODEL.producer_name, spec.producer ?? 'onnx_builder (test)');
  for (const o of spec.opsets ?? [{ domain: '', version: 17 }, { domain: 'ai.onnx.ml', version: 3 }]) {
    model.message(MODEL.opset_import, new Writer().string(OPSET_ID.domain, o.domain).int(OPSET_ID.version, o.version));
  }
  model.message(MODEL.graph, graph);
  return model.finish();
}

/**
 * Adds graph outputs to serialized model bytes without re-encoding it: a
 * second ModelProto.graph field holding only `output` entries, which protobuf
 * parsers merge into the first (repeated fields concatenate). Lets a test
 * fetch an intermediate value (a margin before its Sigmoid) from an
 * unmodified model file.
 */
export function appendGraphOutputs(model: Uint8Array, outputs: ValueSpec[]): Uint8Array {
  const graph = new Writer();
  for (const v of outputs) graph.message(GRAPH.output, valueInfo(v));
  const tail = new Writer().message(MODEL.graph, graph).finish();
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
