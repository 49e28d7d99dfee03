// A node's disk: it keeps exactly what the output contract made durable, and nothing else.
//
// Per the contract on `Output` (src/raft/types.ts), step 1 of every output is: drop the log from
// `truncateFrom`, append `append` at `appendFrom`, write `hardState`, make it durable, and only
// then send. The harness performs step 1 in full before any message of that output enters the
// pool, so the disk holds everything an output promised; what lives only in memory (leader state,
// lease memory, timers, the KV map) is lost on a crash. A restart hands `persisted()` to
// `RaftNode.start`. A runtime may write a commit index that comes without a term or vote change
// lazily (Raft can relearn it from the leader): `crash(true)` models that, keeping the commit
// index of the last write that had to be synced.

import { logIndex, term, type Entry, type FullOutput, type HardState, type LogIndex, type PersistedState } from "../../../src/raft/index.js";

export class Disk {
  private hard: HardState = { currentTerm: term(0), votedFor: null, commitIndex: logIndex(0) };
  private readonly log: Entry[] = [];
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
    if (out.hardState !== null) {
      this.hard = out.hardState;
      if (out.hardStateMustSync) this.syncedCommitIndex = out.hardState.commitIndex;
    }
  }

  /** A crash; with `loseLazyCommit`, the commit index falls back to the last synced write's. */
  crash(loseLazyCommit: boolean): void {
    if (loseLazyCommit) this.hard = { ...this.hard, commitIndex: this.syncedCommitIndex };
  }

  persisted(): PersistedState {
    return { hardState: this.hard, entries: [...this.log] };
  }

  get hardState(): HardState {
    return this.hard;
  }

  /** Entry at index (1-based), or undefined. */
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
