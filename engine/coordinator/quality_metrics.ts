// Model quality from one cell's counts (engine/labels/quality_layout.ts):
// pure functions, no rows. Calibration is observed CTR over mean predicted CTR
// with a 95 % Wilson score interval on the observed CTR divided by the mean
// prediction (the mean prediction is treated as known: it is an average of
// the model's own outputs, not a sample estimate of the truth). AUC is the
// Mann-Whitney statistic over the predicted-CTR buckets with ties inside a
// bucket counted one half; it is within `auc_max_error` = ½ Σ clicks_b ·
// non-clicks_b / (clicks · non-clicks) of the exact AUC over the same rows.
// ECE and the reliability diagram use equal-count groups of buckets.
import {
  BUCKETS, C_CLICKS, C_CLICK_HIST, C_IMPLICIT, C_LATE_CLICKS, C_N, C_NONCLICK_HIST, C_SUMP_HIST, C_SUM_BRIER,
  C_SUM_LOG_LOSS, C_SUM_P, bucketLow,
} from '../labels/quality_layout.js';

export const RELIABILITY_GROUPS = 10;
const Z95 = 1.959963984540054;

export interface ReliabilityBin {
  /** CTR range of the group's buckets. */
  lo: number;
  hi: number;
  count: number;
  mean_predicted: number;
  observed_ctr: number;
}

export interface QualityBlock {
  labelled: number;
  clicks: number;
  observed_ctr: number | null;
  mean_predicted_ctr: number | null;
  /** observed / mean predicted: 1 is calibrated, 0.5 means the model predicts twice the real CTR. */
  calibration_ratio: number | null;
  calibration_ratio_ci95: [number, number] | null;
  log_loss: number | null;
  brier: number | null;
  auc: number | null;
  /** Bound on |auc − exact AUC| from ties inside buckets. */
  auc_max_error: number | null;
  ece: number | null;
  reliability: ReliabilityBin[];
  late_clicks: number;
  implicit_nonclicks: number;
}

/** Wilson score interval for k successes out of n. */
export function wilson(k: number, n: number, z = Z95): [number, number] {
  if (n <= 0) return [0, 1];
  const p = k / n, z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** The figures of one cell (`v` from `at`). */
export function qualityOf(v: Float64Array, at: number): QualityBlock {
  const n = v[at + C_N];
  const clicks = v[at + C_CLICKS];
  const block: QualityBlock = {
    labelled: n, clicks, observed_ctr: null, mean_predicted_ctr: null, calibration_ratio: null, calibration_ratio_ci95: null,
    log_loss: null, brier: null, auc: null, auc_max_error: null, ece: null, reliability: [],
    late_clicks: v[at + C_LATE_CLICKS], implicit_nonclicks: v[at + C_IMPLICIT],
  };
  if (n <= 0) return block;
  const obs = clicks / n, pred = v[at + C_SUM_P] / n;
  block.observed_ctr = obs;
  block.mean_predicted_ctr = pred;
  if (pred > 0) {
    block.calibration_ratio = obs / pred;
    const [lo, hi] = wilson(clicks, n);
    block.calibration_ratio_ci95 = [lo / pred, hi / pred];
  }
  block.log_loss = v[at + C_SUM_LOG_LOSS] / n;
  block.brier = v[at + C_SUM_BRIER] / n;
  const nonclicks = n - clicks;
  if (clicks > 0 && nonclicks > 0) {
    let below = 0, num = 0, ties = 0;
    for (let b = 0; b < BUCKETS; b++) {
      const c = v[at + C_CLICK_HIST + b], nc = v[at + C_NONCLICK_HIST + b];
      if (c === 0 && nc === 0) continue;
      num += c * below + 0.5 * c * nc;
      ties += c * nc;
      below += nc;
    }
    block.auc = num / (clicks * nonclicks);
    block.auc_max_error = (0.5 * ties) / (clicks * nonclicks);
  }
  // Equal-count groups of whole buckets, in CTR order.
  const target = n / RELIABILITY_GROUPS;
  let gN = 0, gC = 0, gP = 0, gLo = -1, ece = 0, cum = 0;
  for (let b = 0; b < BUCKETS; b++) {
    const c = v[at + C_CLICK_HIST + b], nc = v[at + C_NONCLICK_HIST + b];
    if (c + nc === 0) continue;
    if (gLo < 0) gLo = b;
    gN += c + nc;
    cum += c + nc;
    gC += c;
    gP += v[at + C_SUMP_HIST + b];
    const last = b === BUCKETS - 1 || cum >= target * (block.reliability.length + 1) - 1e-9;
    if (last) {
      block.reliability.push({ lo: bucketLow(gLo), hi: bucketLow(b + 1), count: gN, mean_predicted: gP / gN, observed_ctr: gC / gN });
      ece += Math.abs(gC - gP);
      gN = 0; gC = 0; gP = 0; gLo = -1;
    }
  }
  if (gN > 0) {
    block.reliability.push({ lo: bucketLow(gLo), hi: 1, count: gN, mean_predicted: gP / gN, observed_ctr: gC / gN });
    ece += Math.abs(gC - gP);
  }
  // Σ_g (n_g / n) · |observed_g − predicted_g| = Σ_g |clicks_g − Σp_g| / n
  block.ece = ece / n;
  return block;
}
