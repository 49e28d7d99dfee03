// A simulated disk: a durable image (what survives a crash) and a tail of writes not yet synced.
//
// The runtime writes each step's persist part, then syncs before any message or client reply of
// that step leaves, and before the node applies entries it counted itself for (the output
// contract). Writes of steps that send and apply nothing (a commit index that moved, a term
// adopted from a reply) may stay unsynced until a later sync; a crash loses them, as a real crash
// loses the page cache. A leader writing in parallel (thesis §10.2.1) syncs on its own time.
//
// Two kinds of crash: a power loss (crash()) loses every unsynced write; a process crash
// (processCrash(): SIGKILL, the OOM killer) leaves them in the page cache, where a restarted
// process reads them back though they are not durable. A restarting node syncs them at open
// (open()), as the production storage does; with the `trust-page-cache` mutation it does not,
// and they stay at the mercy of a later power loss (powerLoss()) until a sync of the log covers
// them. A sync covers them only when it syncs a log write of its own (fdatasync of logs.txt);
// a step that writes only its hard state (metadata.txt) leaves them where they are.
//
// Snapshots: a follower's install is part of its step's write (made durable by the same sync,
// before anything leaves). A node's own snapshot is saved in the background, atomically: the
// simulator calls saveSnapshot when the write would finish, or never, if the node died first.
// Either way a snapshot never replaces a newer one. A compaction drops the log's prefix.

import type { Entry, HardState, LogStart, Output, PersistedState, Snapshot } from "../../../raft/index.js";
import { LOG_START_EMPTY, logIndex, term } from "../../../raft/index.js";

type Write = Pick<Output, "hardState" | "installSnapshot" | "truncateFrom" | "compactTo" | "appendFrom" | "append">;

export const EMPTY_HARD_STATE: HardState = { currentTerm: term(0), votedFor: null, commitIndex: logIndex(0) };

function changesLog(w: Write): boolean {
  return w.truncateFrom !== null || w.compactTo !== null || w.installSnapshot !== null || (w.appendFrom !== null && w.append.length > 0);
}

export class SimDisk {
  private hardState: HardState = EMPTY_HARD_STATE;
  /** The durable log: entries[0] has index start.prevIndex + 1. */
  private start: LogStart = LOG_START_EMPTY;
  private entries: Entry[] = [];
  private snapshot: Snapshot | null = null;
  /**
   * Writes not yet synced: [0, unsyncedCount). The list is emptied by count, never by a new list
   * or `length = 0` (either made V8 allocate its storage again at the next write).
   */
  private readonly unsynced: (Write | null)[] = [];
  private unsyncedCount = 0;
  /** Writes of a process that died, still in the page cache: readable, not durable. */
  private inherited: Write[] = [];
  syncCount = 0;

  /** Queues the persist part of one step's output, if it has one. */
  write(out: Output): void {
    if (out.hardState === null && out.truncateFrom === null && out.appendFrom === null && out.compactTo === null && out.installSnapshot === null) return;
    this.unsynced[this.unsyncedCount++] = out; // outputs are immutable and fresh per step: kept as they are
  }

  get hasUnsynced(): boolean {
    return this.unsyncedCount > 0;
  }

  /** Makes every queued write durable, in order. Throws if a write does not fit the log. */
  sync(): void {
    if (this.unsyncedCount === 0) return;
    if (this.inherited.length > 0 && this.unsynced.some((w, k) => k < this.unsyncedCount && changesLog(w!))) this.syncInherited();
    for (let k = 0; k < this.unsyncedCount; k++) this.apply(this.unsynced[k]!);
    this.dropUnsynced();
    this.syncCount += 1;
  }

  /** The machine lost power (with its process): whatever was not synced is gone. */
  crash(): void {
    this.dropUnsynced();
    this.inherited = [];
  }

  /** The process died but the machine runs on: unsynced writes stay in the page cache. */
  processCrash(): void {
    for (let k = 0; k < this.unsyncedCount; k++) this.inherited.push(this.unsynced[k]!);
    this.dropUnsynced();
  }

  /** A power loss while the process is down: the page cache is gone. */
  powerLoss(): void {
    this.crash();
  }

  /** A restarting process opens the disk: it syncs what the page cache holds, unless it trusts it. */
  open(trustPageCache: boolean): void {
    if (!trustPageCache && this.inherited.length > 0) {
      this.syncInherited();
      this.syncCount += 1;
    }
  }

  /** A background snapshot write finished: atomically durable, unless the disk holds a newer one. */
  saveSnapshot(s: Snapshot): void {
    if (this.snapshot === null || s.lastIndex > this.snapshot.lastIndex) this.snapshot = s;
  }

  /** What a restarting node finds: the durable state and the page cache over it. */
  read(): PersistedState {
    if (this.inherited.length === 0) return { hardState: this.hardState, snapshot: this.snapshot, logStart: this.start, entries: this.entries.slice() };
    const seen = new SimDisk();
    seen.hardState = this.hardState;
    seen.start = this.start;
    seen.snapshot = this.snapshot;
    seen.entries.push(...this.entries);
    for (const w of this.inherited) seen.apply(w);
    return { hardState: seen.hardState, snapshot: seen.snapshot, logStart: seen.start, entries: seen.entries };
  }

  /** Writes in the page cache that are not durable (a process crash left them). */
  get pageCacheWriteCount(): number {
    return this.inherited.length;
  }

  /** Forgets the unsynced writes, keeping the list's storage (and no reference to them). */
  private dropUnsynced(): void {
    for (let k = 0; k < this.unsyncedCount; k++) this.unsynced[k] = null;
    this.unsyncedCount = 0;
  }

  private syncInherited(): void {
    for (let k = 0; k < this.inherited.length; k++) this.apply(this.inherited[k]!);
    this.inherited = [];
  }

  get durableLastIndex(): number {
    return this.start.prevIndex + this.entries.length;
  }

  get durableLastTerm(): number {
    return this.entries[this.entries.length - 1]?.term ?? this.start.prevTerm;
  }

  /** In the output contract's order: snapshot, truncation, compaction, append, hard state. */
  private apply(w: Write): void {
    if (w.installSnapshot !== null) this.saveSnapshot(w.installSnapshot);
    const prev = this.start.prevIndex;
    if (w.truncateFrom !== null) {
      if (w.truncateFrom <= prev || w.truncateFrom > this.durableLastIndex + 1) {
        throw new Error(`raft-lease output contract: truncate from ${w.truncateFrom} but the disk log holds ${prev + 1}..${this.durableLastIndex}`);
      }
      this.entries.length = w.truncateFrom - 1 - prev;
    }
    if (w.compactTo !== null) this.compact(w.compactTo);
    if (w.appendFrom !== null && w.append.length > 0) {
      if (w.appendFrom !== this.durableLastIndex + 1) {
        throw new Error(`raft-lease output contract: append from ${w.appendFrom} but the disk log ends at ${this.durableLastIndex}`);
      }
      for (let k = 0; k < w.append.length; k++) this.entries.push(w.append[k]!);
    }
    if (w.hardState !== null) this.hardState = w.hardState;
  }

  private compact(start: LogStart): void {
    if (start.prevIndex < this.start.prevIndex) throw new Error(`raft-lease output contract: compact to ${start.prevIndex}, before the disk log's start ${this.start.prevIndex}`);
    if (this.snapshot === null || this.snapshot.lastIndex < start.prevIndex) {
      throw new Error(`raft-lease output contract: compact to ${start.prevIndex} with no durable snapshot covering it (snapshot: ${this.snapshot?.lastIndex ?? "none"})`);
    }
    this.entries = this.entries.slice(Math.min(this.entries.length, start.prevIndex - this.start.prevIndex));
    this.start = start;
  }
}
