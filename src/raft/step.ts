// One step of a node: an input in, the output contract out.
//
// Terms are handled once, at the door, before any role sees a message: a message of a higher term
// makes this node a follower of that term first; a request of an older term is answered with a
// refusal that carries our term (so its sender learns it), and goes no further. Replies, whatever
// the replier's term, are matched to the request they name by the role that sent it. Then a table per message kind routes it by
// role; no handler compares terms again.

import { applyCommitted, notePersisted } from "./commit.js";
import { answerPreVote, handleVoteReply, handleVoteRequest, isDisruptive, refuseStaleVote, tickElectionTimer } from "./election.js";
import { OutputBuilder, type FullOutput } from "./output.js";
import { afterStepLeader } from "./pending.js";
import { handleAppendReply, handleAppendRequest, handleSnapshotReply, rejectStaleAppend, sendAppends, tickLeader } from "./replication.js";
import { handleClientCalls } from "./requests.js";
import type { Membership } from "./membership.js";
import { handleAdmin, maybePromote, noteCommittedConfig } from "./reconfigure.js";
import { handleSnapshotRequest, maybeTakeSnapshot, noteSnapshotSaved, refuseStaleSnapshot } from "./snapshot.js";
import type { NodeCore } from "./state.js";
import { advanceTransfer, handleTimeoutNow } from "./transfer.js";
import {
  assert,
  broken,
  assertNever,
  type AppendReply,
  type AppendRequest,
  type Input,
  type Message,
  type Role,
  type SnapshotReply,
  type SnapshotRequest,
  type Term,
  type TimeoutNow,
  type VoteReply,
  type VoteRequest,
} from "./types.js";

type Handler<T> = (n: NodeCore, t: T) => void;
const ignore = (): void => {};

const tickByRole = { follower: tickElectionTimer, candidate: tickElectionTimer, leader: tickLeader } satisfies Record<Role, Handler<void>>;

const onAppendRequest = {
  follower: handleAppendRequest,
  candidate: handleAppendRequest,
  leader: (n, m) => assert(false, () => `two leaders in term ${m.term}: ${n.id} and ${m.from}`),
} satisfies Record<Role, Handler<AppendRequest>>;
const onAppendReply = { follower: ignore, candidate: ignore, leader: handleAppendReply } satisfies Record<Role, Handler<AppendReply>>;
const onVoteRequest = { follower: handleVoteRequest, candidate: handleVoteRequest, leader: handleVoteRequest } satisfies Record<Role, Handler<VoteRequest>>;
const onSnapshotRequest = {
  follower: handleSnapshotRequest,
  candidate: handleSnapshotRequest,
  leader: (n, m) => assert(false, () => `two leaders in term ${m.term}: ${n.id} and ${m.from}`),
} satisfies Record<Role, Handler<SnapshotRequest>>;
const onSnapshotReply = { follower: ignore, candidate: ignore, leader: handleSnapshotReply } satisfies Record<Role, Handler<SnapshotReply>>;
const onVoteReply = { follower: ignore, candidate: handleVoteReply, leader: ignore } satisfies Record<Role, Handler<VoteReply>>;
const onTimeoutNow = { follower: handleTimeoutNow, candidate: handleTimeoutNow, leader: ignore } satisfies Record<Role, Handler<TimeoutNow>>;

export function stepNode(n: NodeCore, input: Input): FullOutput {
  const nowMs = input.nowMs; // read once: inputs come in several shapes (see receive)
  if (!(nowMs >= n.nowMs)) broken(`the clock went backwards: ${nowMs} < ${n.nowMs}`);
  n.nowMs = nowMs;
  n.out = new OutputBuilder();
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
      tickByRole[n.role](n);
      break;
    case "message":
      receive(n, input.message);
      break;
    case "client":
      if (handleClientCalls(n, input.calls)) sendAppends(n, false);
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
  noteCommittedConfig(n);
  if (n.leader !== null) {
    maybePromote(n);
    advanceTransfer(n);
    afterStepLeader(n);
  }
  if (n.membership !== membershipBefore) noteConfigChanged(n, membershipBefore);
  maybeTakeSnapshot(n);
  n.recordHardState(termBefore, voteBefore, commitBefore);
  n.checkInvariants();
  const sendBeforePersist = n.config.leaderPersistsInParallel && n.role === "leader" && !n.out.hardStateMustSync && n.out.truncateFrom === null;
  return n.out.build(n.wakeAtMs(), sendBeforePersist, n.log.lastIndex);
}

/** Replays the committed prefix found on disk into the state machine, reporting nothing. */
export function replayCommitted(n: NodeCore): void {
  applyCommitted(n, false);
  n.out = new OutputBuilder();
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
 * Messages come from any node but this one: a node may hear from a leader or a candidate before
 * it knows the configuration that lists them (a member being added, a voter behind).
 *
 * The switch on the kind comes first, and each case reads its fields: messages come in seven
 * shapes, and V8 looks a field up generically (and again at every read) where a read can meet
 * any of them, but directly where it meets one.
 */
function receive(n: NodeCore, m: Message): void {
  if (m.to !== n.id || m.from === n.id) return;
  switch (m.type) {
    case "append-request":
      if (!n.acceptsLeaseOf(m.from, m.lease)) return;
      if (!termDoor(n, m.term)) return rejectStaleAppend(n, m);
      return onAppendRequest[n.role](n, m);
    case "vote-request":
      if (!n.acceptsLeaseOf(m.from, m.lease)) return;
      if (m.preVote) return answerPreVote(n, m);
      if (m.term > n.currentTerm && isDisruptive(n, m.from)) return;
      if (!termDoor(n, m.term)) return refuseStaleVote(n, m);
      return onVoteRequest[n.role](n, m);
    case "snapshot-request":
      if (!n.acceptsLeaseOf(m.from, m.lease)) return;
      if (!termDoor(n, m.term)) return refuseStaleSnapshot(n, m);
      return onSnapshotRequest[n.role](n, m);
    case "timeout-now":
      if (!n.acceptsLeaseOf(m.from, m.lease)) return;
      if (!termDoor(n, m.term)) return; // a leadership that is over: nothing to hand over
      return onTimeoutNow[n.role](n, m);
    // A reply from a node behind us still goes on: it names the request it answers (requestTerm),
    // and a pre-vote may be granted by a voter whose own term is behind the candidate's.
    case "append-reply":
      termDoor(n, m.term);
      return onAppendReply[n.role](n, m);
    case "vote-reply":
      termDoor(n, m.term);
      return onVoteReply[n.role](n, m);
    case "snapshot-reply":
      termDoor(n, m.term);
      return onSnapshotReply[n.role](n, m);
    default:
      return assertNever(m);
  }
}

/** A message of a newer term makes this node a follower of that term first. False: the message is of an older term. */
function termDoor(n: NodeCore, t: Term): boolean {
  if (t > n.currentTerm) n.adoptTerm(t);
  return t === n.currentTerm;
}
