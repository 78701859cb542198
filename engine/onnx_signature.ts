// Reads an ONNX file's signature — its graph inputs and outputs with element
// types and shapes — without a runtime, so the registry can check a model
// against its manifest at load on either inference backend. Only the few
// protobuf fields on the path ModelProto.graph → ValueInfoProto → TypeProto
// are decoded; everything else is skipped by wire type.
import { readFileSync } from 'node:fs';

/** A dimension: a number, or the name of a symbolic one (null when neither is set). */
export type Dim = number | string | null;

export interface TensorSignature {
  name: string;
  /** ONNX TensorProto.DataType (1 float, 7 int64, 11 double, …); null when the value is not a tensor. */
  elemType: number | null;
  /** null when the graph declares no shape. */
  shape: Dim[] | null;
}

export interface OnnxSignature {
  inputs: TensorSignature[];
  outputs: TensorSignature[];
}

export const ELEM_TYPE_NAMES: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool', 10: 'float16', 11: 'float64',
};

// Field numbers from onnx.proto.
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12;
const TENSOR_NAME = 8;
const VALUE_INFO_NAME = 1, VALUE_INFO_TYPE = 2;
const TYPE_TENSOR = 1;
const TENSOR_TYPE_ELEM = 1, TENSOR_TYPE_SHAPE = 2;
const SHAPE_DIM = 1;
const DIM_VALUE = 1, DIM_PARAM = 2;

class Reader {
  pos: number;
  constructor(readonly buf: Uint8Array, start = 0, readonly end = buf.length) {
    this.pos = start;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new Error('varint longer than 10 bytes');
  }

  /** The next field: its number, wire type and, for length-delimited ones, a reader over the bytes. */
  next(): { field: number; wire: number; sub: Reader | null; value: number } | null {
    if (this.pos >= this.end) return null;
    const tag = this.varint();
    const field = Math.floor(tag / 8), wire = tag & 7;
    switch (wire) {
      case 0: return { field, wire, sub: null, value: this.varint() };
      case 1: this.skip(8); return { field, wire, sub: null, value: 0 };
      case 5: this.skip(4); return { field, wire, sub: null, value: 0 };
      case 2: {
        const len = this.varint();
        const start = this.pos;
        this.skip(len);
        return { field, wire, sub: new Reader(this.buf, start, start + len), value: 0 };
      }
      default: throw new Error(`unsupported protobuf wire type ${wire} (field ${field})`);
    }
  }

  skip(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw new Error('truncated field');
    this.pos += n;
  }

  string(): string {
    return new TextDecoder('utf-8', { fatal: true }).decode(this.buf.subarray(this.pos, this.end));
  }
}

function valueInfo(r: Reader): TensorSignature {
  const sig: TensorSignature = { name: '', elemType: null, shape: null };
  for (let f = r.next(); f !== null; f = r.next()) {
    if (f.field === VALUE_INFO_NAME && f.sub) sig.name = f.sub.string();
    else if (f.field === VALUE_INFO_TYPE && f.sub) {
      for (let t = f.sub.next(); t !== null; t = f.sub.next()) {
        if (t.field !== TYPE_TENSOR || !t.sub) continue;
        for (let tt = t.sub.next(); tt !== null; tt = t.sub.next()) {
          if (tt.field === TENSOR_TYPE_ELEM && tt.wire === 0) sig.elemType = tt.value;
          else if (tt.field === TENSOR_TYPE_SHAPE && tt.sub) sig.shape = shape(tt.sub);
        }
      }
    }
  }
  return sig;
}

function shape(r: Reader): Dim[] {
  const dims: Dim[] = [];
  for (let f = r.next(); f !== null; f = r.next()) {
    if (f.field !== SHAPE_DIM || !f.sub) continue;
    let d: Dim = null;
    for (let x = f.sub.next(); x !== null; x = f.sub.next()) {
      if (x.field === DIM_VALUE && x.wire === 0) d = x.value;
      else if (x.field === DIM_PARAM && x.sub) d = x.sub.string();
    }
    dims.push(d);
  }
  return dims;
}

/** The graph's inputs (less initializers listed as inputs, as older exporters do) and outputs. */
export function parseOnnxSignature(bytes: Uint8Array): OnnxSignature {
  const model = new Reader(bytes);
  const inputs: TensorSignature[] = [];
  const outputs: TensorSignature[] = [];
  const initializers = new Set<string>();
  let sawGraph = false;
  // Repeated graph fields merge (protobuf semantics), so every one is read.
  for (let f = model.next(); f !== null; f = model.next()) {
    if (f.field !== MODEL_GRAPH || !f.sub) continue;
    sawGraph = true;
    for (let g = f.sub.next(); g !== null; g = f.sub.next()) {
      if (!g.sub) continue;
      if (g.field === GRAPH_INPUT) inputs.push(valueInfo(g.sub));
      else if (g.field === GRAPH_OUTPUT) outputs.push(valueInfo(g.sub));
      else if (g.field === GRAPH_INITIALIZER) {
        for (let t = g.sub.next(); t !== null; t = g.sub.next()) if (t.field === TENSOR_NAME && t.sub) initializers.add(t.sub.string());
      }
    }
  }
  if (!sawGraph) throw new Error('no graph in the file (is it an ONNX model?)');
  return { inputs: inputs.filter((i) => !initializers.has(i.name)), outputs };
}

export function readOnnxSignature(path: string): OnnxSignature {
  return parseOnnxSignature(readFileSync(path));
}
