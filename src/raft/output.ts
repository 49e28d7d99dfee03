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
 * withItem for the lists that mostly end with two or three items (events: a follower's commits
 * then its acceptance; applied entries): those are literals too, since a push onto a list of one
 * reserves room for 17 (152 bytes), where a literal of two takes 32. A message list stays with
 * withItem: a leader's round to four followers would copy three times.
 */
function withFewItems<T>(list: T[] | null, item: T): T[] {
  if (list === null) return [item];
  if (list.length === 1) return [list[0]!, item];
  if (list.length === 2) return [list[0]!, list[1]!, item];
  list.push(item);
  return list;
}

/**
 * One step's output as handed out: a value, never changed once made. A class, so that every
 * output has one hidden class and its fields are plain fields (JSON shows them in this order);
 * declared, so that the constructor's assignments are their only definitions.
 */
class StepOutput implements FullOutput {
  declare readonly hardState: HardState | null;
  declare readonly hardStateMustSync: boolean;
  declare readonly sendBeforePersist: boolean;
  declare readonly installSnapshot: Snapshot | null;
  declare readonly truncateFrom: LogIndex | null;
  declare readonly compactTo: LogStart | null;
  declare readonly appendFrom: LogIndex | null;
  declare readonly append: readonly Entry[];
  declare readonly messages: readonly Message[];
  declare readonly applied: readonly AppliedEntry[];
  declare readonly replies: readonly ClientReply[];
  declare readonly events: readonly RaftEvent[];
  declare readonly saveSnapshot: Snapshot | null;
  declare readonly membership: readonly Member[] | null;
  declare readonly wakeAtMs: number;

  constructor(b: OutputBuilder, sendBeforePersist: boolean) {
    this.hardState = b.hardState;
    this.hardStateMustSync = b.hardStateMustSync;
    this.sendBeforePersist = sendBeforePersist;
    this.installSnapshot = b.installSnapshot;
    this.truncateFrom = b.truncateFrom;
    this.compactTo = b.compactTo;
    this.appendFrom = b.appendFrom;
    this.append = b.appendList ?? NONE;
    this.messages = b.messageList ?? NONE;
    this.applied = b.appliedList ?? NONE;
    this.replies = b.replyList ?? NONE;
    this.events = b.eventList ?? NONE;
    this.saveSnapshot = b.saveSnapshot;
    this.membership = b.membership;
    this.wakeAtMs = b.wakeAtMs;
  }
}

/**
 * What the step under way wants done: one per node, emptied at the start of each step (reset),
 * then made into a StepOutput (build), which takes its lists. Adding to it between a build and
 * the next reset is an error: an output is not changed once built.
 */
export class OutputBuilder {
  hardState: HardState | null = null;
  hardStateMustSync = false;
  installSnapshot: Snapshot | null = null;
  truncateFrom: LogIndex | null = null;
  compactTo: LogStart | null = null;
  saveSnapshot: Snapshot | null = null;
  membership: readonly Member[] | null = null;
  appendFrom: LogIndex | null = null;
  wakeAtMs = 0;
  private open = true;
  // The lists, read by StepOutput. The first append's list is kept as it was handed over
  // (entries are immutable): later appends of the step copy it.
  appendList: readonly Entry[] | null = null;
  messageList: Message[] | null = null;
  appliedList: AppliedEntry[] | null = null;
  replyList: ClientReply[] | null = null;
  eventList: RaftEvent[] | null = null;
  /**
   * The last quiet output built (nothing asked but a tick): handed out again for a quiet step
   * with the same wake time and sendBeforePersist, since it is the same value. Most quiet steps
   * are a leader's handling of an acknowledgement, whose wake time is its next heartbeat's.
   */
  private lastQuiet: StepOutput | null = null;

  /** Empties the builder for a new step. */
  reset(): void {
    this.hardState = null;
    this.hardStateMustSync = false;
    this.installSnapshot = null;
    this.truncateFrom = null;
    this.compactTo = null;
    this.saveSnapshot = null;
    this.membership = null;
    this.appendFrom = null;
    this.wakeAtMs = 0;
    this.open = true;
    this.appendList = null;
    this.messageList = null;
    this.appliedList = null;
    this.replyList = null;
    this.eventList = null;
  }

  addMessage(m: Message): void {
    this.checkOpen();
    this.messageList = withItem(this.messageList, m);
  }

  addApplied(a: AppliedEntry): void {
    this.checkOpen();
    this.appliedList = withFewItems(this.appliedList, a);
  }

  addReply(r: ClientReply): void {
    this.checkOpen();
    this.replyList = withItem(this.replyList, r);
  }

  addEvent(e: RaftEvent): void {
    this.checkOpen();
    this.eventList = withFewItems(this.eventList, e);
  }

  private checkOpen(): void {
    if (!this.open) broken("an output is not changed once built");
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
    this.open = false;
    if (!this.isQuiet()) return new StepOutput(this, sendBeforePersist);
    const last = this.lastQuiet;
    if (last !== null && last.wakeAtMs === this.wakeAtMs && last.sendBeforePersist === sendBeforePersist) return last;
    return (this.lastQuiet = new StepOutput(this, sendBeforePersist));
  }

  /** True when the step asks nothing of the runtime but a tick at wakeAtMs (a quarter of the bench's steps). */
  private isQuiet(): boolean {
    return (
      this.hardState === null &&
      !this.hardStateMustSync &&
      this.installSnapshot === null &&
      this.truncateFrom === null &&
      this.compactTo === null &&
      this.appendFrom === null &&
      this.messageList === null &&
      this.appliedList === null &&
      this.replyList === null &&
      this.eventList === null &&
      this.saveSnapshot === null &&
      this.membership === null
    );
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
