// RaftNode: the pure Raft-with-lease state machine, as runtimes and checkers see it. One input in,
// one output out (the output contract is in types.ts).
//
// The runtime owns clocks, timers, randomness (as a seeded function), disks and the network; the
// node owns the protocol. Its state is closed: runtimes use `start`, `step`, `wakeAtMs`,
// `status` and `leaseWindow`; checkers and tests read more through `inspect()`, a read-only view.

import type { RaftConfig } from "./config.js";
import type { FullOutput } from "./output.js";
import type { Random } from "./random.js";
import { NodeCore, type LeaseWindow } from "./state.js";
import { replayCommitted, stepNode } from "./step.js";
import { logIndex, type Entry, type HardState, type Input, type LogIndex, type NodeId, type NodeStatus, type PersistedState, type Role, type Snapshot, type Term } from "./types.js";

/** What checkers and tests may read of a node, beyond its status: never a field, never a write. */
export interface NodeView {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly leaderId: NodeId | null;
  readonly commitIndex: LogIndex;
  readonly lastLogIndex: LogIndex;
  /** The first index the log holds (1 until a snapshot lets a prefix go). */
  readonly firstLogIndex: LogIndex;
  /** The last index of the newest durable snapshot (0: none). */
  readonly snapshotIndex: LogIndex;
  /** The newest durable snapshot, or null. */
  readonly snapshot: Snapshot | null;
  /** The term of the entry at index (0 for index 0), or undefined past the log or inside its compacted prefix (but at firstLogIndex - 1). */
  termAt(index: LogIndex): Term | undefined;
  /** The entry at index; throws past the log. */
  entryAt(index: LogIndex): Entry;
  /** The state machine's value of key ("" when never set). */
  valueOf(key: string): string;
  /** Leader only: the index of this term's NO-OP (lease reads wait for it to commit); else null. */
  readonly noopIndex: LogIndex | null;
  /** Leader only: until when (its clock) it waits out older leases before serving reads or acking writes. */
  readonly oldLeaseWaitUntilMs: number | null;
  /** Leader only: when (its clock) its next heartbeat is due. */
  readonly nextHeartbeatAtMs: number | null;
  /** When (its clock) its election timer runs out; meaningful for followers and candidates. */
  readonly electionDeadlineMs: number;
  /** Leader only (else 0): client writes waiting for their commit or for an old lease to end. */
  readonly pendingWriteCount: number;
  /** Leader only (else 0): lease reads waiting for this leader to hold its lease. */
  readonly pendingReadCount: number;
  /** Leader only: the last index peer is known to hold; null on other roles or for a non-peer. */
  matchIndexOf(peer: NodeId): LogIndex | null;
}

export class RaftNode {
  readonly #core: NodeCore;
  readonly #view: NodeView;

  private constructor(core: NodeCore) {
    this.#core = core;
    this.#view = new CoreView(core);
  }

  /** Starts (or restarts) a node from what it finds on disk. `nowMs` is its monotonic clock. */
  static start(config: RaftConfig, persisted: PersistedState, nowMs: number, random: Random): RaftNode {
    const core = new NodeCore(config, persisted, nowMs, random);
    replayCommitted(core);
    return new RaftNode(core);
  }

  step(input: Input): FullOutput {
    return stepNode(this.#core, input);
  }

  /** The latest clock reading at which this node wants a tick. */
  wakeAtMs(): number {
    return this.#core.wakeAtMs();
  }

  get id(): NodeId {
    return this.#core.id;
  }

  get leaderId(): NodeId | null {
    return this.#core.leaderId;
  }

  status(nowMs?: number): NodeStatus {
    return this.#core.status(nowMs);
  }

  /** What must be durable now (term, vote, commit index): for a runtime that writes it on its own. */
  hardState(): HardState {
    return this.#core.hardState();
  }

  /** True when a GET may be answered from this node's state at nowMs (its clock), with no round trip. */
  leaseReadable(nowMs?: number): boolean {
    return this.#core.leaseReadable(nowMs);
  }

  /**
   * When this node may serve lease reads, on its own clock, as of nowMs; null when it may not now
   * nor later without another step. The one place leases are decided: checkers translate it.
   */
  leaseWindow(nowMs?: number, into?: LeaseWindow): LeaseWindow | null {
    return this.#core.leaseWindow(nowMs, into);
  }

  /**
   * True when the runtime must tell this node (a `persisted` input) how far its log is durable:
   * a leader that sends its entries before its own disk write (leaderPersistsInParallel) counts
   * itself toward a majority only then. Decided here, so runtimes need not know the rule.
   */
  wantsPersistedReports(): boolean {
    return this.#core.config.leaderPersistsInParallel && this.#core.role === "leader";
  }

  inspect(): NodeView {
    return this.#view;
  }
}

/**
 * The read-only view of one node. A class, so that every node's view has one hidden class and
 * its getters live on one prototype: views built as object literals with getters closing over
 * the node got a hidden class each, and the checkers' reads of them (several per step) went
 * through V8's generic property lookup.
 */
class CoreView implements NodeView {
  readonly #n: NodeCore;

  constructor(n: NodeCore) {
    this.#n = n;
  }

  get id(): NodeId {
    return this.#n.id;
  }
  get role(): Role {
    return this.#n.role;
  }
  get term(): Term {
    return this.#n.currentTerm;
  }
  get leaderId(): NodeId | null {
    return this.#n.leaderId;
  }
  get commitIndex(): LogIndex {
    return this.#n.commitIndex;
  }
  get lastLogIndex(): LogIndex {
    return this.#n.log.lastIndex;
  }
  get firstLogIndex(): LogIndex {
    return logIndex(this.#n.log.prevIndex + 1);
  }
  get snapshotIndex(): LogIndex {
    return this.#n.snapshot?.lastIndex ?? logIndex(0);
  }
  get snapshot(): Snapshot | null {
    return this.#n.snapshot;
  }
  termAt(index: LogIndex): Term | undefined {
    return this.#n.log.termAt(index);
  }
  entryAt(index: LogIndex): Entry {
    return this.#n.log.entryAt(index);
  }
  valueOf(key: string): string {
    return this.#n.kv.get(key);
  }
  get noopIndex(): LogIndex | null {
    return this.#n.leader?.noopIndex ?? null;
  }
  get oldLeaseWaitUntilMs(): number | null {
    return this.#n.leader?.lease.oldLeaseWaitUntilMs ?? null;
  }
  get nextHeartbeatAtMs(): number | null {
    return this.#n.leader?.nextHeartbeatAtMs ?? null;
  }
  get electionDeadlineMs(): number {
    return this.#n.electionDeadlineMs;
  }
  get pendingWriteCount(): number {
    const l = this.#n.leader;
    return l === null ? 0 : l.pendingWrites.size + l.deferredWrites.length;
  }
  get pendingReadCount(): number {
    return this.#n.leader?.pendingReads.length ?? 0;
  }
  matchIndexOf(peer: NodeId): LogIndex | null {
    return this.#n.leader?.progress.get(peer)?.matchIndex ?? null;
  }
}
