// The writes a leader holds until their entries commit: log index -> the client request waiting.
//
// A leader appends at the end of its log and never truncates it while it leads, and it commits,
// and so releases, in index order: the waiting writes form a queue, added at the back with
// ascending indexes and released from the front. Two arrays and a start hold it, instead of a
// Map: a Map hashed three times per SET (set, get and delete), and shrank and grew its table as
// the few writes a leader holds came and went, which allocated each time.

import { broken, type LogIndex, type RequestId } from "./types.js";

/** Released slots at the front before the queue moves its writes down (see compact). */
const COMPACT_FROM = 1024;

export class PendingWrites {
  // The queue is [head, tail) of both arrays. Slots are reused, never shrunk: they hold numbers
  // only, so a slot left behind keeps nothing alive, and emptying an array with `length = 0`
  // made V8 free its storage (quorum.ts).
  private readonly indexes: LogIndex[] = [];
  private readonly requestIds: RequestId[] = [];
  private head = 0;
  private tail = 0;

  get size(): number {
    return this.tail - this.head;
  }

  /** Slots the arrays hold, waiting or released (bounded: see compact). */
  get capacity(): number {
    return this.indexes.length;
  }

  /** `index` is above every index already waiting (the leader's log only grows). */
  add(index: LogIndex, requestId: RequestId): void {
    if (this.tail > this.head && this.indexes[this.tail - 1]! >= index) broken(`a write waits at ${index}, not above the last waiting one`);
    this.indexes[this.tail] = index;
    this.requestIds[this.tail] = requestId;
    this.tail++;
  }

  /**
   * Entry `index` committed: the request that waited for it, no longer waiting; undefined when
   * none did. Commits come in index order, so no waiting write lies below `index`.
   */
  release(index: LogIndex): RequestId | undefined {
    if (this.head === this.tail) return undefined;
    const first = this.indexes[this.head]!;
    if (first > index) return undefined;
    if (first < index) broken(`the write waiting at ${first} was passed over by the commit of ${index}`);
    const requestId = this.requestIds[this.head]!;
    this.head++;
    if (this.head === this.tail) this.head = this.tail = 0;
    else if (this.head >= COMPACT_FROM && this.head * 2 >= this.tail) this.compact();
    return requestId;
  }

  /**
   * Moves the waiting writes to the front. A leader under steady load may never be without a
   * waiting write, so without this the released slots before `head` would pile up for as long as
   * it leads: the arrays stay at most twice the writes waiting (or COMPACT_FROM) long.
   */
  private compact(): void {
    this.indexes.copyWithin(0, this.head, this.tail);
    this.requestIds.copyWithin(0, this.head, this.tail);
    this.tail -= this.head;
    this.head = 0;
  }

  /** Every waiting request, in index order. */
  requests(): RequestId[] {
    return this.requestIds.slice(this.head, this.tail);
  }

  clear(): void {
    this.head = this.tail = 0;
  }
}
