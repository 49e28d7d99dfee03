// The sequences one client session has applied at or above its bound (kv.ts), ascending, in an
// array: a Set of numbers, added to and deleted from on every SET, rebuilt its hash table every
// few of them, and a snapshot had to sort each one.
//
// Clients number their SETs in order, so an applied sequence nearly always goes at the end, and a
// raised bound drops a prefix: both amortized O(1) (the prefix is dropped by moving a start, and
// the array compacted once the dropped part outgrows the rest). A sequence out of order is put in
// its place by a walk from the end, over at most SESSION_WINDOW_MAX sequences (request.ts).

export class SequenceSet {
  private items: number[];
  /** The set is items[start..]: what lies before was dropped. */
  private start = 0;

  /** From any list (a snapshot's): sorted and without repeats here. */
  constructor(sequences: readonly number[] = []) {
    const sorted = [...sequences].sort((a, b) => a - b);
    this.items = sorted.filter((q, k) => k === 0 || q !== sorted[k - 1]);
  }

  get size(): number {
    return this.items.length - this.start;
  }

  has(q: number): boolean {
    const items = this.items;
    let lo = this.start;
    let hi = items.length - 1;
    if (hi < lo || q > items[hi]!) return false; // past the newest: a new SET, the common case
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = items[mid]!;
      if (v === q) return true;
      if (v < q) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  /** Adds q, which the set does not hold. */
  add(q: number): void {
    const items = this.items;
    let k = items.length;
    items.push(q);
    for (; k > this.start && items[k - 1]! > q; k--) items[k] = items[k - 1]!;
    items[k] = q;
  }

  /** Forgets every sequence below `bound`. */
  dropBelow(bound: number): void {
    const items = this.items;
    while (this.start < items.length && items[this.start]! < bound) this.start++;
    if (this.start >= 16 && this.start * 2 >= items.length) {
      items.splice(0, this.start);
      this.start = 0;
    }
  }

  /** The sequences, ascending, as a new list. */
  toArray(): number[] {
    return this.items.slice(this.start);
  }
}
