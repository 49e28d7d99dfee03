// Client requests on the leader: SETs are appended and answered once committed (and once any old
// leader's lease has ended); GETs are answered from the lease with no round trip, or wait
// (bounded) until this leader holds its lease. Everything pending fails when leadership is lost.

import { sendAppends } from "./replication.js";
import type { RaftNode } from "./node.js";
import { checkKey, checkSession, checkValue, formatOperation } from "./request.js";
import {
  assertNever,
  logIndex,
  type ClientCall,
  type ClientErrorCode,
  type ClientResult,
  type Entry,
  type LogIndex,
  type RequestId,
} from "./types.js";

export function handleClientCalls(n: RaftNode, calls: readonly ClientCall[]): void {
  const appended: Entry[] = [];
  const firstIndex = logIndex(n.log.lastIndex + 1);
  for (const call of calls) {
    const entry = admit(n, call);
    if (entry === null) continue;
    const index = logIndex(n.log.lastIndex + 1);
    n.log.append([entry]);
    n.leader?.pendingWrites.set(index, call.requestId);
    appended.push(entry);
  }
  if (appended.length === 0) return;
  n.out.appended(firstIndex, appended);
  sendAppends(n, false);
}

/** Answers or queues one call; returns the entry to append for an accepted SET. */
function admit(n: RaftNode, call: ClientCall): Entry | null {
  const l = n.leader;
  if (l === null) {
    const message = n.leaderId === null ? "no leader is known; retry shortly" : `not the leader; try node ${n.leaderId}`;
    reply(n, call.requestId, failure(n, "not-leader", message));
    return null;
  }
  const r = call.request;
  n.out.events.push({ kind: "leader-received", nodeId: n.id, operation: formatOperation(r) });
  if (l.pendingWrites.size + l.deferredWrites.length + l.pendingReads.length >= n.config.pendingCountMax) {
    reply(n, call.requestId, failure(n, "overloaded", `${n.config.pendingCountMax} requests are pending; retry later`));
    return null;
  }
  switch (r.kind) {
    case "set": {
      const bad = checkKey(r.key) ?? checkValue(r.value) ?? checkSession(r.clientId, r.sequence);
      if (bad !== null) {
        reply(n, call.requestId, failure(n, "invalid", bad));
        return null;
      }
      const { key, value, clientId, sequence } = r;
      return { term: n.currentTerm, command: { kind: "set", key, value, clientId, sequence } };
    }
    case "get": {
      const bad = checkKey(r.key);
      if (bad !== null) reply(n, call.requestId, failure(n, "invalid", bad));
      else if (n.leaseReadable()) reply(n, call.requestId, { ok: true, value: n.kv.get(r.key) });
      else l.pendingReads.push(call);
      return null;
    }
    default:
      return assertNever(r);
  }
}

/** A committed entry at `index`: answer its client, or hold the answer until the old lease ends. */
export function releaseWrite(n: RaftNode, index: LogIndex): void {
  const l = n.leader;
  const requestId = l?.pendingWrites.get(index);
  if (l === null || requestId === undefined) return;
  l.pendingWrites.delete(index);
  if (n.nowMs >= l.lease.oldLeaseWaitUntilMs) reply(n, requestId, { ok: true, value: "" });
  else l.deferredWrites.push(requestId);
}

/** After every leader step: release what waited for the old lease, serve reads the lease allows. */
export function afterStepLeader(n: RaftNode): void {
  const l = n.leader;
  if (l === null) return;
  if (l.deferredWrites.length > 0 && n.nowMs >= l.lease.oldLeaseWaitUntilMs) {
    for (const id of l.deferredWrites) reply(n, id, { ok: true, value: "" });
    l.deferredWrites.length = 0;
  }
  if (l.pendingReads.length > 0 && n.leaseReadable()) {
    for (const call of l.pendingReads) {
      if (call.request.kind === "get") reply(n, call.requestId, { ok: true, value: n.kv.get(call.request.key) });
    }
    l.pendingReads.length = 0;
  }
}

/** Steps down when no majority renewed the lease in time. Returns true when it did. */
export function leaderStepDownCheck(n: RaftNode): boolean {
  const l = n.leader;
  if (l === null || n.nowMs < l.lease.stepDownAtMs(n.config.timing, n.nowMs)) return false;
  n.out.events.push({ kind: "lease-renewal-failed", leaderId: n.id });
  n.becomeFollower(null);
  return true;
}

/** Leadership is lost: every waiting client gets a clear answer now. */
export function failPending(n: RaftNode): void {
  const l = n.leader;
  if (l === null) return;
  const lost = "leadership was lost before the write finished; it may or may not have been applied, retry with the same session";
  for (const id of l.pendingWrites.values()) reply(n, id, failure(n, "stepped-down", lost));
  for (const id of l.deferredWrites) reply(n, id, failure(n, "stepped-down", lost));
  for (const call of l.pendingReads) reply(n, call.requestId, failure(n, "not-leader", "leadership was lost; retry"));
  l.pendingWrites.clear();
  l.deferredWrites.length = 0;
  l.pendingReads.length = 0;
}

function failure(n: RaftNode, code: ClientErrorCode, message: string): ClientResult {
  const leaderHint = n.leaderId === n.id ? null : n.leaderId;
  return { ok: false, code, message, leaderHint };
}

function reply(n: RaftNode, requestId: RequestId, result: ClientResult): void {
  n.out.replies.push({ requestId, result });
}
