// Membership changes on the leader, and what a committed configuration changes on every node.
//
// An operator adds a member (it joins as a learner), or removes one; the leader promotes a
// learner to voter by itself once the learner's log has caught up with the commit index. Each
// change is one configuration entry, one server at a time (membership.ts), proposed only once
// this term's NO-OP and the previous change are committed; the operator's request is answered
// when its entry commits. When a configuration commits, the leader stops replicating to members
// it no longer has, and a leader that is no longer a voter transfers leadership to its most
// up-to-date voter (or, failing that, steps down).

import { isSingleChange, type Membership } from "./membership.js";
import { failure, reply } from "./pending.js";
import { Progress } from "./progress.js";
import { sendAppends } from "./replication.js";
import type { NodeCore } from "./state.js";
import { bestSuccessor, startTransfer } from "./transfer.js";
import { assert, assertNever, logIndex, type AdminCall, type Entry, type Member, type NodeId, type RequestId } from "./types.js";

/** An operator's request: answered at once when refused, else when its entry commits (or by transfer.ts). */
export function handleAdmin(n: NodeCore, call: AdminCall): void {
  if (n.leader === null) {
    const message = n.leaderId === null ? "no leader is known; retry shortly" : `not the leader; try node ${n.leaderId}`;
    return reply(n, call.requestId, failure(n, "not-leader", message));
  }
  const r = call.request;
  switch (r.kind) {
    case "add-member":
      return change(n, call.requestId, addRefusal(n.membership, r.id), () => n.membership.with({ id: r.id, address: r.address, role: "learner" }));
    case "remove-member":
      return change(n, call.requestId, removeRefusal(n.membership, r.id), () => n.membership.without(r.id));
    case "transfer-leader":
      return startTransfer(n, call.requestId, r.to);
    default:
      return assertNever(r);
  }
}

function addRefusal(config: Membership, id: NodeId): string | null {
  if (!Number.isSafeInteger(id) || id < 0) return `node id ${id} must be a whole number >= 0`;
  const role = config.roleOf(id);
  return role === null ? null : `node ${id} is already a ${role} of the cluster; remove it first to add it again`;
}

function removeRefusal(config: Membership, id: NodeId): string | null {
  if (!config.has(id)) return `node ${id} is not a member of the cluster (members: ${config.members.map((m) => m.id).join(", ")})`;
  if (config.voters.length === 1 && config.isVoter(id)) return `node ${id} is the last voter; add another voter before removing it`;
  return null;
}

function change(n: NodeCore, requestId: RequestId, refusal: string | null, next: () => Member[]): void {
  if (refusal !== null) return reply(n, requestId, failure(n, "invalid", refusal));
  const busy = busyReason(n);
  if (busy !== null) return reply(n, requestId, failure(n, "overloaded", busy));
  appendConfig(n, next(), requestId);
}

/** Why the leader cannot propose a change now (the rules in membership.ts), or null. */
function busyReason(n: NodeCore): string | null {
  const l = n.leader!;
  if (n.commitIndex < l.noopIndex) return "the leader has not yet committed an entry of its term; retry shortly";
  if (n.commitIndex < n.log.membershipIndex) return `the configuration change at entry ${n.log.membershipIndex} is not committed yet; retry once it is`;
  if (l.transfer !== null) return `leadership is moving to node ${l.transfer.targetId}; retry on the new leader`;
  return null;
}

function appendConfig(n: NodeCore, members: Member[], requestId: RequestId | null): void {
  const l = n.leader!;
  assert(isSingleChange(n.membership.members, members), "a configuration change adds, removes or promotes one server");
  const entry: Entry = { term: n.currentTerm, command: { kind: "config", members } };
  const index = logIndex(n.log.lastIndex + 1);
  n.log.append([entry]);
  n.out.appended(index, [entry]);
  if (requestId !== null) l.pendingWrites.add(index, requestId);
  syncProgress(n);
  sendAppends(n, false);
}

/** After every leader step: promote one learner whose log has caught up, when no change is outstanding. */
export function maybePromote(n: NodeCore): void {
  const l = n.leader;
  if (l === null || n.membership.learners.length === 0 || busyReason(n) !== null) return;
  for (const id of n.membership.learners) {
    const p = l.progress.get(id);
    if (p === undefined || p.state !== "replicate" || p.matchIndex < n.commitIndex) continue;
    const member = n.membership.members.find((m) => m.id === id)!;
    return appendConfig(n, n.membership.with({ ...member, role: "voter" }), null);
  }
}

/** The leader replicates to exactly its replication targets (state.ts); a new member starts with a probe. */
function syncProgress(n: NodeCore): void {
  const l = n.leader!;
  const targets = n.replicationTargets();
  for (const id of [...l.progress.ids]) if (!targets.includes(id)) l.progress.delete(id);
  for (const id of targets) if (!l.progress.has(id)) l.progress.set(id, new Progress(n.log.lastIndex));
}

/** After every step: act once on a configuration that has just committed. */
export function noteCommittedConfig(n: NodeCore): void {
  const index = n.log.membershipIndex;
  if (n.commitIndex < index || n.handledConfigIndex === index) return;
  n.handledConfigIndex = index;
  const config = n.membership;
  if (n.leader === null) return;
  syncProgress(n);
  if (config.isVoter(n.id)) return;
  // No longer a voter: hand leadership to the most up-to-date voter (transfer.ts brings it up to
  // date first and steps this leader down if it does not take over in time), or step down now.
  const successor = bestSuccessor(n);
  if (successor === null) return n.becomeFollower(null);
  if (n.leader.transfer === null) startTransfer(n, null, successor);
}
