// Finds and loads every model folder under the models directory: a
// manifest.json plus the ONNX file it names (and any lookup files). Each
// folder loads on its own (loadModel): a bad manifest, a path leaving
// MODELS_DIR, a missing or unreadable ONNX file or one whose signature
// disagrees with the manifest makes that model `failed`, with a reason naming
// the file, and the others serve. Only a directory with no loadable model
// stops the server.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FeatureEncoder } from './feature_encoder.js';
import { insideRoot, readManifest, type ModelManifest } from './manifest.js';
import { ELEM_TYPE_NAMES, parseOnnxSignature, type OnnxSignature, type TensorSignature } from './onnx_signature.js';
import { exposeZipMapInput } from './onnx/zipmap_rewrite.js';
import { RequestSchema } from './request_schema.js';

export interface LoadedModel {
  /** Position in the registry: the index used by batchers, workers and telemetry shards; stable across reloads. */
  index: number;
  /** Which load of this slot it is (0 at start, a new number per reload attempt): batches name it so a worker runs the session they were encoded for. */
  generation: number;
  name: string;
  version: string;
  /** The folder under MODELS_DIR it was loaded from. */
  folder: string;
  manifest: ModelManifest;
  onnxPath: string;
  /** Set when the graph was rewritten at load (a ZipMap dropped): the bytes the workers open instead of onnxPath. */
  onnxBytes?: Uint8Array;
  /** The ONNX graph's inputs and outputs, as checked against the manifest. */
  signature: OnnxSignature;
  schema: RequestSchema;
  encoder: FeatureEncoder;
  width: number;
  /** `,"model":…,"model_version":…` precomputed for the JSON response path. */
  jsonFragment: string;
  /** Set when the model loaded but its inference failed at warm-up: it is no longer routed to. */
  failure?: string;
}

/** A model folder that did not load, and why. */
export interface FailedModel {
  /** The manifest's name when it could be read, else the folder's. */
  name: string;
  folder: string;
  reason: string;
}

/** The last reload of a model (GET /models shows it). */
export interface ReloadStatus {
  status: 'loading' | 'ok' | 'failed' | 'unchanged';
  /** Why it failed (the old version keeps serving), or what was loaded. */
  reason?: string;
  /** ISO time the attempt ended (or started, while loading). */
  at: string;
  /** The version now serving. */
  version: string;
  /** From the request to the switch, with traffic flowing. */
  duration_ms?: number;
  /** What asked for it: "api" (POST /models/{name}/reload) or "watch" (the models directory changed). */
  trigger: 'api' | 'watch';
}

/** What a worker needs to open a session; plain data, safe for workerData. */
export interface WorkerModelSpec {
  index: number;
  generation: number;
  name: string;
  onnxPath: string;
  onnxBytes?: Uint8Array;
  inputName: string;
  width: number;
  outputName: string;
  outputKind: 'probability' | 'logit';
  outputColumn: number;
}

export class ModelRegistry {
  readonly models: LoadedModel[];
  readonly failed: FailedModel[];
  private readonly byName: Map<string, LoadedModel>;
  /** The last reload attempt per model name. */
  readonly reloads = new Map<string, ReloadStatus>();

  constructor(models: LoadedModel[], failed: FailedModel[] = []) {
    this.models = models;
    this.failed = failed;
    this.byName = new Map(models.map((m) => [m.name, m]));
  }

  get(name: string): LoadedModel | undefined {
    return this.byName.get(name);
  }

  /**
   * Puts a reloaded model in its slot (same index, a new generation): from
   * here on lookups, routing and new batches use it. Main thread only.
   */
  replace(model: LoadedModel): void {
    const old = this.models[model.index];
    if (old === undefined || old.name !== model.name) throw new Error(`registry slot ${model.index} does not hold ${model.name}`);
    this.models[model.index] = model;
    this.byName.set(model.name, model);
  }

  /** A model that failed after loading (its warm-up inference): kept at its index, reported, no longer routed to. */
  markFailed(model: LoadedModel, reason: string): void {
    model.failure = reason;
  }

  /** Models that serve: loaded and not failed since. */
  serving(): LoadedModel[] {
    return this.models.filter((m) => m.failure === undefined);
  }

  workerSpecs(): WorkerModelSpec[] {
    return this.models.map(workerSpec);
  }
}

export function workerSpec(m: LoadedModel): WorkerModelSpec {
  return {
    index: m.index, generation: m.generation, name: m.name, onnxPath: m.onnxPath, onnxBytes: m.onnxBytes, inputName: m.manifest.input.name, width: m.width,
    outputName: m.manifest.output.name, outputKind: m.manifest.output.kind, outputColumn: m.manifest.output.column ?? 0,
  };
}

export class ModelLoadError extends Error {
  constructor(readonly modelName: string, message: string) {
    super(message);
  }
}

/** The manifest's "name" when the file parses that far, for reporting a model that failed. */
function nameFromManifest(path: string, folder: string): string {
  try {
    const raw = JSON.parse(readFileSync(path, 'utf8')) as { name?: unknown };
    if (typeof raw.name === 'string' && raw.name.length > 0 && raw.name.length <= 64) return raw.name;
  } catch {
    // the reason says what is wrong with it
  }
  return folder;
}

/**
 * Loads one model folder of `modelsDir` as registry entry `index`; throws a
 * ModelLoadError naming the model and the file. One folder, one call: the
 * unit a later reload can replace.
 */
export function loadModel(modelsDir: string, folder: string, index: number, generation = 0): LoadedModel {
  const manifestPath = join(modelsDir, folder, 'manifest.json');
  let manifest: ModelManifest;
  try {
    manifest = readManifest(manifestPath, modelsDir);
  } catch (err) {
    const name = nameFromManifest(manifestPath, folder);
    throw new ModelLoadError(name, `model ${name}: ${(err as Error).message}`);
  }
  const fail = (msg: string): never => {
    throw new ModelLoadError(manifest.name, `model ${manifest.name} (${manifestPath}): ${msg}`);
  };
  let onnxPath = '';
  try {
    onnxPath = insideRoot({ dir: join(modelsDir, folder), root: modelsDir }, manifest.file, manifestPath, '"file"');
  } catch (err) {
    fail((err as Error).message);
  }
  if (!existsSync(onnxPath) || !statSync(onnxPath).isFile()) fail(`model file ${manifest.file} does not exist`);
  let signature: OnnxSignature;
  let onnxBytes: Uint8Array | undefined;
  try {
    const bytes = readFileSync(onnxPath);
    signature = parseOnnxSignature(bytes);
    // An skl2onnx classifier: the manifest names the probability tensor its ZipMap reads.
    if (!signature.outputs.some((o) => o.name === manifest.output.name)) {
      const rewrite = exposeZipMapInput(bytes, manifest.output.name);
      if (rewrite !== null) {
        onnxBytes = rewrite.bytes;
        signature = parseOnnxSignature(onnxBytes);
      }
    }
  } catch (err) {
    return fail(`model file ${onnxPath} is not a readable ONNX model: ${(err as Error).message}`);
  }
  const mismatch = contractMismatch(manifest, signature);
  if (mismatch !== null) fail(`model file ${onnxPath} does not match the manifest: ${mismatch}`);
  const encoder = new FeatureEncoder(manifest);
  return {
    index, generation, name: manifest.name, version: manifest.version, folder, manifest, onnxPath, onnxBytes, signature,
    schema: new RequestSchema(manifest), encoder, width: encoder.width,
    jsonFragment: `,"model":${JSON.stringify(manifest.name)},"model_version":${JSON.stringify(manifest.version)}`,
  };
}

function describeTensor(t: TensorSignature): string {
  const type = t.elemType === null ? 'non-tensor' : ELEM_TYPE_NAMES[t.elemType] ?? `type ${t.elemType}`;
  return `${t.name} (${type}${t.shape === null ? '' : ` [${t.shape.map((d) => (d === null ? '?' : d)).join(', ')}]`})`;
}

/**
 * What differs between the manifest and the graph's signature, or null: the
 * input's name, element type and width (a symbolic batch dimension is
 * expected; a symbolic width is taken on trust), and the output's name and,
 * when the graph declares it, that `column` exists.
 */
export function contractMismatch(m: ModelManifest, sig: OnnxSignature): string | null {
  const width = m.input.shape[1];
  if (sig.inputs.length !== 1) {
    return `the engine feeds one input, ${m.input.name}; the graph has ${sig.inputs.length}: ${sig.inputs.map(describeTensor).join(', ') || 'none'}`;
  }
  const input = sig.inputs[0];
  if (input.name !== m.input.name) return `input name: manifest says ${JSON.stringify(m.input.name)}, the graph's input is ${describeTensor(input)}`;
  if (input.elemType !== 1) return `input dtype: manifest says float32, the graph's input is ${describeTensor(input)}`;
  if (input.shape !== null) {
    if (input.shape.length !== 2) return `input shape: manifest says [-1, ${width}], the graph's input is ${describeTensor(input)}`;
    const [batch, cols] = input.shape;
    if (typeof cols === 'number' && cols !== width) {
      return `input width: the manifest encodes ${width} columns, the graph's input takes ${cols} (${describeTensor(input)})`;
    }
    if (typeof batch === 'number' && batch !== -1 && batch !== 0) {
      return `input batch dimension is fixed at ${batch} (${describeTensor(input)}); the engine needs a symbolic one to batch rows`;
    }
  }
  const output = sig.outputs.find((o) => o.name === m.output.name);
  if (output === undefined) {
    return `output name: manifest says ${JSON.stringify(m.output.name)}, the graph's outputs are ${sig.outputs.map(describeTensor).join(', ') || 'none'}`;
  }
  if (output.elemType === null) return `output ${m.output.name} is not a tensor (a ZipMap's sequence of maps cannot be returned; name a tensor output, e.g. the probability tensor the ZipMap reads: the ZipMap is then dropped at load)`;
  const column = m.output.column ?? 0;
  const cols = output.shape === null ? null : output.shape.length === 1 ? 1 : output.shape.length === 2 ? output.shape[1] : null;
  if (output.shape !== null && output.shape.length > 2) return `output ${describeTensor(output)} has more than two dimensions`;
  if (typeof cols === 'number' && cols > 0 && column >= cols) return `output column ${column} is not there: ${describeTensor(output)}`;
  return null;
}

/** Loads every sub-folder of `dir` that holds a manifest.json, in name order (stable indices). */
export function loadModelRegistry(dir: string): ModelRegistry {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`MODELS_DIR ${dir} is not a directory`);
  const root = resolve(dir);
  const folders = readdirSync(root).filter((f) => existsSync(join(root, f, 'manifest.json'))).sort();
  if (folders.length === 0) throw new Error(`MODELS_DIR ${dir} holds no model folder (a folder with manifest.json)`);
  const models: LoadedModel[] = [];
  const failed: FailedModel[] = [];
  for (const folder of folders) {
    try {
      const model = loadModel(root, folder, models.length);
      const twin = models.find((m) => m.name === model.name);
      if (twin !== undefined) throw new ModelLoadError(model.name, `model ${model.name} (${join(root, folder, 'manifest.json')}): the name is already used by folder ${twin.folder}`);
      models.push(model);
    } catch (err) {
      const name = err instanceof ModelLoadError ? err.modelName : folder;
      failed.push({ name, folder, reason: (err as Error).message });
    }
  }
  if (models.length === 0) throw new Error(`MODELS_DIR ${dir}: no model loaded:\n  ${failed.map((f) => f.reason).join('\n  ')}`);
  return new ModelRegistry(models, failed);
}
