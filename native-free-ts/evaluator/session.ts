// A pure-TypeScript stand-in for onnxruntime-node's InferenceSession: loads an
// ONNX model (native-free-ts/evaluator/ decodes the protobuf and compiles the graph)
// and evaluates it with no native addon. Same shape as ort.InferenceSession
// where the engine uses it: create(), inputNames/outputNames, input/output
// metadata, run(feeds, fetches?) — plus runSync() for callers that do not need
// a promise. Load fails with an OnnxModelError (corrupt file, refused
// structure) or OnnxOpError (unknown operator, bad attribute) naming the cause;
// a model that loads never meets an unknown operator at run time.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { CompiledGraph } from './graph.js';
import { dataTypeName, decodeModel, elemTypeOf, OnnxModelError, type ModelProto, type TypeInfo } from './model_proto.js';
import { OnnxOpError } from './ops/op_types.js';
import { sizeOf, tensor, type Value } from './tensor.js';

export { OnnxModelError } from './model_proto.js';
export { OnnxOpError } from './ops/op_types.js';

/**
 * An output value. Numeric tensors carry their elements in the typed array
 * onnxruntime-node would use (int64 as BigInt64Array). Two kinds ORT cannot
 * put in `data`:
 *  - type 'string': `data` is empty and `strings` holds the elements;
 *  - type 'map' (a ZipMap's sequence<map<key, float>>): `dims` is [rows,
 *    classes], `data` the float32 values row-major and `keys` the map keys,
 *    so row r is { keys[c] → data[r * keys.length + c] } (see zipMapRows()).
 */
export interface TsTensor {
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | number[];
  dims: number[];
  type: 'float32' | 'float64' | 'int64' | 'int32' | 'string' | 'map';
  strings?: string[];
  keys?: number[] | string[];
}

/** Mirrors ort.InferenceSession.ValueMetadata. */
export type TsValueMetadata =
  | { readonly name: string; readonly isTensor: true; readonly type: string; readonly shape: ReadonlyArray<number | string> }
  | { readonly name: string; readonly isTensor: false };

export type TsFeeds = Record<string, { data: Float32Array; dims: readonly number[] }>;

export class TsInferenceSession {
  readonly inputNames: string[];
  readonly outputNames: string[];
  readonly inputMetadata: readonly TsValueMetadata[];
  readonly outputMetadata: readonly TsValueMetadata[];
  /** ir_version, producer and opsets of the loaded model, for diagnostics. */
  readonly modelInfo: { irVersion: number; producerName: string; producerVersion: string; opsets: { domain: string; version: number }[] };

  private readonly graph: CompiledGraph;
  private readonly inputSlots: number[];
  private readonly inputShapes: ((number | string)[] | null)[];
  private readonly outputSlots: number[];
  /** Per output: produced by a node (false → an input or initializer, copied before it is handed out). */
  private readonly outputProduced: boolean[];

  /** Mirrors ort.InferenceSession.create: a file path or the model's bytes. */
  static async create(pathOrBytes: string | Uint8Array): Promise<TsInferenceSession> {
    const bytes = typeof pathOrBytes === 'string' ? await readModelFile(pathOrBytes) : pathOrBytes;
    return new TsInferenceSession(bytes, typeof pathOrBytes === 'string' ? pathOrBytes : '<bytes>');
  }

  /** Synchronous create, for threads that load before serving. */
  static createSync(pathOrBytes: string | Uint8Array): TsInferenceSession {
    const bytes = typeof pathOrBytes === 'string' ? readModelFileSync(pathOrBytes) : pathOrBytes;
    return new TsInferenceSession(bytes, typeof pathOrBytes === 'string' ? pathOrBytes : '<bytes>');
  }

  private constructor(bytes: Uint8Array, source: string) {
    let model: ModelProto;
    try {
      model = decodeModel(bytes);
      const g = model.graph;
      // Like onnxruntime: inputs backed by an initializer are not required inputs.
      const required = g.inputs.filter((i) => !g.initializers.has(i.name));
      this.inputNames = required.map((i) => i.name);
      this.outputNames = g.outputs.map((o) => o.name);
      this.inputMetadata = required.map((i) => metadata(i.name, i.type));
      this.outputMetadata = g.outputs.map((o) => metadata(o.name, o.type));
      this.inputShapes = required.map((i) => (i.type.kind === 'tensor' ? i.type.shape : null));
      for (const i of required) {
        if (i.type.kind !== 'tensor' || i.type.elemType !== 1) {
          throw new OnnxModelError(`input ${JSON.stringify(i.name)} is ${describeType(i.type)}; this evaluator is fed float32 tensors only`);
        }
      }
      this.graph = new CompiledGraph(model, this.inputNames);
    } catch (err) {
      if (err instanceof OnnxModelError || err instanceof OnnxOpError) {
        err.message = `${source}: ${err.message}`;
      }
      throw err;
    }
    this.modelInfo = { irVersion: model.irVersion, producerName: model.producerName, producerVersion: model.producerVersion, opsets: model.opsets };
    this.inputSlots = this.inputNames.map((n) => this.graph.slots.get(n)!);
    this.outputSlots = this.outputNames.map((n) => this.graph.slots.get(n)!);
    this.outputProduced = this.outputSlots.map((s) => this.graph.isProduced(s));
  }

  /** Mirrors ort's run(feeds, fetches?): the requested outputs, all when `fetches` is omitted. */
  async run(feeds: TsFeeds, fetches?: string[]): Promise<Record<string, TsTensor>> {
    return this.runSync(feeds, fetches);
  }

  /** The same evaluation, synchronously. */
  runSync(feeds: TsFeeds, fetches?: string[]): Record<string, TsTensor> {
    const values = this.graph.newValues();
    for (const name of Object.keys(feeds)) {
      if (!this.inputNames.includes(name)) throw new RangeError(`feed ${JSON.stringify(name)} is not an input of the model (inputs: ${this.inputNames.join(', ')})`);
    }
    for (let i = 0; i < this.inputNames.length; i++) {
      const name = this.inputNames[i];
      const feed = feeds[name];
      if (feed === undefined) throw new RangeError(`input ${JSON.stringify(name)} is missing from the feeds`);
      values[this.inputSlots[i]] = tensor('float32', checkFeed(name, feed, this.inputShapes[i]), feed.data);
    }
    const names = fetches ?? this.outputNames;
    const fetchSlots = names.map((n) => {
      const k = this.outputNames.indexOf(n);
      if (k < 0) throw new RangeError(`fetch ${JSON.stringify(n)} is not an output of the model (outputs: ${this.outputNames.join(', ')})`);
      return k;
    });
    const results = this.graph.run(values, fetchSlots.map((k) => this.outputSlots[k]));
    const out: Record<string, TsTensor> = {};
    for (let i = 0; i < names.length; i++) out[names[i]] = toTsTensor(results[i], !this.outputProduced[fetchSlots[i]]);
    return out;
  }

  /** Mirrors ort's release(); nothing native to free. */
  async release(): Promise<void> {}
}

/** A ZipMap output as one Map per row (keys → probability). */
export function zipMapRows(t: TsTensor): Map<number | string, number>[] {
  if (t.type !== 'map' || t.keys === undefined) throw new TypeError(`zipMapRows needs a 'map' output, got ${t.type}`);
  const [rows, cols] = t.dims;
  const out: Map<number | string, number>[] = [];
  for (let r = 0; r < rows; r++) {
    const m = new Map<number | string, number>();
    for (let c = 0; c < cols; c++) m.set(t.keys[c], t.data[r * cols + c] as number);
    out.push(m);
  }
  return out;
}

function checkFeed(name: string, feed: { data: Float32Array; dims: readonly number[] }, shape: (number | string)[] | null): number[] {
  if (!(feed.data instanceof Float32Array)) throw new TypeError(`input ${JSON.stringify(name)}: data must be a Float32Array`);
  const dims = Array.from(feed.dims);
  for (const d of dims) if (!Number.isInteger(d) || d < 0) throw new RangeError(`input ${JSON.stringify(name)}: invalid dims [${dims.join(', ')}]`);
  if (sizeOf(dims) !== feed.data.length) {
    throw new RangeError(`input ${JSON.stringify(name)}: dims [${dims.join(', ')}] need ${sizeOf(dims)} values, data has ${feed.data.length}`);
  }
  if (shape !== null) {
    if (shape.length !== dims.length) throw new RangeError(`input ${JSON.stringify(name)}: rank ${dims.length}, the model expects rank ${shape.length} [${shape.join(', ')}]`);
    for (let i = 0; i < shape.length; i++) {
      const want = shape[i];
      if (typeof want === 'number' && want !== dims[i]) {
        throw new RangeError(`input ${JSON.stringify(name)}: dimension ${i} is ${dims[i]}, the model expects ${want}`);
      }
    }
  }
  return dims;
}

function toTsTensor(v: Value, copy: boolean): TsTensor {
  if (v.kind === 'map') return { type: 'map', dims: [v.dims[0], v.dims[1]], data: copy ? v.data.slice() : v.data, keys: v.keys };
  if (v.type === 'string') return { type: 'string', dims: v.dims.slice(), data: [], strings: (v.data as string[]).slice() };
  const data = copy ? (v.data.slice() as Float32Array | Float64Array | BigInt64Array | Int32Array) : (v.data as Float32Array | Float64Array | BigInt64Array | Int32Array);
  return { type: v.type, dims: copy ? v.dims.slice() : v.dims, data };
}

function metadata(name: string, type: TypeInfo): TsValueMetadata {
  if (type.kind !== 'tensor') return { name, isTensor: false };
  return { name, isTensor: true, type: dataTypeName(type.elemType), shape: type.shape ?? [] };
}

function describeType(t: TypeInfo): string {
  switch (t.kind) {
    case 'tensor': return `a ${elemTypeOf(t.elemType) ?? dataTypeName(t.elemType)} tensor`;
    case 'sequence': return 'a sequence';
    case 'map': return 'a map';
    case 'unknown': return 'of unknown type';
  }
}

async function readModelFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new OnnxModelError(`${path}: cannot read the model file: ${(err as Error).message}`);
  }
}

function readModelFileSync(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new OnnxModelError(`${path}: cannot read the model file: ${(err as Error).message}`);
  }
}
