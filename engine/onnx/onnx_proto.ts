// ONNX's protobuf schema through protobufjs: the one place that turns ONNX
// messages into bytes. The schema is ONNX's own onnx-ml.proto, vendored
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

// The slice of the messages a writer fills, with the .proto's field names.
// Enums are numbers (protobufjs's verify() checks numbers only), bytes fields
// (`s`, `strings`) take Uint8Array.

/** AttributeProto.AttributeType values used here. */
export const ATTRIBUTE_TYPE = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;
/** TensorProto.DataType values used here. */
export const DATA_TYPE = { FLOAT: 1, DOUBLE: 11, INT64: 7 } as const;

export interface AttributeMessage {
  name: string;
  type: (typeof ATTRIBUTE_TYPE)[keyof typeof ATTRIBUTE_TYPE];
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
  type: { tensor_type: { elem_type: (typeof DATA_TYPE)[keyof typeof DATA_TYPE]; shape: { dim: DimensionMessage[] } } };
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
  const type = onnxType('ModelProto');
  // Checked before conversion: fromObject would quietly turn a wrong value into a default.
  const problem = type.verify(model);
  if (problem !== null) throw new Error(`ONNX ModelProto does not fit onnx-ml.proto: ${problem}`);
  return type.encode(type.fromObject(model as unknown as Record<string, unknown>)).finish();
}

/** Decodes a ModelProto into plain objects: enums as names, int64 as numbers, bytes as Uint8Array. */
export function decodeModelMessage(bytes: Uint8Array): Record<string, unknown> {
  const type = onnxType('ModelProto');
  return type.toObject(type.decode(bytes), { enums: String, longs: Number, bytes: Uint8Array, defaults: false, arrays: true });
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
