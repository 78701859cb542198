// The prediction request schema of each loaded model, built once at start
// from its manifest: the same source the validators read (the request fields,
// their types, required or not, ranges and categories). Feeds /openapi.json.
//
// Every loaded manifest has its fields: declared ("fields"), or derived by
// engine/manifest.ts from the older format.
import { MAX_STRING_LENGTH } from '../engine/manifest.js';
import type { LoadedModel } from '../engine/model_registry.js';
import type { JsonSchema } from './schemas.js';

/** A request field as a manifest with "fields" declares it. */
interface DeclaredField {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean';
  required?: boolean;
  default?: unknown;
  min?: number;
  max?: number;
  description?: string;
}

interface FeatureLike {
  kind: string;
  field: string;
  categories?: string[];
  unknown?: string;
  prefix?: string;
  default?: number;
  min?: number;
  max?: number;
}

const MODEL_PROPERTY: JsonSchema = {
  type: 'string', minLength: 1,
  description: 'the model to use; omitted → the A/B router picks one, sticky per routing key',
};

function declaredFields(m: LoadedModel): DeclaredField[] {
  return m.manifest.fields as DeclaredField[];
}

const features = (m: LoadedModel): FeatureLike[] => m.manifest.features as unknown as FeatureLike[];

/** Categories a string field is one-hot encoded over, and whether others are refused. */
function categoriesOf(m: LoadedModel, field: string): { values: string[]; reject: boolean } | null {
  const f = features(m).find((x) => x.kind === 'one_hot' && x.field === field && Array.isArray(x.categories));
  return f ? { values: f.categories!, reject: f.unknown === 'reject' } : null;
}

function stringSchema(m: LoadedModel, field: string, maxLength?: number): JsonSchema {
  const s: JsonSchema = { type: 'string', minLength: 1 };
  if (maxLength !== undefined) s.maxLength = maxLength;
  const cats = categoriesOf(m, field);
  if (cats?.reject) s.enum = cats.values;
  else if (cats) s.description = `known: ${cats.values.join(', ')}; any other value encodes as "unknown"`;
  return s;
}

function fieldSchema(m: LoadedModel, f: DeclaredField): JsonSchema {
  if (f.type === 'string') return { ...stringSchema(m, f.name, MAX_STRING_LENGTH), ...(f.description ? { description: f.description } : {}) };
  const s: JsonSchema = { type: f.type };
  if (f.min !== undefined) s.minimum = f.min;
  if (f.max !== undefined) s.maximum = f.max;
  if (f.default !== undefined) s.default = f.default;
  if (f.description) s.description = f.description;
  return s;
}

/** Puts `schema` at a dotted path ("context.hour") of an object schema. */
function place(root: JsonSchema, dotted: string, schema: JsonSchema, required: boolean): void {
  const parts = dotted.split('.');
  let node = root as { properties: Record<string, JsonSchema>; required: string[] };
  for (let i = 0; i < parts.length - 1; i++) {
    const key = parts[i];
    node.properties[key] ??= { type: 'object', properties: {}, required: [] };
    const next = node.properties[key] as { properties: Record<string, JsonSchema>; required: string[] };
    if (required && !node.required.includes(key)) node.required.push(key);
    node = next;
  }
  node.properties[parts[parts.length - 1]] = schema;
  if (required) node.required.push(parts[parts.length - 1]);
}

/** The JSON Schema of one POST /predict_ctr body aimed at model `m`. */
export function predictRequestSchema(m: LoadedModel): JsonSchema {
  const root: JsonSchema = { type: 'object', title: `prediction request for ${m.name}`, properties: { model: MODEL_PROPERTY }, required: [] };
  for (const f of declaredFields(m)) place(root, f.name, fieldSchema(m, f), f.required === true);
  return root;
}

/** A request `m` accepts, built from its schema: first categories, in-range numbers, ids the encoders know. */
export function exampleRequest(m: LoadedModel): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fill = (schema: JsonSchema, name: string, target: Record<string, unknown>): void => {
    const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
    for (const [key, s] of Object.entries(props)) {
      if (key === 'model') continue;
      if (s.type === 'object') {
        const inner: Record<string, unknown> = {};
        fill(s, `${name}${key}.`, inner);
        target[key] = inner;
      } else {
        target[key] = exampleValue(m, `${name}${key}`, s);
      }
    }
  };
  fill(predictRequestSchema(m), '', out);
  out.model = m.name;
  return out;
}

function exampleValue(m: LoadedModel, field: string, s: JsonSchema): unknown {
  if (s.default !== undefined) {
    // A value other than the default shows the field doing something; the middle of its range when there is one.
    if (typeof s.minimum === 'number' && typeof s.maximum === 'number') {
      const mid = (s.minimum + s.maximum) / 2;
      return s.type === 'integer' || Number.isInteger(s.minimum) ? Math.round(mid) : mid;
    }
    return s.default;
  }
  switch (s.type) {
    case 'string': {
      const cats = categoriesOf(m, field);
      if (cats) return cats.values[0];
      const prefixed = features(m).find((f) => f.field === field && typeof f.prefix === 'string');
      return prefixed ? `${prefixed.prefix}1` : `${field.replace(/_id$/, '').replace(/\./g, '_')}_1`;
    }
    case 'boolean': return true;
    case 'integer':
    case 'number': return typeof s.minimum === 'number' ? s.minimum : 1;
    default: return null;
  }
}
