// ai.onnx.ml Normalizer: each row of a [N, C] (or [C]) input divided by its
// MAX, L1 or L2 norm, float32 output; a row whose norm is 0 passes through.
// Float32 arithmetic as onnxruntime's normalizer.cc.
import { numberAt, tensor } from '../tensor.js';
import { OnnxOpError, tensorInput, type Kernel, type NodeContext } from './op_types.js';

const f32 = Math.fround;

export function normalizer(ctx: NodeContext): Kernel {
  const norm = ctx.attrs.string('norm', 'MAX');
  if (norm !== 'MAX' && norm !== 'L1' && norm !== 'L2') ctx.fail(`norm ${JSON.stringify(norm)} is not one of MAX, L1, L2`);
  return (inputs) => {
    const x = tensorInput(inputs, 0, ctx.where);
    if (x.type === 'string') throw new OnnxOpError(`${ctx.where}: input must be numeric, got string`);
    if (x.dims.length !== 1 && x.dims.length !== 2) throw new OnnxOpError(`${ctx.where}: input must be 1-D or 2-D, got [${x.dims.join(', ')}]`);
    const rows = x.dims.length === 1 ? 1 : x.dims[0];
    const cols = x.dims[x.dims.length - 1];
    const out = new Float32Array(rows * cols);
    const isFloat = x.type === 'float32';
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      if (norm === 'MAX') {
        let max = -3.4028234663852886e38;
        for (let i = 0; i < cols; i++) max = Math.max(max, f32(numberAt(x, o + i)));
        for (let i = 0; i < cols; i++) out[o + i] = max !== 0 ? f32(numberAt(x, o + i)) / max : numberAt(x, o + i);
      } else if (norm === 'L1') {
        let sum = 0;
        for (let i = 0; i < cols; i++) sum = f32(sum + f32(Math.abs(numberAt(x, o + i))));
        for (let i = 0; i < cols; i++) out[o + i] = sum !== 0 ? f32(numberAt(x, o + i)) / sum : numberAt(x, o + i);
      } else {
        let sum = 0;
        for (let i = 0; i < cols; i++) {
          const v = numberAt(x, o + i);
          // x·x in the input's own type (float32 rounds it), then as float.
          const sq = f32(isFloat ? f32(v * v) : v * v);
          out[o + i] = sq;
          sum = f32(sum + sq);
        }
        for (let i = 0; i < cols; i++) {
          const v = numberAt(x, o + i);
          if (sum === 0) out[o + i] = v;
          else {
            const q = f32(Math.sqrt(f32(out[o + i] / sum)));
            out[o + i] = v < 0 ? -q : q;
          }
        }
      }
    }
    return [tensor('float32', x.dims.slice(), out)];
  };
}
