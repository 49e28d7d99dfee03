// Elections: the randomized timer, PreVote, voting rules, and becoming leader.
//
// Rules (Raft §5.2, §5.4.1, thesis §9.6):
//  - a node votes at most once per term, and only for a candidate whose log is at least as up to
//    date as its own;
//  - with PreVote, a node whose timer fires first asks whether it could win (term + 1, no state
//    change anywhere); voters refuse while they heard from a leader within the election timeout
//    minimum, so a node rejoining from a partition does not depose a healthy leader;
//  - a vote reply carries the longest old-leader lease the voter knows of; the candidate keeps the
//    maximum, and as leader waits for it to end before it serves reads or acknowledges writes;
//  - only voters of a node's configuration in use stand and count (membership.ts); a node that
//    was sent TimeoutNow stands at once, without PreVote, and ignores the lease of the leader
//    that sent it, which gave it up (transfer.ts).

import { candidateWaitMs, LeaderLease } from "./lease.js";
import type { CandidateState, NodeCore } from "./state.js";
import { PendingWrites } from "./pending-writes.js";
import { Progress, ProgressTable } from "./progress.js";
import { sendAppends } from "./replication.js";
import { logIndex, term, type Entry, type NodeId, type Term, type VoteReply, type VoteRequest } from "./types.js";

/** What a TimeoutNow hands the candidate: the term whose leader gave its lease up, and what that leader still waited for. */
export interface Handover {
  readonly term: Term;
  readonly waitUntilMs: number;
}

/** Follower and candidate tick: start an election when the timer has run out (voters only). */
export function tickElectionTimer(n: NodeCore): void {
  if (n.nowMs < n.electionDeadlineMs) return;
  // A learner or a removed node never stands; a node removed by an entry not yet committed is still
  // a voter of the committed configuration, and may be needed until the change commits.
  if (!n.isVoter && !n.log.membershipAt(n.commitIndex).isVoter(n.id)) {
    n.resetElectionTimer();
    return;
  }
  n.out.addEvent({ kind: "election-timeout", nodeId: n.id });
  if (n.config.preVote) startPreVote(n);
  else startElection(n);
}

function startPreVote(n: NodeCore): void {
  n.becomeFollower(null);
  n.role = "candidate";
  n.candidate = { phase: "pre", granted: new Set([n.id]), oldLeaseUntilMs: -Infinity, handover: null };
  n.resetElectionTimer();
  requestVotes(n, true);
  if (hasMajority(n, n.candidate)) startElection(n);
}

/** Stands for the next term; `handover` when a leader sent TimeoutNow. */
export function startElection(n: NodeCore, handover: Handover | null = null): void {
  n.role = "candidate";
  n.currentTerm = term(n.currentTerm + 1);
  n.votedFor = n.id;
  n.out.hardStateMustSync = true;
  n.leaderId = null;
  n.candidate = { phase: "real", granted: new Set([n.id]), oldLeaseUntilMs: -Infinity, handover };
  n.resetElectionTimer();
  requestVotes(n, false);
  if (hasMajority(n, n.candidate)) becomeLeader(n);
}

/** Grants from voters of the configuration in use make a majority of them. */
function hasMajority(n: NodeCore, c: CandidateState): boolean {
  const config = n.membership;
  let votes = 0;
  for (const id of c.granted) if (config.isVoter(id)) votes++;
  return votes >= config.quorum;
}

function requestVotes(n: NodeCore, preVote: boolean): void {
  const t = preVote ? term(n.currentTerm + 1) : n.currentTerm;
  for (const peer of n.membership.voters) {
    if (peer === n.id) continue;
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
  n.out.addEvent({ kind: granted ? "vote-granted" : "vote-denied", nodeId: n.id, candidateId: m.from, term: m.term });
  n.send(voteReply(n, m, granted));
}

/** A vote request of an older term: denied, so that the candidate learns our term. */
export function refuseStaleVote(n: NodeCore, m: VoteRequest): void {
  n.out.addEvent({ kind: "vote-denied", nodeId: n.id, candidateId: m.from, term: m.term });
  n.send(voteReply(n, m, false));
}

/**
 * A candidate outside this node's configuration while a leader is known to be alive: a removed
 * node that never heard of its removal, standing in ever higher terms. Its vote requests are
 * ignored (no term change, no answer), so it cannot depose the leader (the Raft thesis, 4.2.3;
 * PreVote alone covers this only when it is on).
 */
export function isDisruptive(n: NodeCore, candidate: NodeId): boolean {
  if (n.membership.has(candidate)) return false;
  return n.role === "leader" || (n.leaderId !== null && n.nowMs - n.lastLeaderContactMs < n.config.timing.electionTimeoutMinMs);
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
    leaseTerm: n.leaseMemory.term,
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
  const handedOver = c.handover !== null && m.leaseTerm === c.handover.term;
  if (c.phase === "real" && !handedOver) {
    c.oldLeaseUntilMs = Math.max(c.oldLeaseUntilMs, n.nowMs + candidateWaitMs(n.config.timing, m.leaseRemainingMs));
  }
  if (!hasMajority(n, c)) return;
  if (c.phase === "pre") startElection(n);
  else becomeLeader(n);
}

function becomeLeader(n: NodeCore): void {
  const c = n.candidate;
  if (c === null) return;
  const waitUntilMs = n.config.mutation === "no-lease-wait" ? n.nowMs : oldLeaseWaitUntilMs(n, c);
  const noop: Entry = { term: n.currentTerm, command: { kind: "noop" } };
  const noopIndex = logIndex(n.log.lastIndex + 1);
  const progress = new ProgressTable();
  for (const peer of n.replicationTargets()) progress.set(peer, new Progress(n.log.lastIndex));
  n.role = "leader";
  n.candidate = null;
  n.leaderId = n.id;
  n.leader = {
    progress,
    matchScratch: [],
    lease: new LeaderLease(n.id, n.nowMs, waitUntilMs, n.config.timing, n.config.mutation),
    nextHeartbeatAtMs: n.nowMs,
    selfDurableIndex: logIndex(0),
    noopIndex,
    pendingWrites: new PendingWrites(),
    deferredWrites: [],
    pendingReads: [],
    transfer: null,
    heartbeatEvent: { kind: "heartbeat", leaderId: n.id },
  };
  n.out.addEvent({ kind: "became-leader", nodeId: n.id, term: n.currentTerm });
  if (waitUntilMs > n.nowMs) n.out.addEvent({ kind: "waiting-old-lease", nodeId: n.id, waitMs: waitUntilMs - n.nowMs });
  n.log.append([noop]);
  n.out.appended(noopIndex, [noop]);
  sendAppends(n, true);
}

/**
 * Until when a new leader waits before it serves reads or acknowledges writes: the end of every
 * lease its voters and its own memory know of, but a lease its handover says was given up; and
 * what the leader that handed over still waited for.
 */
function oldLeaseWaitUntilMs(n: NodeCore, c: CandidateState): number {
  const h = c.handover;
  const ownHandedOver = h !== null && n.leaseMemory.term === h.term;
  const own = ownHandedOver ? -Infinity : n.leaseMemory.knownUntilMs;
  return Math.max(c.oldLeaseUntilMs, own, h?.waitUntilMs ?? -Infinity, n.nowMs);
}
