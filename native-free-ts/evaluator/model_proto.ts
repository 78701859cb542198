// Decodes an ONNX ModelProto into plain objects: only the fields an evaluator
// needs. The bytes are parsed by protobufjs against ONNX's own onnx-ml.proto
// (engine/onnx/onnx_proto.ts, the schema import-xgboost writes with), so
// protobuf's rules come from a maintained library: unknown fields skipped, a
// field of the wrong wire type treated as unknown, a repeated occurrence of a
// message field merged into the first, packed and unpacked repeated scalars.
// This module maps the messages to the evaluator's shapes and refuses what the
// evaluator cannot honour (external tensor data, sparse initializers,
// model-local functions, segmented tensors) with a message naming it instead
// of silently ignoring it.
import { decodeModelMessage, int64ToBigInt, int64ToNumber } from '../../engine/onnx/onnx_proto.js';
import { ATTRIBUTE_TYPE, DATA_LOCATION, DATA_TYPE } from './onnx_fields.js';
import { sizeOf, tensor, type ElemType, type Tensor } from './tensor.js';
export interface OpsetImport { domain: string; version: number }

export interface AttributeProto {
  name: string;
  /** AttributeProto.AttributeType; inferred from the filled field when absent (IR < 2). */
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: Tensor;
  floats: number[];
  ints: number[];
  strings: Uint8Array[];
  /** Set when the attribute carries a subgraph or tensors list this evaluator does not decode. */
  unsupported?: string;
}

export interface NodeProto {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Map<string, AttributeProto>;
}

export type TypeInfo =
  | { kind: 'tensor'; elemType: number; shape: (number | string)[] | null }
  | { kind: 'sequence'; elem: TypeInfo | null }
  | { kind: 'map'; keyType: number; value: TypeInfo | null }
  | { kind: 'unknown' };

export interface ValueInfoProto { name: string; type: TypeInfo }

export interface GraphProto {
  name: string;
  nodes: NodeProto[];
  initializers: Map<string, Tensor>;
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
}

export interface ModelProto {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  opsets: OpsetImport[];
  graph: GraphProto;
}

/** A model file the evaluator cannot read: corrupt bytes or a structure it refuses. */
export class OnnxModelError extends Error {
  override name = 'OnnxModelError';
}

// The decoded messages as protobufjs's toObject() gives them (the .proto's field
// names; int64 as a number or a Long, bytes as Uint8Array, unset optionals absent).
type Msg = Record<string, any>;
const list = (v: unknown): any[] => (Array.isArray(v) ? v : []);
const has = (m: Msg, field: string): boolean => m[field] !== undefined && m[field] !== null;

/** An int64 as a JS number; refuses values beyond 2^53 rather than silently rounding an id or a dimension. */
function int64(v: any, what: string): number {
  const n = int64ToNumber(v);
  if (n === null) throw new OnnxModelError(`${what}: int64 value ${int64ToBigInt(v)} is beyond 2^53 and cannot be held exactly`);
  return n;
}
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a serialized ModelProto. Throws OnnxModelError with the reason. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  if (bytes.length === 0) throw new OnnxModelError('empty model file');
  let m: Msg;
  try {
    m = decodeModelMessage(bytes);
  } catch (err) {
    const msg = (err as Error).message;
    const what = /index out of range/.test(msg) ? 'truncated' : 'malformed';
    throw new OnnxModelError(`not a valid ONNX protobuf: ${what} (${msg})`);
  }
  return readModel(m);
}

function readModel(m: Msg): ModelProto {
  if (list(m.functions).length > 0) throw new OnnxModelError('the model defines local functions (ModelProto.functions), which this evaluator does not support');
  if (!has(m, 'graph')) throw new OnnxModelError('the model has no graph (ModelProto.graph is missing)');
  const irVersion = has(m, 'ir_version') ? int64(m.ir_version, 'ir_version') : 0;
  const opsets: OpsetImport[] = list(m.opset_import).map((o: Msg) => ({ domain: o.domain ?? '', version: has(o, 'version') ? int64(o.version, 'opset version') : 0 }));
  const graph = readGraph(m.graph);
  if (irVersion < 3 && opsets.length === 0) opsets.push({ domain: '', version: 1 });
  if (opsets.length === 0) throw new OnnxModelError('the model imports no operator set (ModelProto.opset_import is empty)');
  return { irVersion, producerName: m.producer_name ?? '', producerVersion: m.producer_version ?? '', opsets, graph };
}

function readGraph(m: Msg): GraphProto {
  if (list(m.sparse_initializer).length > 0) throw new OnnxModelError('the graph has sparse initializers, which this evaluator does not support');
  const initializers = new Map<string, Tensor>();
  for (const t of list(m.initializer)) {
    const { name, value } = readTensor(t);
    if (initializers.has(name)) throw new OnnxModelError(`initializer ${JSON.stringify(name)} is defined twice`);
    initializers.set(name, value);
  }
  return {
    name: m.name ?? '', nodes: list(m.node).map(readNode), initializers,
    inputs: list(m.input).map(readValueInfo), outputs: list(m.output).map(readValueInfo),
  };
}

function readNode(m: Msg): NodeProto {
  const n: NodeProto = {
    name: m.name ?? '', opType: m.op_type ?? '', domain: m.domain ?? '', inputs: list(m.input), outputs: list(m.output), attributes: new Map(),
  };
  for (const x of list(m.attribute)) {
    const a = readAttribute(x);
    if (n.attributes.has(a.name)) throw new OnnxModelError(`node ${n.name || n.opType}: attribute ${a.name} is given twice`);
    n.attributes.set(a.name, a);
  }
  if (n.opType === '') throw new OnnxModelError(`node ${JSON.stringify(n.name)} has no op_type`);
  return n;
}

function readAttribute(m: Msg): AttributeProto {
  const name: string = m.name ?? '';
  const what = `attribute ${name || '?'}`;
  const a: AttributeProto = {
    name,
    type: has(m, 'type') ? m.type : ATTRIBUTE_TYPE.UNDEFINED,
    floats: list(m.floats),
    ints: list(m.ints).map((v) => int64(v, what)),
    strings: list(m.strings),
  };
  if (has(m, 'f')) a.f = m.f;
  if (has(m, 'i')) a.i = int64(m.i, what);
  if (has(m, 's')) a.s = m.s;
  if (has(m, 't')) a.t = readTensor(m.t).value;
  if (has(m, 'g')) a.unsupported = 'a subgraph';
  if (list(m.graphs).length > 0) a.unsupported = 'subgraphs';
  if (list(m.tensors).length > 0) a.unsupported = 'a list of tensors';
  if (has(m, 'ref_attr_name')) a.unsupported = 'a reference to a function attribute';
  if (a.type === ATTRIBUTE_TYPE.UNDEFINED) a.type = inferAttributeType(a);
  return a;
}

/** IR 1 attributes carry no type field: the filled field says what it is. */
function inferAttributeType(a: AttributeProto): number {
  if (a.f !== undefined) return ATTRIBUTE_TYPE.FLOAT;
  if (a.i !== undefined) return ATTRIBUTE_TYPE.INT;
  if (a.s !== undefined) return ATTRIBUTE_TYPE.STRING;
  if (a.t !== undefined) return ATTRIBUTE_TYPE.TENSOR;
  if (a.floats.length > 0) return ATTRIBUTE_TYPE.FLOATS;
  if (a.ints.length > 0) return ATTRIBUTE_TYPE.INTS;
  if (a.strings.length > 0) return ATTRIBUTE_TYPE.STRINGS;
  return ATTRIBUTE_TYPE.UNDEFINED;
}

function readValueInfo(m: Msg): ValueInfoProto {
  return { name: m.name ?? '', type: has(m, 'type') ? readType(m.type) : { kind: 'unknown' } };
}

function readType(m: Msg): TypeInfo {
  if (has(m, 'tensor_type')) {
    const t = m.tensor_type;
    const shape = has(t, 'shape') ? list(t.shape.dim).map(readDim) : null;
    return { kind: 'tensor', elemType: t.elem_type ?? 0, shape };
  }
  if (has(m, 'sequence_type')) return { kind: 'sequence', elem: has(m.sequence_type, 'elem_type') ? readType(m.sequence_type.elem_type) : null };
  if (has(m, 'map_type')) {
    const t = m.map_type;
    return { kind: 'map', keyType: t.key_type ?? 0, value: has(t, 'value_type') ? readType(t.value_type) : null };
  }
  return { kind: 'unknown' };
}

/** A dimension: its value, or its symbolic name ("" when neither is set, as onnxruntime reports it). */
function readDim(m: Msg): number | string {
  if (has(m, 'dim_value')) return int64(m.dim_value, 'dim_value');
  if (has(m, 'dim_param')) return m.dim_param;
  return '';
}

/** ONNX DataType → the evaluator's element type, or null when it does not compute with that type. */
export function elemTypeOf(dataType: number): ElemType | null {
  switch (dataType) {
    case DATA_TYPE.FLOAT: return 'float32';
    case DATA_TYPE.DOUBLE: return 'float64';
    case DATA_TYPE.INT64: return 'int64';
    case DATA_TYPE.INT32: return 'int32';
    case DATA_TYPE.STRING: return 'string';
    default: return null;
  }
}

const DATA_TYPE_NAMES: Record<number, string> = {
  [DATA_TYPE.FLOAT]: 'float32', [DATA_TYPE.UINT8]: 'uint8', [DATA_TYPE.INT8]: 'int8', [DATA_TYPE.UINT16]: 'uint16',
  [DATA_TYPE.INT16]: 'int16', [DATA_TYPE.INT32]: 'int32', [DATA_TYPE.INT64]: 'int64', [DATA_TYPE.STRING]: 'string',
  [DATA_TYPE.BOOL]: 'bool', [DATA_TYPE.FLOAT16]: 'float16', [DATA_TYPE.DOUBLE]: 'float64', [DATA_TYPE.UINT32]: 'uint32',
  [DATA_TYPE.UINT64]: 'uint64', [DATA_TYPE.COMPLEX64]: 'complex64', [DATA_TYPE.COMPLEX128]: 'complex128', [DATA_TYPE.BFLOAT16]: 'bfloat16',
};

/** The name onnxruntime-node gives an ONNX DataType (its Tensor.Type), or `dtype <n>`. */
export function dataTypeName(dataType: number): string {
  return DATA_TYPE_NAMES[dataType] ?? `dtype ${dataType}`;
}

function readTensor(m: Msg): { name: string; value: Tensor } {
  const name: string = m.name ?? '';
  const label = `tensor ${JSON.stringify(name)}`;
  if (has(m, 'segment')) throw new OnnxModelError(`tensor ${JSON.stringify(name)} is segmented (TensorProto.segment), which is not supported`);
  if (list(m.external_data).length > 0 || m.data_location === DATA_LOCATION.EXTERNAL) {
    throw new OnnxModelError(`${label} keeps its data in an external file, which this evaluator does not read`);
  }
  const dims = list(m.dims).map((d) => int64(d, 'TensorProto.dims'));
  const dataType: number = m.data_type ?? 0;
  const raw: Uint8Array | null = has(m, 'raw_data') ? m.raw_data : null;
  for (const d of dims) if (d < 0) throw new OnnxModelError(`${label} has a negative dimension ${d}`);
  const type = elemTypeOf(dataType);
  if (type === null) throw new OnnxModelError(`${label} has element type ${dataTypeName(dataType)}, which this evaluator does not support`);
  const n = sizeOf(dims);
  const check = (count: number, where: string) => {
    if (count !== n) throw new OnnxModelError(`${label}: ${where} holds ${count} elements but dims [${dims.join(', ')}] need ${n}`);
  };
  if (type === 'string') {
    if (raw !== null) throw new OnnxModelError(`${label}: string tensors must use string_data, not raw_data`);
    const strings = list(m.string_data) as Uint8Array[];
    check(strings.length, 'string_data');
    return { name, value: tensor(type, dims, strings.map((s) => utf8.decode(s))) };
  }
  const layout = RAW_LAYOUT[type];
  const out = layout.make(n);
  if (raw !== null) {
    // raw_data: fixed-width little-endian, whatever the host's byte order.
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    check(raw.byteLength / layout.width, 'raw_data');
    for (let i = 0; i < n; i++) out[i] = layout.get(view, i * layout.width) as never;
  } else if (type === 'int64') {
    const values = list(m.int64_data);
    check(values.length, 'int64_data');
    values.forEach((v, i) => (out[i] = int64ToBigInt(v) as never));
  } else {
    const [field, values] = type === 'float32' ? ['float_data', list(m.float_data)] : type === 'float64' ? ['double_data', list(m.double_data)] : ['int32_data', list(m.int32_data)];
    check(values.length, field);
    out.set(values as never);
  }
  return { name, value: tensor(type, dims, out) };
}

type NumericElem = Exclude<ElemType, 'string'>;
const RAW_LAYOUT: Record<NumericElem, { width: number; make: (n: number) => Float32Array | Float64Array | Int32Array | BigInt64Array; get: (v: DataView, at: number) => number | bigint }> = {
  float32: { width: 4, make: (n) => new Float32Array(n), get: (v, at) => v.getFloat32(at, true) },
  float64: { width: 8, make: (n) => new Float64Array(n), get: (v, at) => v.getFloat64(at, true) },
  int32: { width: 4, make: (n) => new Int32Array(n), get: (v, at) => v.getInt32(at, true) },
  int64: { width: 8, make: (n) => new BigInt64Array(n), get: (v, at) => v.getBigInt64(at, true) },
};
