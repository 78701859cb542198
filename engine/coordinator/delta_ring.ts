// A bounded ring of sparse per-step deltas over one flat cumulative vector
// (the label block, the feature counts): a window is "now minus the cumulative
// state at its base step", computed as (now − state at the newest step) + the
// deltas of every step after the base. A step holds only the cells it changed,
// so memory follows activity, not the vector's length (totals.ts explains why
// deltas rather than cumulative states).
export class DeltaRing {
  readonly #steps: { t: number; idx: Int32Array; val: Float64Array }[] = [];
  readonly #last: Float64Array;
  readonly #cap: number;
  readonly #stepMs: number;

  constructor(len: number, longestWindowMs: number, stepMs: number) {
    this.#last = new Float64Array(len);
    this.#stepMs = stepMs;
    this.#cap = Math.ceil(longestWindowMs / stepMs) + 2;
  }

  /** Records a step when one is due (or `force`). */
  maybePush(t: number, cur: Float64Array, force = false): void {
    const newest = this.#steps[this.#steps.length - 1];
    if (!force && newest && t - newest.t < this.#stepMs) return;
    const last = this.#last;
    let nz = 0;
    for (let i = 0; i < cur.length; i++) if (cur[i] !== last[i]) nz++;
    const idx = new Int32Array(nz), val = new Float64Array(nz);
    for (let i = 0, k = 0; i < cur.length; i++) {
      if (cur[i] !== last[i]) { idx[k] = i; val[k++] = cur[i] - last[i]; }
    }
    last.set(cur);
    this.#steps.push({ t, idx, val });
    if (this.#steps.length > this.#cap) this.#steps.shift();
  }

  /** Index of the window's base step: the newest at or before `now − windowMs`, else the oldest. */
  #baseFor(now: number, windowMs: number): number {
    const edge = now - windowMs;
    for (let i = this.#steps.length - 1; i >= 0; i--) if (this.#steps[i].t <= edge) return i;
    return 0;
  }

  /** Time of the window's base step and of the newest step (−1 when empty): the same pair over the same `cur` gives the same window. */
  windowKey(now: number, windowMs: number): [number, number] {
    const n = this.#steps.length;
    return n === 0 ? [-1, -1] : [this.#steps[this.#baseFor(now, windowMs)].t, this.#steps[n - 1].t];
  }

  /** What `cur` gained since `now − windowMs` (to within one step), into `out`. */
  windowOf(cur: Float64Array, now: number, windowMs: number, out: Float64Array): Float64Array {
    const base = this.#baseFor(now, windowMs);
    const last = this.#last;
    for (let i = 0; i < out.length; i++) out[i] = cur[i] - last[i];
    for (let s = base + 1; s < this.#steps.length; s++) {
      const { idx, val } = this.#steps[s];
      for (let k = 0; k < idx.length; k++) out[idx[k]] += val[k];
    }
    return out;
  }

  /** Bytes the steps' deltas hold (tests and diagnostics). */
  get deltaBytes(): number {
    let b = 0;
    for (const s of this.#steps) b += s.idx.byteLength + s.val.byteLength;
    return b;
  }
}
