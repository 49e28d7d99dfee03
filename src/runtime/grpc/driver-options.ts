// The driver's vocabulary: what it needs (storage, limits, callbacks) and the peer messages and
// call results it passes between the core, the transport and the server.

import type { RaftConfig } from "../../raft/index.js";
import type {
  AppendReply,
  AppendRequest,
  ClientErrorCode,
  ClientResult,
  Member,
  NodeId,
  PersistedState,
  RaftEvent,
  Snapshot,
  SnapshotReply,
  SnapshotRequest,
  TimeoutNow,
  VoteReply,
  VoteRequest,
} from "../../raft/index.js";
import type { Random } from "../../raft/index.js";
import type { Clock } from "./clock.js";
import type { SyncOn } from "./file-layer.js";
import type { PersistRequest } from "./persist-request.js";

/** What the driver needs of storage (FileStorage in production, memory in tests). */
export interface DriverStorage {
  readonly recovered: PersistedState;
  /** Makes `request` durable; "thread": the step waits for it, so the sync may block the node's thread (file-layer.ts). */
  persist(request: PersistRequest, syncOn: SyncOn): Promise<void>;
  /** Writes a snapshot durably in the background (never over a newer one); resolves once it is. */
  saveSnapshot(snapshot: Snapshot): Promise<void>;
}

export type { PersistRequest };

/** The requests a peer sends, and their answers (TimeoutNow has none). */
export type PeerRequest = VoteRequest | AppendRequest | SnapshotRequest | TimeoutNow;
/** The requests answered by a reply message. */
export type AnsweredRequest = Exclude<PeerRequest, TimeoutNow>;
export type PeerReply = VoteReply | AppendReply | SnapshotReply;

export type CallErrorCode = ClientErrorCode | "timeout";

/** A client call's answer: the core's result, or the runtime's own failure. */
export type CallResult = ClientResult<CallErrorCode>;

export interface DriverLimits {
  /** Client calls stepped as one input, at most. */
  readonly clientBatchCountMax: number;
  /** Client calls awaiting an answer, at most. */
  readonly pendingCallCountMax: number;
  /** A call unanswered this long is answered "timeout". */
  readonly callTimeoutMs: number;
  /** Longest time between two ticks, whatever wakeAtMs says. */
  readonly tickIntervalMaxMs: number;
}

export interface DriverOptions {
  readonly config: RaftConfig;
  readonly storage: DriverStorage;
  readonly clock: Clock;
  readonly random: Random;
  readonly limits: DriverLimits;
  /** Sends a request to a peer (never blocks; the transport bounds itself). */
  readonly send: (m: PeerRequest) => void;
  readonly onEvent: (e: RaftEvent) => void;
  /** Storage failed or the core broke an invariant: the node must stop. Called once. */
  readonly onFatal: (err: Error) => void;
  /** The leader this node believes in changed (null: it knows none); for health and metrics. */
  readonly onLeaderChange?: (leaderId: NodeId | null, term: number) => void;
  /**
   * The configuration in use changed (entry `index`): reach its members from now on. Called as
   * the core decides it, before that step's messages are sent (some may be to a new member).
   */
  readonly onMembership?: (members: readonly Member[], index: number) => void;
}

/** Queue lengths, for metrics. */
export interface QueueSizes {
  /** Client calls awaiting an answer from this node. */
  readonly pendingCalls: number;
  /** Leader only: SETs appended and waiting to commit. */
  readonly pendingWrites: number;
  /** Leader only: GETs waiting for the lease. */
  readonly pendingReads: number;
}

export function defaultDriverLimits(config: RaftConfig): DriverLimits {
  const t = config.timing;
  return {
    clientBatchCountMax: 1024,
    pendingCallCountMax: config.pendingCountMax,
    callTimeoutMs: 2 * t.electionTimeoutMaxMs,
    tickIntervalMaxMs: t.heartbeatMs,
  };
}

