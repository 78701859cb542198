// What a tick built from unchanged inputs: an idle server's windows are the
// same from one tick to the next, so their percentiles, buckets and quality
// figures are reused rather than recomputed (issue 17: an idle server under 2 %
// of a core). A slot remembers the key of what it was built from (up to three
// numbers: a data version, a window's base step time, the ring's newest step
// time) and the value; a different key means build it again. Values are
// shared between ticks, so they must never be mutated after they are stored.
export class TickMemo<T> {
  readonly #keys: Float64Array;
  readonly #values: (T | undefined)[];

  constructor(slots: number) {
    this.#keys = new Float64Array(slots * 3).fill(NaN);
    this.#values = new Array<T | undefined>(slots).fill(undefined);
  }

  /** The value stored under exactly this key, else undefined. */
  get(slot: number, a: number, b = 0, c = 0): T | undefined {
    const k = this.#keys, i = slot * 3;
    return k[i] === a && k[i + 1] === b && k[i + 2] === c ? this.#values[slot] : undefined;
  }

  set(slot: number, value: T, a: number, b = 0, c = 0): T {
    const k = this.#keys, i = slot * 3;
    k[i] = a; k[i + 1] = b; k[i + 2] = c;
    this.#values[slot] = value;
    return value;
  }
}
