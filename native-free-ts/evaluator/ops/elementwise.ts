// Element-wise operators: Add, Sub, Mul (multidirectional broadcasting, opset
// 7+; the legacy `broadcast`/`axis` attributes of opsets 1–6 are refused),
// Sigmoid and Identity. float32 results are rounded to float32 at each
// operation, as a float32 kernel does.
import { broadcastIndex, broadcastShape } from './broadcast.js';
import { OnnxOpError, tensorInput, type Kernel, type NodeContext } from './op_types.js';
import { allocate, sizeOf, tensor, type Tensor, type Value } from '../tensor.js';

type BinaryName = 'Add' | 'Sub' | 'Mul';

function numberOp(op: BinaryName): (a: number, b: number) => number {
  switch (op) {
    case 'Add': return (a, b) => a + b;
    case 'Sub': return (a, b) => a - b;
    case 'Mul': return (a, b) => a * b;
  }
}
function int32Op(op: BinaryName): (a: number, b: number) => number {
  switch (op) {
    case 'Add': return (a, b) => (a + b) | 0;
    case 'Sub': return (a, b) => (a - b) | 0;
    case 'Mul': return (a, b) => Math.imul(a, b);
  }
}
function bigOp(op: BinaryName): (a: bigint, b: bigint) => bigint {
  switch (op) {
    case 'Add': return (a, b) => BigInt.asIntN(64, a + b);
    case 'Sub': return (a, b) => BigInt.asIntN(64, a - b);
    case 'Mul': return (a, b) => BigInt.asIntN(64, a * b);
  }
}

export function binaryOp(op: BinaryName) {
  return (ctx: NodeContext): Kernel => {
    if (ctx.opset < 7 && ctx.attrs.int('broadcast', 0) !== 0) {
      ctx.fail(`the legacy broadcast attribute of ${op} opset ${ctx.opset} is not supported (opset 7+ broadcasting is)`);
    }
    const f = numberOp(op);
    const fi = int32Op(op);
    const fb = bigOp(op);
    return (inputs) => {
      const a = tensorInput(inputs, 0, ctx.where);
      const b = tensorInput(inputs, 1, ctx.where);
      if (a.type !== b.type) throw new OnnxOpError(`${ctx.where}: inputs are ${a.type} and ${b.type}; ${op} needs one type`);
      if (a.type === 'string') throw new OnnxOpError(`${ctx.where}: ${op} is not defined on strings`);
      const dims = sameDims(a.dims, b.dims) ? a.dims.slice() : broadcastShape(a.dims, b.dims, ctx.where);
      const out = allocate(a.type, dims);
      const n = sizeOf(dims);
      const ad = a.data, bd = b.data, od = out.data;
      const na = ad.length, nb = bd.length;
      if (od instanceof BigInt64Array) {
        const x = ad as BigInt64Array, y = bd as BigInt64Array;
        const [ia, ib] = indices(a, b, dims, n);
        for (let k = 0; k < n; k++) od[k] = fb(x[ia ? ia[k] : k % na], y[ib ? ib[k] : k % nb]);
        return [out];
      }
      const x = ad as Float32Array | Float64Array | Int32Array, y = bd as Float32Array | Float64Array | Int32Array;
      const o = od as Float32Array | Float64Array | Int32Array;
      const g = a.type === 'int32' ? fi : f;
      // Common cases without index tables: equal shapes, a scalar / single
      // value, or b repeating along a's trailing dimension (bias rows).
      if (na === n && nb === n) { for (let k = 0; k < n; k++) o[k] = g(x[k], y[k]); return [out]; }
      if (na === n && nb === 1) { const v = y[0]; for (let k = 0; k < n; k++) o[k] = g(x[k], v); return [out]; }
      if (nb === n && na === 1) { const v = x[0]; for (let k = 0; k < n; k++) o[k] = g(v, y[k]); return [out]; }
      if (na === n && isTrailing(b.dims, dims)) { for (let k = 0; k < n; k++) o[k] = g(x[k], y[k % nb]); return [out]; }
      const [ia, ib] = indices(a, b, dims, n);
      for (let k = 0; k < n; k++) o[k] = g(x[ia ? ia[k] : k], y[ib ? ib[k] : k]);
      return [out];
    };
  };
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when `small` broadcast to `out` repeats whole along the leading dims (its shape is out's suffix, after dropping leading 1s). */
function isTrailing(small: readonly number[], out: readonly number[]): boolean {
  let i = 0;
  while (i < small.length && small[i] === 1) i++;
  const rest = small.length - i;
  if (rest > out.length) return false;
  for (let k = 0; k < rest; k++) if (small[i + k] !== out[out.length - rest + k]) return false;
  return true;
}

function indices(a: Tensor, b: Tensor, dims: number[], n: number): [Int32Array | null, Int32Array | null] {
  return [
    a.data.length === n && sameDims(a.dims, dims) ? null : broadcastIndex(a.dims, dims),
    b.data.length === n && sameDims(b.dims, dims) ? null : broadcastIndex(b.dims, dims),
  ];
}

/** Sigmoid: 1 / (1 + e^-x), float32 or float64. */
export function sigmoid(ctx: NodeContext): Kernel {
  return (inputs) => {
    const x = tensorInput(inputs, 0, ctx.where);
    if (x.type !== 'float32' && x.type !== 'float64') throw new OnnxOpError(`${ctx.where}: Sigmoid takes float32 or float64, got ${x.type}`);
    const out = allocate(x.type, x.dims.slice());
    const xd = x.data as Float32Array | Float64Array;
    const od = out.data as Float32Array | Float64Array;
    for (let i = 0; i < xd.length; i++) od[i] = logistic(xd[i]);
    return [out];
  };
}

/** The logistic function, written to avoid overflow of e^-x for large negative x. */
export function logistic(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

/** Identity: a copy (outputs never alias inputs or initializers). */
export function identity(ctx: NodeContext): Kernel {
  return (inputs) => {
    const v = inputs[0];
    if (v === undefined) throw new OnnxOpError(`${ctx.where}: input 0 is missing`);
    return [copyValue(v)];
  };
}

export function copyValue(v: Value): Value {
  if (v.kind === 'map') return { kind: 'map', keys: v.keys, dims: [v.dims[0], v.dims[1]], data: v.data.slice() };
  return tensor(v.type, v.dims.slice(), v.data.slice() as Tensor['data']);
}
