// The coordinator's view of model quality: every tick, a consistent copy of
// the shared label block (engine/labels/quality_layout.ts), a ring of sparse
// per-step deltas for the windows (as totals.ts does for telemetry), and per
// model the figures overall, per version and per A/B variant, lifetime and per
// window; plus the calibration health check. Fixed memory: the block, one
// scratch vector per window and the ring's deltas (cells a step touched).
import {
  CELL_LEN, FEEDBACK_COUNTERS, H, HEADER_LEN, VARIANTS, VERSION_SLOTS, BUCKET_SCHEME, cellOffset, readQuality,
  type FeedbackCounter, type QualityBuffers,
} from '../labels/quality_layout.js';
import { DeltaRing } from './delta_ring.js';
import { TickMemo } from './tick_memo.js';
import { qualityOf, type QualityBlock } from './quality_metrics.js';

export interface LabelOptions {
  buffers: QualityBuffers;
  windowMs: number;
  capacity: number;
  /** Bytes the main thread's ring and hash table hold. */
  ringBytes: number;
  implicitNonclicks: boolean;
  /** Version names per model, slot order (slot 0: the loaded version). */
  versions: string[][];
}

export interface CalibrationConfig {
  /** Labels a version needs in the window before it is judged. */
  minLabels: number;
  /** Flag when observed/predicted is off by more than this factor − 1 either way (0.25: below 0.8 or above 1.25) and the 95 % interval excludes 1. */
  tolerance: number;
  /** Window the check looks at. */
  window: string;
}

export interface QualityGroup extends QualityBlock {
  by_version: Record<string, QualityBlock>;
  by_variant: Record<(typeof VARIANTS)[number], QualityBlock>;
}

export interface ModelQuality {
  lifetime: QualityGroup;
  windows: Record<string, QualityGroup>;
}

export interface FeedbackStats {
  counters: Record<FeedbackCounter, number>;
  label_window_s: number;
  implicit_nonclicks: boolean;
  capacity: number;
  ring_bytes: number;
  shared_bytes: number;
  bucket_scheme: string;
}

export class QualityTracker {
  readonly #q: QualityBuffers;
  readonly #opts: LabelOptions;
  readonly #cur: Float64Array;
  readonly #scratch: Float64Array;
  readonly #all: Float64Array;
  readonly #byVersion: Float64Array[];
  readonly #byVariant: Float64Array[];
  readonly #ring: DeltaRing;
  /** Copies abandoned because the writer was busy every attempt. */
  busyReads = 0;
  /** The block's sequence number when the last copy began (−1: none yet); unchanged means nothing was written since. */
  #copiedSeq = -1;
  /** Bumped by every new copy of the block. */
  #version = 0;
  /** Per model: lifetime and each window's figures, reused while their inputs stand (a server without feedback). Sized at the first model() call. */
  #memo: TickMemo<QualityGroup> | null = null;

  constructor(opts: LabelOptions, longestWindowMs: number, stepMs: number, now: number) {
    this.#opts = { ...opts, versions: opts.versions.map((v) => [...v]) };
    this.#q = opts.buffers;
    const len = this.#q.data.length;
    this.#cur = new Float64Array(len);
    this.#scratch = new Float64Array(len);
    this.#all = new Float64Array(CELL_LEN);
    this.#byVersion = Array.from({ length: VERSION_SLOTS }, () => new Float64Array(CELL_LEN));
    this.#byVariant = VARIANTS.map(() => new Float64Array(CELL_LEN));
    this.#ring = new DeltaRing(len, longestWindowMs, stepMs);
    this.read();
    this.#ring.maybePush(now, this.#cur, true);
  }

  setVersion(model: number, slot: number, version: string): void {
    const names = this.#opts.versions[model];
    if (names && slot < VERSION_SLOTS) names[slot] = version;
    // The figures are keyed by version name: build them again.
    this.#version++;
  }

  get versions(): string[][] {
    return this.#opts.versions.map((v) => [...v]);
  }

  read(): void {
    const s = Atomics.load(this.#q.seq, 0);
    // Even and as at the last copy: nothing written since, the copy stands.
    if (s === this.#copiedSeq && (s & 1) === 0) return;
    if (!readQuality(this.#q, this.#cur)) {
      this.busyReads++;
      return;
    }
    // The copy was taken at s or later: a later tick that still sees s finds nothing new.
    this.#copiedSeq = s;
    this.#version++;
  }

  /** Read the block and record a ring step when one is due. */
  tick(now: number): void {
    this.read();
    this.#ring.maybePush(now, this.#cur);
  }

  #window(now: number, windowMs: number): Float64Array {
    return this.#ring.windowOf(this.#cur, now, windowMs, this.#scratch);
  }

  /**
   * Model m's cells summed three ways in one pass: all of them, per version
   * slot and per variant (into #all, #byVersion, #byVariant). The sums add in
   * the same order as one sum per group would, so the figures are the same;
   * zero cells are skipped (an idle or unlabelled model costs one read).
   */
  #sumAll(v: Float64Array, m: number): void {
    const all = this.#all, byVersion = this.#byVersion, byVariant = this.#byVariant;
    all.fill(0);
    for (const x of byVersion) x.fill(0);
    for (const x of byVariant) x.fill(0);
    for (let s = 0; s < VERSION_SLOTS; s++) {
      const ver = byVersion[s];
      for (let k = 0; k < VARIANTS.length; k++) {
        const vari = byVariant[k];
        const at = cellOffset(m, s, k);
        for (let i = 0; i < CELL_LEN; i++) {
          const c = v[at + i];
          if (c !== 0) {
            all[i] += c;
            ver[i] += c;
            vari[i] += c;
          }
        }
      }
    }
  }

  #group(v: Float64Array, m: number): QualityGroup {
    this.#sumAll(v, m);
    const all = qualityOf(this.#all, 0);
    const names = this.#opts.versions[m] ?? [];
    const by_version: Record<string, QualityBlock> = {};
    names.forEach((name, s) => { if (s < VERSION_SLOTS) by_version[name] = qualityOf(this.#byVersion[s], 0); });
    const by_variant = {} as QualityGroup['by_variant'];
    VARIANTS.forEach((name, k) => { by_variant[name] = qualityOf(this.#byVariant[k], 0); });
    return { ...all, by_version, by_variant };
  }

  /** Model m's figures; windows named as windowNames, lengths windowsMs. */
  model(m: number, now: number, windowsMs: number[], windowNames: string[]): ModelQuality {
    const per = windowsMs.length + 1;
    const memo = (this.#memo ??= new TickMemo(this.#q.models.length * per));
    const v = this.#version;
    const lifetime = memo.get(m * per, v) ?? memo.set(m * per, this.#group(this.#cur, m), v);
    const windows: Record<string, QualityGroup> = {};
    windowsMs.forEach((ms, i) => {
      // A window over the same copy from the same base and newest step is the same window.
      const [baseT, newestT] = this.#ring.windowKey(now, ms);
      const slot = m * per + i + 1;
      windows[windowNames[i]] = memo.get(slot, v, baseT, newestT) ?? memo.set(slot, this.#group(this.#window(now, ms), m), v, baseT, newestT);
    });
    return { lifetime, windows };
  }

  feedback(): FeedbackStats {
    const counters = {} as Record<FeedbackCounter, number>;
    for (const k of FEEDBACK_COUNTERS) counters[k] = this.#cur[H[k]];
    return {
      counters,
      label_window_s: this.#opts.windowMs / 1000,
      implicit_nonclicks: this.#opts.implicitNonclicks,
      capacity: this.#opts.capacity,
      ring_bytes: this.#opts.ringBytes,
      shared_bytes: this.#q.data.byteLength,
      bucket_scheme: BUCKET_SCHEME,
    };
  }

  /** Bytes the ring's deltas hold (tests). */
  get deltaBytes(): number {
    return this.#ring.deltaBytes;
  }
}

/** Header length re-exported for the layout test. */
export const QUALITY_HEADER_LEN = HEADER_LEN;

