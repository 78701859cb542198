// ONNX's protobuf schema through protobufjs: the one place where ONNX bytes
// become messages and messages bytes (import-xgboost writes with it, the
// TypeScript evaluator reads with it). The schema is ONNX's own onnx-ml.proto, vendored
// unchanged beside this file (onnx/onnx at f7546912, ONNX 1.23.0; it is a
// superset of every older IR, and protobuf skips fields it does not know), and
// parsed once on first use with the .proto's own field names (keepCase).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { projectRoot } from '../config.js';

/** Where the vendored schema lives (read from the source tree: tsc does not copy it to dist/). */
export const ONNX_PROTO_PATH = join(projectRoot(), 'engine', 'onnx', 'onnx-ml.proto');

let root: protobuf.Root | undefined;

/** The parsed schema (package `onnx`), loaded on first use. */
export function onnxSchema(): protobuf.Root {
  root ??= protobuf.parse(readFileSync(ONNX_PROTO_PATH, 'utf8'), { keepCase: true }).root;
  return root;
}

export function onnxType(name: 'ModelProto' | 'GraphProto' | 'NodeProto' | 'TensorProto' | 'AttributeProto'): protobuf.Type {
  return onnxSchema().lookupType(`onnx.${name}`);
}

// Enum values, as numbers everywhere (protobufjs's verify() accepts numbers only).

/** `enum AttributeProto.AttributeType` */
export const ATTRIBUTE_TYPE = {
  UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5,
  FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10, SPARSE_TENSOR: 11, SPARSE_TENSORS: 12,
} as const;
/** `enum TensorProto.DataType` */
export const DATA_TYPE = {
  UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9,
  FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15, BFLOAT16: 16,
} as const;
/** `enum TensorProto.DataLocation` */
export const DATA_LOCATION = { DEFAULT: 0, EXTERNAL: 1 } as const;

// The slice of the messages a writer fills, with the .proto's field names;
// bytes fields (`s`, `strings`) take Uint8Array.

export interface AttributeMessage {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
}
export interface NodeMessage {
  name?: string;
  op_type: string;
  domain?: string;
  input: string[];
  output: string[];
  attribute?: AttributeMessage[];
  doc_string?: string;
}
export interface DimensionMessage { dim_value?: number; dim_param?: string }
export interface ValueInfoMessage {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: DimensionMessage[] } } };
}
export interface GraphMessage {
  name: string;
  node: NodeMessage[];
  input: ValueInfoMessage[];
  output: ValueInfoMessage[];
  doc_string?: string;
}
export interface ModelMessage {
  ir_version: number;
  producer_name?: string;
  producer_version?: string;
  model_version?: number;
  doc_string?: string;
  opset_import: { domain: string; version: number }[];
  graph: GraphMessage;
  metadata_props?: { key: string; value: string }[];
}

/** Serializes a ModelProto. Throws when the object does not fit the schema (a bug in the writer). */
export function encodeModel(model: ModelMessage): Uint8Array {
  // Checked before conversion: fromObject would quietly turn a wrong value into a default.
  return encodeMessage('ModelProto', model as unknown as Record<string, unknown>);
}

/**
 * Decodes a ModelProto into plain objects with the .proto's field names:
 * enums and int32 as numbers, int64 as protobufjs gives them (a number, or a
 * Long {low, high}: read them with int64ToNumber / int64ToBigInt, which stay
 * exact), bytes as Uint8Array, unset optional fields absent, unset repeated
 * fields []. protobufjs throws on truncated or corrupt bytes (RangeError
 * "index out of range" when truncated).
 */
export function decodeModelMessage(bytes: Uint8Array): Record<string, any> {
  const type = onnxType('ModelProto');
  return type.toObject(type.decode(bytes), { bytes: Uint8Array, defaults: false, arrays: true });
}

type Int64 = number | { low: number; high: number };

/** A decoded int64 as a JS number, or null when it is beyond 2^53 (not held exactly). */
export function int64ToNumber(v: Int64): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : null;
  // Signed high word, unsigned low word; exact whenever the result is a safe integer.
  const r = v.high * 4294967296 + (v.low >>> 0);
  return Number.isSafeInteger(r) ? r : null;
}

/** A decoded int64, exact. */
export function int64ToBigInt(v: Int64): bigint {
  if (typeof v === 'number') return BigInt(v);
  return BigInt.asIntN(64, (BigInt(v.high) << 32n) | BigInt(v.low >>> 0));
}

/** Serializes any ONNX message from plain objects (for writers beyond ModelMessage's slice, e.g. test graphs). */
export function encodeMessage(name: Parameters<typeof onnxType>[0], value: Record<string, unknown>): Uint8Array {
  const type = onnxType(name);
  const problem = type.verify(value);
  if (problem !== null) throw new Error(`ONNX ${name} does not fit onnx-ml.proto: ${problem}`);
  return type.encode(type.fromObject(value)).finish();
}

/** An int64 field's value for encoding: a number when it is a safe integer, else exact as the {low, high} words protobufjs accepts. */
export function int64Value(v: number | bigint | string): number | { low: number; high: number; unsigned: false } {
  const n = Number(v);
  if (Number.isSafeInteger(n)) return n;
  const b = BigInt(v);
  return { low: Number(BigInt.asIntN(32, b)), high: Number(BigInt.asIntN(32, b >> 32n)), unsigned: false };
}

/** An attribute in the shape AttributeMessage wants, typed by its value. */
export const attr = {
  float: (name: string, f: number): AttributeMessage => ({ name, type: ATTRIBUTE_TYPE.FLOAT, f }),
  int: (name: string, i: number): AttributeMessage => ({ name, type: ATTRIBUTE_TYPE.INT, i }),
  string: (name: string, s: string): AttributeMessage => ({ name, type: ATTRIBUTE_TYPE.STRING, s: Buffer.from(s, 'utf8') }),
  floats: (name: string, floats: number[]): AttributeMessage => ({ name, type: ATTRIBUTE_TYPE.FLOATS, floats }),
  ints: (name: string, ints: number[]): AttributeMessage => ({ name, type: ATTRIBUTE_TYPE.INTS, ints }),
  strings: (name: string, strings: string[]): AttributeMessage => ({ name, type: ATTRIBUTE_TYPE.STRINGS, strings: strings.map((s) => Buffer.from(s, 'utf8')) }),
};
