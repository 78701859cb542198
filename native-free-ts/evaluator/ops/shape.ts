// Reshape and Flatten: new dimensions over a copy of the same elements (a
// copy, so an output never aliases an initializer or a caller's feed).
import { sizeOf, tensor, type Tensor } from '../tensor.js';
import { OnnxOpError, tensorInput, type Kernel, type NodeContext } from './op_types.js';

function withDims(x: Tensor, dims: number[]): Tensor {
  return tensor(x.type, dims, x.data.slice() as Tensor['data']);
}

/**
 * Reshape: the target shape from input 1 (opset 5+) or the `shape`
 * attribute (opsets 1–4). A 0 copies the input's dimension (unless
 * allowzero = 1, opset 14+), one -1 is inferred.
 */
export function reshape(ctx: NodeContext): Kernel {
  const allowZero = ctx.opset >= 14 && ctx.attrs.int('allowzero', 0) === 1;
  const fromAttr = ctx.opset < 5 ? ctx.attrs.ints('shape') : undefined;
  if (ctx.opset < 5 && fromAttr === undefined) ctx.fail('Reshape before opset 5 needs the shape attribute');
  return (inputs) => {
    const x = tensorInput(inputs, 0, ctx.where);
    let spec: number[];
    if (fromAttr !== undefined) spec = fromAttr;
    else {
      const s = tensorInput(inputs, 1, ctx.where);
      if (s.type !== 'int64') throw new OnnxOpError(`${ctx.where}: the shape input must be int64, got ${s.type}`);
      spec = Array.from(s.data as BigInt64Array, Number);
    }
    const dims = spec.map((d, i) => (d === 0 && !allowZero ? (i < x.dims.length ? x.dims[i] : -2) : d));
    if (dims.includes(-2)) throw new OnnxOpError(`${ctx.where}: shape [${spec.join(', ')}] copies a dimension the input [${x.dims.join(', ')}] lacks`);
    const unknown = dims.indexOf(-1);
    if (unknown >= 0) {
      if (dims.indexOf(-1, unknown + 1) >= 0) throw new OnnxOpError(`${ctx.where}: shape [${spec.join(', ')}] has more than one -1`);
      const known = sizeOf(dims.filter((d) => d !== -1));
      const total = sizeOf(x.dims);
      if (known === 0 || total % known !== 0) throw new OnnxOpError(`${ctx.where}: cannot reshape [${x.dims.join(', ')}] to [${spec.join(', ')}]`);
      dims[unknown] = total / known;
    }
    if (dims.some((d) => d < 0) || sizeOf(dims) !== sizeOf(x.dims)) {
      throw new OnnxOpError(`${ctx.where}: cannot reshape [${x.dims.join(', ')}] (${sizeOf(x.dims)} elements) to [${spec.join(', ')}]`);
    }
    return [withDims(x, dims)];
  };
}

/** Flatten: [d0 … d(axis−1)] and [d(axis) …] each collapse to one dimension. */
export function flatten(ctx: NodeContext): Kernel {
  const axisAttr = ctx.attrs.int('axis', 1);
  return (inputs) => {
    const x = tensorInput(inputs, 0, ctx.where);
    const rank = x.dims.length;
    const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
    if (axis < 0 || axis > rank) throw new OnnxOpError(`${ctx.where}: axis ${axisAttr} is outside [-${rank}, ${rank}]`);
    return [withDims(x, [sizeOf(x.dims.slice(0, axis)), sizeOf(x.dims.slice(axis))])];
  };
}
