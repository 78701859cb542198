// Finds and loads every model folder under the models directory: a
// manifest.json plus the ONNX file it names. Loading fails loudly on a bad
// manifest (naming the file and field) rather than serving half the models.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FeatureEncoder } from './feature_encoder.js';
import { readManifest, type ModelManifest } from './manifest.js';

export interface LoadedModel {
  /** Position in the registry: the index used by batchers, workers and telemetry shards. */
  index: number;
  name: string;
  version: string;
  manifest: ModelManifest;
  onnxPath: string;
  encoder: FeatureEncoder;
  width: number;
  /** `,"model":…,"model_version":…` precomputed for the JSON response path. */
  jsonFragment: string;
}

/** What a worker needs to open a session; plain data, safe for workerData. */
export interface WorkerModelSpec {
  index: number;
  name: string;
  onnxPath: string;
  inputName: string;
  width: number;
  outputName: string;
  outputKind: 'probability' | 'logit';
  outputColumn: number;
}

export class ModelRegistry {
  readonly models: LoadedModel[];
  private readonly byName: Map<string, LoadedModel>;

  constructor(models: LoadedModel[]) {
    this.models = models;
    this.byName = new Map(models.map((m) => [m.name, m]));
  }

  get(name: string): LoadedModel | undefined {
    return this.byName.get(name);
  }

  workerSpecs(): WorkerModelSpec[] {
    return this.models.map((m) => ({
      index: m.index, name: m.name, onnxPath: m.onnxPath, inputName: m.manifest.input.name, width: m.width,
      outputName: m.manifest.output.name, outputKind: m.manifest.output.kind, outputColumn: m.manifest.output.column ?? 0,
    }));
  }
}

/** Loads every sub-folder of `dir` that holds a manifest.json, in name order (stable indices). */
export function loadModelRegistry(dir: string): ModelRegistry {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`MODELS_DIR ${dir} is not a directory`);
  const folders = readdirSync(dir).filter((f) => existsSync(join(dir, f, 'manifest.json'))).sort();
  if (folders.length === 0) throw new Error(`MODELS_DIR ${dir} holds no model folder (a folder with manifest.json)`);
  const models: LoadedModel[] = [];
  for (const folder of folders) {
    const manifestPath = join(dir, folder, 'manifest.json');
    const manifest = readManifest(manifestPath);
    const onnxPath = resolve(dir, folder, manifest.file);
    if (!existsSync(onnxPath)) throw new Error(`manifest ${manifestPath}: model file ${manifest.file} does not exist`);
    if (models.some((m) => m.name === manifest.name)) throw new Error(`manifest ${manifestPath}: model name ${manifest.name} is used twice`);
    const encoder = new FeatureEncoder(manifest);
    models.push({
      index: models.length, name: manifest.name, version: manifest.version, manifest, onnxPath, encoder, width: encoder.width,
      jsonFragment: `,"model":${JSON.stringify(manifest.name)},"model_version":${JSON.stringify(manifest.version)}`,
    });
  }
  return new ModelRegistry(models);
}
