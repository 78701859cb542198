// The regression gate's arithmetic, kept apart so it can be read and tested:
// per-round ratios current/base, their median and spread, and the verdict.

export interface RoundPair { base: number; current: number }

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 === 1 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Median absolute deviation scaled to estimate a standard deviation (robust to one wild round). */
export function robustSigma(xs: number[]): number {
  const m = median(xs);
  return 1.4826 * median(xs.map((x) => Math.abs(x - m)));
}

export interface RatioStats {
  ratios: number[];
  median: number;
  min: number;
  max: number;
  /** Robust σ of the per-round ratios: the noise the rounds show. */
  noise: number;
}

export function ratioStats(pairs: RoundPair[]): RatioStats {
  const ratios = pairs.map((p) => (p.base > 0 ? p.current / p.base : NaN)).filter(Number.isFinite);
  return { ratios, median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios), noise: robustSigma(ratios) };
}

export interface Verdict { regressed: boolean; limit: number; reason: string }

/**
 * p99 regressed when the median per-round ratio exceeds 1 + threshold by more
 * than the rounds' own noise (robust σ of the ratios). Pairing each round's
 * base and current runs cancels slow drifts of a shared machine; the median
 * ignores one disturbed round; the noise term widens the bar when the rounds
 * disagree, so a noisy machine yields "no evidence" rather than a false alarm.
 */
export function p99Verdict(s: RatioStats, threshold: number): Verdict {
  const limit = 1 + threshold + s.noise;
  if (!Number.isFinite(s.median)) return { regressed: false, limit, reason: 'no usable rounds' };
  const regressed = s.median > limit;
  const pct = (x: number) => `${((x - 1) * 100).toFixed(1)} %`;
  return {
    regressed, limit,
    reason: regressed
      ? `p99 regressed: median ratio ${s.median.toFixed(3)} (${pct(s.median)}) > limit ${limit.toFixed(3)} (threshold ${(threshold * 100).toFixed(0)} % + noise ${(s.noise * 100).toFixed(1)} %)`
      : `p99 within bounds: median ratio ${s.median.toFixed(3)} (${pct(s.median)}) ≤ limit ${limit.toFixed(3)} (threshold ${(threshold * 100).toFixed(0)} % + noise ${(s.noise * 100).toFixed(1)} %)`,
  };
}
