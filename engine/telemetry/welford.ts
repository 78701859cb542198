// Moments of a stream: Welford's update, Chan et al.'s parallel combination
// (merging shards) and its inverse (a window as the difference of two
// cumulative states). Plain numbers in, plain numbers out.

export interface Moments { n: number; mean: number; m2: number; min: number; max: number }

export const emptyMoments = (): Moments => ({ n: 0, mean: 0, m2: 0, min: Infinity, max: -Infinity });

/** One pass over values (the reference the merged shards must equal). */
export function momentsOf(values: ArrayLike<number>): Moments {
  const r = emptyMoments();
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    r.n += 1;
    const d = x - r.mean;
    r.mean += d / r.n;
    r.m2 += d * (x - r.mean);
    if (x < r.min) r.min = x;
    if (x > r.max) r.max = x;
  }
  return r;
}

/** Chan's combination: the moments of A ∪ B. */
export function combine(a: Moments, b: Moments): Moments {
  if (b.n === 0) return { ...a };
  if (a.n === 0) return { ...b };
  const n = a.n + b.n;
  const d = b.mean - a.mean;
  return {
    n,
    mean: a.mean + d * (b.n / n),
    m2: a.m2 + b.m2 + d * d * (a.n * b.n / n),
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
  };
}

/**
 * The moments of B where total = A ∪ B (Chan's combination solved for B).
 * min/max cannot be recovered by difference and are reported as NaN.
 */
export function subtract(total: Moments, a: Moments): Moments {
  const n = total.n - a.n;
  if (n <= 0) return { n: 0, mean: 0, m2: 0, min: NaN, max: NaN };
  if (a.n === 0) return { ...total, min: NaN, max: NaN };
  const mean = (total.n * total.mean - a.n * a.mean) / n;
  const d = mean - a.mean;
  const m2 = total.m2 - a.m2 - d * d * (a.n * n / total.n);
  return { n, mean, m2: m2 > 0 ? m2 : 0, min: NaN, max: NaN };
}

/** Sample variance (n − 1), 0 below two values. */
export const variance = (m: Moments): number => (m.n > 1 ? m.m2 / (m.n - 1) : 0);
export const stdDev = (m: Moments): number => Math.sqrt(variance(m));
