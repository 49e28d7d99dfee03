// The simulator's event queue: a binary min-heap ordered by (time, sequence number).
//
// The sequence number is the order of insertion, so events at the same instant run in the order
// they were scheduled: ties never depend on the heap's shape, and a seed replays byte for byte.
//
// The keys live in parallel arrays beside the items, so pushing an event allocates nothing but
// the event itself (no wrapper per entry), and comparisons read plain numbers.

export interface Timed {
  readonly atMs: number;
  readonly seq: number;
}

export class EventQueue<T> {
  private readonly atMs: number[] = [];
  private readonly seqs: number[] = [];
  private readonly items: (T | undefined)[] = [];
  /**
   * The entries are [0, n) of the arrays. The arrays never shrink (Array.prototype.pop trims
   * their backing stores, and the next pushes allocated new ones): a slot past n holds no item.
   */
  private n = 0;

  get size(): number {
    return this.n;
  }

  /** The time of the next item to pop; Infinity when empty. */
  get nextAtMs(): number {
    return this.n === 0 ? Infinity : this.atMs[0]!;
  }

  /** The sequence number of the next item to pop; Infinity when empty. */
  get nextSeq(): number {
    return this.n === 0 ? Infinity : this.seqs[0]!;
  }

  push(atMs: number, seq: number, item: T): void {
    let i = this.n++;
    // Move the hole up until the parent is not after the item, then drop the item in.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(atMs, seq, parent)) break;
      this.moveTo(i, parent);
      i = parent;
    }
    this.put(i, atMs, seq, item);
  }

  pop(): T | undefined {
    if (this.n === 0) return undefined;
    const top = this.items[0]!;
    const n = --this.n;
    const atMs = this.atMs[n]!;
    const seq = this.seqs[n]!;
    const last = this.items[n]!;
    this.items[n] = undefined; // the queue keeps no reference to what it handed out
    if (n > 0) this.sink(atMs, seq, last, n);
    return top;
  }

  /** Moves the hole at the root down to where (atMs, seq) fits, among n entries. */
  private sink(atMs: number, seq: number, item: T, n: number): void {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && this.earlier(r, l) ? r : l;
      if (this.before(atMs, seq, child)) break;
      this.moveTo(i, child);
      i = child;
    }
    this.put(i, atMs, seq, item);
  }

  /** (atMs, seq) comes before entry k. */
  private before(atMs: number, seq: number, k: number): boolean {
    const t = this.atMs[k]!;
    return atMs < t || (atMs === t && seq < this.seqs[k]!);
  }

  /** Entry a comes before entry b. */
  private earlier(a: number, b: number): boolean {
    return this.before(this.atMs[a]!, this.seqs[a]!, b);
  }

  private moveTo(hole: number, from: number): void {
    this.put(hole, this.atMs[from]!, this.seqs[from]!, this.items[from]!);
  }

  private put(k: number, atMs: number, seq: number, item: T): void {
    this.atMs[k] = atMs;
    this.seqs[k] = seq;
    this.items[k] = item;
  }
}

export type Lane = "fast" | "slow";

/**
 * Events in two lanes that share one sequence: pop takes whichever lane's head comes first by
 * (time, sequence), so the order is exactly that of a single queue. Entries that wait long
 * (client timers, faults, checks) go to the slow lane, which keeps the fast lane, where most
 * events come and go, shallow.
 */
export class TwoLaneQueue<T> {
  private readonly fast = new EventQueue<T>();
  private readonly slow = new EventQueue<T>();
  private seq = 0;
  /** The time of the item popUntil returned last. */
  poppedAtMs = 0;

  get size(): number {
    return this.fast.size + this.slow.size;
  }

  /** The time of the next item to pop; Infinity when empty. */
  get nextAtMs(): number {
    return Math.min(this.fast.nextAtMs, this.slow.nextAtMs);
  }

  push(lane: Lane, atMs: number, item: T): void {
    (lane === "fast" ? this.fast : this.slow).push(atMs, this.seq++, item);
  }

  pop(): T | undefined {
    return this.head().pop();
  }

  /**
   * The next item if its time is at most limitMs (its time is then in `poppedAtMs`), else
   * undefined and nothing is taken. One choice of lane per event, where nextAtMs then pop chose twice.
   */
  popUntil(limitMs: number): T | undefined {
    const f = this.fast.nextAtMs;
    const s = this.slow.nextAtMs;
    const lane = s < f || (s === f && this.slow.nextSeq < this.fast.nextSeq) ? this.slow : this.fast;
    const atMs = lane === this.slow ? s : f;
    if (atMs > limitMs) return undefined; // also when both lanes are empty (Infinity)
    this.poppedAtMs = atMs;
    return lane.pop();
  }

  private head(): EventQueue<T> {
    const f = this.fast.nextAtMs;
    const s = this.slow.nextAtMs;
    return s < f || (s === f && this.slow.nextSeq < this.fast.nextSeq) ? this.slow : this.fast;
  }
}

/** The queue for items that carry their own time and sequence number. */
export class EventHeap<T extends Timed> {
  private readonly queue = new EventQueue<T>();

  get size(): number {
    return this.queue.size;
  }

  push(item: T): void {
    this.queue.push(item.atMs, item.seq, item);
  }

  pop(): T | undefined {
    return this.queue.pop();
  }
}
