// Which input moved: per model, per watched request field
// (engine/features/feature_watch.ts), the drift window's counts against the
// baseline's. For each field: PSI over its bins, a significance test —
// chi-square (two-sample, bins × {baseline, window}) for categories and ids,
// Kolmogorov-Smirnov on the binned CDFs for numbers — and the missing (and
// unknown-category) rate. A field is flagged only when both agree: PSI at
// least `psiMedium` (0.1) / `psiHigh` (0.25) AND p below `alpha` (1e-4),
// with at least `minSamples` sampled rows in the window. PSI alone is noisy
// for many bins and few rows (its expectation under no change is about
// (bins − 1)(1/n + 1/m)); the test alone flags trivial shifts at high traffic.
// Fields are ranked by PSI.
import { readQuality } from '../labels/quality_layout.js';
import type { FeatureWatchBuffers, WatchedField } from '../features/feature_watch.js';
import { DeltaRing } from './delta_ring.js';

export interface FeatureDriftConfig { psiMedium: number; psiHigh: number; alpha: number; minSamples: number }
export const DEFAULT_FEATURE_DRIFT: FeatureDriftConfig = { psiMedium: 0.1, psiHigh: 0.25, alpha: 1e-4, minSamples: 200 };

/** Counts per bin of every watched field of one model, captured with the baseline. */
export interface FeatureBaseline { sampled_rows: number; fields: Record<string, number[]> }

export interface FieldDrift {
  field: string;
  kind: WatchedField['kind'];
  psi: number | null;
  test: 'chi_square' | 'ks';
  statistic: number | null;
  p_value: number | null;
  severity: 'none' | 'medium' | 'high';
  samples: number;
  missing_rate: number | null;
  baseline_missing_rate: number | null;
  /** Categories only: share of values outside the manifest's categories. */
  unknown_rate?: number | null;
  /** The bins whose share moved most: [bin, baseline share, window share]. */
  top_changes: [string, number, number][];
}

export interface FeatureDriftReport {
  window: string;
  has_baseline: boolean;
  sampled_rows: number;
  drift_detected: boolean;
  /** Ranked by PSI, largest first. */
  fields: FieldDrift[];
}

const EPS = 1e-4;

export function psi(base: ArrayLike<number>, cur: ArrayLike<number>): number {
  const nb = sum(base), nc = sum(cur);
  let s = 0;
  for (let i = 0; i < base.length; i++) {
    const p = Math.max(cur[i] / nc, EPS), q = Math.max(base[i] / nb, EPS);
    s += (p - q) * Math.log(p / q);
  }
  return s;
}

/** Upper tail of chi-square with k degrees of freedom (Wilson-Hilferty). */
export function chiSquareP(x: number, k: number): number {
  if (k <= 0) return 1;
  const z = (Math.cbrt(x / k) - (1 - 2 / (9 * k))) / Math.sqrt(2 / (9 * k));
  return 0.5 * erfc(z / Math.SQRT2);
}

function erfc(x: number): number {
  // Numerical Recipes' erfcc: fractional error < 1.2e-7.
  const z = Math.abs(x), t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807
    + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? r : 2 - r;
}

/** Kolmogorov distribution's upper tail, P(K > λ). */
export function ksP(lambda: number): number {
  if (lambda < 0.2) return 1;
  let s = 0;
  for (let k = 1; k <= 100; k++) s += 2 * (k % 2 === 1 ? 1 : -1) * Math.exp(-2 * k * k * lambda * lambda);
  return Math.min(1, Math.max(0, s));
}

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

/** One field's verdict; `base` and `cur` are its bins' counts (missing last). */
export function fieldDrift(f: WatchedField, base: ArrayLike<number> | null, cur: ArrayLike<number>, cfg: FeatureDriftConfig): FieldDrift {
  const nc = sum(cur);
  const k = f.bins.length;
  const missingRate = nc > 0 ? cur[k - 1] / nc : null;
  const out: FieldDrift = {
    field: f.name, kind: f.kind, psi: null, test: f.kind === 'number' ? 'ks' : 'chi_square', statistic: null, p_value: null,
    severity: 'none', samples: nc, missing_rate: missingRate, baseline_missing_rate: null, top_changes: [],
  };
  if (f.kind === 'category') out.unknown_rate = nc > 0 ? cur[k - 2] / nc : null;
  const nb = base ? sum(base) : 0;
  if (!base || base.length !== k || nb === 0 || nc === 0) return out;
  out.baseline_missing_rate = base[k - 1] / nb;
  out.psi = psi(base, cur);
  if (f.kind === 'number') {
    let cb = 0, cc = 0, d = 0;
    for (let i = 0; i < k; i++) { cb += base[i] / nb; cc += cur[i] / nc; d = Math.max(d, Math.abs(cb - cc)); }
    const ne = (nb * nc) / (nb + nc), sq = Math.sqrt(ne);
    out.statistic = d;
    out.p_value = ksP((sq + 0.12 + 0.11 / sq) * d);
  } else {
    let chi = 0, used = 0;
    for (let i = 0; i < k; i++) {
      const t = base[i] + cur[i];
      if (t === 0) continue;
      used++;
      const eb = (t * nb) / (nb + nc), ec = (t * nc) / (nb + nc);
      chi += (base[i] - eb) ** 2 / eb + (cur[i] - ec) ** 2 / ec;
    }
    out.statistic = chi;
    out.p_value = chiSquareP(chi, used - 1);
  }
  const moves: [string, number, number][] = f.bins.map((b, i) => [b, base[i] / nb, cur[i] / nc]);
  moves.sort((a, b) => Math.abs(b[2] - b[1]) - Math.abs(a[2] - a[1]));
  out.top_changes = moves.slice(0, 3);
  if (nc >= cfg.minSamples && out.p_value! < cfg.alpha) {
    out.severity = out.psi >= cfg.psiHigh ? 'high' : out.psi >= cfg.psiMedium ? 'medium' : 'none';
  }
  return out;
}

/** The coordinator's side: a copy of the block each tick, a ring for the windows. */
export class FeatureTracker {
  readonly #b: FeatureWatchBuffers;
  readonly #cur: Float64Array;
  readonly #scratch: Float64Array;
  readonly #ring: DeltaRing;
  readonly cfg: FeatureDriftConfig;

  constructor(b: FeatureWatchBuffers, longestWindowMs: number, stepMs: number, now: number, cfg: Partial<FeatureDriftConfig> = {}) {
    this.#b = b;
    this.cfg = { ...DEFAULT_FEATURE_DRIFT, ...cfg };
    this.#cur = new Float64Array(b.data.length);
    this.#scratch = new Float64Array(b.data.length);
    this.#ring = new DeltaRing(b.data.length, longestWindowMs, stepMs);
    readQuality(b, this.#cur);
    this.#ring.maybePush(now, this.#cur, true);
  }

  tick(now: number): void {
    readQuality(this.#b, this.#cur);
    this.#ring.maybePush(now, this.#cur);
  }

  /** Model m's counts per field over the window (windowMs null: lifetime). */
  counts(m: number, now: number, windowMs: number | null): FeatureBaseline {
    const v = windowMs === null ? this.#cur : this.#ring.windowOf(this.#cur, now, windowMs, this.#scratch);
    const model = this.#b.models[m];
    const at = this.#b.offsets[m];
    const fields: Record<string, number[]> = {};
    let rows = 0;
    model.fields.forEach((f, i) => {
      const c = Array.from(v.subarray(at + f.offset, at + f.offset + f.bins.length));
      fields[f.name] = c;
      if (i === 0) rows = sum(c);
    });
    return { sampled_rows: rows, fields };
  }

  report(m: number, now: number, windowMs: number, windowName: string, baseline: FeatureBaseline | null | undefined): FeatureDriftReport {
    const cur = this.counts(m, now, windowMs);
    const fields = this.#b.models[m].fields.map((f) => fieldDrift(f, baseline?.fields[f.name] ?? null, cur.fields[f.name], this.cfg));
    fields.sort((a, b) => (b.psi ?? -1) - (a.psi ?? -1));
    return {
      window: windowName, has_baseline: !!baseline, sampled_rows: cur.sampled_rows,
      drift_detected: fields.some((f) => f.severity !== 'none'), fields,
    };
  }
}
