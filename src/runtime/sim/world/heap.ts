// The simulator's event queue: a binary min-heap ordered by (time, sequence number).
//
// The sequence number is the order of insertion, so events at the same instant run in the order
// they were scheduled: ties never depend on the heap's shape, and a seed replays byte for byte.
//
// The keys live in parallel arrays beside the items, so pushing an event allocates nothing but
// the event itself (no wrapper per entry), and comparisons read plain numbers; the items stay in
// slots of their own while the heap moves numbers (EventQueue says why).

/**
 * "Never": the time of an empty queue's next item. A module constant, not the global Infinity: a
 * getter that reads the global in a branch not yet taken when V8 optimizes its caller (the timer
 * heap is never empty in a busy run) compiles to a generic lookup of unknown type, and the time it
 * returns on the taken branch was then boxed as a heap number, 16 bytes allocated per event.
 * clock.ts and node-driver.ts declare their own on purpose: imported from here, the constant is a
 * read of another module's binding, and the simulator allocated 6-8% more (sampled: 502 and 514
 * MB over two rounds against 475).
 */
const NEVER_MS = Infinity;

export interface Timed {
  readonly atMs: number;
  readonly seq: number;
}

export class EventQueue<T> {
  // The heap holds numbers only: each entry's time, sequence and the slot of `items` its item
  // sits in. An item is written once, into its slot, when pushed; the heap's moves then copy
  // numbers. The queue's arrays are old (long-lived) and the items young (just made): every
  // store of one into the other runs V8's write barrier out of line, and the heap moved items
  // two to four times per event (at a push and at a pop), with a barrier at each move. Counted
  // single-threaded over 7 rounds of the bench's seeds: the barrier's 794M instructions fell to
  // 553M, the whole run's 22,851M to 22,731M.
  private readonly atMs: number[] = [];
  private readonly seqs: number[] = [];
  private readonly slotAt: number[] = [];
  /** Items by slot; a free slot holds undefined (the queue keeps no reference to what it handed out). */
  private readonly items: (T | undefined)[] = [];
  /** The free slots are freeSlots[0, freeCount); `items` grows only when none is free. */
  private readonly freeSlots: number[] = [];
  private freeCount = 0;
  /**
   * The entries are [0, n) of the heap's arrays. The arrays never shrink (Array.prototype.pop
   * trims their backing stores, and the next pushes allocated new ones): a place past n is unused.
   */
  private n = 0;

  get size(): number {
    return this.n;
  }

  /** The time of the next item to pop; Infinity when empty. */
  get nextAtMs(): number {
    return this.n === 0 ? NEVER_MS : this.atMs[0]!;
  }

  /** The sequence number of the next item to pop; Infinity when empty. */
  get nextSeq(): number {
    return this.n === 0 ? NEVER_MS : this.seqs[0]!;
  }

  push(atMs: number, seq: number, item: T): void {
    const slot = this.freeCount > 0 ? this.freeSlots[--this.freeCount]! : this.items.length;
    this.items[slot] = item;
    let i = this.n++;
    // Move the hole up until the parent is not after the item, then drop the item in.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(atMs, seq, parent)) break;
      this.moveTo(i, parent);
      i = parent;
    }
    this.put(i, atMs, seq, slot);
  }

  pop(): T | undefined {
    if (this.n === 0) return undefined;
    const topSlot = this.slotAt[0]!;
    const top = this.items[topSlot]!;
    this.items[topSlot] = undefined;
    this.freeSlots[this.freeCount++] = topSlot;
    const n = --this.n;
    if (n > 0) this.sink(this.atMs[n]!, this.seqs[n]!, this.slotAt[n]!, n);
    return top;
  }

  /** Moves the hole at the root down to where (atMs, seq) fits, among n entries. */
  private sink(atMs: number, seq: number, slot: number, n: number): void {
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
    this.put(i, atMs, seq, slot);
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
    this.put(hole, this.atMs[from]!, this.seqs[from]!, this.slotAt[from]!);
  }

  private put(k: number, atMs: number, seq: number, slot: number): void {
    this.atMs[k] = atMs;
    this.seqs[k] = seq;
    this.slotAt[k] = slot;
  }
}

/**
 * A timer that is armed again and again, of which only the latest arming counts (a client's
 * wake-up): it holds one place in a TimerHeap, moved when it is re-armed, so an armed-over timer
 * leaves no stale event behind to pop and ignore.
 */
export class TimerSlot<T> {
  atMs = NEVER_MS;
  seq = 0;
  /** Its index in the heap; -1 while not armed. */
  pos = -1;

  constructor(readonly item: T) {}
}

/** A min-heap of timer slots by (time, sequence), each slot at most once. */
export class TimerHeap<T> {
  private readonly slots: TimerSlot<T>[] = [];

  get size(): number {
    return this.slots.length;
  }

  get nextAtMs(): number {
    return this.slots.length === 0 ? NEVER_MS : this.slots[0]!.atMs;
  }

  get nextSeq(): number {
    return this.slots.length === 0 ? NEVER_MS : this.slots[0]!.seq;
  }

  /** Arms the slot for (atMs, seq), replacing its earlier arming if it has one. */
  arm(slot: TimerSlot<T>, atMs: number, seq: number): void {
    if (slot.pos < 0) {
      slot.pos = this.slots.length;
      this.slots.push(slot);
    }
    slot.atMs = atMs;
    slot.seq = seq;
    this.up(slot);
    this.down(slot);
  }

  /** Takes the earliest slot out (the caller checked that there is one). */
  pop(): TimerSlot<T> {
    const top = this.slots[0]!;
    const last = this.slots.pop()!;
    top.pos = -1;
    if (last !== top) {
      last.pos = 0;
      this.slots[0] = last;
      this.down(last);
    }
    return top;
  }

  private up(slot: TimerSlot<T>): void {
    while (slot.pos > 0) {
      const parent = this.slots[(slot.pos - 1) >> 1]!;
      if (!earlierSlot(slot, parent)) return;
      this.swap(slot, parent);
    }
  }

  private down(slot: TimerSlot<T>): void {
    for (;;) {
      const l = 2 * slot.pos + 1;
      if (l >= this.slots.length) return;
      const r = l + 1;
      const child = r < this.slots.length && earlierSlot(this.slots[r]!, this.slots[l]!) ? this.slots[r]! : this.slots[l]!;
      if (!earlierSlot(child, slot)) return;
      this.swap(slot, child);
    }
  }

  private swap(a: TimerSlot<T>, b: TimerSlot<T>): void {
    const pa = a.pos;
    a.pos = b.pos;
    b.pos = pa;
    this.slots[a.pos] = a;
    this.slots[b.pos] = b;
  }
}

function earlierSlot(a: TimerSlot<unknown>, b: TimerSlot<unknown>): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}

export type Lane = "fast" | "slow";

/**
 * Events in two lanes and a heap of re-armable timers that share one sequence: pop takes
 * whichever head comes first by (time, sequence), so the order is exactly that of a single queue.
 * Entries that wait long go to the slow lane, which keeps the fast lane, where most events come
 * and go, shallow: those pushed to it (faults, checks) and any due more than `horizonMs` after
 * the time popped last (ghost copies of messages, long delays, election timers, which made the
 * fast lane hundreds deep in some runs); client wake-ups are timer slots, re-armed in place.
 */
export class TwoLaneQueue<T> {
  private readonly fast = new EventQueue<T>();
  private readonly slow = new EventQueue<T>();
  private readonly timers = new TimerHeap<T>();
  private seq = 0;
  /** The time of the item popUntil returned last. */
  poppedAtMs = 0;

  constructor(private readonly horizonMs = 50) {}

  get size(): number {
    return this.fast.size + this.slow.size + this.timers.size;
  }

  push(lane: Lane, atMs: number, item: T): void {
    const slow = lane === "slow" || atMs - this.poppedAtMs > this.horizonMs;
    (slow ? this.slow : this.fast).push(atMs, this.seq++, item);
  }

  /** Arms the slot at atMs, in the place a push now would take; an earlier arming of it is gone. */
  arm(slot: TimerSlot<T>, atMs: number): void {
    this.timers.arm(slot, atMs, this.seq++);
  }

  /**
   * The next item if its time is at most limitMs (its time is then in `poppedAtMs`), else
   * undefined and nothing is taken. One choice of lane per event.
   */
  popUntil(limitMs: number): T | undefined {
    const f = this.fast.nextAtMs;
    const s = this.slow.nextAtMs;
    const slowFirst = s < f || (s === f && this.slow.nextSeq < this.fast.nextSeq);
    const atMs = slowFirst ? s : f;
    const t = this.timers.nextAtMs;
    if (t < atMs || (t === atMs && t !== NEVER_MS && this.timers.nextSeq < (slowFirst ? this.slow.nextSeq : this.fast.nextSeq))) {
      if (t > limitMs) return undefined;
      this.poppedAtMs = t;
      return this.timers.pop().item;
    }
    if (atMs > limitMs) return undefined; // also when everything is empty (Infinity)
    this.poppedAtMs = atMs;
    return (slowFirst ? this.slow : this.fast).pop();
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
