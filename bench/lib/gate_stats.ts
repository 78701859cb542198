// The regression gate's arithmetic, kept apart so it can be read and tested:
// per-round ratios current/base, their median, a distribution-free confidence
// bound on that median, and the verdict.

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

function binomCdfHalf(n: number, k: number): number {
  // P(X <= k) for X ~ Binomial(n, 1/2)
  let c = 1, sum = 0;
  for (let i = 0; i <= k; i++) {
    sum += c;
    c = (c * (n - i)) / (i + 1);
  }
  return sum / 2 ** n;
}

/**
 * One-sided lower confidence bound for the median of `xs` (sign-test order
 * statistic): the k-th smallest value with P(Binomial(n, ½) ≤ k−1) ≤ alpha.
 * Assumes nothing about the distribution, so one wild round cannot move it.
 * Returns null when there are too few values for that confidence.
 */
export function medianLowerBound(xs: number[], alpha = 0.05): { value: number; rank: number } | null {
  const s = [...xs].sort((a, b) => a - b);
  let k = 0;
  while (k < s.length && binomCdfHalf(s.length, k) <= alpha) k++;
  return k === 0 ? null : { value: s[k - 1], rank: k };
}

/** One-sided upper confidence bound for the median (the mirror of medianLowerBound). */
export function medianUpperBound(xs: number[], alpha = 0.05): { value: number; rank: number } | null {
  const b = medianLowerBound(xs.map((x) => -x), alpha);
  return b === null ? null : { value: -b.value, rank: b.rank };
}

export interface RatioStats {
  ratios: number[];
  median: number;
  min: number;
  max: number;
  /** Robust σ of the per-round ratios: the round-to-round noise. */
  noise: number;
  /** 95 % one-sided lower bound of the median ratio (null: too few rounds). */
  lower95: number | null;
  /** 95 % one-sided upper bound of the median ratio (null: too few rounds). */
  upper95: number | null;
}

export function ratioStats(pairs: RoundPair[]): RatioStats {
  const ratios = pairs.map((p) => (p.base > 0 ? p.current / p.base : NaN)).filter(Number.isFinite);
  return {
    ratios, median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios),
    noise: robustSigma(ratios), lower95: medianLowerBound(ratios)?.value ?? null, upper95: medianUpperBound(ratios)?.value ?? null,
  };
}

export interface Verdict { regressed: boolean; confident: boolean; bound: number; reason: string }

/**
 * p99 regressed when even the 95 % lower confidence bound of the median
 * per-round ratio exceeds 1 + threshold: the slowdown is larger than the
 * threshold by more than the rounds' noise. Pairing each round's base and
 * current runs cancels slow drifts of a shared machine; the order-statistic
 * bound needs most rounds to agree, so a disturbed round is a vote, not a
 * verdict. With fewer than 5 rounds no 95 % bound exists; the smallest ratio
 * stands in and the verdict says it is not confident.
 */
export function p99Verdict(s: RatioStats, threshold: number, name = 'p99'): Verdict {
  const limit = 1 + threshold;
  if (s.ratios.length === 0) return { regressed: false, confident: false, bound: NaN, reason: 'no usable rounds' };
  const confident = s.lower95 !== null;
  const bound = s.lower95 ?? s.min;
  const regressed = bound > limit;
  const pct = (x: number) => `${x >= 1 ? '+' : ''}${((x - 1) * 100).toFixed(1)} %`;
  const what = confident ? '95 % lower bound of the median ratio' : `smallest ratio (only ${s.ratios.length} rounds: no 95 % bound below 5)`;
  return {
    regressed, confident, bound,
    reason: `${name} ${regressed ? 'REGRESSED' : 'within bounds'}: median ratio ${s.median.toFixed(3)} (${pct(s.median)}), ${what} ${bound.toFixed(3)} ` +
      `${regressed ? '>' : '≤'} ${limit.toFixed(3)} (threshold ${(threshold * 100).toFixed(0)} %); round-to-round noise σ ${(s.noise * 100).toFixed(1)} %`,
  };
}

/**
 * Throughput regressed when even the 95 % upper confidence bound of the
 * median per-round ratio current/base is below 1 − threshold: the same
 * sign-test reasoning as p99Verdict, mirrored (lower is worse).
 */
export function throughputVerdict(s: RatioStats, threshold: number): Verdict {
  const limit = 1 - threshold;
  if (s.ratios.length === 0) return { regressed: false, confident: false, bound: NaN, reason: 'no usable rounds' };
  const confident = s.upper95 !== null;
  const bound = s.upper95 ?? s.max;
  const regressed = bound < limit;
  const pct = (x: number) => `${x >= 1 ? '+' : ''}${((x - 1) * 100).toFixed(1)} %`;
  const what = confident ? '95 % upper bound of the median ratio' : `largest ratio (only ${s.ratios.length} rounds: no 95 % bound below 5)`;
  return {
    regressed, confident, bound,
    reason: `throughput ${regressed ? 'REGRESSED' : 'within bounds'}: median ratio ${s.median.toFixed(3)} (${pct(s.median)}), ${what} ${bound.toFixed(3)} ` +
      `${regressed ? '<' : '≥'} ${limit.toFixed(3)} (threshold ${(threshold * 100).toFixed(0)} %); round-to-round noise σ ${(s.noise * 100).toFixed(1)} %`,
  };
}
