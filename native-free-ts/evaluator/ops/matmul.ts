// MatMul (numpy matmul semantics: 1-D operands promoted, leading batch
// dimensions broadcast) and Gemm (Y = alpha · A' · B' + beta · C, C broadcast
// to [M, N]). Float32 results: each dot product is summed in double and
// rounded once, within a few ulp of onnxruntime's blocked float32 GEMM.
import { broadcastIndex, broadcastShape } from './broadcast.js';
import { allocate, sizeOf, type Tensor } from '../tensor.js';
import { OnnxOpError, tensorInput, type Kernel, type NodeContext } from './op_types.js';

type Floats = Float32Array | Float64Array;

function floatInput(t: Tensor, where: string, name: string): Floats {
  if (t.type !== 'float32' && t.type !== 'float64') throw new OnnxOpError(`${where}: ${name} must be float32 or float64, got ${t.type}`);
  return t.data as Floats;
}

/** B transposed to [N, K] so each output element is a dot product of two contiguous rows. */
function transposed(b: Tensor): Float64Array {
  const [k, n] = b.dims;
  const bd = b.data as Floats;
  const t = new Float64Array(k * n);
  for (let q = 0; q < k; q++) for (let j = 0; j < n; j++) t[j * k + q] = bd[q * n + j];
  return t;
}

/**
 * Σ a[ao + q] · b[bo + q] for q < k, in double with four interleaved
 * accumulators (one add chain would wait on each add's latency).
 */
function dot(a: Floats, ao: number, b: Float64Array, bo: number, k: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let q = 0;
  for (; q + 3 < k; q += 4) {
    s0 += a[ao + q] * b[bo + q];
    s1 += a[ao + q + 1] * b[bo + q + 1];
    s2 += a[ao + q + 2] * b[bo + q + 2];
    s3 += a[ao + q + 3] * b[bo + q + 3];
  }
  for (; q < k; q++) s0 += a[ao + q] * b[bo + q];
  return (s0 + s1) + (s2 + s3);
}

export function matMul(ctx: NodeContext): Kernel {
  // A constant 2-D float B (weights) is transposed once at load for the common [M, K] × [K, N] case.
  const constB = ctx.constantInput(1);
  const bT = constB !== undefined && constB.dims.length === 2 && (constB.type === 'float32' || constB.type === 'float64') ? transposed(constB) : null;
  return (inputs) => {
    const a = tensorInput(inputs, 0, ctx.where);
    const b = tensorInput(inputs, 1, ctx.where);
    if (bT !== null && a.dims.length === 2 && a.type === b.type && a.dims[1] === b.dims[0]) {
      const [m, k] = a.dims;
      const n = b.dims[1];
      const ad = a.data as Floats;
      const out = allocate(a.type, [m, n]);
      const od = out.data as Floats;
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) od[i * n + j] = dot(ad, i * k, bT, j * k, k);
      return [out];
    }
    const ad = floatInput(a, ctx.where, 'A'), bd = floatInput(b, ctx.where, 'B');
    if (a.type !== b.type) throw new OnnxOpError(`${ctx.where}: A is ${a.type} and B is ${b.type}`);
    if (a.dims.length === 0 || b.dims.length === 0) throw new OnnxOpError(`${ctx.where}: MatMul needs operands of rank 1 or more`);
    const aDims = a.dims.length === 1 ? [1, a.dims[0]] : a.dims;
    const bDims = b.dims.length === 1 ? [b.dims[0], 1] : b.dims;
    const m = aDims[aDims.length - 2], k = aDims[aDims.length - 1];
    const k2 = bDims[bDims.length - 2], n = bDims[bDims.length - 1];
    if (k !== k2) throw new OnnxOpError(`${ctx.where}: shapes [${a.dims.join(', ')}] and [${b.dims.join(', ')}] do not multiply (${k} ≠ ${k2})`);
    const aBatch = aDims.slice(0, -2), bBatch = bDims.slice(0, -2);
    const batch = broadcastShape(aBatch, bBatch, ctx.where);
    const nb = sizeOf(batch);
    const ai = broadcastIndex(aBatch, batch), bi = broadcastIndex(bBatch, batch);
    const outDims = [...batch, m, n];
    const out = allocate(a.type, outDims);
    const od = out.data as Floats;
    for (let p = 0; p < nb; p++) {
      const ao = ai[p] * m * k, bo = bi[p] * k * n, oo = p * m * n;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let acc = 0;
          for (let q = 0; q < k; q++) acc += ad[ao + i * k + q] * bd[bo + q * n + j];
          od[oo + i * n + j] = acc;
        }
      }
    }
    // Drop the promoted dimensions again.
    if (a.dims.length === 1) outDims.splice(outDims.length - 2, 1);
    if (b.dims.length === 1) outDims.splice(outDims.length - 1, 1);
    out.dims = outDims;
    return [out];
  };
}

export function gemm(ctx: NodeContext): Kernel {
  const alpha = ctx.attrs.float('alpha', 1);
  const beta = ctx.attrs.float('beta', 1);
  const transA = ctx.attrs.int('transA', 0) !== 0;
  const transB = ctx.attrs.int('transB', 0) !== 0;
  return (inputs) => {
    const a = tensorInput(inputs, 0, ctx.where);
    const b = tensorInput(inputs, 1, ctx.where);
    const ad = floatInput(a, ctx.where, 'A'), bd = floatInput(b, ctx.where, 'B');
    if (a.dims.length !== 2 || b.dims.length !== 2) throw new OnnxOpError(`${ctx.where}: Gemm needs 2-D A and B, got [${a.dims.join(', ')}] and [${b.dims.join(', ')}]`);
    const [m, k] = transA ? [a.dims[1], a.dims[0]] : [a.dims[0], a.dims[1]];
    const [k2, n] = transB ? [b.dims[1], b.dims[0]] : [b.dims[0], b.dims[1]];
    if (k !== k2) throw new OnnxOpError(`${ctx.where}: inner dimensions ${k} and ${k2} differ`);
    const out = allocate(a.type, [m, n]);
    const od = out.data as Floats;
    const c = inputs[2];
    let cd: Floats | null = null;
    let ci: Int32Array | null = null;
    if (c !== undefined && beta !== 0) {
      if (c.kind !== 'tensor') throw new OnnxOpError(`${ctx.where}: C must be a tensor`);
      cd = floatInput(c, ctx.where, 'C');
      broadcastShape(c.dims, [m, n], ctx.where);
      if (c.dims.length > 2) throw new OnnxOpError(`${ctx.where}: C of rank ${c.dims.length} cannot broadcast to [${m}, ${n}]`);
      ci = broadcastIndex(c.dims, [m, n]);
    }
    const aIdx = (i: number, q: number) => (transA ? q * a.dims[1] + i : i * k + q);
    const bIdx = (q: number, j: number) => (transB ? j * b.dims[1] + q : q * n + j);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let q = 0; q < k; q++) acc += ad[aIdx(i, q)] * bd[bIdx(q, j)];
        let v = alpha * acc;
        if (cd !== null) v += beta * cd[ci![i * n + j]];
        od[i * n + j] = v;
      }
    }
    return [out];
  };
}
