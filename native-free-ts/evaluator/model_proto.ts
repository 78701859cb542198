// Decodes an ONNX ModelProto into plain objects: only the fields an evaluator
// needs (field numbers in onnx_fields.ts). Unknown fields are skipped, as
// protobuf requires; features this evaluator cannot honour (external tensor
// data, sparse initializers, model-local functions, segmented tensors) are
// refused with a message naming them instead of being silently ignored.
import {
  ATTRIBUTE, ATTRIBUTE_TYPE, DATA_LOCATION, DATA_TYPE, DIMENSION, GRAPH, MODEL, NODE, OPSET_ID, SHAPE, TENSOR, TYPE,
  TYPE_MAP, TYPE_SEQUENCE, TYPE_TENSOR, VALUE_INFO, WIRE,
} from './onnx_fields.js';
import { expectWire, ProtoReader, ProtobufError } from './protobuf_reader.js';
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

/** Decodes a serialized ModelProto. Throws OnnxModelError with the reason. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  if (bytes.length === 0) throw new OnnxModelError('empty model file');
  try {
    return readModel(new ProtoReader(bytes));
  } catch (err) {
    if (err instanceof ProtobufError) throw new OnnxModelError(`not a valid ONNX protobuf: ${err.message}`);
    throw err;
  }
}

function readModel(r: ProtoReader): ModelProto {
  let irVersion = 0;
  let producerName = '';
  let producerVersion = '';
  const opsets: OpsetImport[] = [];
  let graph: GraphProto | null = null;
  while (!r.done()) {
    const { field, wire } = r.tag();
    switch (field) {
      case MODEL.ir_version: expectWire(wire, WIRE.VARINT, 'ModelProto.ir_version'); irVersion = r.int64('ir_version'); break;
      case MODEL.producer_name: expectWire(wire, WIRE.LEN, 'ModelProto.producer_name'); producerName = r.string(); break;
      case MODEL.producer_version: expectWire(wire, WIRE.LEN, 'ModelProto.producer_version'); producerVersion = r.string(); break;
      case MODEL.opset_import: expectWire(wire, WIRE.LEN, 'ModelProto.opset_import'); opsets.push(readOpset(r.message())); break;
      case MODEL.graph: expectWire(wire, WIRE.LEN, 'ModelProto.graph'); graph = readGraph(r.message(), graph ?? undefined); break;
      case MODEL.functions: throw new OnnxModelError('the model defines local functions (ModelProto.functions), which this evaluator does not support');
      default: r.skip(wire);
    }
  }
  if (graph === null) throw new OnnxModelError('the model has no graph (ModelProto.graph is missing)');
  if (irVersion < 3 && opsets.length === 0) opsets.push({ domain: '', version: 1 });
  if (opsets.length === 0) throw new OnnxModelError('the model imports no operator set (ModelProto.opset_import is empty)');
  return { irVersion, producerName, producerVersion, opsets, graph };
}

function readOpset(r: ProtoReader): OpsetImport {
  let domain = '';
  let version = 0;
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === OPSET_ID.domain) { expectWire(wire, WIRE.LEN, 'OperatorSetIdProto.domain'); domain = r.string(); }
    else if (field === OPSET_ID.version) { expectWire(wire, WIRE.VARINT, 'OperatorSetIdProto.version'); version = r.int64('opset version'); }
    else r.skip(wire);
  }
  return { domain, version };
}

/** Decodes a GraphProto; a second occurrence of the field merges into the first, as protobuf specifies. */
function readGraph(r: ProtoReader, into?: GraphProto): GraphProto {
  const g: GraphProto = into ?? { name: '', nodes: [], initializers: new Map(), inputs: [], outputs: [] };
  while (!r.done()) {
    const { field, wire } = r.tag();
    switch (field) {
      case GRAPH.node: expectWire(wire, WIRE.LEN, 'GraphProto.node'); g.nodes.push(readNode(r.message())); break;
      case GRAPH.name: expectWire(wire, WIRE.LEN, 'GraphProto.name'); g.name = r.string(); break;
      case GRAPH.initializer: {
        expectWire(wire, WIRE.LEN, 'GraphProto.initializer');
        const { name, value } = readTensor(r.message());
        if (g.initializers.has(name)) throw new OnnxModelError(`initializer ${JSON.stringify(name)} is defined twice`);
        g.initializers.set(name, value);
        break;
      }
      case GRAPH.input: expectWire(wire, WIRE.LEN, 'GraphProto.input'); g.inputs.push(readValueInfo(r.message())); break;
      case GRAPH.output: expectWire(wire, WIRE.LEN, 'GraphProto.output'); g.outputs.push(readValueInfo(r.message())); break;
      case GRAPH.sparse_initializer: throw new OnnxModelError('the graph has sparse initializers, which this evaluator does not support');
      default: r.skip(wire);
    }
  }
  return g;
}

function readNode(r: ProtoReader): NodeProto {
  const n: NodeProto = { name: '', opType: '', domain: '', inputs: [], outputs: [], attributes: new Map() };
  while (!r.done()) {
    const { field, wire } = r.tag();
    switch (field) {
      case NODE.input: expectWire(wire, WIRE.LEN, 'NodeProto.input'); n.inputs.push(r.string()); break;
      case NODE.output: expectWire(wire, WIRE.LEN, 'NodeProto.output'); n.outputs.push(r.string()); break;
      case NODE.name: expectWire(wire, WIRE.LEN, 'NodeProto.name'); n.name = r.string(); break;
      case NODE.op_type: expectWire(wire, WIRE.LEN, 'NodeProto.op_type'); n.opType = r.string(); break;
      case NODE.domain: expectWire(wire, WIRE.LEN, 'NodeProto.domain'); n.domain = r.string(); break;
      case NODE.attribute: {
        expectWire(wire, WIRE.LEN, 'NodeProto.attribute');
        const a = readAttribute(r.message());
        if (n.attributes.has(a.name)) throw new OnnxModelError(`node ${n.name || n.opType}: attribute ${a.name} is given twice`);
        n.attributes.set(a.name, a);
        break;
      }
      default: r.skip(wire);
    }
  }
  if (n.opType === '') throw new OnnxModelError(`node ${JSON.stringify(n.name)} has no op_type`);
  return n;
}

function readAttribute(r: ProtoReader): AttributeProto {
  const a: AttributeProto = { name: '', type: ATTRIBUTE_TYPE.UNDEFINED, floats: [], ints: [], strings: [] };
  while (!r.done()) {
    const { field, wire } = r.tag();
    switch (field) {
      case ATTRIBUTE.name: expectWire(wire, WIRE.LEN, 'AttributeProto.name'); a.name = r.string(); break;
      case ATTRIBUTE.type: expectWire(wire, WIRE.VARINT, 'AttributeProto.type'); a.type = r.int64('attribute type'); break;
      case ATTRIBUTE.f: expectWire(wire, WIRE.I32, 'AttributeProto.f'); a.f = r.float32(); break;
      case ATTRIBUTE.i: expectWire(wire, WIRE.VARINT, 'AttributeProto.i'); a.i = r.int64(`attribute ${a.name || '?'}`); break;
      case ATTRIBUTE.s: expectWire(wire, WIRE.LEN, 'AttributeProto.s'); a.s = r.bytes(); break;
      case ATTRIBUTE.t: expectWire(wire, WIRE.LEN, 'AttributeProto.t'); a.t = readTensor(r.message()).value; break;
      case ATTRIBUTE.floats: r.repeatedFloat32(wire, a.floats); break;
      case ATTRIBUTE.ints: r.repeatedInt64(wire, a.ints, `attribute ${a.name || '?'}`); break;
      case ATTRIBUTE.strings: expectWire(wire, WIRE.LEN, 'AttributeProto.strings'); a.strings.push(r.bytes()); break;
      case ATTRIBUTE.g: r.skip(wire); a.unsupported = 'a subgraph'; break;
      case ATTRIBUTE.graphs: r.skip(wire); a.unsupported = 'subgraphs'; break;
      case ATTRIBUTE.tensors: r.skip(wire); a.unsupported = 'a list of tensors'; break;
      case ATTRIBUTE.ref_attr_name: r.skip(wire); a.unsupported = 'a reference to a function attribute'; break;
      default: r.skip(wire);
    }
  }
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

function readValueInfo(r: ProtoReader): ValueInfoProto {
  let name = '';
  let type: TypeInfo = { kind: 'unknown' };
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === VALUE_INFO.name) { expectWire(wire, WIRE.LEN, 'ValueInfoProto.name'); name = r.string(); }
    else if (field === VALUE_INFO.type) { expectWire(wire, WIRE.LEN, 'ValueInfoProto.type'); type = readType(r.message()); }
    else r.skip(wire);
  }
  return { name, type };
}

function readType(r: ProtoReader): TypeInfo {
  let t: TypeInfo = { kind: 'unknown' };
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === TYPE.tensor_type) { expectWire(wire, WIRE.LEN, 'TypeProto.tensor_type'); t = readTensorType(r.message()); }
    else if (field === TYPE.sequence_type) {
      expectWire(wire, WIRE.LEN, 'TypeProto.sequence_type');
      const s = r.message();
      let elem: TypeInfo | null = null;
      while (!s.done()) {
        const tag = s.tag();
        if (tag.field === TYPE_SEQUENCE.elem_type) { expectWire(tag.wire, WIRE.LEN, 'TypeProto.Sequence.elem_type'); elem = readType(s.message()); }
        else s.skip(tag.wire);
      }
      t = { kind: 'sequence', elem };
    } else if (field === TYPE.map_type) {
      expectWire(wire, WIRE.LEN, 'TypeProto.map_type');
      const m = r.message();
      let keyType = 0;
      let value: TypeInfo | null = null;
      while (!m.done()) {
        const tag = m.tag();
        if (tag.field === TYPE_MAP.key_type) { expectWire(tag.wire, WIRE.VARINT, 'TypeProto.Map.key_type'); keyType = m.int64('map key type'); }
        else if (tag.field === TYPE_MAP.value_type) { expectWire(tag.wire, WIRE.LEN, 'TypeProto.Map.value_type'); value = readType(m.message()); }
        else m.skip(tag.wire);
      }
      t = { kind: 'map', keyType, value };
    } else r.skip(wire);
  }
  return t;
}

function readTensorType(r: ProtoReader): TypeInfo {
  let elemType = 0;
  let shape: (number | string)[] | null = null;
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === TYPE_TENSOR.elem_type) { expectWire(wire, WIRE.VARINT, 'TypeProto.Tensor.elem_type'); elemType = r.int64('elem_type'); }
    else if (field === TYPE_TENSOR.shape) {
      expectWire(wire, WIRE.LEN, 'TypeProto.Tensor.shape');
      shape = [];
      const s = r.message();
      while (!s.done()) {
        const tag = s.tag();
        if (tag.field === SHAPE.dim) { expectWire(tag.wire, WIRE.LEN, 'TensorShapeProto.dim'); shape.push(readDim(s.message())); }
        else s.skip(tag.wire);
      }
    } else r.skip(wire);
  }
  return { kind: 'tensor', elemType, shape };
}

/** A dimension: its value, or its symbolic name ("" when neither is set, as onnxruntime reports it). */
function readDim(r: ProtoReader): number | string {
  let d: number | string = '';
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === DIMENSION.dim_value) { expectWire(wire, WIRE.VARINT, 'Dimension.dim_value'); d = r.int64('dim_value'); }
    else if (field === DIMENSION.dim_param) { expectWire(wire, WIRE.LEN, 'Dimension.dim_param'); d = r.string(); }
    else r.skip(wire);
  }
  return d;
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

function readTensor(r: ProtoReader): { name: string; value: Tensor } {
  let name = '';
  let dataType = 0;
  const dims: number[] = [];
  const floats: number[] = [];
  const doubles: number[] = [];
  const int32s: number[] = [];
  const int64s: bigint[] = [];
  const strings: Uint8Array[] = [];
  let raw: Uint8Array | null = null;
  let external = false;
  while (!r.done()) {
    const { field, wire } = r.tag();
    switch (field) {
      case TENSOR.dims: r.repeatedInt64(wire, dims, 'TensorProto.dims'); break;
      case TENSOR.data_type: expectWire(wire, WIRE.VARINT, 'TensorProto.data_type'); dataType = r.int64('data_type'); break;
      case TENSOR.name: expectWire(wire, WIRE.LEN, 'TensorProto.name'); name = r.string(); break;
      case TENSOR.float_data: r.repeatedFloat32(wire, floats); break;
      case TENSOR.double_data: r.repeatedFloat64(wire, doubles); break;
      case TENSOR.int32_data: r.repeatedInt64(wire, int32s, 'TensorProto.int32_data'); break;
      case TENSOR.int64_data: r.repeatedInt64Big(wire, int64s, 'TensorProto.int64_data'); break;
      case TENSOR.string_data: expectWire(wire, WIRE.LEN, 'TensorProto.string_data'); strings.push(r.bytes()); break;
      case TENSOR.raw_data: expectWire(wire, WIRE.LEN, 'TensorProto.raw_data'); raw = r.bytes(); break;
      case TENSOR.segment: throw new OnnxModelError(`tensor ${JSON.stringify(name)} is segmented (TensorProto.segment), which is not supported`);
      case TENSOR.external_data: r.skip(wire); external = true; break;
      case TENSOR.data_location:
        expectWire(wire, WIRE.VARINT, 'TensorProto.data_location');
        if (r.int64('data_location') === DATA_LOCATION.EXTERNAL) external = true;
        break;
      default: r.skip(wire);
    }
  }
  const label = `tensor ${JSON.stringify(name)}`;
  if (external) throw new OnnxModelError(`${label} keeps its data in an external file, which this evaluator does not read`);
  for (const d of dims) if (d < 0) throw new OnnxModelError(`${label} has a negative dimension ${d}`);
  const type = elemTypeOf(dataType);
  if (type === null) throw new OnnxModelError(`${label} has element type ${dataTypeName(dataType)}, which this evaluator does not support`);
  const n = sizeOf(dims);
  const check = (count: number, where: string) => {
    if (count !== n) throw new OnnxModelError(`${label}: ${where} holds ${count} elements but dims [${dims.join(', ')}] need ${n}`);
  };
  if (type === 'string') {
    if (raw !== null) throw new OnnxModelError(`${label}: string tensors must use string_data, not raw_data`);
    check(strings.length, 'string_data');
    const dec = new TextDecoder();
    return { name, value: tensor(type, dims, strings.map((s) => dec.decode(s))) };
  }
  const layout = RAW_LAYOUT[type];
  const out = layout.make(n);
  if (raw !== null) {
    // raw_data: fixed-width little-endian, whatever the host's byte order.
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    check(raw.byteLength / layout.width, 'raw_data');
    for (let i = 0; i < n; i++) out[i] = layout.get(view, i * layout.width) as never;
  } else {
    const [field, values] = type === 'float32' ? ['float_data', floats] : type === 'float64' ? ['double_data', doubles] : type === 'int32' ? ['int32_data', int32s] : ['int64_data', int64s];
    check(values.length, field as string);
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
