// Compiles a decoded graph into a list of steps over numbered value slots,
// once, at load: every node's operator is looked up and compiled (unknown
// operators, unsupported opsets and bad attributes fail here, naming the
// node), every input must be produced before it is read. Running is then a
// loop over the steps a set of fetches needs.
import { canonicalDomain, lookupOp, supportedOps } from './ops/registry.js';
import { Attributes, OnnxOpError, type Kernel, type NodeContext } from './ops/op_types.js';
import type { ModelProto, NodeProto } from './model_proto.js';
import type { Tensor, Value } from './tensor.js';

interface Step {
  kernel: Kernel;
  where: string;
  inputs: Int32Array; // slot per input, -1 for an omitted optional input
  outputs: Int32Array; // slot per output, -1 for an omitted optional output
}

export class CompiledGraph {
  /** Value name → slot. */
  readonly slots = new Map<string, number>();
  /** Slots holding initializers, filled once. */
  private readonly constants: (Value | undefined)[] = [];
  private readonly steps: Step[] = [];
  private readonly producer: Int32Array; // slot → step index, -1 for inputs/initializers
  private readonly plans = new Map<string, Step[]>();

  constructor(model: ModelProto, inputNames: readonly string[]) {
    const g = model.graph;
    const opsets = new Map<string, number>();
    for (const o of model.opsets) opsets.set(canonicalDomain(o.domain), o.version);
    const slot = (name: string): number => {
      let s = this.slots.get(name);
      if (s === undefined) {
        s = this.slots.size;
        this.slots.set(name, s);
      }
      return s;
    };
    for (const [name, t] of g.initializers) this.constants[slot(name)] = t;
    for (const name of inputNames) slot(name);
    const available = new Set<string>([...g.initializers.keys(), ...inputNames]);
    const producers: number[] = [];
    g.nodes.forEach((node, index) => {
      const where = `${node.opType} node ${JSON.stringify(node.name || `#${index}`)}`;
      const kernel = compileNode(node, where, opsets, g.initializers);
      for (const name of node.inputs) {
        if (name !== '' && !available.has(name)) {
          throw new OnnxOpError(`${where}: input ${JSON.stringify(name)} is not a graph input, an initializer or an earlier node's output`);
        }
      }
      const inputs = Int32Array.from(node.inputs, (n) => (n === '' ? -1 : slot(n)));
      const outputs = Int32Array.from(node.outputs, (n) => {
        if (n === '') return -1;
        if (available.has(n)) throw new OnnxOpError(`${where}: output ${JSON.stringify(n)} is already defined elsewhere in the graph`);
        available.add(n);
        const s = slot(n);
        producers[s] = this.steps.length;
        return s;
      });
      this.steps.push({ kernel, where, inputs, outputs });
    });
    for (const o of g.outputs) {
      if (!available.has(o.name)) throw new OnnxOpError(`graph output ${JSON.stringify(o.name)} is produced by no node, input or initializer`);
    }
    this.producer = new Int32Array(this.slots.size).fill(-1);
    producers.forEach((step, s) => { if (step !== undefined) this.producer[s] = step; });
  }

  /** The steps needed for `fetchSlots`, in graph order (cached per fetch set). */
  plan(fetchSlots: readonly number[]): Step[] {
    const key = fetchSlots.join(',');
    let steps = this.plans.get(key);
    if (steps !== undefined) return steps;
    const needed = new Uint8Array(this.steps.length);
    const stack = [...fetchSlots];
    while (stack.length > 0) {
      const s = stack.pop()!;
      const p = this.producer[s];
      if (p < 0 || needed[p] === 1) continue;
      needed[p] = 1;
      for (const i of this.steps[p].inputs) if (i >= 0) stack.push(i);
    }
    steps = this.steps.filter((_, i) => needed[i] === 1);
    this.plans.set(key, steps);
    return steps;
  }

  /** A fresh slot array holding the initializers; the caller places the feeds, then calls run(). */
  newValues(): (Value | undefined)[] {
    const values = new Array<Value | undefined>(this.slots.size);
    for (let s = 0; s < this.constants.length; s++) values[s] = this.constants[s];
    return values;
  }

  /** Runs the steps for `fetchSlots` on `values` (from newValues(), feeds placed); returns the fetched values. */
  run(values: (Value | undefined)[], fetchSlots: readonly number[]): Value[] {
    const steps = this.plan(fetchSlots);
    const args: (Value | undefined)[] = [];
    for (let k = 0; k < steps.length; k++) {
      const step = steps[k];
      args.length = step.inputs.length;
      for (let i = 0; i < step.inputs.length; i++) args[i] = step.inputs[i] < 0 ? undefined : values[step.inputs[i]];
      const outs = step.kernel(args);
      for (let i = 0; i < step.outputs.length; i++) {
        const o = step.outputs[i];
        if (o >= 0) values[o] = outs[i];
      }
    }
    return fetchSlots.map((s) => values[s]!);
  }

  /** Whether a node produces the slot (false for graph inputs and initializers). */
  isProduced(slot: number): boolean {
    return this.producer[slot] >= 0;
  }
}

function compileNode(node: NodeProto, where: string, opsets: Map<string, number>, initializers: Map<string, Tensor>): Kernel {
  const domain = canonicalDomain(node.domain);
  const opset = opsets.get(domain);
  const entry = lookupOp(domain, node.opType);
  if (entry === undefined) {
    throw new OnnxOpError(`${where}: unsupported operator ${domain}::${node.opType} (this evaluator implements ${supportedOps().join(', ')})`);
  }
  if (opset === undefined) throw new OnnxOpError(`${where}: the model imports no opset for domain ${domain}`);
  if (opset < entry.minOpset) throw new OnnxOpError(`${where}: ${domain} opset ${opset} is older than this evaluator supports for ${node.opType} (${entry.minOpset}+)`);
  const ctx: NodeContext = {
    node, opset, where,
    attrs: new Attributes(node.attributes, where),
    constantInput: (i) => (node.inputs[i] === undefined || node.inputs[i] === '' ? undefined : initializers.get(node.inputs[i])),
    fail: (msg) => { throw new OnnxOpError(`${where}: ${msg}`); },
  };
  const kernel = entry.factory(ctx);
  return (inputs) => {
    const outs = kernel(inputs);
    if (outs.length < node.outputs.length) throw new OnnxOpError(`${where}: produced ${outs.length} outputs, the node names ${node.outputs.length}`);
    return outs;
  };
}
