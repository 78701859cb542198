// Softmax. Opsets 1–12 coerce the input to 2-D at `axis` (default 1) and
// normalise each row of [d0·…·d(axis−1), d(axis)·…]; opset 13+ normalises
// along the single dimension `axis` (default −1). Float32 arithmetic for
// float32 inputs.
import { allocate, sizeOf } from '../tensor.js';
import { OnnxOpError, tensorInput, type Kernel, type NodeContext } from './op_types.js';

export function softmax(ctx: NodeContext): Kernel {
  const legacy = ctx.opset < 13;
  const axisAttr = ctx.attrs.int('axis', legacy ? 1 : -1);
  return (inputs) => {
    const x = tensorInput(inputs, 0, ctx.where);
    if (x.type !== 'float32' && x.type !== 'float64') throw new OnnxOpError(`${ctx.where}: Softmax takes float32 or float64, got ${x.type}`);
    const rank = x.dims.length;
    const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
    if (axis < 0 || axis >= Math.max(rank, 1)) throw new OnnxOpError(`${ctx.where}: axis ${axisAttr} is outside the input's rank ${rank}`);
    // Softmax over `len` elements spaced `stride` apart, for every (outer, inner) position.
    const outer = sizeOf(x.dims.slice(0, axis));
    const len = legacy ? sizeOf(x.dims.slice(axis)) : x.dims[axis] ?? 1;
    const inner = legacy ? 1 : sizeOf(x.dims.slice(axis + 1));
    const out = allocate(x.type, x.dims.slice());
    const xd = x.data as Float32Array | Float64Array;
    const od = out.data as Float32Array | Float64Array;
    const r = x.type === 'float32' ? Math.fround : (v: number) => v;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * len * inner + i;
        let max = -Infinity;
        for (let j = 0; j < len; j++) max = Math.max(max, xd[base + j * inner]);
        let sum = 0;
        for (let j = 0; j < len; j++) {
          const e = r(Math.exp(r(xd[base + j * inner] - max)));
          od[base + j * inner] = e;
          sum = r(sum + e);
        }
        for (let j = 0; j < len; j++) od[base + j * inner] = r(od[base + j * inner] / sum);
      }
    }
    return [out];
  };
}
