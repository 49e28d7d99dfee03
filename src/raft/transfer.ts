// Leadership transfer (the Raft thesis, section 3.10), with the lease handed over.
//
// The leader stops taking writes, brings the target's log up to its own, then sends TimeoutNow:
// the target stands at once (no PreVote, no timer) in the next term. From the moment TimeoutNow
// leaves, the old leader serves no lease read again, in this term or any other of its leaderships
// (it holds none once the target stands). So the target need not wait for the old leader's
// lease: it ignores every lease its voters (and itself) remember of that leader's term. It still
// waits for what the old leader itself waited for (leases of earlier leaders), which TimeoutNow
// carries. Everything else the lease argument needs is unchanged (docs/lease.md, rule 11).
//
// A transfer that has not finished by the election timeout minimum is given up: the leader takes
// writes again, or, if it already sent TimeoutNow (its lease is gone), it steps down.

import { candidateWaitMs } from "./lease.js";
import { startElection } from "./election.js";
import { failure, reply } from "./pending.js";
import type { NodeCore } from "./state.js";
import type { NodeId, RequestId, TimeoutNow } from "./types.js";

/** An operator asked the leader to hand leadership to `to` (null: the most up-to-date voter). */
export function startTransfer(n: NodeCore, requestId: RequestId | null, to: NodeId | null): void {
  const l = n.leader;
  if (l === null) return;
  const target = to ?? bestSuccessor(n);
  const refusal = transferRefusal(n, target);
  if (refusal !== null) {
    if (requestId !== null) reply(n, requestId, failure(n, refusal.code, refusal.message));
    return;
  }
  if (target === n.id) {
    if (requestId !== null) reply(n, requestId, { ok: true, value: String(n.id) });
    return;
  }
  l.transfer = { targetId: target!, deadlineMs: n.nowMs + n.config.timing.electionTimeoutMinMs, requestId, timeoutNowSent: false };
  n.out.addEvent({ kind: "transfer-started", leaderId: n.id, targetId: target! });
}

function transferRefusal(n: NodeCore, target: NodeId | null): { code: "invalid" | "overloaded"; message: string } | null {
  const l = n.leader!;
  if (l.transfer !== null) return { code: "overloaded", message: `leadership is already being transferred to node ${l.transfer.targetId}; retry once it has moved` };
  if (target === null) return { code: "invalid", message: "there is no other voter to hand leadership to" };
  if (!n.membership.isVoter(target)) {
    return { code: "invalid", message: `node ${target} is not a voter of the cluster (voters: ${n.membership.voters.join(", ")}); name a voter` };
  }
  return null;
}

/** The voter (other than this leader) whose log matches the most of ours; null when there is none. */
export function bestSuccessor(n: NodeCore): NodeId | null {
  const l = n.leader;
  if (l === null) return null;
  let best: NodeId | null = null;
  let bestMatch = -1;
  for (const id of n.membership.voters) {
    const match = id === n.id ? -1 : (l.progress.get(id)?.matchIndex ?? -1);
    if (match > bestMatch) {
      best = id;
      bestMatch = match;
    }
  }
  return best;
}

/** After every leader step: send TimeoutNow once the target is caught up; give up at the deadline. */
export function advanceTransfer(n: NodeCore): void {
  const l = n.leader;
  const t = l?.transfer;
  if (l === null || t === null || t === undefined) return;
  if (n.nowMs >= t.deadlineMs) return giveUp(n, `it did not take over within ${n.config.timing.electionTimeoutMinMs} ms`);
  if (t.timeoutNowSent) return;
  if (!n.membership.isVoter(t.targetId)) return giveUp(n, "it is no longer a voter");
  if ((l.progress.get(t.targetId)?.matchIndex ?? 0) < n.log.lastIndex) return;
  sendTimeoutNow(n, t.targetId);
  t.timeoutNowSent = true;
  if (t.requestId !== null) reply(n, t.requestId, { ok: true, value: String(t.targetId) });
  for (const call of l.pendingReads) reply(n, call.requestId, failure(n, "not-leader", `leadership is moving to node ${t.targetId}; retry there`, t.targetId));
  l.pendingReads.length = 0;
}

function giveUp(n: NodeCore, reason: string): void {
  const l = n.leader!;
  const t = l.transfer!;
  l.transfer = null;
  n.out.addEvent({ kind: "transfer-failed", leaderId: n.id, targetId: t.targetId, reason });
  if (t.requestId !== null && !t.timeoutNowSent) reply(n, t.requestId, failure(n, "stepped-down", `node ${t.targetId} did not take leadership: ${reason}`));
  // With its lease given up it cannot serve reads again in this term; a leader the committed
  // configuration left out must not go on leading either.
  const removed = !n.isVoter && n.commitIndex >= n.log.membershipIndex;
  if (t.timeoutNowSent || removed) n.becomeFollower(null);
}

/** Tells `target` to stand now; from here on this leader serves no lease read (state.ts leaseWindow). */
export function sendTimeoutNow(n: NodeCore, target: NodeId): void {
  const waitUntilMs = n.leader?.lease.oldLeaseWaitUntilMs ?? n.nowMs;
  n.send({ type: "timeout-now", from: n.id, to: target, term: n.currentTerm, oldLeaseRemainingMs: Math.max(0, waitUntilMs - n.nowMs), lease: n.leaseParams });
  n.out.addEvent({ kind: "timeout-now-sent", leaderId: n.id, targetId: target });
}

/** Follower or candidate: the leader of the current term hands leadership over (terms were handled at the door). */
export function handleTimeoutNow(n: NodeCore, m: TimeoutNow): void {
  if (!n.isVoter) return;
  n.out.addEvent({ kind: "timeout-now-received", nodeId: n.id, leaderId: m.from });
  n.leaderId = null;
  startElection(n, { term: m.term, waitUntilMs: n.nowMs + candidateWaitMs(n.config.timing, m.oldLeaseRemainingMs) });
}
