// One step of a node: an input in, the output contract out.
//
// Terms are handled once, at the door, before any role sees a message: a message of a higher term
// makes this node a follower of that term first; a request of an older term is answered with a
// refusal that carries our term (so its sender learns it), and goes no further. Replies, whatever
// the replier's term, are matched to the request they name by the role that sent it. Then each
// kind's door hands it to its role's handler; no handler compares terms again. The doors test the
// role with if, not through a table keyed by role: such a lookup by a changing key was generic in
// V8 (megamorphic, one per message step), and the handler it found could not be inlined.

import { applyCommitted, notePersisted } from "./commit.js";
import { answerPreVote, handleVoteReply, handleVoteRequest, isDisruptive, refuseStaleVote, tickElectionTimer } from "./election.js";
import type { FullOutput } from "./output.js";
import { afterStepLeader } from "./pending.js";
import { handleAppendReply, handleAppendRequest, handleSnapshotReply, rejectStaleAppend, sendNewEntries, tickLeader } from "./replication.js";
import { handleClientCalls } from "./requests.js";
import type { Membership } from "./membership.js";
import { handleAdmin, maybePromote, noteCommittedConfig } from "./reconfigure.js";
import { handleSnapshotRequest, maybeTakeSnapshot, noteSnapshotSaved, refuseStaleSnapshot } from "./snapshot.js";
import type { NodeCore } from "./state.js";
import { advanceTransfer, handleTimeoutNow } from "./transfer.js";
import {
  broken,
  assertNever,
  type AppendReply,
  type AppendRequest,
  type Input,
  type Message,
  type NodeId,
  type SnapshotReply,
  type SnapshotRequest,
  type Term,
  type TimeoutNow,
  type VoteReply,
  type VoteRequest,
} from "./types.js";

/**
 * A leader hears AppendEntries or InstallSnapshot of its own term: only another leader of that
 * term sends them, which Election Safety rules out.
 */
function twoLeaders(n: NodeCore, m: AppendRequest | SnapshotRequest): never {
  return broken(`two leaders in term ${m.term}: ${n.id} and ${m.from}`);
}

export function stepNode(n: NodeCore, input: Input): FullOutput {
  const nowMs = input.nowMs; // read once: inputs come in several shapes (see receive)
  if (!(nowMs >= n.nowMs)) broken(`the clock went backwards: ${nowMs} < ${n.nowMs}`);
  n.nowMs = nowMs;
  n.out.reset();
  if (n.startRepair !== null) {
    if (n.startRepair.truncateFrom !== null) n.out.truncated(n.startRepair.truncateFrom);
    n.out.compactTo = n.startRepair.compactTo;
    n.startRepair = null;
  }
  const termBefore = n.currentTerm;
  const voteBefore = n.votedFor;
  const commitBefore = n.commitIndex;
  const membershipBefore = n.membership;
  switch (input.type) {
    case "tick":
      if (n.role === "leader") tickLeader(n);
      else tickElectionTimer(n);
      break;
    case "message":
      receive(n, input.message);
      break;
    case "client":
      if (handleClientCalls(n, input.calls)) sendNewEntries(n);
      break;
    case "persisted":
      notePersisted(n, input.index, input.term);
      break;
    case "snapshot-saved":
      noteSnapshotSaved(n, input.index);
      break;
    case "admin":
      handleAdmin(n, input.call);
      break;
    default:
      assertNever(input);
  }
  // What every step may have to do after its input, tested here first: most steps have none of it
  // to do, and a test in this function costs less than a call (V8 inlines few of these calls,
  // their bodies being large) and takes nothing from what V8 inlines into the step.
  if (n.handledConfigIndex !== n.log.membershipIndex) noteCommittedConfig(n);
  const l = n.leader;
  if (l !== null) {
    if (n.membership.learners.length > 0) maybePromote(n);
    if (l.transfer !== null) advanceTransfer(n);
    if (l.deferredWrites.length > 0 || l.pendingReads.length > 0) afterStepLeader(n);
  }
  if (n.membership !== membershipBefore) noteConfigChanged(n, membershipBefore);
  maybeTakeSnapshot(n);
  n.recordHardState(termBefore, voteBefore, commitBefore);
  n.checkInvariants();
  const sendBeforePersist = n.config.leaderPersistsInParallel && n.role === "leader" && !n.out.hardStateMustSync && n.out.truncateFrom === null;
  n.writeWakeAtMs(n.out);
  return n.out.build(sendBeforePersist, n.log.lastIndex);
}

/** Replays the committed prefix found on disk into the state machine, reporting nothing. */
export function replayCommitted(n: NodeCore): void {
  applyCommitted(n, false);
  n.out.reset();
}

/** The configuration in use changed this step: say so, and hand the runtime its members. */
function noteConfigChanged(n: NodeCore, before: Membership): void {
  const members = n.membership.members;
  const index = n.log.membershipIndex;
  n.out.membership = members;
  n.out.addEvent({ kind: "config-changed", nodeId: n.id, index, members });
  if (before.has(n.id) && !n.membership.has(n.id)) n.out.addEvent({ kind: "removed-from-cluster", nodeId: n.id, index });
}

/**
 * The switch on the kind comes first, and each kind has a door of its own that reads its fields:
 * messages come in seven shapes, and V8 keeps one record of the shapes seen per field name for a
 * whole function (m.term read in seven cases meets all seven shapes), so that a read meeting more
 * than four is a generic lookup, where a read in a function of one kind meets one shape.
 */
function receive(n: NodeCore, m: Message): void {
  switch (m.type) {
    case "append-request":
      return appendRequestDoor(n, m);
    case "vote-request":
      return voteRequestDoor(n, m);
    case "snapshot-request":
      return snapshotRequestDoor(n, m);
    case "timeout-now":
      return timeoutNowDoor(n, m);
    case "append-reply":
      return appendReplyDoor(n, m);
    case "vote-reply":
      return voteReplyDoor(n, m);
    case "snapshot-reply":
      return snapshotReplyDoor(n, m);
    default:
      return assertNever(m);
  }
}

/**
 * Messages come from any node but this one: a node may hear from a leader or a candidate before
 * it knows the configuration that lists them (a member being added, a voter behind).
 */
function addressed(n: NodeCore, to: NodeId, from: NodeId): boolean {
  return to === n.id && from !== n.id;
}

function appendRequestDoor(n: NodeCore, m: AppendRequest): void {
  if (!addressed(n, m.to, m.from) || !n.acceptsLeaseOf(m.from, m.lease)) return;
  if (!termDoor(n, m.term)) return rejectStaleAppend(n, m);
  if (n.role === "leader") twoLeaders(n, m);
  handleAppendRequest(n, m);
}

function voteRequestDoor(n: NodeCore, m: VoteRequest): void {
  if (!addressed(n, m.to, m.from) || !n.acceptsLeaseOf(m.from, m.lease)) return;
  if (m.preVote) return answerPreVote(n, m);
  if (m.term > n.currentTerm && isDisruptive(n, m.from)) return;
  if (!termDoor(n, m.term)) return refuseStaleVote(n, m);
  handleVoteRequest(n, m);
}

function snapshotRequestDoor(n: NodeCore, m: SnapshotRequest): void {
  if (!addressed(n, m.to, m.from) || !n.acceptsLeaseOf(m.from, m.lease)) return;
  if (!termDoor(n, m.term)) return refuseStaleSnapshot(n, m);
  if (n.role === "leader") twoLeaders(n, m);
  handleSnapshotRequest(n, m);
}

function timeoutNowDoor(n: NodeCore, m: TimeoutNow): void {
  if (!addressed(n, m.to, m.from) || !n.acceptsLeaseOf(m.from, m.lease)) return;
  if (!termDoor(n, m.term)) return; // a leadership that is over: nothing to hand over
  if (n.role !== "leader") handleTimeoutNow(n, m);
}

// A reply from a node behind us still goes on: it names the request it answers (requestTerm),
// and a pre-vote may be granted by a voter whose own term is behind the candidate's.

function appendReplyDoor(n: NodeCore, m: AppendReply): void {
  if (!addressed(n, m.to, m.from)) return;
  termDoor(n, m.term);
  if (n.role === "leader") handleAppendReply(n, m);
}

function voteReplyDoor(n: NodeCore, m: VoteReply): void {
  if (!addressed(n, m.to, m.from)) return;
  termDoor(n, m.term);
  if (n.role === "candidate") handleVoteReply(n, m);
}

function snapshotReplyDoor(n: NodeCore, m: SnapshotReply): void {
  if (!addressed(n, m.to, m.from)) return;
  termDoor(n, m.term);
  if (n.role === "leader") handleSnapshotReply(n, m);
}

/** A message of a newer term makes this node a follower of that term first. False: the message is of an older term. */
function termDoor(n: NodeCore, t: Term): boolean {
  if (t > n.currentTerm) n.adoptTerm(t);
  return t === n.currentTerm;
}
