// The values that flow through an evaluated graph. Tensors hold their elements
// in the typed array that onnxruntime-node would return for the same element
// type (int64 as BigInt64Array), so outputs can be handed out as they are.

/** Element types the evaluator computes with (ORT's Tensor.Type names). */
export type ElemType = 'float32' | 'float64' | 'int64' | 'int32' | 'string';

export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | string[];

export interface Tensor {
  kind: 'tensor';
  type: ElemType;
  dims: number[];
  data: TensorData;
}

/**
 * A ZipMap result, sequence<map<key, float>>: row r maps keys[c] to
 * data[r * keys.length + c]. Kept flat; tsOutput() hands it out as is.
 */
export interface MapSequence {
  kind: 'map';
  keys: number[] | string[];
  dims: [number, number];
  data: Float32Array;
}

export type Value = Tensor | MapSequence;

export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function tensor(type: ElemType, dims: number[], data: TensorData): Tensor {
  return { kind: 'tensor', type, dims, data };
}

export function allocate(type: ElemType, dims: number[]): Tensor {
  const n = sizeOf(dims);
  switch (type) {
    case 'float32': return tensor(type, dims, new Float32Array(n));
    case 'float64': return tensor(type, dims, new Float64Array(n));
    case 'int64': return tensor(type, dims, new BigInt64Array(n));
    case 'int32': return tensor(type, dims, new Int32Array(n));
    case 'string': return tensor(type, dims, new Array<string>(n).fill(''));
  }
}

/** Element i of a numeric tensor as a JS number (int64 converted; may round beyond 2^53). */
export function numberAt(t: Tensor, i: number): number {
  const d = t.data;
  if (d instanceof BigInt64Array) return Number(d[i]);
  return d[i] as number;
}

export function shapeText(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}
