// Cast between the numeric types this evaluator computes with (float32,
// float64, int32, int64). Float → integer truncates toward zero; NaN and
// out-of-range values become the type's minimum, as x86's cvtt* instructions
// (and so onnxruntime on x86) produce. Casts to or from strings, bool and
// narrower types fail at load.
import { DATA_TYPE } from '../onnx_fields.js';
import { dataTypeName, elemTypeOf } from '../model_proto.js';
import { allocate, type ElemType, type Tensor } from '../tensor.js';
import { OnnxOpError, tensorInput, type Kernel, type NodeContext } from './op_types.js';

const INT32_MIN = -2147483648;
const INT64_MIN = -(2n ** 63n);

export function cast(ctx: NodeContext): Kernel {
  const to = ctx.attrs.int('to', -1);
  if (to < 0) ctx.fail('attribute to is required');
  const target = elemTypeOf(to);
  if (target === null || target === 'string' || to === DATA_TYPE.STRING) ctx.fail(`casting to ${dataTypeName(to)} is not supported (float32, float64, int32, int64 are)`);
  return (inputs) => {
    const x = tensorInput(inputs, 0, ctx.where);
    if (x.type === 'string') throw new OnnxOpError(`${ctx.where}: casting from string is not supported`);
    return [castTensor(x, target)];
  };
}

export function castTensor(x: Tensor, to: Exclude<ElemType, 'string'>): Tensor {
  const out = allocate(to, x.dims.slice());
  const src = x.data as Float32Array | Float64Array | Int32Array | BigInt64Array;
  const n = src.length;
  const dst = out.data;
  if (dst instanceof BigInt64Array) {
    for (let i = 0; i < n; i++) {
      const v = src[i];
      if (typeof v === 'bigint') dst[i] = v;
      else dst[i] = Number.isFinite(v) && Math.abs(v) < 2 ** 63 ? BigInt(Math.trunc(v)) : INT64_MIN;
    }
  } else if (dst instanceof Int32Array) {
    for (let i = 0; i < n; i++) {
      const v = src[i];
      if (typeof v === 'bigint') dst[i] = Number(BigInt.asIntN(32, v));
      else dst[i] = Number.isFinite(v) && v > -2147483649 && v < 2147483648 ? Math.trunc(v) : INT32_MIN;
    }
  } else {
    const d = dst as Float32Array | Float64Array;
    for (let i = 0; i < n; i++) d[i] = Number(src[i]);
  }
  return out;
}
