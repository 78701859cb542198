// The ONNX enum values and domains the evaluator names. The enums live with
// ONNX's schema in engine/onnx/onnx_proto.ts (values frozen across ONNX
// releases); field numbers are read from the vendored .proto by protobufjs.
export { ATTRIBUTE_TYPE, DATA_LOCATION, DATA_TYPE } from '../../engine/onnx/onnx_proto.js';

/** The ONNX operator-set domains; "" and "ai.onnx" are the same default domain. */
export const DOMAIN_ONNX = 'ai.onnx';
export const DOMAIN_ML = 'ai.onnx.ml';
