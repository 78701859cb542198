/**
 * Drift of one model's current window against its baseline.
 *
 * Notation: the window holds n predictions with mean m and sample std s, and
 * n_L latency observations (requests) with mean m_L. The baseline has mean μ0
 * and std σ0 of predictions, mean μ_L and std σ_L of latency (ms) and, when it
 * was captured from traffic, its own sample size n0 (otherwise n0 = ∞, so the
 * 1/n0 terms vanish) and prediction bins.
 *
 *   mean shift       z = |m − μ0| / (σ0 · √(1/n + 1/n0))
 *                    effect = |m − μ0| / σ0                        (guard: ≥ meanMinEffect, 0.2)
 *   variance change  z = |s²/σ0² − 1| / √((κ − 1) · (1/n + 1/n0))
 *                    κ = kurtosis of the window's predictions, from its bins
 *                    (3 for a normal; the term is Var(s²)/σ⁴, which does not
 *                    assume normality — CTRs are skewed)
 *                    effect = |s/σ0 − 1|                           (guard: ≥ stdMinEffect, 0.3)
 *   latency anomaly  z = (m_L − μ_L) / (σ_L · √(1/n_L + 1/n0_L))    one-sided: only slower is anomalous
 *                    effect = (m_L − μ_L) / μ_L                    (guard: ≥ latencyMinEffect, 0.5)
 *   PSI              Σ_g (p_g − q_g) · ln(p_g / q_g) over the baseline's G (10)
 *                    quantile groups; p_g, q_g are the current and baseline
 *                    shares, p_g = (c_g + 0.5)/(n + G/2) so an empty group is finite.
 *                    medium ≥ 0.1, high ≥ 0.25 (the customary PSI bands); only
 *                    for baselines captured from traffic.
 *
 * A z check's severity: medium when z ≥ zMedium (2.0), high when z ≥ zHigh
 * (3.0), the thresholds of the service this one replaces — but only when the
 * effect clears its floor. z grows with √n, so under heavy traffic any
 * difference, however trivial, becomes "significant"; the floor asks that the
 * shift also matter. Every check needs n ≥ minSamples (500) in the window.
 * Why these floors:
 *  - mean 0.2 σ0: at n = 500 that is 4.5 standard errors, so stationary
 *    windows essentially never reach it, while a changed traffic mix moves the
 *    mean by more (the demo model: ≈ 0.3 σ0 for a tablet/footer-heavy mix).
 *  - std 30 %: predicted CTRs are heavy-tailed (the demo model's kurtosis is
 *    15–40), so the sample std of a small window is noisy; 0.2 tripped ~1 %
 *    of stationary 1 000-prediction windows, 0.3 none.
 *  - latency +50 %: latencies are correlated within a batch and a burst, so
 *    σ_L/√n_L understates the noise of a window's mean and z is large for
 *    ordinary minute-to-minute variation; the floor carries the decision.
 *    Smaller slowdowns are the p99 objective's job (health).
 * The report's severity is the highest over its checks.
 */
import { PRED_BINS, predBinCentre } from '../telemetry/layout.js';
import { stdDev, type Moments } from '../telemetry/welford.js';
import type { Baseline, CheckVerdict, DriftCheck, DriftReport, Severity } from './snapshot.js';

export interface DriftConfig {
  /** Window the checks run on (a window name such as "1m"). */
  window: string;
  zMedium: number;
  zHigh: number;
  minSamples: number;
  meanMinEffect: number;
  stdMinEffect: number;
  latencyMinEffect: number;
  /** Latency stage compared with the baseline's latency; falls back to inference when it has no data. */
  latencyStage: 'end_to_end' | 'inference';
  psiMedium: number;
  psiHigh: number;
  /** Quantile groups a captured baseline's bins are cut into. */
  psiGroups: number;
}

export const DEFAULT_DRIFT: Omit<DriftConfig, 'window'> = {
  zMedium: 2.0, zHigh: 3.0, minSamples: 500,
  meanMinEffect: 0.2, stdMinEffect: 0.3, latencyMinEffect: 0.5, latencyStage: 'end_to_end',
  psiMedium: 0.1, psiHigh: 0.25, psiGroups: 10,
};

/** What the checks need from the window. */
export interface DriftInput {
  pred: Moments;
  /** Fine prediction bins (PRED_BINS counts). */
  bins: Float64Array;
  latency: { stage: string; count: number; meanMs: number; stdMs: number };
}

export function computeDrift(model: string, w: DriftInput, baseline: Baseline | null, cfg: DriftConfig, now: Date): DriftReport {
  const current = {
    prediction: { count: w.pred.n, mean: w.pred.n > 0 ? w.pred.mean : 0, std: stdDev(w.pred) },
    latency_ms: { stage: w.latency.stage, count: w.latency.count, mean: w.latency.meanMs, std: w.latency.stdMs },
  };
  const base = { model, window: cfg.window, baseline, current, evaluated_at: now.toISOString() };
  if (!baseline) {
    return { ...base, drift_detected: false, severity: 'none', message: 'no baseline set for this model: nothing is detected until one is set or captured', checks: [] };
  }
  const checks = [meanShift(w, baseline, cfg), varianceChange(w, baseline, cfg), latencyAnomaly(w, baseline, cfg)];
  if (baseline.bins) checks.push(psiCheck(w, baseline, cfg));
  const severity = checks.reduce<Severity>((s, c) => worse(s, c.severity), 'none');
  const flagged = checks.filter((c) => c.severity !== 'none').map((c) => c.name);
  const insufficient = checks.every((c) => c.verdict === 'insufficient_data');
  const message = flagged.length > 0 ? `drift: ${flagged.join(', ')}`
    : insufficient ? `not enough data in window ${cfg.window} (need ${cfg.minSamples})` : 'no drift';
  return { ...base, drift_detected: severity !== 'none', severity, message, checks };
}

const rank: Record<Severity, number> = { none: 0, medium: 1, high: 2 };
export const worse = (a: Severity, b: Severity): Severity => (rank[b] > rank[a] ? b : a);

const invN0 = (b: Baseline, key: 'prediction_count' | 'latency_count'): number => {
  const n0 = b[key];
  return n0 && n0 > 0 ? 1 / n0 : 0;
};

function zCheck(name: DriftCheck['name'], z: number, effect: number, minEffect: number, n: number, cfg: DriftConfig, detail: string): DriftCheck {
  const threshold = { medium: cfg.zMedium, high: cfg.zHigh };
  if (n < cfg.minSamples) {
    return { name, statistic: null, threshold, effect: null, min_effect: minEffect, samples: n, verdict: 'insufficient_data', severity: 'none', detail: `${n} samples, need ${cfg.minSamples}` };
  }
  const sig: Severity = z >= cfg.zHigh ? 'high' : z >= cfg.zMedium ? 'medium' : 'none';
  const verdict: CheckVerdict = sig === 'none' ? 'ok' : effect >= minEffect ? 'drift' : 'below_min_effect';
  return {
    name, statistic: round(z), threshold, effect: round(effect), min_effect: minEffect, samples: n,
    verdict, severity: verdict === 'drift' ? sig : 'none', detail,
  };
}

function meanShift(w: DriftInput, b: Baseline, cfg: DriftConfig): DriftCheck {
  const n = w.pred.n, m = w.pred.mean;
  const se = b.std_prediction * Math.sqrt(1 / Math.max(n, 1) + invN0(b, 'prediction_count'));
  const diff = Math.abs(m - b.mean_prediction);
  return zCheck('mean_shift', diff / se, diff / b.std_prediction, cfg.meanMinEffect, n, cfg,
    `mean ${fmt(m)} vs baseline ${fmt(b.mean_prediction)}`);
}

function varianceChange(w: DriftInput, b: Baseline, cfg: DriftConfig): DriftCheck {
  const n = w.pred.n, s = stdDev(w.pred);
  const kappa = kurtosisOfBins(w.bins);
  const ratio = (s * s) / (b.std_prediction * b.std_prediction);
  const se = Math.sqrt((kappa - 1) * (1 / Math.max(n, 1) + invN0(b, 'prediction_count')));
  return zCheck('variance_change', Math.abs(ratio - 1) / se, Math.abs(s / b.std_prediction - 1), cfg.stdMinEffect, n, cfg,
    `std ${fmt(s)} vs baseline ${fmt(b.std_prediction)} (kurtosis ${kappa.toFixed(2)})`);
}

function latencyAnomaly(w: DriftInput, b: Baseline, cfg: DriftConfig): DriftCheck {
  const { count: n, meanMs: m } = w.latency;
  const z = (m - b.mean_latency_ms) / (b.std_latency_ms * Math.sqrt(1 / Math.max(n, 1) + invN0(b, 'latency_count')));
  const effect = (m - b.mean_latency_ms) / b.mean_latency_ms;
  return zCheck('latency_anomaly', Math.max(z, 0), Math.max(effect, 0), cfg.latencyMinEffect, n, cfg,
    `${w.latency.stage} mean ${fmt(m)} ms vs baseline ${fmt(b.mean_latency_ms)} ms`);
}

function psiCheck(w: DriftInput, b: Baseline, cfg: DriftConfig): DriftCheck {
  const bins = b.bins!;
  const threshold = { medium: cfg.psiMedium, high: cfg.psiHigh };
  const n = w.pred.n;
  if (n < cfg.minSamples) {
    return { name: 'psi', statistic: null, threshold, effect: null, min_effect: null, samples: n, verdict: 'insufficient_data', severity: 'none', detail: `${n} samples, need ${cfg.minSamples}` };
  }
  const value = psi(groupCounts(w.bins, bins.edges), bins.proportions);
  const severity: Severity = value >= cfg.psiHigh ? 'high' : value >= cfg.psiMedium ? 'medium' : 'none';
  return {
    name: 'psi', statistic: round(value), threshold, effect: null, min_effect: null, samples: n,
    verdict: severity === 'none' ? 'ok' : 'drift', severity, detail: `${bins.edges.length} groups of the captured baseline`,
  };
}

/** Population stability index of current group counts against baseline shares. */
export function psi(counts: number[], baseline: number[]): number {
  const g = counts.length;
  const n = counts.reduce((a, c) => a + c, 0);
  let sum = 0;
  for (let i = 0; i < g; i++) {
    const p = (counts[i] + 0.5) / (n + g / 2);
    const q = baseline[i];
    sum += (p - q) * Math.log(p / q);
  }
  return sum;
}

/** Sum fine bins into groups starting at `edges` (ascending fine-bin indexes, the first 0). */
export function groupCounts(fine: ArrayLike<number>, edges: number[]): number[] {
  const out = new Array<number>(edges.length).fill(0);
  let g = 0;
  for (let i = 0; i < PRED_BINS; i++) {
    while (g + 1 < edges.length && i >= edges[g + 1]) g++;
    out[g] += fine[i];
  }
  return out;
}

/**
 * Cut fine bins into at most `groups` groups of about equal mass (quantile
 * groups), returning their start edges and smoothed shares.
 */
export function quantileGroups(fine: ArrayLike<number>, groups: number): { edges: number[]; proportions: number[] } {
  let n = 0;
  for (let i = 0; i < PRED_BINS; i++) n += fine[i];
  const edges = [0];
  let acc = 0, k = 1;
  for (let i = 0; i < PRED_BINS - 1 && edges.length < groups; i++) {
    acc += fine[i];
    // Cut after the bin that carries the mass past the next k/groups quantile; never after all of it.
    if (acc >= (n * k) / groups && acc < n) {
      edges.push(i + 1);
      k = Math.floor((acc * groups) / n) + 1;
    }
  }
  const counts = groupCounts(fine, edges);
  const g = edges.length;
  return { edges, proportions: counts.map((c) => (c + 0.5) / (n + g / 2)) };
}

/** Kurtosis m4/m2² of predictions approximated by bin centres; 3 (normal) without data. */
export function kurtosisOfBins(bins: ArrayLike<number>): number {
  let n = 0, s1 = 0;
  for (let i = 0; i < PRED_BINS; i++) { n += bins[i]; s1 += bins[i] * predBinCentre(i); }
  if (n < 2) return 3;
  const mean = s1 / n;
  let m2 = 0, m4 = 0;
  for (let i = 0; i < PRED_BINS; i++) {
    if (bins[i] === 0) continue;
    const d = predBinCentre(i) - mean, d2 = d * d;
    m2 += bins[i] * d2;
    m4 += bins[i] * d2 * d2;
  }
  if (m2 <= 0) return 3;
  const k = (m4 / n) / ((m2 / n) * (m2 / n));
  return Math.min(Math.max(k, 1.5), 1000);
}

const round = (x: number): number => (Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : x);
const fmt = (x: number): string => (Number.isFinite(x) ? Number(x.toPrecision(4)).toString() : String(x));
