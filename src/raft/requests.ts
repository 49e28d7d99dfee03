// Client requests arriving at a node: a leader appends SETs (answered once committed and once any
// old leader's lease has ended, see pending.ts) and answers GETs from its lease with no round trip,
// or holds them (bounded) until it holds its lease; any other node refuses with a leader hint.

import { failure, reply } from "./pending.js";
import type { NodeCore } from "./state.js";
import { checkKey, checkSession, checkValue } from "./request.js";
import { assertNever, logIndex, type ClientCall, type Entry } from "./types.js";

/** Admits each call; returns true when SETs were appended (the caller then sends them). */
export function handleClientCalls(n: NodeCore, calls: readonly ClientCall[]): boolean {
  let appended: Entry[] | null = null; // started at its first entry (output.ts says why)
  const firstIndex = logIndex(n.log.lastIndex + 1);
  for (const call of calls) {
    const entry = admit(n, call);
    if (entry === null) continue;
    const index = logIndex(n.log.lastIndex + 1);
    n.log.appendEntry(entry);
    n.leader?.pendingWrites.add(index, call.requestId);
    if (appended === null) appended = [entry];
    else appended.push(entry);
  }
  if (appended === null) return false;
  n.out.appended(firstIndex, appended);
  return true;
}

/** Answers or queues one call; returns the entry to append for an accepted SET. */
function admit(n: NodeCore, call: ClientCall): Entry | null {
  const l = n.leader;
  if (l === null) {
    // A node its own configuration leaves out was removed: who it last heard lead is stale news.
    if (!n.membership.has(n.id) && n.membership.members.length > 0) {
      reply(n, call.requestId, failure(n, "not-leader", "this node was removed from the cluster; ask a member", null));
      return null;
    }
    const message = n.leaderId === null ? "no leader is known; retry shortly" : `not the leader; try node ${n.leaderId}`;
    reply(n, call.requestId, failure(n, "not-leader", message));
    return null;
  }
  const r = call.request;
  if (n.config.entryEvents) n.out.addEvent({ kind: "leader-received", nodeId: n.id, operation: r });
  if (l.transfer !== null) {
    // Writes stop while leadership moves; reads too once the lease is handed over (transfer.ts).
    const to = l.transfer.targetId;
    if (r.kind === "set" || l.transfer.timeoutNowSent) {
      reply(n, call.requestId, failure(n, "not-leader", `leadership is moving to node ${to}; retry there`, to));
      return null;
    }
  }
  if (l.pendingWrites.size + l.deferredWrites.length + l.pendingReads.length >= n.config.pendingCountMax) {
    reply(n, call.requestId, failure(n, "overloaded", `${n.config.pendingCountMax} requests are pending; retry later`));
    return null;
  }
  switch (r.kind) {
    case "set": {
      const bad = checkKey(r.key) ?? checkValue(r.value) ?? checkSession(r.clientId, r.sequence, r.firstUnanswered);
      if (bad !== null) {
        reply(n, call.requestId, failure(n, "invalid", bad));
        return null;
      }
      // A SET request is the very command (types.ts): the entry holds it as the client made it,
      // not a copy, since neither ever changes (the copy had most of admit's samples in a profile).
      return { term: n.currentTerm, command: r };
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

