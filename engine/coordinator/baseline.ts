// Baselines: validation of manual input, capture from a window of traffic,
// and persistence in one JSON file. A write is atomic and durable (temp file,
// fsync, the previous file kept as <file>.prev, rename, fsync of the folder),
// and a write that fails is reported, never swallowed: the caller refuses the
// change. A file that cannot be read or parsed is an error at start, not an
// empty set of baselines that the next write would overwrite.
import { closeSync, copyFileSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { PRED_BIN_SCHEME } from '../telemetry/layout.js';
import type { Baseline } from './snapshot.js';

export const BASELINE_FIELDS = ['mean_prediction', 'std_prediction', 'mean_latency_ms', 'std_latency_ms'] as const;
export type BaselineInput = Record<(typeof BASELINE_FIELDS)[number], number>;

export interface BaselineError { code: 'invalid_request' | 'model_not_found' | 'storage_unavailable'; field?: string; message: string }

/** The baselines file exists but cannot be read or is not a baselines file: the server must not start over it. */
export class BaselineFileError extends Error {
  constructor(readonly path: string, why: string) {
    super(`baselines file ${path} ${why}; fix it, or move it away (the previous version, if any, is ${path}.prev)`);
  }
}
export type BaselineOutcome = { ok: true; model: string; baseline: Baseline } | { ok: false; error: BaselineError };

/**
 * Upper bounds of a manual baseline's fields. Predictions are CTRs in [0, 1];
 * latencies past an hour are no baseline. Without bounds, 1e308 was accepted
 * and its square overflowed the drift statistics to Infinity.
 */
export const BASELINE_MAX: Readonly<BaselineInput> = { mean_prediction: 1, std_prediction: 1, mean_latency_ms: 3_600_000, std_latency_ms: 3_600_000 };

/** Validate a manual baseline: known model, the four fields finite numbers, stds > 0, means ≥ 0, each at most BASELINE_MAX. */
export function validateBaseline(models: readonly string[], model: unknown, input: unknown): { ok: true; value: BaselineInput } | { ok: false; error: BaselineError } {
  if (typeof model !== 'string' || model === '') {
    return { ok: false, error: { code: 'invalid_request', field: 'model_name', message: 'model_name must be a non-empty string' } };
  }
  if (!models.includes(model)) {
    return { ok: false, error: { code: 'model_not_found', field: 'model_name', message: `unknown model "${model}"` } };
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, error: { code: 'invalid_request', message: 'baseline must be an object' } };
  }
  const rec = input as Record<string, unknown>;
  const value = {} as BaselineInput;
  for (const f of BASELINE_FIELDS) {
    const v = rec[f];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      return { ok: false, error: { code: 'invalid_request', field: f, message: `${f} must be a finite number` } };
    }
    if (f.startsWith('std_') && !(v > 0)) {
      return { ok: false, error: { code: 'invalid_request', field: f, message: `${f} must be > 0` } };
    }
    if (f.startsWith('mean_') && v < 0) {
      return { ok: false, error: { code: 'invalid_request', field: f, message: `${f} must be ≥ 0` } };
    }
    if (v > BASELINE_MAX[f]) {
      return { ok: false, error: { code: 'invalid_request', field: f, message: `${f} must be at most ${BASELINE_MAX[f]}, got ${v}` } };
    }
    value[f] = v;
  }
  return { ok: true, value };
}

/**
 * The baselines file: model name → baseline. Missing → empty. Unreadable,
 * not JSON, not a baselines document, or an invalid baseline for a loaded
 * model → BaselineFileError. Entries for models not loaded are skipped with
 * a warning (a model removed from MODELS_DIR leaves its baseline behind).
 */
export function loadBaselines(path: string, models: readonly string[]): { baselines: Map<string, Baseline>; warning: string | null } {
  const baselines = new Map<string, Baseline>();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { baselines, warning: null };
    throw new BaselineFileError(path, `cannot be read: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new BaselineFileError(path, `is not valid JSON (truncated or corrupt?): ${(e as Error).message}`);
  }
  const entries = (doc as { baselines?: unknown } | null)?.baselines;
  if (typeof doc !== 'object' || doc === null || typeof entries !== 'object' || entries === null || Array.isArray(entries)) {
    throw new BaselineFileError(path, 'is not a baselines file (expected {"version": 1, "baselines": {…}})');
  }
  const skipped: string[] = [];
  for (const [model, raw] of Object.entries(entries as Record<string, unknown>)) {
    if (!models.includes(model)) { skipped.push(model); continue; }
    const v = validateBaseline(models, model, raw);
    if (!v.ok) throw new BaselineFileError(path, `holds an invalid baseline for ${model}: ${v.error.message}`);
    const b = raw as Baseline;
    const bins = b.bins && b.bins.scheme === PRED_BIN_SCHEME && Array.isArray(b.bins.edges) && Array.isArray(b.bins.proportions)
      && b.bins.edges.length === b.bins.proportions.length ? b.bins : undefined;
    baselines.set(model, { ...b, ...v.value, bins });
  }
  return { baselines, warning: skipped.length > 0 ? `skipped baselines for models not loaded: ${skipped.join(', ')}` : null };
}

/**
 * Writes the baselines durably, or throws: the new content goes to a temp
 * file that is fsynced, the current file is copied to <path>.prev, the temp
 * file is renamed over the current one, and the folder is fsynced so the
 * rename survives a crash.
 */
export function saveBaselines(path: string, baselines: Map<string, Baseline>): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, 'w', 0o644);
    try {
      writeSync(fd, JSON.stringify({ version: 1, baselines: Object.fromEntries(baselines) }, null, 2));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      copyFileSync(path, `${path}.prev`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dir);
}

function fsyncDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return; // some platforms cannot open a folder; the rename is done either way
  }
  try {
    fsyncSync(fd);
  } catch {
    // EINVAL/EISDIR where folders cannot be fsynced: nothing more to do
  } finally {
    closeSync(fd);
  }
}
