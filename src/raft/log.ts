// The in-memory Raft log: entries with terms after a compacted prefix. Index 0 is the empty
// prefix with term 0; once a snapshot covers a prefix, the log holds entries from
// prevIndex + 1 on and remembers the term at prevIndex (the Raft paper's "last included" entry).
//
// The log also knows the configurations it holds (membership.ts): the newest one is the node's
// configuration in use, and a truncation that drops it brings back the one before.
//
// Invariant: terms never decrease along the log; prevIndex <= lastIndex; configuration entries
// are listed by ascending index, each inside (baseIndex, lastIndex].

import { Membership, sameMembers } from "./membership.js";
import { assert, broken, logIndex, term, type Entry, type LogIndex, type LogStart, type Member, type Term } from "./types.js";

interface ConfigAt {
  readonly index: LogIndex;
  readonly membership: Membership;
}

/** Rough bytes an entry takes on the wire; used to bound batches. */
export function entryBytes(entry: Entry): number {
  const c = entry.command;
  return c.kind === "set" ? 24 + c.key.length + c.value.length + c.clientId.length : 16;
}

export class RaftLog {
  private entries: Entry[];
  /**
   * Where the log starts (the compacted prefix's last index and term): two fields, not a LogStart
   * object, read by lastIndex, termAt and most other reads here, several times per step; the
   * objects came in two shapes (the frozen empty start, a compaction's), so each read checked both.
   */
  private startIndex: LogIndex = logIndex(0);
  private startTerm: Term = term(0);
  /** The configuration in force before the first configuration entry the log holds, as of baseIndex. */
  private base: ConfigAt;
  private readonly configs: ConfigAt[] = [];
  /**
   * The newest of configs, else base: kept by every change to either, since the core asks for the
   * configuration in use several times per step (reading configs[length - 1] of an empty list
   * looked up the property "-1", a slow path).
   */
  private inUse: ConfigAt;
  /**
   * The last batch handed out, entries [batchFrom, batchEnd): asked for the same range again (a
   * leader sends each new entry to every follower in turn), the same list is handed out, since
   * messages never change their lists. An append leaves the range's entries as they were;
   * truncation, compaction and reset clear it.
   */
  private lastBatch: Entry[] = [];
  private lastBatchFrom = 0;
  private lastBatchEnd = 0;

  constructor(start: LogStart, initial: readonly Entry[], base: Membership) {
    this.setStart(start);
    this.base = { index: start.prevIndex, membership: base };
    this.inUse = this.base;
    this.entries = [];
    this.append(initial);
  }

  /** The configuration in use: the newest in the log, committed or not. */
  get membership(): Membership {
    return this.inUse.membership;
  }

  /** The index of the configuration in use (its entry, or where the base configuration is known from). */
  get membershipIndex(): LogIndex {
    return this.inUse.index;
  }

  private configsChanged(): void {
    this.inUse = this.configs.length === 0 ? this.base : this.configs[this.configs.length - 1]!;
  }

  /** The configuration in force at `index` (the newest at or before it); never asked below the base. */
  membershipAt(index: LogIndex): Membership {
    for (let i = this.configs.length - 1; i >= 0; i--) if (this.configs[i]!.index <= index) return this.configs[i]!.membership;
    return this.base.membership;
  }

  /** A snapshot through `asOf` says which configuration was in force there: it replaces what the log knew up to it. */
  rebase(members: readonly Member[], asOf: LogIndex): void {
    const known = this.membershipAt(asOf);
    this.base = { index: asOf, membership: sameMembers(known.members, members) ? known : new Membership(members) };
    while (this.configs.length > 0 && this.configs[0]!.index <= asOf) this.configs.shift();
    this.configsChanged();
  }

  /** The last compacted index (0 when nothing was compacted): termAt knows it, entryAt does not. */
  get prevIndex(): LogIndex {
    return this.startIndex;
  }

  get prevTerm(): Term {
    return this.startTerm;
  }

  get lastIndex(): LogIndex {
    return logIndex(this.startIndex + this.entries.length);
  }

  get lastTerm(): Term {
    return this.entries.length === 0 ? this.startTerm : this.entries[this.entries.length - 1]!.term;
  }

  /** The term at `index`: 0 for index 0, undefined past the end or inside the compacted prefix. */
  termAt(index: LogIndex): Term | undefined {
    if (index === this.startIndex) return this.startTerm;
    if (index === 0) return term(0);
    return this.entries[index - this.startIndex - 1]?.term;
  }

  /** True when `index` lies in the compacted prefix (a snapshot holds it, the log does not). */
  isCompacted(index: LogIndex): boolean {
    return index < this.startIndex;
  }

  entryAt(index: LogIndex): Entry {
    const entry = index > this.startIndex ? this.entries[index - this.startIndex - 1] : undefined;
    if (entry === undefined) broken(`no log entry at index ${index} (the log holds ${this.startIndex + 1}..${this.lastIndex})`);
    return entry;
  }

  /** Entries from `from` on, at most `countMax` of them and about `bytesMax` bytes (at least one). */
  batch(from: LogIndex, countMax: number, bytesMax: number): readonly Entry[] {
    if (from <= this.startIndex) broken(`batch from ${from} inside the compacted prefix (through ${this.startIndex})`);
    // Measured first, then sliced: a list grown by push reserves room for 16 entries, and most
    // batches hold one.
    const first = from - this.startIndex - 1;
    const end = Math.min(this.entries.length, first + countMax);
    let k = first;
    for (let bytes = 0; k < end; k++) {
      bytes += entryBytes(this.entries[k]!);
      if (k > first && bytes > bytesMax) break;
    }
    const batchEnd = from + (k - first);
    if (from === this.lastBatchFrom && batchEnd === this.lastBatchEnd) return this.lastBatch;
    this.lastBatch = this.entries.slice(first, k);
    this.lastBatchFrom = from;
    this.lastBatchEnd = batchEnd;
    return this.lastBatch;
  }

  private setStart(start: LogStart): void {
    this.startIndex = start.prevIndex;
    this.startTerm = start.prevTerm;
  }

  private forgetBatch(): void {
    this.lastBatchFrom = this.lastBatchEnd = 0;
  }

  append(entries: readonly Entry[]): void {
    for (let k = 0; k < entries.length; k++) this.appendEntry(entries[k]!);
  }

  appendEntry(entry: Entry): void {
    if (entry.term < this.lastTerm) broken(`appending term ${entry.term} after term ${this.lastTerm}`);
    this.entries.push(entry);
    if (entry.command.kind === "config") {
      this.configs.push({ index: this.lastIndex, membership: new Membership(entry.command.members) });
      this.configsChanged();
    }
  }

  /** Drops the entries at `from` and after (and the configurations among them). */
  truncateFrom(from: LogIndex): void {
    assert(from > this.startIndex && from <= this.lastIndex, () => `truncate from ${from} outside ${this.startIndex + 1}..${this.lastIndex}`);
    this.entries.length = from - this.startIndex - 1;
    this.forgetBatch();
    while (this.configs.length > 0 && this.configs[this.configs.length - 1]!.index >= from) this.configs.pop();
    this.configsChanged();
  }

  /** Drops the entries through `start.prevIndex`, which must hold `start.prevTerm` or lie past the end. */
  compactTo(start: LogStart): void {
    assert(start.prevIndex >= this.startIndex, () => `compacting to ${start.prevIndex}, before the log's start ${this.startIndex}`);
    if (start.prevIndex >= this.lastIndex) {
      this.entries = [];
    } else {
      assert(this.termAt(start.prevIndex) === start.prevTerm, () => `compacting at ${start.prevIndex}: term ${this.termAt(start.prevIndex)} there, not ${start.prevTerm}`);
      this.entries = this.entries.slice(start.prevIndex - this.startIndex);
    }
    this.setStart(start);
    this.forgetBatch();
    while (this.configs.length > 0 && this.configs[0]!.index <= start.prevIndex) this.base = this.configs.shift()!;
    this.configsChanged();
  }

  /** Drops every entry: the log now starts after `start`, with `members` in force there (a snapshot the log does not hold). */
  resetTo(start: LogStart, members: readonly Member[]): void {
    const known = this.membership;
    this.entries = [];
    this.setStart(start);
    this.forgetBatch();
    this.configs.length = 0;
    this.base = { index: start.prevIndex, membership: sameMembers(known.members, members) ? known : new Membership(members) };
    this.configsChanged();
  }

  /** The first index of the run of `t` that ends at or before `atOrBefore` (never inside the compacted prefix). */
  firstIndexOfTerm(t: Term, atOrBefore: LogIndex): LogIndex {
    let i = atOrBefore;
    while (i > this.startIndex + 1 && this.termAt(logIndex(i - 1)) === t) i--;
    return logIndex(i);
  }

  /** The last index holding term `t`, or null when the log (after its compacted prefix) has none. */
  lastIndexOfTerm(t: Term, atOrBefore: LogIndex): LogIndex | null {
    for (let i = Math.min(atOrBefore, this.lastIndex); i > this.startIndex; i--) {
      const ti = this.entries[i - this.startIndex - 1]!.term;
      if (ti === t) return logIndex(i);
      if (ti < t) return null;
    }
    return null;
  }

  /** Raft's up-to-date rule: is a log ending at (lastIndex, lastTerm) at least as up to date as ours? */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    if (lastTerm !== this.lastTerm) return lastTerm > this.lastTerm;
    return lastIndex >= this.lastIndex;
  }
}
