// Log replication: AppendEntries on both sides.
//
// Leader: heartbeats every heartbeatMs renew the lease; entries go out in batches bounded by
// count and bytes, pipelined up to inflightCountMax per follower once the match point is known.
// Follower: the consistency check on (prevLogIndex, prevLogTerm), truncation of a conflicting
// suffix, commit up to LeaderCommit (never past what this message proved to match), and the
// fast-backup hint (conflict index and term) on rejection.

import { maybeCommit, followerCommit } from "./commit.js";
import { stepDownIfLeaseLost } from "./lease.js";
import type { AppendAcceptedEvent, NodeCore } from "./state.js";
import type { Progress } from "./progress.js";
import { assert, broken, logIndex, term, type AppendReply, type AppendRequest, type Entry, type LogIndex, type NodeId, type SnapshotReply, type Term } from "./types.js";

// ---------------------------------------------------------------- leader side

/** A heartbeat's entries: none. One list for all, never written (messages are read-only). */
const NO_ENTRIES: readonly Entry[] = [];

export function tickLeader(n: NodeCore): void {
  const l = n.leader;
  assert(l !== null, "tickLeader on a non-leader");
  if (stepDownIfLeaseLost(n)) return;
  if (n.nowMs >= l.nextHeartbeatAtMs) sendAppends(n, true);
}

/** Sends what each follower needs; a heartbeat sends to every follower even with nothing new. */
export function sendAppends(n: NodeCore, heartbeat: boolean): void {
  sendToFollowers(n, heartbeat);
  maybeCommit(n);
}

/**
 * Sends a client's SETs, just appended. The commit moves only when this leader alone is a quorum:
 * the SETs changed nothing maybeCommit reads but this leader's own last index (not the
 * configuration), which is the largest of the indexes it counts (no follower matches beyond it)
 * or, when it writes in parallel, not counted before it is durable; and raising the largest
 * leaves the quorum-th largest as it was for a quorum of two or more, so maybeCommit would decide
 * as at its last run. (A leader's SET step skipped about 32,000 commit computations a round of
 * the bench's seeds.)
 */
export function sendNewEntries(n: NodeCore): void {
  sendToFollowers(n, false);
  if (n.membership.quorum === 1) maybeCommit(n);
}

function sendToFollowers(n: NodeCore, heartbeat: boolean): void {
  const l = n.leader;
  assert(l !== null, "sendAppends on a non-leader");
  if (heartbeat) {
    n.out.addEvent(l.heartbeatEvent);
    l.nextHeartbeatAtMs = n.nowMs + n.config.timing.heartbeatMs;
  }
  const peers = l.progress.ids;
  for (let k = 0; k < peers.length; k++) {
    const peer = peers[k]!;
    const p = l.progress.get(peer)!;
    if (heartbeat) p.onHeartbeat();
    sendToPeer(n, peer, p, heartbeat);
  }
}

/** Sends batches while the follower's window allows; an empty heartbeat if asked and none went. */
export function sendToPeer(n: NodeCore, peer: NodeId, p: Progress, heartbeat: boolean): void {
  const { batchCountMax, batchBytesMax, inflightCountMax } = n.config;
  if (p.state !== "snapshot" && p.nextIndex - 1 < n.log.prevIndex) sendSnapshot(n, peer, p);
  let sent = false;
  while (p.canSend(inflightCountMax) && (p.state === "probe" || p.nextIndex <= n.log.lastIndex)) {
    const entries = n.log.batch(p.nextIndex, batchCountMax, batchBytesMax);
    sendAppend(n, peer, logIndex(p.nextIndex - 1), entries);
    p.sentBatch(logIndex(p.nextIndex + entries.length - 1));
    sent = true;
    if (p.state === "probe") break;
  }
  // A heartbeat names an entry the leader still holds: a follower behind it refuses, and the
  // refusal (like any answer) renews the lease; in snapshot state the refusal is expected.
  if (heartbeat && !sent) sendAppend(n, peer, logIndex(Math.max(p.matchIndex, n.log.prevIndex)), NO_ENTRIES);
}

/** The follower needs entries compacted away: send the newest snapshot and wait for its answer. */
function sendSnapshot(n: NodeCore, peer: NodeId, p: Progress): void {
  const s = n.snapshot;
  assert(s !== null && s.lastIndex >= n.log.prevIndex, () => `the log is compacted through ${n.log.prevIndex} with no snapshot covering it`);
  p.sentSnapshot(s.lastIndex);
  n.leaseMemory.heard(n.nowMs, n.currentTerm);
  n.send({ type: "snapshot-request", from: n.id, to: peer, term: n.currentTerm, snapshot: s, lease: n.leaseParams, leaderSendMs: n.nowMs });
  n.out.addEvent({ kind: "snapshot-sent", leaderId: n.id, followerId: peer, index: s.lastIndex, term: s.lastTerm });
}

function sendAppend(n: NodeCore, peer: NodeId, prevLogIndex: LogIndex, entries: AppendRequest["entries"]): void {
  const prevLogTerm = n.log.termAt(prevLogIndex);
  if (prevLogTerm === undefined) broken(`leader has no entry at prevLogIndex ${prevLogIndex}`);
  // The leader remembers every lease it hands out, as a follower would.
  n.leaseMemory.heard(n.nowMs, n.currentTerm);
  n.send({
    type: "append-request",
    from: n.id,
    to: peer,
    term: n.currentTerm,
    prevLogIndex,
    prevLogTerm,
    entries,
    leaderCommit: n.commitIndex,
    lease: n.leaseParams,
    leaderSendMs: n.nowMs,
  });
}

/** Leader: a follower's answer. Terms were handled at the door; here it must answer this leadership. */
export function handleAppendReply(n: NodeCore, m: AppendReply): void {
  const l = n.leader;
  if (l === null || !answersThisLeadership(n, m)) return;
  const p = l.progress.get(m.from);
  if (p === undefined) return;
  // An answer to a request of this leadership: the follower recognized us and remembers the lease.
  l.lease.acknowledged(m.from, m.leaderSendMs, n.nowMs);
  if (m.success) {
    if (m.matchIndex > n.log.lastIndex) broken(`follower ${m.from} matches ${m.matchIndex} beyond our last ${n.log.lastIndex}`);
    // A match at or below the commit index cannot move it, and most are (the replies after the
    // quorum's): maybeCommit's other inputs (this leader's own index, the configuration) change
    // only where maybeCommit runs after them, so since its last run only matches rose, and one
    // raised to at most commitIndex leaves unchanged how many matches lie above commitIndex,
    // hence the quorum value above it and what maybeCommit would decide.
    if (p.matched(m.matchIndex) && m.matchIndex > n.commitIndex) maybeCommit(n);
  } else if (!isStaleRejection(p, m)) {
    p.backUpTo(nextIndexFromHint(n, m));
  }
  sendToPeer(n, m.from, p, false);
}

/** Leader: a follower's answer to a snapshot. */
export function handleSnapshotReply(n: NodeCore, m: SnapshotReply): void {
  const l = n.leader;
  if (l === null || !answersThisLeadership(n, m)) return;
  const p = l.progress.get(m.from);
  if (p === undefined) return;
  l.lease.acknowledged(m.from, m.leaderSendMs, n.nowMs);
  if (m.matchIndex > n.log.lastIndex) broken(`follower ${m.from} matches ${m.matchIndex} beyond our last ${n.log.lastIndex}`);
  if (p.matched(m.matchIndex)) maybeCommit(n);
  sendToPeer(n, m.from, p, false);
}

/**
 * A reply is interpreted only when it answers a request of this leadership: the request's term is
 * ours (a node leads a term at most once) and the echoed send time lies between the start of this
 * leadership and now on our clock. Anything else (a previous life's request, an earlier term's)
 * is dropped, never clamped into range.
 */
function answersThisLeadership(n: NodeCore, m: AppendReply | SnapshotReply): boolean {
  const l = n.leader;
  if (l === null) return false;
  if (n.config.mutation === "reply-current-term") return m.term === n.currentTerm;
  return m.requestTerm === n.currentTerm && l.lease.sentInThisLeadership(m.leaderSendMs, n.nowMs);
}

function isStaleRejection(p: Progress, m: AppendReply): boolean {
  if (m.rejectedPrevIndex <= p.matchIndex) return true;
  return p.state === "probe" && m.rejectedPrevIndex !== p.nextIndex - 1;
}

/** Fast backup: skip a whole conflicting term at once (Raft paper §5.3, last paragraph). */
function nextIndexFromHint(n: NodeCore, m: AppendReply): LogIndex {
  let next = m.conflictIndex;
  if (m.conflictTerm !== 0) {
    const last = n.log.lastIndexOfTerm(m.conflictTerm, m.rejectedPrevIndex);
    if (last !== null) next = logIndex(last + 1);
  }
  // Always move back by at least one, never past what the follower already matched.
  return logIndex(Math.min(next, m.rejectedPrevIndex));
}

// ---------------------------------------------------------------- follower side

/** Follower or candidate: AppendEntries of the current term (terms were handled at the door). */
export function handleAppendRequest(n: NodeCore, m: AppendRequest): void {
  if (n.log.isCompacted(m.prevLogIndex)) return handleAppendRequest(n, pastCompacted(n, m));
  if (n.role === "candidate" || n.leaderId !== m.from) n.becomeFollower(m.from);
  n.lastLeaderContactMs = n.nowMs;
  n.resetElectionTimer();
  n.leaseMemory.heard(n.nowMs, m.term);

  const prevTerm = n.log.termAt(m.prevLogIndex);
  if (prevTerm === undefined) return reject(n, m, logIndex(n.log.lastIndex + 1), term(0));
  if (prevTerm !== m.prevLogTerm) {
    if (m.prevLogIndex <= n.commitIndex) broken(`committed entry ${m.prevLogIndex} conflicts with leader ${m.from}`);
    return reject(n, m, n.log.firstIndexOfTerm(prevTerm, m.prevLogIndex), prevTerm);
  }
  appendNew(n, m);
  const matchIndex = logIndex(m.prevLogIndex + m.entries.length);
  followerCommit(n, logIndex(Math.min(m.leaderCommit, matchIndex)));
  n.out.addEvent(acceptedEvent(n, m.from));
  n.send(appendReply(n, m, true, matchIndex, logIndex(0), term(0)));
}

/**
 * The event of an accepted AppendEntries: the one of the previous request when it came from the
 * same leader (events are values, never changed; one per request was a twelfth of the bytes a
 * follower's step allocated).
 */
function acceptedEvent(n: NodeCore, leaderId: NodeId): AppendAcceptedEvent {
  const last = n.lastAcceptedEvent;
  if (last !== null && last.leaderId === leaderId) return last;
  return (n.lastAcceptedEvent = { kind: "append-accepted", nodeId: n.id, leaderId });
}

/**
 * The same request, starting at our log's start: what it holds before that is committed (our
 * compacted prefix lies inside our snapshot), so it matches the leader's by Leader Completeness.
 */
function pastCompacted(n: NodeCore, m: AppendRequest): AppendRequest {
  const skip = n.log.prevIndex - m.prevLogIndex;
  return { ...m, prevLogIndex: n.log.prevIndex, prevLogTerm: n.log.prevTerm, entries: m.entries.slice(skip) };
}

/** Appends the entries we lack, truncating a conflicting suffix first (never a committed entry). */
function appendNew(n: NodeCore, m: AppendRequest): void {
  for (let i = 0; i < m.entries.length; i++) {
    const index = logIndex(m.prevLogIndex + 1 + i);
    const existing = n.log.termAt(index);
    if (existing === m.entries[i]!.term) continue;
    if (existing !== undefined) {
      if (index <= n.commitIndex) broken(`leader ${m.from} would overwrite committed entry ${index}`);
      n.log.truncateFrom(index);
      n.out.truncated(index);
    }
    const rest = i === 0 ? m.entries : m.entries.slice(i); // a message's entries never change: shared, not copied
    n.log.append(rest);
    n.out.appended(index, rest);
    return;
  }
}

/** AppendEntries of an older term: refused, so that its sender learns our term. */
export function rejectStaleAppend(n: NodeCore, m: AppendRequest): void {
  reject(n, m, logIndex(0), term(0));
}

function reject(n: NodeCore, m: AppendRequest, conflictIndex: LogIndex, conflictTerm: typeof m.term): void {
  n.out.addEvent({ kind: "append-rejected", nodeId: n.id, leaderId: m.from });
  n.send(appendReply(n, m, false, logIndex(0), conflictIndex, conflictTerm));
}

function appendReply(n: NodeCore, m: AppendRequest, success: boolean, matchIndex: LogIndex, conflictIndex: LogIndex, conflictTerm: Term): AppendReply {
  return {
    type: "append-reply",
    from: n.id,
    to: m.from,
    term: n.currentTerm,
    requestTerm: n.config.mutation === "reply-current-term" ? n.currentTerm : m.term,
    success,
    matchIndex,
    conflictIndex,
    conflictTerm,
    rejectedPrevIndex: success ? logIndex(0) : m.prevLogIndex,
    leaderSendMs: m.leaderSendMs,
  };
}
