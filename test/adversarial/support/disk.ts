// A node's disk: it keeps exactly what the output contract made durable, and nothing else.
//
// Per the contract on `Output` (src/raft/types.ts), step 1 of every output is: make
// `installSnapshot` the durable snapshot; drop the log from `truncateFrom`; drop the log up to
// `compactTo.prevIndex` (the log then starts right after it); append `append` at `appendFrom`;
// write `hardState`; make it durable; and only then send. The harness performs step 1 in full
// before any message of that output enters the pool. The one exception is a leader with
// `leaderPersistsInParallel`, whose output says `sendBeforePersist`: its write is under way while
// its messages leave, and becomes durable only at `sync()` (the world then tells the leader with a
// `persisted` input). Writes reach the disk in order, so a later synced write makes every earlier
// one durable too. `saveSnapshot` (step 6) is written by the world in the background, through
// `saveSnapshot` here, never over a newer snapshot.
//
// The disk checks every output against what it actually holds, and throws "output contract: ..."
// when an output cannot be carried out as written: a truncation or append that leaves a hole or
// reaches into the compacted prefix, a compaction beyond the durable snapshot or one that keeps a
// suffix after an entry of another term, an installed snapshot the log does not restart after, an
// installed snapshot older than the durable one, a commit index beyond the log's last index and
// the snapshot's.
//
// A crash keeps what is durable and loses the rest: unsynced writes and everything in memory
// (leader state, lease memory, timers, the KV map). A runtime may write a commit index that comes
// without a term or vote change lazily (Raft can relearn it): `crash(true)` models that, keeping
// the commit index of the last write that had to be synced.

import {
  LOG_START_EMPTY,
  logIndex,
  term,
  type Entry,
  type FullOutput,
  type HardState,
  type LogIndex,
  type LogStart,
  type PersistedState,
  type Snapshot,
  type Term,
} from "../../../src/raft/index.js";

function contract(message: string): never {
  throw new Error(`output contract: ${message}`);
}

export class Disk {
  /** What the node has written (durable or under way). */
  private hard: HardState = { currentTerm: term(0), votedFor: null, commitIndex: logIndex(0) };
  /** Where the log starts: log[0] has index start.prevIndex + 1. */
  private start: LogStart = LOG_START_EMPTY;
  private readonly log: Entry[] = [];
  private snap: Snapshot | null = null;
  /** What is durable: the log up to this index, and the hard state written with it. */
  private durableLast = 0;
  private durableHard: HardState = this.hard;
  private syncedCommitIndex: LogIndex = logIndex(0);

  /** A disk holding exactly `p` (a restart test's hand-made state), all of it durable. */
  static holding(p: PersistedState): Disk {
    const d = new Disk();
    d.hard = p.hardState;
    d.start = p.logStart ?? LOG_START_EMPTY;
    d.log.push(...p.entries);
    d.snap = p.snapshot ?? null;
    d.sync();
    d.syncedCommitIndex = d.hard.commitIndex;
    return d;
  }

  /**
   * Step 1 of the output contract. `only: "snapshot"` carries out the first part only (the
   * installed snapshot made durable) and stops there, as a crash right after it would.
   */
  persist(out: FullOutput, only?: "snapshot"): void {
    const install = out.installSnapshot;
    if (install !== null) {
      if (this.snap !== null && install.lastIndex < this.snap.lastIndex) {
        contract(`installs a snapshot through ${install.lastIndex} over the durable one through ${this.snap.lastIndex}`);
      }
      if (out.compactTo === null || out.compactTo.prevIndex !== install.lastIndex || out.compactTo.prevTerm !== install.lastTerm) {
        contract(`installs a snapshot through (${install.lastIndex}, term ${install.lastTerm}) but the log restarts after ${JSON.stringify(out.compactTo)}`);
      }
      this.snap = install;
    }
    if (only === "snapshot") return;
    if (out.truncateFrom !== null) {
      const from = out.truncateFrom;
      if (from < 1 || from > this.lastIndex + 1) contract(`truncates from ${from}, but the disk holds entries up to ${this.lastIndex}`);
      if (from <= this.start.prevIndex && install === null) {
        contract(`truncates from ${from}, inside the compacted prefix (the log starts at ${this.firstIndex}), with no snapshot installed`);
      }
      this.log.length = Math.max(0, from - 1 - this.start.prevIndex);
      this.durableLast = Math.min(this.durableLast, this.lastIndex);
    }
    const to = out.compactTo;
    if (to !== null) {
      if (this.snap === null || to.prevIndex > this.snap.lastIndex) {
        contract(`compacts the log through ${to.prevIndex}, beyond the durable snapshot (${this.snap === null ? "none" : `through ${this.snap.lastIndex}`})`);
      }
      if (to.prevIndex < this.start.prevIndex) contract(`compacts through ${to.prevIndex}, below where the log already starts (${this.firstIndex})`);
      const held = this.termAt(to.prevIndex);
      if (held !== undefined && held !== to.prevTerm && to.prevIndex < this.lastIndex) {
        contract(`compacts through (${to.prevIndex}, term ${to.prevTerm}) and keeps the entries after it, but the entry held there has term ${held}`);
      }
      if (to.prevIndex >= this.lastIndex) this.log.length = 0;
      else this.log.splice(0, to.prevIndex - this.start.prevIndex);
      this.start = { prevIndex: to.prevIndex, prevTerm: to.prevTerm };
      this.durableLast = Math.max(this.durableLast, to.prevIndex);
    }
    if (out.appendFrom !== null) {
      if (out.appendFrom <= this.start.prevIndex) contract(`appends at ${out.appendFrom}, inside the compacted prefix (the log starts at ${this.firstIndex})`);
      if (out.appendFrom !== this.lastIndex + 1) {
        contract(`appends at ${out.appendFrom}, but the disk holds entries up to ${this.lastIndex}: the log would have a hole`);
      }
      this.log.push(...out.append);
    }
    if (out.hardState !== null) this.hard = out.hardState;
    if (this.hard.commitIndex > Math.max(this.lastIndex, this.snap?.lastIndex ?? 0)) {
      contract(`the commit index ${this.hard.commitIndex} is persisted beyond the log's last index ${this.lastIndex} and the snapshot's ${this.snap?.lastIndex ?? 0}`);
    }
    if (!out.sendBeforePersist) {
      this.sync();
      if (out.hardStateMustSync) this.syncedCommitIndex = this.hard.commitIndex;
    } else if (out.truncateFrom !== null || out.hardStateMustSync || install !== null) {
      contract("an output that sends before persisting must not truncate, install a snapshot or change the term or vote");
    }
  }

  /** A background snapshot write completed: it replaces the durable one unless that one is newer. */
  saveSnapshot(s: Snapshot): void {
    if (this.snap === null || s.lastIndex > this.snap.lastIndex) this.snap = s;
  }

  /** Everything written so far becomes durable (a completed fsync). */
  sync(): void {
    this.durableLast = this.lastIndex;
    this.durableHard = this.hard;
  }

  get hasUnsynced(): boolean {
    return this.durableLast !== this.lastIndex || this.durableHard !== this.hard;
  }

  /** A crash; with `loseLazyCommit`, the commit index falls back to the last synced write's. */
  crash(loseLazyCommit: boolean): void {
    this.log.length = Math.max(0, this.durableLast - this.start.prevIndex);
    this.hard = this.durableHard;
    if (loseLazyCommit) this.hard = { ...this.hard, commitIndex: logIndex(Math.min(this.syncedCommitIndex, this.hard.commitIndex)) };
    this.durableHard = this.hard;
  }

  /** What a restart finds (call after a crash: then all of it is durable). */
  persisted(): PersistedState {
    return { hardState: this.hard, snapshot: this.snap, logStart: this.start, entries: [...this.log] };
  }

  get hardState(): HardState {
    return this.hard;
  }

  get snapshot(): Snapshot | null {
    return this.snap;
  }

  get logStart(): LogStart {
    return this.start;
  }

  get firstIndex(): number {
    return this.start.prevIndex + 1;
  }

  /** The log's last index (the compacted prefix counts): entries() ends here. */
  get lastIndex(): number {
    return this.start.prevIndex + this.log.length;
  }

  /** Same as lastIndex (the name the first tests used, from before compaction). */
  get length(): number {
    return this.lastIndex;
  }

  /** The node's log as written (durable or under way): entry at index, or undefined (compacted or past the end). */
  entry(index: number): Entry | undefined {
    return index > this.start.prevIndex ? this.log[index - this.start.prevIndex - 1] : undefined;
  }

  /** The term at index: held entries, and the log start's own term; undefined otherwise. */
  termAt(index: number): Term | undefined {
    if (index === this.start.prevIndex) return this.start.prevTerm;
    return this.entry(index)?.term;
  }

  /** The entries the log holds, from firstIndex on. */
  entries(): readonly Entry[] {
    return this.log;
  }
}
