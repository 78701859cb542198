// A bounded FIFO of batches waiting for MLflow. When full, the oldest batch
// goes (recent history matters most after an outage) and is counted.

export class BoundedQueue<T> {
  private items: T[] = [];
  private head = 0;
  dropped = 0;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`queue limit must be a positive integer, got ${limit}`);
  }

  get length(): number { return this.items.length - this.head; }

  /** Adds at the tail; returns the item pushed out to make room, if any. */
  push(item: T): T | undefined {
    let evicted: T | undefined;
    if (this.length >= this.limit) { evicted = this.shift(); this.dropped++; }
    this.items.push(item);
    return evicted;
  }

  peek(): T | undefined { return this.length > 0 ? this.items[this.head] : undefined; }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.items[this.head];
    this.head++;
    // Compact now and then so a long-lived queue does not grow its backing array.
    if (this.head > 64 && this.head * 2 > this.items.length) { this.items = this.items.slice(this.head); this.head = 0; }
    return item;
  }

  /** Removes everything, returning how many items there were. */
  clear(): number {
    const n = this.length;
    this.items = []; this.head = 0;
    return n;
  }
}
