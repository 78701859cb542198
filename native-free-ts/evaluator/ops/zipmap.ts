// ai.onnx.ml ZipMap: a float tensor [N, C] (or [C]) becomes a sequence of N
// maps from the C class labels (int64 or string) to the row's values.
import { OnnxOpError, tensorInput, type Kernel, type NodeContext } from './op_types.js';

export function zipMap(ctx: NodeContext): Kernel {
  const ints = ctx.attrs.ints('classlabels_int64s') ?? [];
  const strs = ctx.attrs.strings('classlabels_strings') ?? [];
  if ((ints.length > 0) === (strs.length > 0)) ctx.fail('exactly one of classlabels_int64s and classlabels_strings must be given');
  const keys: number[] | string[] = ints.length > 0 ? ints : strs;
  return (inputs) => {
    const x = tensorInput(inputs, 0, ctx.where);
    if (x.type !== 'float32') throw new OnnxOpError(`${ctx.where}: input must be float32, got ${x.type}`);
    if (x.dims.length !== 1 && x.dims.length !== 2) throw new OnnxOpError(`${ctx.where}: input must be 1-D or 2-D, got [${x.dims.join(', ')}]`);
    const rows = x.dims.length === 1 ? 1 : x.dims[0];
    const cols = x.dims[x.dims.length - 1];
    if (cols !== keys.length) throw new OnnxOpError(`${ctx.where}: ${cols} columns but ${keys.length} class labels`);
    return [{ kind: 'map', keys, dims: [rows, cols], data: (x.data as Float32Array).slice() }];
  };
}
