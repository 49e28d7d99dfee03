// Elections: the randomized timer, PreVote, voting rules, and becoming leader.
//
// Rules (Raft §5.2, §5.4.1, thesis §9.6):
//  - a node votes at most once per term, and only for a candidate whose log is at least as up to
//    date as its own;
//  - with PreVote, a node whose timer fires first asks whether it could win (term + 1, no state
//    change anywhere); voters refuse while they heard from a leader within the election timeout
//    minimum, so a node rejoining from a partition does not depose a healthy leader;
//  - a vote reply carries the longest old-leader lease the voter knows of; the candidate keeps the
//    maximum, and as leader waits for it to end before it serves reads or acknowledges writes.

import { candidateWaitMs, LeaderLease } from "./lease.js";
import type { NodeCore } from "./state.js";
import { Progress } from "./progress.js";
import { sendAppends } from "./replication.js";
import { logIndex, term, type Entry, type NodeId, type VoteReply, type VoteRequest } from "./types.js";

/** Follower and candidate tick: start an election when the timer has run out. */
export function tickElectionTimer(n: NodeCore): void {
  if (n.nowMs < n.electionDeadlineMs) return;
  n.out.events.push({ kind: "election-timeout", nodeId: n.id });
  if (n.config.preVote) startPreVote(n);
  else startElection(n);
}

function startPreVote(n: NodeCore): void {
  n.becomeFollower(null);
  n.role = "candidate";
  n.candidate = { phase: "pre", granted: new Set([n.id]), oldLeaseUntilMs: -Infinity };
  n.resetElectionTimer();
  requestVotes(n, true);
  if (n.candidate.granted.size >= n.quorum) startElection(n);
}

function startElection(n: NodeCore): void {
  n.role = "candidate";
  n.currentTerm = term(n.currentTerm + 1);
  n.votedFor = n.id;
  n.out.hardStateMustSync = true;
  n.leaderId = null;
  n.candidate = { phase: "real", granted: new Set([n.id]), oldLeaseUntilMs: -Infinity };
  n.resetElectionTimer();
  requestVotes(n, false);
  if (n.candidate.granted.size >= n.quorum) becomeLeader(n);
}

function requestVotes(n: NodeCore, preVote: boolean): void {
  const t = preVote ? term(n.currentTerm + 1) : n.currentTerm;
  for (const peer of n.peers) {
    n.send({
      type: "vote-request",
      from: n.id,
      to: peer,
      term: t,
      lastLogIndex: n.log.lastIndex,
      lastLogTerm: n.log.lastTerm,
      preVote,
      lease: n.leaseParams,
    });
  }
}

/** A real vote request of the current term (terms were handled at the door). */
export function handleVoteRequest(n: NodeCore, m: VoteRequest): void {
  const free = n.votedFor === null || n.votedFor === m.from || n.config.mutation === "vote-twice";
  const granted = free && n.log.isUpToDate(m.lastLogIndex, m.lastLogTerm);
  if (granted) {
    n.votedFor = m.from;
    n.out.hardStateMustSync = true;
    n.resetElectionTimer();
  }
  n.out.events.push({ kind: granted ? "vote-granted" : "vote-denied", nodeId: n.id, candidateId: m.from, term: m.term });
  n.send(voteReply(n, m, granted));
}

/** A vote request of an older term: denied, so that the candidate learns our term. */
export function refuseStaleVote(n: NodeCore, m: VoteRequest): void {
  n.out.events.push({ kind: "vote-denied", nodeId: n.id, candidateId: m.from, term: m.term });
  n.send(voteReply(n, m, false));
}

/** A pre-vote asks about a term the candidate does not hold yet: it changes nothing here. */
export function answerPreVote(n: NodeCore, m: VoteRequest): void {
  const heardLeaderRecently =
    n.role === "leader" || (n.leaderId !== null && n.nowMs - n.lastLeaderContactMs < n.config.timing.electionTimeoutMinMs);
  const granted = m.term > n.currentTerm && !heardLeaderRecently && n.log.isUpToDate(m.lastLogIndex, m.lastLogTerm);
  n.send(voteReply(n, m, granted));
}

/** A vote reply names the request it answers (its term and kind) and carries the voter's term. */
function voteReply(n: NodeCore, m: VoteRequest, granted: boolean): VoteReply {
  return {
    type: "vote-reply",
    from: n.id,
    to: m.from,
    term: n.currentTerm,
    requestTerm: m.term,
    granted,
    preVote: m.preVote,
    leaseRemainingMs: n.leaseMemory.remainingMs(n.nowMs),
  };
}

/**
 * Counts a grant only when it answers this candidate's current round: the same kind (pre or real)
 * and the term that round asked for. A node stands for a term at most once, so an answer to an
 * earlier round or an earlier life never counts.
 */
export function handleVoteReply(n: NodeCore, m: VoteReply): void {
  const c = n.candidate;
  if (c === null || !m.granted || m.preVote !== (c.phase === "pre")) return;
  const roundTerm = c.phase === "pre" ? n.currentTerm + 1 : n.currentTerm;
  if (m.requestTerm !== roundTerm) return;
  c.granted.add(m.from);
  if (c.phase === "real") {
    c.oldLeaseUntilMs = Math.max(c.oldLeaseUntilMs, n.nowMs + candidateWaitMs(n.config.timing, m.leaseRemainingMs));
  }
  if (c.granted.size < n.quorum) return;
  if (c.phase === "pre") startElection(n);
  else becomeLeader(n);
}

function becomeLeader(n: NodeCore): void {
  const c = n.candidate;
  if (c === null) return;
  const waitUntilMs =
    n.config.mutation === "no-lease-wait" ? n.nowMs : Math.max(c.oldLeaseUntilMs, n.leaseMemory.knownUntilMs, n.nowMs);
  const noop: Entry = { term: n.currentTerm, command: { kind: "noop" } };
  const noopIndex = logIndex(n.log.lastIndex + 1);
  const progress = new Map<NodeId, Progress>();
  for (const peer of n.peers) progress.set(peer, new Progress(n.log.lastIndex));
  n.role = "leader";
  n.candidate = null;
  n.leaderId = n.id;
  n.leader = {
    progress,
    matchScratch: new Float64Array(n.peers.length + 1),
    lease: new LeaderLease(n.peers, n.quorum, n.nowMs, waitUntilMs),
    nextHeartbeatAtMs: n.nowMs,
    selfDurableIndex: logIndex(0),
    noopIndex,
    pendingWrites: new Map(),
    deferredWrites: [],
    pendingReads: [],
  };
  n.out.events.push({ kind: "became-leader", nodeId: n.id, term: n.currentTerm });
  if (waitUntilMs > n.nowMs) n.out.events.push({ kind: "waiting-old-lease", nodeId: n.id, waitMs: waitUntilMs - n.nowMs });
  n.log.append([noop]);
  n.out.appended(noopIndex, [noop]);
  sendAppends(n, true);
}
