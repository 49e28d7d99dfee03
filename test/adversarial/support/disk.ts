// A node's disk: it keeps exactly what the output contract made durable, and nothing else.
//
// Per the contract on `Output` (src/raft/types.ts), step 1 of every output is: drop the log from
// `truncateFrom`, append `append` at `appendFrom`, write `hardState`, make it durable, and only
// then send. The harness performs step 1 in full before any message of that output enters the
// pool. The one exception is a leader with `leaderPersistsInParallel`, whose output says
// `sendBeforePersist`: its write is under way while its messages leave, and becomes durable only
// at `sync()` (the world then tells the leader with a `persisted` input). Writes reach the disk in
// order, so a later synced write makes every earlier one durable too.
//
// A crash keeps what is durable and loses the rest: unsynced writes and everything in memory
// (leader state, lease memory, timers, the KV map). A runtime may write a commit index that comes
// without a term or vote change lazily (Raft can relearn it): `crash(true)` models that, keeping
// the commit index of the last write that had to be synced.

import { logIndex, term, type Entry, type FullOutput, type HardState, type LogIndex, type PersistedState } from "../../../src/raft/index.js";

export class Disk {
  /** What the node has written (durable or under way). */
  private hard: HardState = { currentTerm: term(0), votedFor: null, commitIndex: logIndex(0) };
  private readonly log: Entry[] = [];
  /** What is durable: a prefix of the log and the hard state written with it. */
  private durableLength = 0;
  private durableHard: HardState = this.hard;
  private syncedCommitIndex: LogIndex = logIndex(0);

  /** Step 1 of the output contract. */
  persist(out: FullOutput): void {
    if (out.truncateFrom !== null) {
      if (out.truncateFrom < 1 || out.truncateFrom > this.log.length + 1) {
        throw new Error(`output truncates from ${out.truncateFrom}, but the disk holds ${this.log.length} entries`);
      }
      this.log.length = out.truncateFrom - 1;
    }
    if (out.appendFrom !== null) {
      if (out.appendFrom !== this.log.length + 1) {
        throw new Error(`output appends at ${out.appendFrom}, but the disk holds ${this.log.length} entries: the log would have a hole`);
      }
      this.log.push(...out.append);
    }
    if (out.hardState !== null) this.hard = out.hardState;
    if (!out.sendBeforePersist) {
      this.sync();
      if (out.hardStateMustSync) this.syncedCommitIndex = this.hard.commitIndex;
    } else if (out.truncateFrom !== null || out.hardStateMustSync) {
      throw new Error("output contract: an output that sends before persisting must not truncate or change the term or vote");
    }
  }

  /** Everything written so far becomes durable (a completed fsync). */
  sync(): void {
    this.durableLength = this.log.length;
    this.durableHard = this.hard;
  }

  get hasUnsynced(): boolean {
    return this.durableLength !== this.log.length || this.durableHard !== this.hard;
  }

  /** A crash; with `loseLazyCommit`, the commit index falls back to the last synced write's. */
  crash(loseLazyCommit: boolean): void {
    this.log.length = this.durableLength;
    this.hard = this.durableHard;
    if (loseLazyCommit) this.hard = { ...this.hard, commitIndex: logIndex(Math.min(this.syncedCommitIndex, this.hard.commitIndex)) };
    this.durableHard = this.hard;
  }

  /** What a restart finds (call after a crash: then all of it is durable). */
  persisted(): PersistedState {
    return { hardState: this.hard, entries: [...this.log] };
  }

  get hardState(): HardState {
    return this.hard;
  }

  /** The node's log as written (durable or under way): entry at index (1-based), or undefined. */
  entry(index: number): Entry | undefined {
    return this.log[index - 1];
  }

  get length(): number {
    return this.log.length;
  }

  entries(): readonly Entry[] {
    return this.log;
  }
}
