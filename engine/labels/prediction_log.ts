// Recent predictions, held for their label window so click feedback can be
// joined to them: request id → model, A/B variant, predicted CTR, time.
//
// Fixed memory from the start: a ring of `capacity` slots in typed arrays
// (oldest overwritten first) and an open-addressing hash table (linear
// probing, load ≤ 0.5, backward-shift deletion) from the id's 64-bit hash to
// its slot. Nothing grows with traffic or with feedback, so a flood of
// unknown ids costs a hash and a probe each. Recording is a hash of the id
// plus a few typed-array stores; the slot it overwrites leaves the table in
// the same step. A sweep (timer, and every feedback call) walks the ring in
// time order and ends windows: an impression with no click by then counts as
// a non-click (unless implicit non-clicks are off), and a later click is late.
//
// Ids are matched by two independent 32-bit hashes of the string (FNV-1a and
// a multiply-xorshift), so the ring never keeps a string; two ids colliding
// on all 64 bits is the one way a label could land on the wrong prediction.
// Every accepted label goes into the shared block (quality_layout.ts) the
// coordinator computes from.
import {
  H, QualityWriter, VARIANT_BY_VALUE, VERSION_SLOTS, type QualityBuffers,
} from './quality_layout.js';

const EMPTY = 0;
const PENDING = 1;
const LABELLED = 2;
const ENDED = 3; // window over: counted as a non-click, or dropped

export interface PredictionLogOptions {
  /** Slots in the ring: predictions held at once. Should be ≥ peak predictions/s × window. */
  capacity: number;
  windowMs: number;
  /** An impression with no click by the end of its window counts as a non-click. */
  implicitNonclicks: boolean;
  /** Sweep timer period; default min(1000, windowMs / 10). 0: no timer (tests sweep by hand). */
  sweepEveryMs?: number;
}

/** Outcome of one feedback item, for the response body. */
export type FeedbackOutcome = 'accepted' | 'unknown' | 'duplicate' | 'expired' | 'unattributed';

let h1 = 0;
let h2 = 0;
/** Sets h1/h2 for `id` (module slots: no allocation per call). */
function hashId(id: string): void {
  let a = 0x811c9dc5;
  let b = 0x9747b28c ^ id.length;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  a ^= a >>> 16;
  a = Math.imul(a, 0x85ebca6b);
  a ^= a >>> 13;
  b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35);
  b ^= b >>> 16;
  h1 = a >>> 0;
  h2 = b >>> 0;
}

const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(2, n)));

/** Bytes per tracked prediction: ring (4+4+4+8+2+1+1) + hash table (2 × 4, load ≤ 0.5, rounded up to a power of two). */
export const BYTES_PER_SLOT_RING = 24;

export class PredictionLog {
  readonly capacity: number;
  readonly windowMs: number;
  readonly implicitNonclicks: boolean;
  private readonly k1: Uint32Array;
  private readonly k2: Uint32Array;
  private readonly ctr: Float32Array;
  private readonly at: Float64Array;
  private readonly model: Uint16Array;
  /** Per held prediction: its A/B variant (low nibble) and its model's version slot when it was made (high nibble). */
  private readonly variant: Uint8Array;
  /** Per model: the version slot its predictions are recorded under now. */
  private readonly servingSlot: Uint8Array;
  private readonly state: Uint8Array;
  /** slot + 1, 0 = empty. */
  private readonly table: Int32Array;
  private readonly mask: number;
  /** Predictions ever recorded; slot = written % capacity. */
  private written = 0;
  /** Predictions whose window the sweep has looked at. */
  private swept = 0;
  private readonly writer: QualityWriter;
  /** Version names per model; index = version slot (slot 0: the loaded version). */
  readonly versions: string[][];
  private readonly modelIndex: Map<string, number>;
  private readonly timer: NodeJS.Timeout | null;
  /** Called when model/model_version feedback names a new version (slot ≥ 1). */
  onNewVersion: ((model: number, slot: number, version: string) => void) | null = null;

  constructor(q: QualityBuffers, loadedVersions: string[], opts: PredictionLogOptions) {
    if (!Number.isInteger(opts.capacity) || opts.capacity < 1) throw new RangeError('prediction log: capacity must be a positive integer');
    if (q.models.length > 0xffff) throw new RangeError('prediction log: too many models');
    const c = opts.capacity;
    this.capacity = c;
    this.windowMs = opts.windowMs;
    this.implicitNonclicks = opts.implicitNonclicks;
    this.k1 = new Uint32Array(c);
    this.k2 = new Uint32Array(c);
    this.ctr = new Float32Array(c);
    this.at = new Float64Array(c);
    this.model = new Uint16Array(c);
    this.variant = new Uint8Array(c);
    this.servingSlot = new Uint8Array(q.models.length);
    this.state = new Uint8Array(c);
    const t = nextPow2(2 * c);
    this.table = new Int32Array(t);
    this.mask = t - 1;
    this.writer = new QualityWriter(q);
    this.versions = loadedVersions.map((v) => [v]);
    this.modelIndex = new Map(q.models.map((m, i) => [m, i]));
    // Make every page resident now: the ring's size is the memory an operator
    // sizes a container for, so it shows at start rather than creeping up as
    // the ring first wraps (which also read as a leak in the fault soak).
    for (const a of [this.k1, this.k2, this.ctr, this.at, this.model, this.variant, this.state, this.table]) a.fill(0);
    const every = opts.sweepEveryMs ?? Math.min(1000, Math.max(10, opts.windowMs / 10));
    this.timer = every > 0 ? setInterval(() => this.sweep(), every) : null;
    this.timer?.unref();
  }

  /** Bytes the ring and the table hold: fixed at construction. */
  get bytes(): number {
    return this.k1.byteLength + this.k2.byteLength + this.ctr.byteLength + this.at.byteLength + this.model.byteLength
      + this.variant.byteLength + this.state.byteLength + this.table.byteLength;
  }

  /** Predictions currently held and waiting for a label. */
  get held(): number {
    return Math.min(this.written, this.capacity);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * Hot reload: predictions of `model` recorded from now on belong to
   * `version` (a version slot of its own, so quality is per version). When
   * every slot is taken, they keep the current slot.
   */
  setServingVersion(model: number, version: string): void {
    const names = this.versions[model];
    if (names === undefined) return;
    let slot = names.indexOf(version);
    if (slot < 0 && names.length < VERSION_SLOTS) {
      slot = names.push(version) - 1;
      this.onNewVersion?.(model, slot, version);
    }
    if (slot >= 0) this.servingSlot[model] = slot;
  }

  /** Hot path: one prediction. `now` is performance.now(). */
  record(id: string, model: number, variant: number, ctr: number, now: number): void {
    const s = this.written % this.capacity;
    if (this.state[s] !== EMPTY) this.evict(s);
    hashId(id);
    this.k1[s] = h1;
    this.k2[s] = h2;
    this.ctr[s] = ctr;
    this.at[s] = now;
    this.model[s] = model;
    // The low nibble is the variant, the high one the version slot the model serves now (a hot reload changes it): 32 bytes per prediction stay.
    this.variant[s] = variant | (this.servingSlot[model] << 4);
    this.state[s] = PENDING;
    const table = this.table, mask = this.mask;
    let i = h1 & mask;
    while (table[i] !== 0) i = (i + 1) & mask;
    table[i] = s + 1;
    this.written++;
    this.writer.count(H.recorded);
  }

  /** The slot being overwritten leaves the table; a still-open impression is counted as evicted. */
  private evict(s: number): void {
    if (this.state[s] === PENDING) {
      this.writer.count(H.evicted_unlabelled);
    }
    this.state[s] = EMPTY;
    const table = this.table, mask = this.mask;
    let i = this.k1[s] & mask;
    while (table[i] !== s + 1) {
      if (table[i] === 0) return; // cannot happen: every held slot is in the table
      i = (i + 1) & mask;
    }
    // Backward-shift deletion: pull later entries of the probe run into the hole.
    let hole = i;
    let j = (i + 1) & mask;
    while (table[j] !== 0) {
      const home = this.k1[table[j] - 1] & mask;
      // Move j into the hole when its home is not in (hole, j] cyclically.
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        table[hole] = table[j];
        hole = j;
      }
      j = (j + 1) & mask;
    }
    table[hole] = 0;
  }

  private find(id: string): number {
    hashId(id);
    const table = this.table, mask = this.mask;
    for (let i = h1 & mask; table[i] !== 0; i = (i + 1) & mask) {
      const s = table[i] - 1;
      if (this.k1[s] === h1 && this.k2[s] === h2) return s;
    }
    return -1;
  }

  /** Ends the window of every impression older than windowMs; `now` is performance.now(). */
  sweep(now = performance.now()): void {
    const cutoff = now - this.windowMs;
    const c = this.capacity;
    if (this.swept < this.written - c) this.swept = this.written - c;
    if (this.swept === this.written || this.at[this.swept % c] > cutoff) return;
    const w = this.writer;
    w.begin();
    while (this.swept < this.written) {
      const s = this.swept % c;
      if (this.at[s] > cutoff) break;
      if (this.state[s] === PENDING) this.endWindow(s);
      this.swept++;
    }
    w.end();
  }

  private endWindow(s: number): void {
    this.state[s] = ENDED;
    if (this.implicitNonclicks) {
      this.writer.count(H.implicit_nonclicks);
      this.writer.label(this.model[s], this.variant[s] >> 4, this.variant[s] & 15, this.ctr[s], false, true);
    } else {
      this.writer.count(H.expired_unlabelled);
    }
  }

  /** Feedback by request id (or a batch row's id). */
  feedback(id: string, clicked: boolean, now = performance.now()): FeedbackOutcome {
    const w = this.writer;
    w.begin();
    w.count(H.received);
    const s = this.find(id);
    let out: FeedbackOutcome;
    if (s < 0) {
      w.count(H.unknown);
      out = 'unknown';
    } else {
      if (this.state[s] === PENDING && now - this.at[s] > this.windowMs) this.endWindow(s);
      const st = this.state[s];
      if (st === PENDING) {
        this.state[s] = LABELLED;
        w.count(H.joined);
        w.label(this.model[s], this.variant[s] >> 4, this.variant[s] & 15, this.ctr[s], clicked, false);
        out = 'accepted';
      } else if (st === LABELLED) {
        w.count(H.duplicate);
        out = 'duplicate';
      } else {
        w.count(H.expired);
        if (clicked) {
          w.count(H.late_clicks);
          w.lateClick(this.model[s], this.variant[s] >> 4, this.variant[s] & 15);
        }
        out = 'expired';
      }
    }
    w.end();
    return out;
  }

  /** Feedback that carries the prediction itself: {model, model_version, ctr, clicked}. */
  feedbackByValue(modelName: string, version: string, ctr: number, clicked: boolean): FeedbackOutcome {
    const w = this.writer;
    const m = this.modelIndex.get(modelName);
    let slot = -1;
    if (m !== undefined) {
      const names = this.versions[m];
      slot = names.indexOf(version);
      if (slot < 0 && names.length < VERSION_SLOTS) {
        slot = names.push(version) - 1;
        this.onNewVersion?.(m, slot, version);
      }
    }
    w.begin();
    w.count(H.received);
    let out: FeedbackOutcome;
    if (m === undefined || slot < 0) {
      w.count(H.unattributed);
      out = 'unattributed';
    } else {
      w.count(H.by_value);
      w.label(m, slot, VARIANT_BY_VALUE, ctr, clicked, false);
      out = 'accepted';
    }
    w.end();
    return out;
  }
}

/** README figure: bytes per tracked prediction at a given capacity. */
export function bytesPerPrediction(capacity: number): number {
  return (BYTES_PER_SLOT_RING * capacity + 4 * nextPow2(2 * capacity)) / capacity;
}
