// The in-memory Raft log: entries with terms, index 1 first, index 0 the empty prefix.
//
// Invariant: terms never decrease along the log.

import { assert, logIndex, term, type Entry, type LogIndex, type Term } from "./types.js";

/** Rough bytes an entry takes on the wire; used to bound batches. */
export function entryBytes(entry: Entry): number {
  const c = entry.command;
  return c.kind === "set" ? 24 + c.key.length + c.value.length + c.clientId.length : 16;
}

export class RaftLog {
  private readonly entries: Entry[];

  constructor(initial: readonly Entry[]) {
    this.entries = [...initial];
    for (let i = 1; i < this.entries.length; i++) {
      assert(this.entries[i - 1]!.term <= this.entries[i]!.term, () => `log terms decrease at index ${i + 1}`);
    }
  }

  get lastIndex(): LogIndex {
    return logIndex(this.entries.length);
  }

  get lastTerm(): Term {
    return this.termAt(this.lastIndex) ?? term(0);
  }

  /** The term at `index`: 0 for index 0, undefined past the end. */
  termAt(index: LogIndex): Term | undefined {
    if (index === 0) return term(0);
    return this.entries[index - 1]?.term;
  }

  entryAt(index: LogIndex): Entry {
    const entry = this.entries[index - 1];
    assert(entry !== undefined, () => `no log entry at index ${index} (last is ${this.lastIndex})`);
    return entry;
  }

  /** Entries from `from` on, at most `countMax` of them and about `bytesMax` bytes (at least one). */
  batch(from: LogIndex, countMax: number, bytesMax: number): Entry[] {
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = from; i <= this.lastIndex && out.length < countMax; i++) {
      const entry = this.entries[i - 1]!;
      bytes += entryBytes(entry);
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(entry);
    }
    return out;
  }

  append(entries: readonly Entry[]): void {
    for (const entry of entries) {
      assert(entry.term >= this.lastTerm, () => `appending term ${entry.term} after term ${this.lastTerm}`);
      this.entries.push(entry);
    }
  }

  /** Drops the entries at `from` and after. */
  truncateFrom(from: LogIndex): void {
    assert(from >= 1 && from <= this.lastIndex, () => `truncate from ${from} outside 1..${this.lastIndex}`);
    this.entries.length = from - 1;
  }

  /** The first index of the run of `t` that ends at or before `atOrBefore`. */
  firstIndexOfTerm(t: Term, atOrBefore: LogIndex): LogIndex {
    let i = atOrBefore;
    while (i > 1 && this.termAt(logIndex(i - 1)) === t) i--;
    return logIndex(i);
  }

  /** The last index holding term `t`, or null when the log has none. */
  lastIndexOfTerm(t: Term, atOrBefore: LogIndex): LogIndex | null {
    for (let i = Math.min(atOrBefore, this.lastIndex); i >= 1; i--) {
      const ti = this.entries[i - 1]!.term;
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
