// skl2onnx classifiers end in a ZipMap: their probabilities leave the graph as
// a sequence of maps, which onnxruntime-node cannot return and a batch slot
// cannot hold. The float tensor the ZipMap reads is the probability matrix
// itself, so when a manifest names that tensor the graph is rewritten at load:
// the ZipMap is dropped and its input becomes a graph output (rows × classes).
// Done once per model load, on the bytes, so both backends see the same graph.
import { DATA_TYPE, int64ToNumber, onnxSchema, onnxType } from './onnx_proto.js';

export interface ZipMapRewrite {
  /** The rewritten ModelProto. */
  bytes: Uint8Array;
  /** The ZipMap output that was removed (e.g. "output_probability"). */
  removedOutput: string;
  /** Classes: columns of the new output, when the ZipMap listed its labels. */
  classes: number | null;
}

/**
 * When `outputName` is not a graph output but the input of a ZipMap node,
 * the model with that ZipMap dropped and `outputName` a float tensor output
 * [N, classes]; null when there is nothing to rewrite (the name is already an
 * output, or no ZipMap reads it). Throws on bytes protobufjs cannot decode.
 */
export function exposeZipMapInput(bytes: Uint8Array, outputName: string): ZipMapRewrite | null {
  const modelType = onnxType('ModelProto');
  const model = modelType.decode(bytes) as unknown as { graph?: GraphMsg };
  const graph = model.graph;
  if (graph === undefined || graph === null) return null;
  if (graph.output.some((o) => o.name === outputName)) return null;
  const zipIndex = graph.node.findIndex((n) => n.op_type === 'ZipMap' && (n.domain === 'ai.onnx.ml') && n.input[0] === outputName);
  if (zipIndex < 0) return null;
  const zip = graph.node[zipIndex];
  const removed = zip.output[0];
  // Another node reading the maps would lose its input: keep the graph as it is then.
  if (graph.node.some((n, i) => i !== zipIndex && n.input.includes(removed))) return null;

  let classes: number | null = null;
  for (const a of zip.attribute) {
    if (a.name === 'classlabels_int64s' && a.ints.length > 0) classes = a.ints.length;
    else if (a.name === 'classlabels_strings' && a.strings.length > 0) classes = a.strings.length;
  }
  const batch = batchDim(graph);
  const valueInfo = onnxSchema().lookupType('onnx.ValueInfoProto').fromObject({
    name: outputName,
    type: { tensor_type: { elem_type: DATA_TYPE.FLOAT, shape: { dim: [batch, classes === null ? { dim_param: 'classes' } : { dim_value: classes }] } } },
  });
  graph.node.splice(zipIndex, 1);
  graph.output = graph.output.filter((o) => o.name !== removed);
  graph.output.push(valueInfo as unknown as { name: string });
  return { bytes: modelType.encode(model as never).finish(), removedOutput: removed, classes };
}

interface AttrMsg { name: string; ints: unknown[]; strings: unknown[] }
interface NodeMsg { op_type: string; domain: string; input: string[]; output: string[]; attribute: AttrMsg[] }
interface GraphMsg { node: NodeMsg[]; output: { name: string }[]; input: { name: string; type?: any }[] }

/** The graph input's first dimension (the batch), as a dimension message; symbolic "N" when not declared. */
function batchDim(graph: GraphMsg): Record<string, unknown> {
  const d = graph.input[0]?.type?.tensor_type?.shape?.dim?.[0];
  if (d?.dim_param) return { dim_param: d.dim_param };
  const v = d?.dim_value === undefined || d?.dim_value === null ? null : int64ToNumber(d.dim_value);
  return v !== null && v > 0 ? { dim_value: v } : { dim_param: 'N' };
}
