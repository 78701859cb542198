// The import: XGBoost model.json → <out>/<name>/model.onnx + manifest.json.
// Files are written beside their final names and renamed into place, model
// first, so a server watching the folder never reads half a file or a
// manifest naming an ONNX file that is not there yet.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { projectRoot } from '../config.js';
import { validateManifest } from '../manifest.js';
import { manifestFor, parseUserEncoding } from './manifest_skeleton.js';
import { xgboostToOnnx } from './onnx_graph.js';
import { parseXgboostJson, XgboostImportError, type XgbModel } from './xgboost_json.js';

export const ONNX_FILE = 'model.onnx';
const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;

export interface ImportOptions {
  modelPath: string;
  name: string;
  outDir: string;
  version?: string;
  featuresPath?: string;
  force?: boolean;
}

export interface ImportResult {
  dir: string;
  onnxPath: string;
  manifestPath: string;
  model: XgbModel;
  manifest: Record<string, unknown>;
  /** Things the user should know that do not stop the import. */
  notes: string[];
}

function producerVersion(): string {
  try {
    return String(JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')).version);
  } catch {
    return 'unknown';
  }
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new XgboostImportError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

function writeAtomically(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export function importXgboost(opts: ImportOptions): ImportResult {
  if (!NAME_RE.test(opts.name) || opts.name === '.' || opts.name === '..') {
    throw new XgboostImportError(`--name ${JSON.stringify(opts.name)} must be 1-64 characters of A-Z a-z 0-9 _ . - (it names the folder and the model)`);
  }
  const version = opts.version ?? '1';
  if (version.length === 0 || version.length > 64) throw new XgboostImportError('--version must be 1-64 characters');
  const model = parseXgboostJson(readText(opts.modelPath, 'the XGBoost model'));
  const encoding = opts.featuresPath === undefined ? undefined : parseUserEncoding(readText(opts.featuresPath, 'the features file'), opts.featuresPath);

  const dir = resolve(opts.outDir, opts.name);
  const onnxPath = join(dir, ONNX_FILE);
  const manifestPath = join(dir, 'manifest.json');
  if (!opts.force && (existsSync(onnxPath) || existsSync(manifestPath))) {
    throw new XgboostImportError(`${dir} already holds a model; pass --force to overwrite it`);
  }
  const onnx = xgboostToOnnx(model, { name: opts.name, producerVersion: producerVersion() });
  const manifest = manifestFor(model, { name: opts.name, version, file: ONNX_FILE, encoding });

  const notes: string[] = [];
  if (model.bestIteration !== null && model.bestIteration + 1 < model.rounds) {
    notes.push(`the model records best_iteration ${model.bestIteration} (early stopping) but holds ${model.rounds} rounds; all are converted, as Booster.predict does by default`);
  }
  if (model.objective === 'reg:squarederror') notes.push('reg:squarederror outputs a raw value, not a probability; the server serves it unchanged');
  if (encoding === undefined) notes.push(`manifest.json is a skeleton: ${model.numFeature} optional number fields passed through as is; edit "fields" and "features" to your request schema (or pass --features)`);

  try {
    // The same check the server runs at load, so a wrong --features file shows now rather than at start.
    validateManifest(manifest, manifestPath);
  } catch (err) {
    notes.push(`the server's manifest check refuses this manifest as it stands: ${(err as Error).message}`);
  }

  mkdirSync(dir, { recursive: true });
  writeAtomically(onnxPath, onnx);
  writeAtomically(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return { dir, onnxPath, manifestPath, model, manifest, notes };
}
