// The shared-memory block the main thread accumulates joined labels into and
// the coordinator thread reads every tick (engine/coordinator/quality.ts).
// Fixed size from the start: a header of feedback counters, then one cell per
// (model, version slot, A/B variant) holding exact sums (count, clicks, Σp,
// Σ log loss, Σ squared error) and a histogram of predicted CTR split into
// click and non-click counts plus Σp per bucket — enough for calibration, log
// loss, Brier, AUC, ECE and a reliability diagram without storing a row.
// One writer (the main thread) and one reader, under a seqlock: the writer
// makes the sequence odd while it writes, the reader retries on a change.

/** How the model was chosen: A/B routing, named by the caller, or unknown (feedback that carried model/version/ctr, not our id). */
export const VARIANTS = ['ab', 'explicit', 'by_value'] as const;
export type Variant = (typeof VARIANTS)[number];
export const VARIANT_AB = 0;
export const VARIANT_EXPLICIT = 1;
export const VARIANT_BY_VALUE = 2;

/** Version slots per model: slot 0 is the loaded version, the rest are named by model/model_version feedback, first come first served. */
export const VERSION_SLOTS = 4;

// ── predicted-CTR buckets: uniform in log-odds ──────────────────────────────
// CTRs live around 0.001–0.1, where uniform buckets on [0, 1] would be too
// coarse; 800 buckets of 0.025 log-odds over [−10, 10] are ≈ 2.5 % wide in
// relative CTR at small CTRs (CTRs below 4.5e-5 or above 0.99995 share the end buckets).
export const BUCKETS = 800;
export const LOGIT_MIN = -10;
export const LOGIT_MAX = 10;
export const BUCKET_WIDTH = (LOGIT_MAX - LOGIT_MIN) / BUCKETS;
export const BUCKET_SCHEME = `logit-uniform:${LOGIT_MIN}:${LOGIT_MAX}:${BUCKETS}`;

export function bucketOf(p: number): number {
  const z = Math.log(p / (1 - p));
  const b = Math.floor((z - LOGIT_MIN) / BUCKET_WIDTH);
  // NaN (p outside [0,1] never gets here) and ±Infinity land in the end buckets.
  return b >= 0 ? (b < BUCKETS ? b : BUCKETS - 1) : 0;
}

/** Lower edge of bucket b as a CTR. */
export const bucketLow = (b: number): number => 1 / (1 + Math.exp(-(LOGIT_MIN + b * BUCKET_WIDTH)));

/** Log loss clamps predictions to [ε, 1 − ε], as scikit-learn did (eps=1e-15). */
export const LOG_LOSS_EPS = 1e-15;

// ── cell layout ─────────────────────────────────────────────────────────────
export const C_N = 0;            // labelled impressions
export const C_CLICKS = 1;
export const C_SUM_P = 2;
export const C_SUM_LOG_LOSS = 3;
export const C_SUM_BRIER = 4;
export const C_LATE_CLICKS = 5;  // clicks that came after the label window (not in the figures)
export const C_IMPLICIT = 6;     // non-clicks counted because the window ended without a click
export const C_CLICK_HIST = 8;
export const C_NONCLICK_HIST = C_CLICK_HIST + BUCKETS;
export const C_SUMP_HIST = C_NONCLICK_HIST + BUCKETS;
export const CELL_LEN = C_SUMP_HIST + BUCKETS;

// ── header: feedback counters (process-wide) ────────────────────────────────
export const FEEDBACK_COUNTERS = [
  'received',           // feedback items accepted for processing
  'joined',             // joined to a prediction by request id and counted
  'by_value',           // model/model_version/ctr items counted
  'unknown',            // request id not (or no longer) held
  'duplicate',          // a second label for an impression already labelled
  'expired',            // feedback after the impression's label window ended
  'late_clicks',        // of those, clicks (counted, not in the figures)
  'implicit_nonclicks', // windows that ended without a click, counted as non-clicks
  'expired_unlabelled', // windows that ended without feedback while implicit non-clicks are off
  'evicted_unlabelled', // impressions pushed out of the ring before their window ended (capacity < rate × window)
  'unattributed',       // model/model_version items for an unknown model or beyond the version slots
  'recorded',           // predictions recorded
] as const;
export type FeedbackCounter = (typeof FEEDBACK_COUNTERS)[number];
export const HEADER_LEN = 16;
export const H = Object.fromEntries(FEEDBACK_COUNTERS.map((k, i) => [k, i])) as Record<FeedbackCounter, number>;

export interface QualityBuffers {
  models: string[];
  /** seq[0]: odd while the writer is inside a write. */
  seq: Int32Array;
  /** HEADER_LEN + models × VERSION_SLOTS × VARIANTS × CELL_LEN float64s. */
  data: Float64Array;
}

export const cellIndex = (model: number, versionSlot: number, variant: number): number =>
  ((model * VERSION_SLOTS + versionSlot) * VARIANTS.length + variant);
export const cellOffset = (model: number, versionSlot: number, variant: number): number =>
  HEADER_LEN + cellIndex(model, versionSlot, variant) * CELL_LEN;

export function createQualityBuffers(models: string[]): QualityBuffers {
  const len = HEADER_LEN + models.length * VERSION_SLOTS * VARIANTS.length * CELL_LEN;
  return {
    models: [...models],
    seq: new Int32Array(new SharedArrayBuffer(4)),
    data: new Float64Array(new SharedArrayBuffer(len * 8)),
  };
}

export const qualityBytes = (q: QualityBuffers): number => q.data.byteLength + q.seq.byteLength;

/** The main thread's side: every write between begin() and end(). */
export class QualityWriter {
  constructor(readonly q: QualityBuffers) {}

  begin(): void {
    Atomics.add(this.q.seq, 0, 1);
  }

  end(): void {
    Atomics.add(this.q.seq, 0, 1);
  }

  count(counter: number, by = 1): void {
    this.q.data[counter] += by;
  }

  /** One labelled impression into its cell (call between begin and end). */
  label(model: number, versionSlot: number, variant: number, p: number, clicked: boolean, implicit: boolean): void {
    const d = this.q.data;
    const at = cellOffset(model, versionSlot, variant);
    const pc = p < LOG_LOSS_EPS ? LOG_LOSS_EPS : p > 1 - LOG_LOSS_EPS ? 1 - LOG_LOSS_EPS : p;
    const b = bucketOf(p);
    d[at + C_N] += 1;
    d[at + C_SUM_P] += p;
    d[at + C_SUMP_HIST + b] += p;
    if (clicked) {
      d[at + C_CLICKS] += 1;
      d[at + C_SUM_LOG_LOSS] -= Math.log(pc);
      d[at + C_SUM_BRIER] += (1 - p) * (1 - p);
      d[at + C_CLICK_HIST + b] += 1;
    } else {
      d[at + C_SUM_LOG_LOSS] -= Math.log(1 - pc);
      d[at + C_SUM_BRIER] += p * p;
      d[at + C_NONCLICK_HIST + b] += 1;
      if (implicit) d[at + C_IMPLICIT] += 1;
    }
  }

  lateClick(model: number, versionSlot: number, variant: number): void {
    this.q.data[cellOffset(model, versionSlot, variant) + C_LATE_CLICKS] += 1;
  }
}

/**
 * The reader's side (of this block and any other single-writer block with the same seqlock): a consistent copy into `out`. Returns false when the
 * writer kept the block busy for every attempt (the caller keeps its last copy).
 */
export function readQuality(q: { seq: Int32Array; data: Float64Array }, out: Float64Array, attempts = 64): boolean {
  for (let i = 0; i < attempts; i++) {
    const s1 = Atomics.load(q.seq, 0);
    if ((s1 & 1) !== 0) continue;
    out.set(q.data);
    if (Atomics.load(q.seq, 0) === s1) return true;
  }
  return false;
}
