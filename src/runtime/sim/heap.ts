// The simulator's event queue: a binary min-heap ordered by (time, sequence number).
//
// The sequence number is the order of insertion, so events at the same instant run in the order
// they were scheduled: ties never depend on the heap's shape, and a seed replays byte for byte.

export interface Timed {
  readonly atMs: number;
  readonly seq: number;
}

function before(a: Timed, b: Timed): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}

export class EventHeap<T extends Timed> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const a = this.items;
    let i = a.length;
    a.push(item);
    // Move the hole up until the parent is not after the item, then drop the item in.
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = a[parentIndex]!;
      if (!before(item, parent)) break;
      a[i] = parent;
      i = parentIndex;
    }
    a[i] = item;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    // Move the hole at the root down to where `last` fits.
    const n = a.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && before(a[r]!, a[l]!) ? r : l;
      if (!before(a[child]!, last)) break;
      a[i] = a[child]!;
      i = child;
    }
    a[i] = last;
    return top;
  }
}
