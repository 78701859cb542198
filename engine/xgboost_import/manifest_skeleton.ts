// The manifest written beside an imported model (format: README, "Bring your
// own model"). Without --features it is a skeleton: one `number` field and one
// passthrough column per model feature, named from the model's feature_names
// (else f0..fN-1), each optional so a missing value reaches the trees as NaN
// and follows default_left as in XGBoost. The user then replaces fields and
// features with the real request schema and encoding.
import { graphOutput, INPUT_NAME } from './onnx_graph.js';
import { XgboostImportError, type XgbModel } from './xgboost_json.js';

export interface UserEncoding {
  fields: unknown[];
  features: unknown[];
  routing_key?: string;
  /** Replaces the generated description (what the model is, for /models). */
  description?: string;
}

export function featureNames(m: XgbModel): string[] {
  return m.featureNames ?? Array.from({ length: m.numFeature }, (_, i) => `f${i}`);
}

/** Reads a --features file: {"fields": [...], "features": [...], "routing_key"?, "description"?}. Shapes are checked by the server at load. */
export function parseUserEncoding(text: string, where: string): UserEncoding {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new XgboostImportError(`${where}: not valid JSON: ${(err as Error).message}`);
  }
  const o = raw as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new XgboostImportError(`${where}: must be an object with "fields" and "features"`);
  if (!Array.isArray(o.fields) || o.fields.length === 0) throw new XgboostImportError(`${where}: "fields" must be a non-empty array`);
  if (!Array.isArray(o.features) || o.features.length === 0) throw new XgboostImportError(`${where}: "features" must be a non-empty array`);
  if (o.routing_key !== undefined && typeof o.routing_key !== 'string') throw new XgboostImportError(`${where}: "routing_key" must be a string`);
  if (o.description !== undefined && typeof o.description !== 'string') throw new XgboostImportError(`${where}: "description" must be a string`);
  const extra = Object.keys(o).filter((k) => k !== 'fields' && k !== 'features' && k !== 'routing_key' && k !== 'description');
  if (extra.length > 0) throw new XgboostImportError(`${where}: unexpected key ${JSON.stringify(extra[0])} (expected fields, features, routing_key, description)`);
  return o as unknown as UserEncoding;
}

export interface ManifestOptions {
  name: string;
  version: string;
  file: string;
  encoding?: UserEncoding;
}

export function manifestFor(m: XgbModel, opts: ManifestOptions): Record<string, unknown> {
  const out = graphOutput(m);
  const names = featureNames(m);
  const what = `${m.objective}, ${m.trees.length} trees, ${m.numFeature} features`;
  const description = m.objective === 'reg:squarederror'
    ? `Imported from XGBoost (${what}). The output is the raw regression value, served as is (not a probability).`
    : `Imported from XGBoost (${what}).`;
  const manifest: Record<string, unknown> = {
    name: opts.name,
    version: opts.version,
    description: opts.encoding?.description ?? description,
    file: opts.file,
    input: { name: INPUT_NAME, dtype: 'float32', shape: [-1, m.numFeature] },
    output: { name: out.name, kind: out.kind, column: 0 },
  };
  if (opts.encoding?.routing_key !== undefined) manifest.routing_key = opts.encoding.routing_key;
  manifest.fields = opts.encoding?.fields ?? names.map((name) => ({ name, type: 'number', required: false }));
  manifest.features = opts.encoding?.features ?? names.map((field) => ({ kind: 'number', field }));
  return manifest;
}
