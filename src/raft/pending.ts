// Clients waiting on a leader: writes waiting for their entry to commit (and for any old lease to
// end), reads waiting for the lease. Answered when they can be, all failed at once when leadership
// is lost. Every waiting structure is freed when its request is answered.

import type { NodeCore } from "./state.js";
import type { ClientErrorCode, ClientResult, LogIndex, NodeId, RequestId } from "./types.js";

/** A write's answer once it is done: one for all (an answer is a value, never changed). */
const WRITE_DONE: ClientResult = { ok: true, value: "" };

/** A committed entry at `index`: answer its client, or hold the answer until the old lease ends. */
export function releaseWrite(n: NodeCore, index: LogIndex): void {
  const l = n.leader;
  const requestId = l?.pendingWrites.release(index);
  if (l === null || requestId === undefined) return;
  if (n.nowMs >= l.lease.oldLeaseWaitUntilMs) reply(n, requestId, WRITE_DONE);
  else l.deferredWrites.push(requestId);
}

/** After every leader step: release what waited for the old lease, serve reads the lease allows. */
export function afterStepLeader(n: NodeCore): void {
  const l = n.leader;
  if (l === null) return;
  if (l.deferredWrites.length > 0 && n.nowMs >= l.lease.oldLeaseWaitUntilMs) {
    for (const id of l.deferredWrites) reply(n, id, WRITE_DONE);
    l.deferredWrites.length = 0;
  }
  if (l.pendingReads.length > 0 && n.leaseReadable()) {
    for (const call of l.pendingReads) {
      if (call.request.kind === "get") reply(n, call.requestId, { ok: true, value: n.kv.get(call.request.key) });
    }
    l.pendingReads.length = 0;
  }
}

/** Leadership is lost: every waiting client gets a clear answer now. */
export function failPending(n: NodeCore): void {
  const l = n.leader;
  if (l === null) return;
  const lost = "leadership was lost before the write finished; it may or may not have been applied, retry with the same session";
  for (const id of l.pendingWrites.requests()) reply(n, id, failure(n, "stepped-down", lost));
  for (const id of l.deferredWrites) reply(n, id, failure(n, "stepped-down", lost));
  for (const call of l.pendingReads) reply(n, call.requestId, failure(n, "not-leader", "leadership was lost; retry"));
  const transfer = l.transfer;
  if (transfer !== null && transfer.requestId !== null && !transfer.timeoutNowSent) {
    reply(n, transfer.requestId, failure(n, "stepped-down", `leadership was lost before it could be handed to node ${transfer.targetId}`));
  }
  l.pendingWrites.clear();
  l.deferredWrites.length = 0;
  l.pendingReads.length = 0;
}

/** A refusal; the hint names the leader to ask instead (by default the one this node follows). */
export function failure(n: NodeCore, code: ClientErrorCode, message: string, hint: NodeId | null = n.leaderId === n.id ? null : n.leaderId): ClientResult {
  return { ok: false, code, message, leaderHint: hint };
}

export function reply(n: NodeCore, requestId: RequestId, result: ClientResult): void {
  n.out.addReply({ requestId, result });
}
