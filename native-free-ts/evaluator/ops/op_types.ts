// The contract between the graph compiler and the operator implementations.
// An operator is compiled once per node at load time (attributes read and
// checked, tables precomputed) into a Kernel that the graph runs per call.
import { ATTRIBUTE_TYPE } from '../onnx_fields.js';
import type { AttributeProto, NodeProto } from '../model_proto.js';
import type { Tensor, Value } from '../tensor.js';

/** A load-time or run-time failure of one node, naming it. */
export class OnnxOpError extends Error {
  override name = 'OnnxOpError';
}

export type Kernel = (inputs: readonly (Value | undefined)[]) => Value[];

export interface NodeContext {
  node: NodeProto;
  /** The opset version imported for the node's domain. */
  opset: number;
  /** `Add node "name"` — the prefix for every message about this node. */
  where: string;
  attrs: Attributes;
  /** The initializer feeding input `i`, when that input is a constant (lets kernels precompute). */
  constantInput(i: number): Tensor | undefined;
  fail(msg: string): never;
}

export type OpFactory = (ctx: NodeContext) => Kernel;

const TYPE_NAMES: Record<number, string> = {
  [ATTRIBUTE_TYPE.FLOAT]: 'FLOAT', [ATTRIBUTE_TYPE.INT]: 'INT', [ATTRIBUTE_TYPE.STRING]: 'STRING', [ATTRIBUTE_TYPE.TENSOR]: 'TENSOR',
  [ATTRIBUTE_TYPE.FLOATS]: 'FLOATS', [ATTRIBUTE_TYPE.INTS]: 'INTS', [ATTRIBUTE_TYPE.STRINGS]: 'STRINGS', [ATTRIBUTE_TYPE.GRAPH]: 'GRAPH',
};

const utf8 = new TextDecoder();

/** Typed access to a node's attributes; a wrong type is a load error naming the attribute. */
export class Attributes {
  constructor(private readonly map: Map<string, AttributeProto>, private readonly where: string) {}

  has(name: string): boolean {
    return this.map.has(name);
  }

  private get(name: string, type: number): AttributeProto | undefined {
    const a = this.map.get(name);
    if (a === undefined) return undefined;
    if (a.unsupported !== undefined) throw new OnnxOpError(`${this.where}: attribute ${name} holds ${a.unsupported}, which is not supported`);
    // An empty list may come typed as UNDEFINED from old exporters.
    if (a.type !== type && !(a.type === ATTRIBUTE_TYPE.UNDEFINED && type >= ATTRIBUTE_TYPE.FLOATS)) {
      throw new OnnxOpError(`${this.where}: attribute ${name} is ${TYPE_NAMES[a.type] ?? a.type}, expected ${TYPE_NAMES[type]}`);
    }
    return a;
  }

  float(name: string, def: number): number {
    return this.get(name, ATTRIBUTE_TYPE.FLOAT)?.f ?? def;
  }

  int(name: string, def: number): number {
    return this.get(name, ATTRIBUTE_TYPE.INT)?.i ?? def;
  }

  string(name: string, def: string): string {
    const s = this.get(name, ATTRIBUTE_TYPE.STRING)?.s;
    return s === undefined ? def : utf8.decode(s);
  }

  floats(name: string): number[] | undefined {
    return this.get(name, ATTRIBUTE_TYPE.FLOATS)?.floats;
  }

  ints(name: string): number[] | undefined {
    return this.get(name, ATTRIBUTE_TYPE.INTS)?.ints;
  }

  strings(name: string): string[] | undefined {
    return this.get(name, ATTRIBUTE_TYPE.STRINGS)?.strings.map((s) => utf8.decode(s));
  }

  tensor(name: string): Tensor | undefined {
    return this.get(name, ATTRIBUTE_TYPE.TENSOR)?.t;
  }

  /** Refuses attributes this evaluator cannot honour (e.g. the *_as_tensor double variants). */
  refuse(name: string, why: string): void {
    if (this.map.has(name)) throw new OnnxOpError(`${this.where}: attribute ${name} is not supported (${why})`);
  }
}

/** The input tensor `i`, checked present and a tensor; `what` names the op for the message. */
export function tensorInput(inputs: readonly (Value | undefined)[], i: number, where: string): Tensor {
  const v = inputs[i];
  if (v === undefined) throw new OnnxOpError(`${where}: input ${i} is missing`);
  if (v.kind !== 'tensor') throw new OnnxOpError(`${where}: input ${i} is a map sequence, expected a tensor`);
  return v;
}
