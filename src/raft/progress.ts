// A leader's view of one follower's log (etcd calls this the tracker).
//
// probe:     the match point is unknown; one AppendEntries at a time, backing up on rejection.
// replicate: the match point is known; up to inflightCountMax batches are pipelined.
// snapshot:  the follower needs entries the leader compacted away; a snapshot is on its way and
//            no entries go until it is acknowledged (or given up on after some heartbeats).
// Invariant: matchIndex < nextIndex; every inflight last index lies in (matchIndex, nextIndex).

import { broken, logIndex, type LogIndex, type NodeId } from "./types.js";

export type ProgressState = "probe" | "replicate" | "snapshot";

/** Heartbeats a leader waits for a snapshot's answer before it sends the snapshot again. */
export const SNAPSHOT_WAIT_HEARTBEATS = 40;

export class Progress {
  state: ProgressState = "probe";
  matchIndex: LogIndex = logIndex(0);
  nextIndex: LogIndex;
  /** probe: an AppendEntries is outstanding. */
  probeSent = false;
  /**
   * replicate: last index of each batch in flight, oldest first: inflight[inflightHead..
   * inflightTail). A queue in an array that is never shortened: Array shift (once per
   * acknowledgement) and emptying by `length = 0` (on every backup and every end of a probe) were
   * calls into V8's builtins, where moving two indexes is a store each.
   */
  private readonly inflight: LogIndex[] = [];
  private inflightHead = 0;
  private inflightTail = 0;
  /** matchIndex when the previous heartbeat went out, to spot a pipeline that stalled on a loss. */
  matchAtLastHeartbeat: LogIndex = logIndex(0);
  /** snapshot: the lastIndex of the snapshot sent, and heartbeats since it went. */
  snapshotIndex: LogIndex = logIndex(0);
  private snapshotHeartbeats = 0;

  constructor(leaderLastIndex: LogIndex) {
    this.nextIndex = logIndex(leaderLastIndex + 1);
  }

  /**
   * The follower holds everything up to `index`. Returns true when that is news. A probe ends
   * when its own prev (nextIndex - 1) is acknowledged, news or not: the match point is known.
   */
  matched(index: LogIndex): boolean {
    this.probeSent = false;
    const news = index > this.matchIndex;
    if (news) {
      this.matchIndex = index;
      if (this.nextIndex <= index) this.nextIndex = logIndex(index + 1);
      while (this.inflightHead < this.inflightTail && this.inflight[this.inflightHead]! <= index) this.inflightHead++;
    }
    if (this.state === "probe" && index >= this.nextIndex - 1) this.becomeReplicate();
    if (this.state === "snapshot" && index >= this.snapshotIndex) this.becomeReplicate();
    this.check();
    return news;
  }

  /** The follower's log does not match before `nextIndex`: back up and probe again. */
  backUpTo(nextIndex: LogIndex): void {
    if (this.state === "snapshot") return; // a refused heartbeat while the snapshot travels says nothing new
    this.state = "probe";
    this.probeSent = false;
    this.clearInflight();
    this.nextIndex = logIndex(Math.max(this.matchIndex + 1, nextIndex));
    this.check();
  }

  /** A heartbeat is due: a pipeline that made no progress since the last one is assumed lost. */
  onHeartbeat(): void {
    if (this.state === "replicate" && this.inflightCount > 0 && this.matchIndex === this.matchAtLastHeartbeat) {
      this.backUpTo(logIndex(this.matchIndex + 1));
    }
    if (this.state === "snapshot" && ++this.snapshotHeartbeats >= SNAPSHOT_WAIT_HEARTBEATS) this.becomeProbe();
    if (this.state === "probe") this.probeSent = false;
    this.matchAtLastHeartbeat = this.matchIndex;
  }

  sentBatch(lastIndex: LogIndex): void {
    if (this.state === "probe") {
      this.probeSent = true;
      return;
    }
    this.pushInflight(lastIndex);
    this.nextIndex = logIndex(lastIndex + 1);
  }

  /** Batches in flight (replicate). */
  get inflightCount(): number {
    return this.inflightTail - this.inflightHead;
  }

  private pushInflight(lastIndex: LogIndex): void {
    const q = this.inflight;
    if (this.inflightHead === this.inflightTail) this.inflightHead = this.inflightTail = 0; // empty: start over at 0
    else if (this.inflightTail === q.length && this.inflightHead > 0) {
      q.copyWithin(0, this.inflightHead, this.inflightTail); // full to its end: move the batches down
      this.inflightTail -= this.inflightHead;
      this.inflightHead = 0;
    }
    q[this.inflightTail++] = lastIndex;
  }

  private clearInflight(): void {
    this.inflightHead = this.inflightTail = 0;
  }

  canSend(inflightCountMax: number): boolean {
    switch (this.state) {
      case "probe":
        return !this.probeSent;
      case "replicate":
        return this.inflightCount < inflightCountMax;
      case "snapshot":
        return false;
    }
  }

  /** A snapshot through `index` went to the follower: send nothing else until it answers. */
  sentSnapshot(index: LogIndex): void {
    this.state = "snapshot";
    this.snapshotIndex = index;
    this.snapshotHeartbeats = 0;
    this.probeSent = false;
    this.clearInflight();
  }

  /** The snapshot went unanswered too long (lost, or the follower restarted): start over with a probe. */
  private becomeProbe(): void {
    this.state = "probe";
    this.probeSent = false;
    this.nextIndex = logIndex(this.matchIndex + 1);
  }

  private becomeReplicate(): void {
    this.state = "replicate";
    this.clearInflight();
    this.nextIndex = logIndex(this.matchIndex + 1);
  }

  private check(): void {
    if (this.matchIndex >= this.nextIndex) broken(`progress match ${this.matchIndex} >= next ${this.nextIndex}`);
  }
}

/**
 * A leader's Progress per peer, as a Map would keep it (walked in the order the peers were added),
 * looked up by id through an array: the commit check reads every voter's and each reply its
 * sender's, and those Map lookups (with the walk of the Map's entries in sendAppends) were about
 * 2% of the simulator's profile.
 */
export class ProgressTable {
  private readonly byId: (Progress | undefined)[] = [];
  private readonly order: NodeId[] = [];

  get(id: NodeId): Progress | undefined {
    return this.byId[id];
  }

  has(id: NodeId): boolean {
    return this.byId[id] !== undefined;
  }

  set(id: NodeId, p: Progress): void {
    if (this.byId[id] === undefined) this.order.push(id);
    this.byId[id] = p;
  }

  delete(id: NodeId): void {
    if (this.byId[id] === undefined) return;
    this.byId[id] = undefined;
    this.order.splice(this.order.indexOf(id), 1);
  }

  /** The peers in the order they were added; not to be kept across a change. */
  get ids(): readonly NodeId[] {
    return this.order;
  }
}
