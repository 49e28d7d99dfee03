// Collects what one step wants done, then checks the output contract before handing it out.

import {
  assert,
  type AppliedEntry,
  type ClientReply,
  type Entry,
  type HardState,
  type LogIndex,
  type Message,
  type Output,
  type RaftEvent,
} from "./types.js";

export interface FullOutput extends Output {
  /** True when hardState changed term or vote: it must be durable before any message leaves. */
  readonly hardStateMustSync: boolean;
  /**
   * True only for a leader with leaderPersistsInParallel: its messages may leave before its own
   * appends are durable (it counts itself only after a `persisted` input says they are).
   */
  readonly sendBeforePersist: boolean;
}

export class OutputBuilder {
  hardState: HardState | null = null;
  hardStateMustSync = false;
  truncateFrom: LogIndex | null = null;
  appendFrom: LogIndex | null = null;
  readonly append: Entry[] = [];
  readonly messages: Message[] = [];
  readonly applied: AppliedEntry[] = [];
  readonly replies: ClientReply[] = [];
  readonly events: RaftEvent[] = [];

  /** Records that the log lost its entries from `from` on; comes before any append of the step. */
  truncated(from: LogIndex): void {
    assert(this.appendFrom === null && this.truncateFrom === null, "a step truncates at most once, before it appends");
    this.truncateFrom = from;
  }

  appended(from: LogIndex, entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    if (this.appendFrom === null) this.appendFrom = from;
    assert(this.appendFrom + this.append.length === from, `appends in one step are not contiguous at ${from}`);
    this.append.push(...entries);
  }

  build(wakeAtMs: number, sendBeforePersist: boolean): FullOutput {
    this.checkContract();
    return {
      hardState: this.hardState,
      hardStateMustSync: this.hardStateMustSync,
      sendBeforePersist,
      truncateFrom: this.truncateFrom,
      appendFrom: this.appendFrom,
      append: this.append,
      messages: this.messages,
      applied: this.applied,
      replies: this.replies,
      events: this.events,
      wakeAtMs,
    };
  }

  /** The output contract: persisted state is whole, applied entries are contiguous and committed. */
  private checkContract(): void {
    if (this.truncateFrom !== null && this.appendFrom !== null) {
      assert(this.appendFrom >= this.truncateFrom, "an append lies before the truncation it follows");
    }
    for (let i = 1; i < this.applied.length; i++) {
      assert(this.applied[i]!.index === this.applied[i - 1]!.index + 1, "applied entries are not contiguous");
    }
    const last = this.applied[this.applied.length - 1];
    if (last !== undefined && this.hardState !== null) {
      assert(last.index <= this.hardState.commitIndex, `applied index ${last.index} beyond commit ${this.hardState.commitIndex}`);
    }
  }
}
