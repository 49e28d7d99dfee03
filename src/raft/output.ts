// Collects what one step wants done, then checks the output contract before handing it out.
// Lists are allocated only when something is added: most steps send or apply nothing.

import {
  assert,
  broken,
  type AppliedEntry,
  type ClientReply,
  type Entry,
  type HardState,
  type LogIndex,
  type Message,
  type LogStart,
  type Member,
  type Output,
  type RaftEvent,
  type Snapshot,
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

const NONE: readonly never[] = Object.freeze([]);

/**
 * `list` with `item` at its end; a list starts as a literal of its first item: one started empty
 * and pushed to reserved room for 16 (about 150 bytes each), where most steps add one message,
 * one event, one applied entry.
 */
function withItem<T>(list: T[] | null, item: T): T[] {
  if (list === null) return [item];
  list.push(item);
  return list;
}

/**
 * The builder is the output: `build` checks the contract and hands out the builder itself (a step
 * makes a new one), so a step allocates one object for it, not two. Once built, its lists read as
 * they were left, and one never filled reads as a shared, frozen empty list.
 */
export class OutputBuilder implements FullOutput {
  hardState: HardState | null = null;
  hardStateMustSync = false;
  installSnapshot: Snapshot | null = null;
  truncateFrom: LogIndex | null = null;
  compactTo: LogStart | null = null;
  saveSnapshot: Snapshot | null = null;
  membership: readonly Member[] | null = null;
  appendFrom: LogIndex | null = null;
  sendBeforePersist = false;
  wakeAtMs = 0;
  private built = false;
  /** The first append's list as it was handed over (entries are immutable): later appends of the step copy it. */
  private appendList: readonly Entry[] | null = null;
  private messageList: Message[] | null = null;
  private appliedList: AppliedEntry[] | null = null;
  private replyList: ClientReply[] | null = null;
  private eventList: RaftEvent[] | null = null;

  get append(): readonly Entry[] {
    return this.appendList ?? NONE;
  }
  get messages(): readonly Message[] {
    return this.messageList ?? NONE;
  }
  get applied(): readonly AppliedEntry[] {
    return this.appliedList ?? NONE;
  }
  get replies(): readonly ClientReply[] {
    return this.replyList ?? NONE;
  }
  get events(): readonly RaftEvent[] {
    return this.eventList ?? NONE;
  }

  addMessage(m: Message): void {
    this.checkOpen();
    this.messageList = withItem(this.messageList, m);
  }

  addApplied(a: AppliedEntry): void {
    this.checkOpen();
    this.appliedList = withItem(this.appliedList, a);
  }

  addReply(r: ClientReply): void {
    this.checkOpen();
    this.replyList = withItem(this.replyList, r);
  }

  addEvent(e: RaftEvent): void {
    this.checkOpen();
    this.eventList = withItem(this.eventList, e);
  }

  private checkOpen(): void {
    if (this.built) broken("an output is not changed once built");
  }

  /** The output's fields, as a plain object (what JSON of an output shows). */
  toJSON(): Output & Pick<FullOutput, "hardStateMustSync" | "sendBeforePersist"> {
    const { hardState, hardStateMustSync, sendBeforePersist, installSnapshot, truncateFrom, compactTo, appendFrom, append, messages, applied, replies, events, saveSnapshot, membership, wakeAtMs } = this;
    return { hardState, hardStateMustSync, sendBeforePersist, installSnapshot, truncateFrom, compactTo, appendFrom, append, messages, applied, replies, events, saveSnapshot, membership, wakeAtMs };
  }

  /** Records that the log lost its entries from `from` on; comes before any append of the step. */
  truncated(from: LogIndex): void {
    assert(this.appendFrom === null && this.truncateFrom === null, "a step truncates at most once, before it appends");
    this.truncateFrom = from;
  }

  /** `entries` (appended at `from`) must not change afterwards: the output may keep the list itself. */
  appended(from: LogIndex, entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const list = this.appendList;
    if (list === null) {
      this.appendFrom = from;
      this.appendList = entries; // most steps append once: no copy
      return;
    }
    if (this.appendFrom! + list.length !== from) broken(`appends in one step are not contiguous at ${from}`);
    this.appendList = [...list, ...entries];
  }

  /**
   * `lastLogIndex`: the log's last index once this output's truncation and append are done. The
   * step has written wakeAtMs (NodeCore.writeWakeAtMs says why it is not an argument).
   */
  build(sendBeforePersist: boolean, lastLogIndex: LogIndex): FullOutput {
    this.checkContract(lastLogIndex);
    this.sendBeforePersist = sendBeforePersist;
    this.built = true;
    return this;
  }

  /**
   * The output contract: persisted state is whole, a persisted commit index never runs ahead of
   * the log it is persisted with, applied entries are contiguous and committed.
   */
  private checkContract(lastLogIndex: LogIndex): void {
    if (this.truncateFrom !== null && this.appendFrom !== null) {
      assert(this.appendFrom >= this.truncateFrom, "an append lies before the truncation it follows");
    }
    const start = this.compactTo;
    if (start !== null && this.appendFrom !== null) {
      if (this.appendFrom <= start.prevIndex) broken(`an append at ${this.appendFrom} lies inside the compacted prefix (through ${start.prevIndex})`);
    }
    const installed = this.installSnapshot;
    if (installed !== null) {
      assert(start?.prevIndex === installed.lastIndex, "an installed snapshot restarts the log right after it");
    }
    const persisted = this.hardState;
    if (persisted !== null) {
      if (persisted.commitIndex > lastLogIndex) broken(`a commit index ${persisted.commitIndex} would be persisted beyond the log's last entry ${lastLogIndex}`);
    }
    const applied = this.appliedList;
    if (applied === null) return;
    for (let i = 1; i < applied.length; i++) {
      assert(applied[i]!.index === applied[i - 1]!.index + 1, "applied entries are not contiguous");
    }
    const last = applied[applied.length - 1];
    const hardState = this.hardState;
    if (last !== undefined && hardState !== null) {
      if (last.index > hardState.commitIndex) broken(`applied index ${last.index} beyond commit ${hardState.commitIndex}`);
    }
  }
}
