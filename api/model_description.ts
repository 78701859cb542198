// What GET /models and /ready say about a model: its request schema (fields,
// types, required, defaults, ranges, categories), its encoding column by
// column, and the ONNX signature it was checked against. Built from the
// manifest, so a client can learn what to send without reading files.
import { featureWidth, type FeatureSpec } from '../engine/manifest.js';
import type { Batcher } from '../engine/batcher.js';
import type { LoadedModel, ModelRegistry } from '../engine/model_registry.js';
import { ELEM_TYPE_NAMES, type TensorSignature } from '../engine/onnx_signature.js';

function feature(f: FeatureSpec, columns: [number, number]): Record<string, unknown> {
  const base = { kind: f.kind, field: f.field, columns };
  switch (f.kind) {
    case 'one_hot': return { ...base, categories: f.categories, unknown: f.unknown };
    case 'bucket': return { ...base, buckets: f.buckets, ...(f.prefix === undefined ? {} : { prefix: f.prefix }) };
    case 'cyclic': return { ...base, period: f.period };
    case 'id_pattern': return { ...base, pattern: f.pattern, ...(f.modulo === undefined ? {} : { modulo: f.modulo }) };
    case 'lookup': return { ...base, entries: Object.keys(f.table).length, default: f.default, ...(f.file === undefined ? {} : { file: f.file }) };
    default: return base;
  }
}

function tensor(t: TensorSignature): Record<string, unknown> {
  return { name: t.name, dtype: t.elemType === null ? null : ELEM_TYPE_NAMES[t.elemType] ?? t.elemType, shape: t.shape };
}

/** The schema, encoding and signature of a loaded model. */
export function describeModel(m: LoadedModel): Record<string, unknown> {
  const man = m.manifest;
  // Categories a field accepts (one-hot encoders over it), for clients building requests.
  const categories = new Map<string, { categories: string[]; unknown: string }>();
  for (const f of man.features) if (f.kind === 'one_hot' && !categories.has(f.field)) categories.set(f.field, { categories: f.categories, unknown: f.unknown });
  let col = 0;
  const features = man.features.map((f) => {
    const start = col;
    col += featureWidth(f);
    return feature(f, [start, col]);
  });
  return {
    routing_key: man.routing_key,
    request: {
      fields: man.fields.map((f) => ({
        name: f.name, type: f.type, required: f.required,
        ...(f.default === undefined ? {} : { default: f.default }),
        ...(f.min === undefined ? {} : { min: f.min }), ...(f.max === undefined ? {} : { max: f.max }),
        ...(categories.get(f.name) ?? {}),
      })),
    },
    features,
    input: { name: man.input.name, dtype: man.input.dtype, shape: [-1, m.width] },
    output: { name: man.output.name, kind: man.output.kind, column: man.output.column ?? 0 },
    signature: { inputs: m.signature.inputs.map(tensor), outputs: m.signature.outputs.map(tensor) },
  };
}

/**
 * Where the model's small batches run (engine/inline_inference.ts): null when
 * every batch goes to a worker; else the rows that run on the main thread,
 * the cost measured at start, and the batches and rows run there so far.
 */
export function describeInline(batcher: Batcher, m: LoadedModel): Record<string, number | boolean> | null {
  const s = batcher.inline?.status(m) ?? null;
  if (s === null) return null;
  return { max_rows: s.maxRows, active: s.active, loop_utilization: Math.round(s.loopUtilization * 1000) / 1000, one_row_us: Math.round(s.oneRowUs * 10) / 10, per_row_us: Math.round(s.perRowUs * 100) / 100, batches: s.batches, rows: s.rows };
}

/** Models that failed to load or to warm up: name and reason. */
export function failedModels(registry: ModelRegistry): { name: string; reason: string }[] {
  return [
    ...registry.models.filter((m) => m.failure !== undefined).map((m) => ({ name: m.name, reason: m.failure! })),
    ...registry.failed.map((f) => ({ name: f.name, reason: f.reason })),
  ];
}
