// One simulated machine: a core instance, its clock, its disk, and its process state.
//
// up:      the process runs; inputs are stepped at once.
// paused:  stopped (SIGSTOP, a long GC) while real time goes on; inputs wait in the inbox and
//          are stepped, in order, when it resumes.
// crashed: gone; messages to it are lost, and a restart begins again from the disk alone.

import type { RaftConfig } from "../../../raft/index.js";
import { RaftNode } from "../../../raft/index.js";
import type { AdminRequest, LogIndex, Message, NodeId, RequestId } from "../../../raft/index.js";
import type { NodeAnswer } from "../../../client/retry.js";
import type { PendingCall } from "./pending-calls.js";
import type { CrashPoint } from "../faults/faults.js";
import { SimClock } from "./clock.js";
import { SimDisk } from "./disk.js";
import type { NodeState } from "../faults/plan.js";
import { Rng } from "./prng.js";
import type { FsyncEvent } from "./sim-event.js";

export type Inbound =
  | { readonly kind: "peer"; readonly message: Message }
  | { readonly kind: "persisted" }
  | { readonly kind: "snapshot-saved"; readonly index: LogIndex }
  | { readonly kind: "request"; readonly call: PendingCall }
  /** The operator's request (world/operator.ts); `answer` carries the reply back. */
  | { readonly kind: "admin"; readonly request: AdminRequest; readonly answer: (a: NodeAnswer) => void };

/** Inputs a paused node may hold, at most (a bounded socket buffer: the rest is dropped). */
export const INBOX_MAX = 10_000;

export class SimNode {
  state: NodeState = "crashed";
  core: RaftNode | null = null;
  readonly disk = new SimDisk();
  readonly inbox: Inbound[] = [];
  /** The operator's requests under way, by request id: where each answer goes. */
  readonly pendingAdmin = new Map<RequestId, (a: NodeAnswer) => void>();
  incarnation = 0;
  /**
   * The news that a sync of this life's disk finished: an event is never changed, so one per life
   * serves every sync (one made per sync was about 1.6 MB a round of the bench's seeds).
   */
  fsyncEvent: FsyncEvent;
  /** The queued tick timer: its true time and generation (older timers are ignored). */
  tickAtMs = Infinity;
  tickGen = 0;
  /** When the core wants its next tick, in true time (the queued timer may be earlier). */
  tickWantMs = Infinity;
  /** A crash armed to strike at the node's next step of this kind, after its disk write (kept across restarts). */
  crashOn: Exclude<CrashPoint, "now"> | null = null;
  /** A process kill armed to strike at the node's next step that grows its log: after the write, before its sync. */
  killOnAppend = false;
  /** A sync of the disk is under way (leaderPersistsInParallel): its completion is an event. */
  syncPending = false;
  /** The durable log end last reported to this life's core (a `persisted` input), as index and term. */
  reportedIndex = 0;
  reportedTerm = 0;
  /** Role and term after the last step, to notice changes. */
  lastRole: string = "down";
  lastTerm = -1;

  constructor(
    readonly id: NodeId,
    readonly clock: SimClock,
    readonly config: RaftConfig,
    private readonly seed: string,
  ) {
    this.fsyncEvent = { type: "fsync", node: id, incarnation: 0 };
  }

  /** Starts the process from what is on disk, at true time t. Throws what the core throws. */
  boot(t: number): RaftNode {
    this.incarnation += 1;
    this.fsyncEvent = { type: "fsync", node: this.id, incarnation: this.incarnation };
    this.reportedIndex = 0;
    this.reportedTerm = 0;
    this.disk.open(this.config.mutation === "trust-page-cache");
    const rng = new Rng(this.seed, "node", this.id, this.incarnation);
    this.core = RaftNode.start(this.config, this.disk.read(), this.clock.localAt(t), rng.fn);
    this.state = "up";
    return this.core;
  }

  /**
   * The process dies: memory, queued input and pending calls are gone (a client call is pending in
   * one life of the node: see PendingCalls); unsynced writes too after
   * a power loss, or they stay in the page cache after a process crash (`keepPageCache`).
   */
  kill(keepPageCache = false): void {
    this.state = "crashed";
    this.core = null;
    if (keepPageCache) this.disk.processCrash();
    else this.disk.crash();
    this.inbox.length = 0;
    this.pendingAdmin.clear();
    this.syncPending = false;
    this.tickGen += 1;
    this.tickAtMs = Infinity;
    this.tickWantMs = Infinity;
    this.lastRole = "down";
  }

  get live(): boolean {
    return this.state !== "crashed";
  }
}
