// NodeCore: the state of one Raft-with-lease node and the transitions every role shares.
//
// Internal to the core: the core's files read and change it; runtimes and checkers see only
// RaftNode (node.ts), its status and its read-only view.
//
// Invariants, checked after every step:
//   appliedIndex == commitIndex <= log.lastIndex
//   role == "leader"    <=> leader state present, leaderId == id, votedFor == id
//   role == "candidate" <=> candidate state present

import { validateConfig, type RaftConfig } from "./config.js";
import { KvStore } from "./kv.js";
import { LeaseMemory, type LeaderLease } from "./lease.js";
import { RaftLog } from "./log.js";
import { initialMembers, Membership } from "./membership.js";
import { OutputBuilder } from "./output.js";
import { failPending } from "./pending.js";
import type { PendingWrites } from "./pending-writes.js";
import type { ProgressTable } from "./progress.js";
import { randomIntBetween, type Random } from "./random.js";
import type { Handover } from "./election.js";
import { restoreSnapshot } from "./snapshot.js";
import {
  assert,
  broken,
  LOG_START_EMPTY,
  logIndex,
  type ClientCall,
  type HardState,
  type LeaseParams,
  type LogStart,
  type LogIndex,
  type Message,
  type NodeId,
  type NodeStatus,
  type PersistedState,
  type RaftEvent,
  type RequestId,
  type Role,
  type Snapshot,
  type Term,
} from "./types.js";

/** When a leader may serve lease reads, on its own clock: from fromMs (its old-lease wait's end) to untilMs. */
export interface LeaseWindow {
  fromMs: number;
  untilMs: number;
}

export interface CandidateState {
  phase: "pre" | "real";
  readonly granted: Set<NodeId>;
  /** Real votes only: the end of the longest old lease the voters reported, on this clock. */
  oldLeaseUntilMs: number;
  /** Set when a leader sent TimeoutNow (election.ts): whose lease to ignore, and what to wait for instead. */
  readonly handover: Handover | null;
}

/** A leadership transfer under way (transfer.ts). */
export interface TransferState {
  readonly targetId: NodeId;
  /** Leader clock: the transfer is given up at this time if the target has not taken over. */
  readonly deadlineMs: number;
  /** The operator's request, answered once TimeoutNow is sent (or the transfer fails); null when none waits. */
  readonly requestId: RequestId | null;
  /** True once TimeoutNow went: this leader has given its lease up and serves no lease read again. */
  timeoutNowSent: boolean;
}

export interface LeaderState {
  /** Every member this leader replicates to: of the configuration in use and of the committed one. */
  readonly progress: ProgressTable;
  /** Reused for the commit computation: the match index of each voter. */
  readonly matchScratch: number[];
  readonly lease: LeaderLease;
  nextHeartbeatAtMs: number;
  /** With leaderPersistsInParallel: the last index of this term known durable on our own disk. */
  selfDurableIndex: LogIndex;
  /** Index of this term's NO-OP: lease reads need it committed. */
  readonly noopIndex: LogIndex;
  /** Log index -> client request waiting for that entry to commit. */
  readonly pendingWrites: PendingWrites;
  /** Committed writes whose answer waits for the old lease to end. */
  readonly deferredWrites: RequestId[];
  /** GETs waiting for this leader to hold its lease. */
  readonly pendingReads: ClientCall[];
  transfer: TransferState | null;
  /** What every heartbeat of this leadership reports (events are values: one serves them all). */
  readonly heartbeatEvent: Extract<RaftEvent, { kind: "heartbeat" }>;
}

export type AppendAcceptedEvent = Extract<RaftEvent, { kind: "append-accepted" }>;

export class NodeCore {
  readonly id: NodeId;
  role: Role = "follower";
  currentTerm: Term;
  votedFor: NodeId | null;
  leaderId: NodeId | null = null;
  readonly log: RaftLog;
  commitIndex: LogIndex = logIndex(0);
  appliedIndex: LogIndex = logIndex(0);
  readonly kv: KvStore;
  /** The newest durable snapshot (saved, installed or found at start); the log's compacted prefix lies inside it. */
  snapshot: Snapshot | null = null;
  /** A snapshot the runtime is writing; at most one at a time. */
  savingSnapshot: Snapshot | null = null;
  /**
   * Log changes the disk still owes from before a restart (a crash between installing a snapshot
   * and cutting the log): the first step's output carries them.
   */
  startRepair: { readonly truncateFrom: LogIndex | null; readonly compactTo: LogStart } | null = null;
  readonly leaseMemory: LeaseMemory;
  /** The configuration entry whose commitment this node has acted on (reconfigure.ts); -1: none yet. */
  handledConfigIndex = -1;
  electionDeadlineMs = 0;
  lastLeaderContactMs = -Infinity;
  candidate: CandidateState | null = null;
  leader: LeaderState | null = null;
  /** The event of the AppendEntries accepted last, reused for the next from the same leader (replication.ts). */
  lastAcceptedEvent: AppendAcceptedEvent | null = null;
  /**
   * Set at every step. Initialized here, not only in the constructor: a class field declared
   * without a value is defined as undefined first, V8 then keeps it as a tagged field, and every
   * store of a fractional number into it allocated a heap number (16 bytes per step).
   */
  nowMs = 0;
  /** The step under way's output, one builder reused by every step (output.ts). */
  readonly out = new OutputBuilder();
  /** This node's lease length and drift bound, as every message that hands out or asks for a lease carries them. */
  readonly leaseParams: LeaseParams;
  /** Peers whose lease parameters we refused, with the parameters last reported (one event per change). */
  private readonly refusedLeaseOf = new Map<NodeId, LeaseParams>();
  private readonly windowScratch: LeaseWindow = { fromMs: 0, untilMs: 0 };
  private readonly wakeScratch = { wakeAtMs: 0 };

  constructor(
    readonly config: RaftConfig,
    persisted: PersistedState,
    nowMs: number,
    private readonly random: Random,
  ) {
    validateConfig(config);
    this.id = config.id;
    this.leaseParams = Object.freeze({ leaseMs: config.timing.leaseMs, driftPpmMax: config.timing.driftPpmMax });
    this.nowMs = nowMs;
    this.currentTerm = persisted.hardState.currentTerm;
    this.votedFor = persisted.hardState.votedFor;
    const initial = config.join ? Membership.EMPTY : new Membership(initialMembers(config.members, config.addresses));
    this.log = new RaftLog(persisted.logStart ?? LOG_START_EMPTY, persisted.entries, initial);
    this.kv = new KvStore(config.sessionCountMax);
    this.leaseMemory = LeaseMemory.afterRestart(config.timing, nowMs, config.mutation);
    this.commitIndex = persisted.hardState.commitIndex;
    if (persisted.snapshot) restoreSnapshot(this, persisted.snapshot);
    else assert(this.log.prevIndex === 0, () => `the log starts after ${this.log.prevIndex} but there is no snapshot`);
    assert(this.commitIndex <= this.log.lastIndex, "persisted commit index beyond the log");
    if (this.commitIndex >= this.log.membershipIndex) this.handledConfigIndex = this.log.membershipIndex;
    this.resetElectionTimer();
  }

  /**
   * The lease argument holds only if every node shrinks, stretches and waits by the same lease
   * length and drift bound: a peer with other parameters is refused, and reported once per change.
   */
  acceptsLeaseOf(peer: NodeId, theirs: LeaseParams): boolean {
    const ours = this.leaseParams;
    return (theirs.leaseMs === ours.leaseMs && theirs.driftPpmMax === ours.driftPpmMax) || this.refuseLeaseOf(peer, theirs);
  }

  /** A peer's lease parameters differ from ours: refused, and reported once per change. False. */
  private refuseLeaseOf(peer: NodeId, theirs: LeaseParams): boolean {
    const ours = this.leaseParams;
    const reported = this.refusedLeaseOf.get(peer);
    if (reported?.leaseMs !== theirs.leaseMs || reported.driftPpmMax !== theirs.driftPpmMax) {
      this.refusedLeaseOf.set(peer, theirs);
      this.out.addEvent({ kind: "peer-lease-mismatch", nodeId: this.id, peerId: peer, ours, theirs });
    }
    return false;
  }

  /** The configuration in use: the newest in the log, committed or not. */
  get membership(): Membership {
    return this.log.membership;
  }

  /** True when this node may stand for election: a voter of the configuration in use. */
  get isVoter(): boolean {
    return this.log.membership.isVoter(this.id);
  }

  /**
   * Who a leader replicates to: every member of the configuration in use and of the committed one
   * (so a removed member still learns of its removal), but itself.
   */
  replicationTargets(): NodeId[] {
    const targets = new Set<NodeId>();
    for (const m of this.log.membership.members) targets.add(m.id);
    for (const m of this.log.membershipAt(this.commitIndex).members) targets.add(m.id);
    targets.delete(this.id);
    return [...targets].sort((a, b) => a - b);
  }

  // ---------------------------------------------------------------- shared transitions

  /** Adopts a newer term: forget the vote, become a follower. */
  adoptTerm(t: Term): void {
    assert(t > this.currentTerm, () => `adoptTerm ${t} not above ${this.currentTerm}`);
    this.becomeFollower(null);
    this.currentTerm = t;
    this.votedFor = null;
    this.out.hardStateMustSync = true;
  }

  /** Leaves leadership or candidacy in the current term (or follows `leader`). */
  becomeFollower(leader: NodeId | null): void {
    if (this.role === "leader") {
      this.out.addEvent({ kind: "stepping-down", nodeId: this.id });
      failPending(this);
    }
    if (this.role !== "follower") this.resetElectionTimer();
    this.role = "follower";
    this.leader = null;
    this.candidate = null;
    this.leaderId = leader;
  }

  resetElectionTimer(): void {
    const t = this.config.timing;
    this.electionDeadlineMs = this.nowMs + randomIntBetween(this.random, t.electionTimeoutMinMs, t.electionTimeoutMaxMs);
  }

  send(m: Message): void {
    this.out.addMessage(m);
  }

  hardState(): HardState {
    return { currentTerm: this.currentTerm, votedFor: this.votedFor, commitIndex: this.commitIndex };
  }

  recordHardState(termBefore: Term, voteBefore: NodeId | null, commitBefore: LogIndex): void {
    const voteChanged = this.currentTerm !== termBefore || this.votedFor !== voteBefore;
    if (voteChanged) this.out.hardStateMustSync = true;
    if (voteChanged || this.commitIndex !== commitBefore) this.out.hardState = this.hardState();
  }

  // ---------------------------------------------------------------- time and status

  /** The latest clock reading at which this node wants a tick. */
  wakeAtMs(): number {
    this.writeWakeAtMs(this.wakeScratch);
    return this.wakeScratch.wakeAtMs;
  }

  /**
   * Writes wakeAtMs() into `into`: a step writes it into its output so, since a double returned
   * from a call V8 did not inline is boxed on the heap (16 bytes per step, when it was not).
   */
  writeWakeAtMs(into: { wakeAtMs: number }): void {
    const l = this.leader;
    if (l === null) {
      into.wakeAtMs = this.electionDeadlineMs;
      return;
    }
    l.lease.updateStepDownAt(this, this.membership);
    let wake = Math.min(l.nextHeartbeatAtMs, l.lease.stepDownAtMs);
    if (l.transfer !== null) wake = Math.min(wake, l.transfer.deadlineMs);
    const waiting = l.deferredWrites.length > 0 || l.pendingReads.length > 0;
    if (waiting && l.lease.oldLeaseWaitUntilMs > this.nowMs) wake = Math.min(wake, l.lease.oldLeaseWaitUntilMs);
    into.wakeAtMs = wake;
  }

  /**
   * When this node may serve lease reads, on its own clock, as of nowMs: null when it may not now
   * nor later without another step (not leader, its NO-OP not committed, or the lease is over).
   * Leases are decided here only: lease reads, status and the simulator's checker all use it.
   */
  leaseWindow(nowMs: number = this.nowMs, into: LeaseWindow = { fromMs: 0, untilMs: 0 }): LeaseWindow | null {
    const l = this.leader;
    if (l === null || this.commitIndex < l.noopIndex) return null;
    if (l.transfer?.timeoutNowSent === true && this.config.mutation !== "transfer-keeps-lease") return null;
    const untilMs = l.lease.validUntilMs(nowMs, this.membership);
    if (Math.max(nowMs, l.lease.oldLeaseWaitUntilMs) >= untilMs) return null;
    into.fromMs = l.lease.oldLeaseWaitUntilMs;
    into.untilMs = untilMs;
    return into;
  }

  /** True when a GET may be answered from this node's state at nowMs, with no round trip. */
  leaseReadable(nowMs: number = this.nowMs): boolean {
    if (nowMs < this.nowMs) return false;
    const w = this.leaseWindow(nowMs, this.windowScratch);
    return w !== null && w.fromMs <= nowMs && nowMs < w.untilMs;
  }

  status(nowMs: number = this.nowMs): NodeStatus {
    const readable = this.leaseReadable(nowMs); // fills windowScratch when true
    return {
      id: this.id,
      role: this.role,
      term: this.currentTerm,
      votedFor: this.votedFor,
      leaderId: this.leaderId,
      commitIndex: this.commitIndex,
      appliedIndex: this.appliedIndex,
      lastLogIndex: this.log.lastIndex,
      firstLogIndex: logIndex(this.log.prevIndex + 1),
      snapshotIndex: this.snapshot?.lastIndex ?? logIndex(0),
      leaseRemainingMs: readable ? Math.max(0, this.windowScratch.untilMs - nowMs) : 0,
      leaseReadable: readable,
      members: this.membership.members,
      transferringTo: this.leader?.transfer?.targetId ?? null,
    };
  }

  /**
   * Checked after every step. The test is one expression, and what breaks is said by another
   * function: the messages' templates made this one too large for V8 to inline into the step, and
   * a function inlined into the step takes from what V8 will inline there at all.
   */
  checkInvariants(): void {
    const leads = this.role === "leader";
    if (
      this.appliedIndex !== this.commitIndex ||
      this.commitIndex > this.log.lastIndex ||
      leads !== (this.leader !== null) ||
      (this.role === "candidate") !== (this.candidate !== null) ||
      (leads && (this.leaderId !== this.id || this.votedFor !== this.id))
    ) {
      this.sayWhichInvariant();
    }
  }

  /** checkInvariants found one broken: the same checks, each with its message. */
  private sayWhichInvariant(): never {
    if (this.appliedIndex !== this.commitIndex) broken(`applied ${this.appliedIndex} != commit ${this.commitIndex}`);
    if (this.commitIndex > this.log.lastIndex) broken(`commit ${this.commitIndex} beyond last index ${this.log.lastIndex}`);
    assert((this.role === "leader") === (this.leader !== null), "leader state present iff role is leader");
    assert((this.role === "candidate") === (this.candidate !== null), "candidate state present iff role is candidate");
    if (this.role === "leader") assert(this.leaderId === this.id && this.votedFor === this.id, "a leader follows and voted for itself");
    return broken("an invariant is broken");
  }
}
