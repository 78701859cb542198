// Protobuf field numbers and enum values of the ONNX messages this evaluator
// decodes, in one place. Taken from the official schema, onnx/onnx
// `onnx/onnx.proto` (read at commit 004aa57f442055b51af980769883b544ac4f87f2;
// field numbers are frozen across ONNX releases, later releases only add
// fields). Every decoder in this folder names fields through these constants.

/** `message ModelProto` */
export const MODEL = {
  ir_version: 1, // optional int64
  producer_name: 2, // optional string
  producer_version: 3, // optional string
  domain: 4, // optional string
  model_version: 5, // optional int64
  doc_string: 6, // optional string
  graph: 7, // optional GraphProto
  opset_import: 8, // repeated OperatorSetIdProto
  metadata_props: 14, // repeated StringStringEntryProto
  functions: 25, // repeated FunctionProto (IR 8+; refused: local functions are not evaluated)
} as const;

/** `message OperatorSetIdProto` */
export const OPSET_ID = {
  domain: 1, // optional string ("" or absent = ai.onnx)
  version: 2, // optional int64
} as const;

/** `message GraphProto` */
export const GRAPH = {
  node: 1, // repeated NodeProto
  name: 2, // optional string
  initializer: 5, // repeated TensorProto
  doc_string: 10, // optional string
  input: 11, // repeated ValueInfoProto
  output: 12, // repeated ValueInfoProto
  value_info: 13, // repeated ValueInfoProto
  sparse_initializer: 15, // repeated SparseTensorProto (refused)
} as const;

/** `message NodeProto` */
export const NODE = {
  input: 1, // repeated string
  output: 2, // repeated string
  name: 3, // optional string
  op_type: 4, // optional string
  attribute: 5, // repeated AttributeProto
  doc_string: 6, // optional string
  domain: 7, // optional string
} as const;

/** `message AttributeProto` */
export const ATTRIBUTE = {
  name: 1, // optional string
  f: 2, // optional float
  i: 3, // optional int64
  s: 4, // optional bytes
  t: 5, // optional TensorProto
  g: 6, // optional GraphProto
  floats: 7, // repeated float (packed or not)
  ints: 8, // repeated int64 (packed or not)
  strings: 9, // repeated bytes
  tensors: 10, // repeated TensorProto
  graphs: 11, // repeated GraphProto
  doc_string: 13, // optional string
  type: 20, // optional AttributeType
  ref_attr_name: 21, // optional string (functions only)
} as const;

/** `enum AttributeProto.AttributeType` */
export const ATTRIBUTE_TYPE = {
  UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5,
  FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10, SPARSE_TENSOR: 11, SPARSE_TENSORS: 12,
} as const;

/** `message ValueInfoProto` */
export const VALUE_INFO = {
  name: 1, // optional string
  type: 2, // optional TypeProto
  doc_string: 3, // optional string
} as const;

/** `message TypeProto` (a oneof of the kinds below) */
export const TYPE = {
  tensor_type: 1, // TypeProto.Tensor
  sequence_type: 4, // TypeProto.Sequence
  map_type: 5, // TypeProto.Map
  denotation: 6, // optional string
} as const;

/** `message TypeProto.Tensor` */
export const TYPE_TENSOR = {
  elem_type: 1, // optional int32 (TensorProto.DataType)
  shape: 2, // optional TensorShapeProto
} as const;

/** `message TypeProto.Sequence` */
export const TYPE_SEQUENCE = {
  elem_type: 1, // optional TypeProto
} as const;

/** `message TypeProto.Map` */
export const TYPE_MAP = {
  key_type: 1, // optional int32 (TensorProto.DataType)
  value_type: 2, // optional TypeProto
} as const;

/** `message TensorShapeProto` */
export const SHAPE = {
  dim: 1, // repeated Dimension
} as const;

/** `message TensorShapeProto.Dimension` */
export const DIMENSION = {
  dim_value: 1, // int64 (oneof value)
  dim_param: 2, // string (oneof value)
  denotation: 3, // optional string
} as const;

/** `message TensorProto` */
export const TENSOR = {
  dims: 1, // repeated int64
  data_type: 2, // optional int32 (DataType)
  segment: 3, // optional Segment (refused)
  float_data: 4, // repeated float [packed]
  int32_data: 5, // repeated int32 [packed] (also int8/16, uint8/16, bool, float16 bits)
  string_data: 6, // repeated bytes
  int64_data: 7, // repeated int64 [packed]
  name: 8, // optional string
  raw_data: 9, // optional bytes, fixed-width little-endian
  double_data: 10, // repeated double [packed]
  uint64_data: 11, // repeated uint64 [packed] (uint32, uint64)
  doc_string: 12, // optional string
  external_data: 13, // repeated StringStringEntryProto (refused)
  data_location: 14, // optional DataLocation (EXTERNAL refused)
} as const;

/** `enum TensorProto.DataType` */
export const DATA_TYPE = {
  UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9,
  FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15, BFLOAT16: 16,
} as const;

/** `enum TensorProto.DataLocation` */
export const DATA_LOCATION = { DEFAULT: 0, EXTERNAL: 1 } as const;

/** Protobuf wire types (protobuf encoding spec, not onnx.proto). */
export const WIRE = { VARINT: 0, I64: 1, LEN: 2, SGROUP: 3, EGROUP: 4, I32: 5 } as const;

/** The ONNX operator-set domains; "" and "ai.onnx" are the same default domain. */
export const DOMAIN_ONNX = 'ai.onnx';
export const DOMAIN_ML = 'ai.onnx.ml';
