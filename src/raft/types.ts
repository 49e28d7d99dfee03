// The core's vocabulary: ids, log entries, messages between nodes, inputs and outputs.
//
// Everything here is plain data: readonly, serializable, and free of clocks or I/O.
// Runtimes translate their wire and storage formats to and from these types at the edge.

// ---------------------------------------------------------------- branded numbers

export type Term = number & { readonly __brand: "Term" };
export type LogIndex = number & { readonly __brand: "LogIndex" };
export type NodeId = number & { readonly __brand: "NodeId" };
export type RequestId = number & { readonly __brand: "RequestId" };

export const term = (n: number): Term => n as Term;
export const logIndex = (n: number): LogIndex => n as LogIndex;
export const nodeId = (n: number): NodeId => n as NodeId;
export const requestId = (n: number): RequestId => n as RequestId;

/** `message` may be a function, so that its text is built only when the invariant breaks. */
export function assert(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) broken(typeof message === "string" ? message : message());
}

/**
 * The invariant named by `message` is broken. Hot paths write `if (!(condition)) broken(...)`
 * rather than assert with a message function: a function that creates a closure over its
 * parameters or `this` allocates a context for them on every call, broken or not.
 */
export function broken(message: string): never {
  throw new Error(`raft-lease invariant broken: ${message}`);
}

/** The one shape of a fallible translation or parse: a value, or an error text that says what to do. */
export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

export function assertNever(value: never): never {
  throw new Error(`raft-lease: unexpected value ${JSON.stringify(value)}`);
}

// ---------------------------------------------------------------- log and commands

/**
 * A write a client asked for. clientId + sequence make a retried SET apply once; firstUnanswered
 * lets one session have many SETs outstanding (kv.ts has the rule).
 */
export interface SetCommand {
  readonly kind: "set";
  readonly key: string;
  readonly value: string;
  readonly clientId: string; // "" when the client gave none
  readonly sequence: number; // 0 when the client gave none
  /**
   * The lowest sequence of this session the client may still send (not yet answered, not given
   * up on): every lower one is done, so the state machine may forget it. Equal to `sequence` for a
   * client with one SET at a time (the rule before windows); 0 when the client gave no session.
   */
  readonly firstUnanswered: number;
}
export interface NoopCommand {
  readonly kind: "noop";
}

/** A member's part in the cluster: a voter counts toward majorities; a learner only receives the log. */
export type MemberRole = "voter" | "learner";

/** One server of the cluster, with the address its peers and clients reach it at ("" when unknown). */
export interface Member {
  readonly id: NodeId;
  readonly address: string;
  readonly role: MemberRole;
}

/**
 * A new cluster configuration, whole, ordered by id (membership.ts has the rules). A node uses the
 * newest configuration in its log from the moment it appends it, committed or not.
 */
export interface ConfigCommand {
  readonly kind: "config";
  readonly members: readonly Member[];
}
export type Command = SetCommand | NoopCommand | ConfigCommand;

/** One log entry. Indexes start at 1; index 0 is the empty prefix with term 0. */
export interface Entry {
  readonly term: Term;
  readonly command: Command;
}

/** What must survive a crash besides the log (metadata.txt). */
export interface HardState {
  readonly currentTerm: Term;
  readonly votedFor: NodeId | null;
  readonly commitIndex: LogIndex;
}

/**
 * The state machine as of one log index: what a snapshot holds. The maps are never changed once
 * made (a node copies them when it restores), so one image may be held by the core, a message and
 * a writer at once.
 */
export interface Snapshot {
  /** The last log index (and its term) the image includes. */
  readonly lastIndex: LogIndex;
  readonly lastTerm: Term;
  /** The cluster's configuration as of lastIndex. */
  readonly members: readonly Member[];
  /** key -> value. */
  readonly data: ReadonlyMap<string, string>;
  /** client id -> what its session remembers, least recently used first. */
  readonly sessions: ReadonlyMap<string, SessionWindow>;
}

/**
 * What the state machine remembers of one client session (the Raft thesis, section 6.3): a SET
 * is a duplicate when its sequence is below firstUnanswered or among `applied`.
 */
export interface SessionWindow {
  /** The highest firstUnanswered any applied SET of the session carried. */
  readonly firstUnanswered: number;
  /** The sequences at or above firstUnanswered already applied, ascending. */
  readonly applied: readonly number[];
}

/** Where a log starts once a prefix is compacted: entries[0] has index prevIndex + 1. */
export interface LogStart {
  readonly prevIndex: LogIndex;
  /** The term of the entry at prevIndex (0 when prevIndex is 0). */
  readonly prevTerm: Term;
}

export const LOG_START_EMPTY: LogStart = Object.freeze({ prevIndex: 0 as LogIndex, prevTerm: 0 as Term });

/** What a node finds on its disk when it starts. */
export interface PersistedState {
  readonly hardState: HardState;
  /** The newest durable snapshot; none when absent. */
  readonly snapshot?: Snapshot | null;
  /** Where `entries` start; LOG_START_EMPTY (index 1 first) when absent. */
  readonly logStart?: LogStart;
  readonly entries: readonly Entry[]; // entries[0] is index logStart.prevIndex + 1
}

// ---------------------------------------------------------------- peer messages

export interface VoteRequest {
  readonly type: "vote-request";
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term; // for a pre-vote: the term the candidate would stand in
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
  readonly preVote: boolean;
  /** The candidate's lease parameters: a voter refuses a candidate whose lease rules differ. */
  readonly lease: LeaseParams;
}

export interface VoteReply {
  readonly type: "vote-reply";
  readonly from: NodeId;
  readonly to: NodeId;
  /** The voter's current term (a candidate behind it adopts it). */
  readonly term: Term;
  /** The term of the request this answers: a candidate counts only answers to its current round. */
  readonly requestTerm: Term;
  readonly granted: boolean;
  readonly preVote: boolean;
  /** Longest old-leader lease the voter knows of, voter-local ms, already stretched. */
  readonly leaseRemainingMs: number;
  /**
   * The term of the leader whose heartbeat that lease came from (0: unknown, e.g. the voter
   * restarted since). A candidate sent TimeoutNow ignores the lease of the leader that sent it.
   */
  readonly leaseTerm: Term;
}

export interface AppendRequest {
  readonly type: "append-request";
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
  readonly prevLogIndex: LogIndex;
  readonly prevLogTerm: Term;
  readonly entries: readonly Entry[];
  readonly leaderCommit: LogIndex;
  /** The lease this heartbeat renews and the drift bound it assumes: a follower refuses others'. */
  readonly lease: LeaseParams;
  /** The leader's clock when it sent this; the follower echoes it back. */
  readonly leaderSendMs: number;
}

export interface AppendReply {
  readonly type: "append-reply";
  readonly from: NodeId;
  readonly to: NodeId;
  /** The follower's current term (a leader behind it steps down). */
  readonly term: Term;
  /**
   * The term of the request this answers. A leader interprets only answers to requests of its
   * own leadership: a node leads a term at most once, so (term, leader) names one leadership.
   */
  readonly requestTerm: Term;
  readonly success: boolean;
  /** On success: the last index known to match the leader's log. */
  readonly matchIndex: LogIndex;
  /** On failure: the index the leader should retry from, and the term found there (0: none). */
  readonly conflictIndex: LogIndex;
  readonly conflictTerm: Term;
  /** On failure: prevLogIndex of the rejected request, so stale rejections can be ignored. */
  readonly rejectedPrevIndex: LogIndex;
  /** Echo of the request's leaderSendMs: on the leader's clock of the leadership it names. */
  readonly leaderSendMs: number;
}

/**
 * A leader sends its newest snapshot to a follower whose next entry it compacted away (the Raft
 * paper's InstallSnapshot). Runtimes move the image in bounded chunks; the core sees it whole.
 */
export interface SnapshotRequest {
  readonly type: "snapshot-request";
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
  readonly snapshot: Snapshot;
  readonly lease: LeaseParams;
  readonly leaderSendMs: number;
}

export interface SnapshotReply {
  readonly type: "snapshot-reply";
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
  readonly requestTerm: Term;
  /** The last index known to match the leader's log: the snapshot's, or more when it held more. */
  readonly matchIndex: LogIndex;
  /** The snapshot's lastIndex, so the leader knows which of its sends this answers. */
  readonly snapshotIndex: LogIndex;
  readonly leaderSendMs: number;
}

/**
 * Leadership transfer: the leader of `term` tells a caught-up voter to start an election at once.
 * The leader serves no lease read from the moment it sends this (it hands its lease over), so
 * the target need not wait for leases of that leader; it still waits for what the leader itself
 * was waiting for (older leaders' leases), oldLeaseRemainingMs of the leader's clock.
 */
export interface TimeoutNow {
  readonly type: "timeout-now";
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
  readonly oldLeaseRemainingMs: number;
  readonly lease: LeaseParams;
}

/**
 * The two numbers the lease argument depends on. Every node must use the same ones: a node
 * refuses the messages of a peer whose lease parameters differ, and says so.
 */
export interface LeaseParams {
  readonly leaseMs: number;
  readonly driftPpmMax: number;
}

export type Message = VoteRequest | VoteReply | AppendRequest | AppendReply | SnapshotRequest | SnapshotReply | TimeoutNow;

// ---------------------------------------------------------------- clients

/** A client's request: a SET is the very command it asks the log to hold. */
export type ClientRequest = SetCommand | { readonly kind: "get"; readonly key: string };

export interface ClientCall {
  readonly requestId: RequestId;
  readonly request: ClientRequest;
}

export type ClientErrorCode =
  | "not-leader" // ask leaderHint instead (null: no leader known)
  | "stepped-down" // the leader lost leadership before the request finished; it may or may not have applied
  | "overloaded" // too many requests pending; retry later
  | "invalid"; // the request itself is bad (too long a key, ...); do not retry

/** A client request's answer; runtimes widen `Code` with failures of their own (e.g. "timeout"). */
export type ClientResult<Code extends string = ClientErrorCode> =
  | { readonly ok: true; readonly value: string }
  | { readonly ok: false; readonly code: Code; readonly message: string; readonly leaderHint: NodeId | null };

/**
 * An operator's request to the leader (admin.ts). A member is added as a learner and promoted to
 * voter by the leader once it has caught up; one configuration change is in flight at a time.
 */
export type AdminRequest =
  | { readonly kind: "add-member"; readonly id: NodeId; readonly address: string }
  | { readonly kind: "remove-member"; readonly id: NodeId }
  /** `to`: null lets the leader pick the most up-to-date voter. */
  | { readonly kind: "transfer-leader"; readonly to: NodeId | null };

export interface AdminCall {
  readonly requestId: RequestId;
  readonly request: AdminRequest;
}

export interface ClientReply {
  readonly requestId: RequestId;
  readonly result: ClientResult;
}

// ---------------------------------------------------------------- inputs

/** Every input carries nowMs: the node's own monotonic clock. The core never reads a clock. */
export type Input =
  | { readonly type: "tick"; readonly nowMs: number }
  | { readonly type: "message"; readonly nowMs: number; readonly message: Message }
  | { readonly type: "client"; readonly nowMs: number; readonly calls: readonly ClientCall[] }
  /** An operator's request; answered in `replies` under its requestId, like a client's. */
  | { readonly type: "admin"; readonly nowMs: number; readonly call: AdminCall }
  /** The log is durable through (index, term): sent by runtimes that set leaderPersistsInParallel. */
  | { readonly type: "persisted"; readonly nowMs: number; readonly index: LogIndex; readonly term: Term }
  /** The snapshot of an output's `saveSnapshot` (named by its lastIndex) is durable. */
  | { readonly type: "snapshot-saved"; readonly nowMs: number; readonly index: LogIndex };

// ---------------------------------------------------------------- outputs

/**
 * The dump.txt events of the original exercise (docs/exercise.md), as data. `formatEvent` in events.ts renders them.
 * "rpc-error" is produced by runtimes (the core never sees a failed send).
 */
export type RaftEvent =
  | { readonly kind: "heartbeat"; readonly leaderId: NodeId }
  | { readonly kind: "lease-renewal-failed"; readonly leaderId: NodeId }
  | { readonly kind: "waiting-old-lease"; readonly nodeId: NodeId; readonly waitMs: number }
  | { readonly kind: "election-timeout"; readonly nodeId: NodeId }
  | { readonly kind: "became-leader"; readonly nodeId: NodeId; readonly term: Term }
  | { readonly kind: "rpc-error"; readonly followerId: NodeId }
  // The operation is the command or request itself, turned into text (formatOperation) only when
  // the event is shown: most runs show no event, and formatting one per applied entry per node
  // was a tenth of what the simulator allocated.
  | { readonly kind: "follower-committed"; readonly nodeId: NodeId; readonly operation: Command }
  | { readonly kind: "leader-received"; readonly nodeId: NodeId; readonly operation: ClientRequest }
  | { readonly kind: "leader-committed"; readonly nodeId: NodeId; readonly operation: Command }
  | { readonly kind: "append-accepted"; readonly nodeId: NodeId; readonly leaderId: NodeId }
  | { readonly kind: "append-rejected"; readonly nodeId: NodeId; readonly leaderId: NodeId }
  | { readonly kind: "vote-granted"; readonly nodeId: NodeId; readonly candidateId: NodeId; readonly term: Term }
  | { readonly kind: "vote-denied"; readonly nodeId: NodeId; readonly candidateId: NodeId; readonly term: Term }
  | { readonly kind: "stepping-down"; readonly nodeId: NodeId }
  /** A leader sends its snapshot to a follower whose next entries it no longer holds. */
  | { readonly kind: "snapshot-sent"; readonly leaderId: NodeId; readonly followerId: NodeId; readonly index: LogIndex; readonly term: Term }
  /** A follower replaced its state machine by a leader's snapshot. */
  | { readonly kind: "snapshot-installed"; readonly nodeId: NodeId; readonly leaderId: NodeId; readonly index: LogIndex; readonly term: Term }
  /** A node wrote a snapshot of its state machine and dropped the log before it (keeping a tail). */
  | { readonly kind: "log-compacted"; readonly nodeId: NodeId; readonly snapshotIndex: LogIndex; readonly firstIndex: LogIndex }
  /** A peer's message was refused because its lease parameters differ from ours (once per change). */
  | { readonly kind: "peer-lease-mismatch"; readonly nodeId: NodeId; readonly peerId: NodeId; readonly ours: LeaseParams; readonly theirs: LeaseParams }
  /** A node's configuration in use changed: it appended, lost (truncated) or installed a configuration entry. */
  | { readonly kind: "config-changed"; readonly nodeId: NodeId; readonly index: LogIndex; readonly members: readonly Member[] }
  /** The configuration in use leaves this node out: once that entry commits it takes no further part (a leader steps down then). */
  | { readonly kind: "removed-from-cluster"; readonly nodeId: NodeId; readonly index: LogIndex }
  /** A leader stops taking writes and brings `targetId` up to date before handing leadership over. */
  | { readonly kind: "transfer-started"; readonly leaderId: NodeId; readonly targetId: NodeId }
  /** The target is up to date: the leader hands its lease over and tells it to stand at once. */
  | { readonly kind: "timeout-now-sent"; readonly leaderId: NodeId; readonly targetId: NodeId }
  | { readonly kind: "timeout-now-received"; readonly nodeId: NodeId; readonly leaderId: NodeId }
  /** A transfer did not finish in time: the leader takes writes again, or steps down if it handed its lease over. */
  | { readonly kind: "transfer-failed"; readonly leaderId: NodeId; readonly targetId: NodeId; readonly reason: string };

export interface AppliedEntry {
  readonly index: LogIndex;
  readonly entry: Entry;
}

/**
 * What the runtime must do after one step, in this order (the output contract):
 *  1. persist: if `installSnapshot` is set, make it the durable snapshot first (a follower
 *     installs a leader's); if `truncateFrom` is set, drop log entries at and after it; if
 *     `compactTo` is set, drop the entries up to its prevIndex (the log then starts after it, even
 *     when it held none of them); append `append`
 *     (whose first entry has index `appendFrom`); write `hardState` if set, only once that
 *     truncation and append are durable; make it durable. `hardState.commitIndex` never exceeds
 *     the log's last index after this output (asserted), so a persisted commit index never runs
 *     ahead of the durable log;
 *  2. send `messages` (only after step 1 is durable);
 *  3. `applied` lists the committed entries the core has applied to its state machine, in order
 *     (for the runtime's information; the core's own KV is already up to date);
 *  4. answer `replies`;
 *  5. record `events` (dump.txt and console);
 *  6. if `membership` is set, reach members by its addresses from now on;
 *  7. if `saveSnapshot` is set, write it durably in the background (never over a newer one) and
 *     then step a `snapshot-saved` input; the node goes on meanwhile.
 * `wakeAtMs` is the latest clock reading at which the core wants its next tick.
 */
export interface Output {
  readonly hardState: HardState | null;
  readonly installSnapshot: Snapshot | null;
  readonly truncateFrom: LogIndex | null;
  readonly compactTo: LogStart | null;
  readonly appendFrom: LogIndex | null;
  readonly append: readonly Entry[];
  readonly messages: readonly Message[];
  readonly applied: readonly AppliedEntry[];
  readonly replies: readonly ClientReply[];
  readonly events: readonly RaftEvent[];
  readonly saveSnapshot: Snapshot | null;
  /** The configuration in use, when this step changed it (the runtime learns new addresses here). */
  readonly membership: readonly Member[] | null;
  readonly wakeAtMs: number;
}

export type Role = "follower" | "candidate" | "leader";

/** A read-only view for `status`, tests and checkers. */
export interface NodeStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly votedFor: NodeId | null;
  readonly leaderId: NodeId | null;
  readonly commitIndex: LogIndex;
  readonly appliedIndex: LogIndex;
  readonly lastLogIndex: LogIndex;
  /** The first index the log holds (1 until a snapshot lets a prefix go). */
  readonly firstLogIndex: LogIndex;
  /** The last index of the newest durable snapshot (0: none). */
  readonly snapshotIndex: LogIndex;
  /** Leader only: ms for which it may still serve lease reads (0 when it may not). */
  readonly leaseRemainingMs: number;
  /** True when this node would answer a GET from its lease right now. */
  readonly leaseReadable: boolean;
  /** The configuration in use (the newest in the log, committed or not), ordered by id. */
  readonly members: readonly Member[];
  /** Leader only: the voter leadership is being handed to, or null. */
  readonly transferringTo: NodeId | null;
}
