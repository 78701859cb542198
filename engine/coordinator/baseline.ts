// Baselines: validation of manual input, capture from a window of traffic,
// and persistence in one JSON file (written atomically: temp file + rename).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PRED_BIN_SCHEME } from '../telemetry/layout.js';
import type { Baseline } from './snapshot.js';

export const BASELINE_FIELDS = ['mean_prediction', 'std_prediction', 'mean_latency_ms', 'std_latency_ms'] as const;
export type BaselineInput = Record<(typeof BASELINE_FIELDS)[number], number>;

export interface BaselineError { code: 'invalid_request' | 'model_not_found'; field?: string; message: string }
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

/** The baselines file: model name → baseline. Missing or unreadable → empty, with the reason. */
export function loadBaselines(path: string, models: readonly string[]): { baselines: Map<string, Baseline>; warning: string | null } {
  const baselines = new Map<string, Baseline>();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { baselines, warning: null };
    return { baselines, warning: `cannot read ${path}: ${(e as Error).message}` };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { baselines, warning: `${path} is not JSON: ${(e as Error).message}` };
  }
  const entries = (doc as { baselines?: Record<string, unknown> })?.baselines ?? {};
  const skipped: string[] = [];
  for (const [model, raw] of Object.entries(entries)) {
    const v = validateBaseline(models, model, raw);
    if (!v.ok) { skipped.push(model); continue; }
    const b = raw as Baseline;
    const bins = b.bins && b.bins.scheme === PRED_BIN_SCHEME && Array.isArray(b.bins.edges) && Array.isArray(b.bins.proportions)
      && b.bins.edges.length === b.bins.proportions.length ? b.bins : undefined;
    baselines.set(model, { ...b, ...v.value, bins });
  }
  return { baselines, warning: skipped.length > 0 ? `skipped baselines for unknown or invalid models: ${skipped.join(', ')}` : null };
}

export function saveBaselines(path: string, baselines: Map<string, Baseline>): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ version: 1, baselines: Object.fromEntries(baselines) }, null, 2));
  renameSync(tmp, path);
}
