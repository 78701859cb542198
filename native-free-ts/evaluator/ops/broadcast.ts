// Numpy-style (multidirectional) broadcasting, ONNX "Broadcasting.md": shapes
// are right-aligned, and each dimension must be equal or 1 in every input.
import { OnnxOpError } from './op_types.js';

export function broadcastShape(a: readonly number[], b: readonly number[], where: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : a[i - (rank - a.length)];
    const db = i < rank - b.length ? 1 : b[i - (rank - b.length)];
    if (da !== db && da !== 1 && db !== 1) {
      throw new OnnxOpError(`${where}: shapes [${a.join(', ')}] and [${b.join(', ')}] cannot be broadcast together`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * For each output element (row-major over `out`), the index into an input of
 * shape `dims` broadcast to `out`. Built once per call; the arithmetic loops
 * stay plain array reads.
 */
export function broadcastIndex(dims: readonly number[], out: readonly number[]): Int32Array {
  const rank = out.length;
  const size = out.reduce((p, d) => p * d, 1);
  const strides = new Array<number>(rank).fill(0);
  let s = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    const o = i + rank - dims.length;
    strides[o] = dims[i] === 1 ? 0 : s;
    s *= dims[i];
  }
  const index = new Int32Array(size);
  const counter = new Array<number>(rank).fill(0);
  let offset = 0;
  for (let k = 0; k < size; k++) {
    index[k] = offset;
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]++;
      offset += strides[d];
      if (counter[d] < out[d]) break;
      offset -= strides[d] * counter[d];
      counter[d] = 0;
    }
  }
  return index;
}
