// Commitment and application.
//
// A leader commits index N when a majority of the voters of its configuration in use holds it
// (itself counted only when it is one of them) and the entry at N is of the leader's current
// term (Raft §5.4.2); earlier entries commit with it. A follower commits up to LeaderCommit, but
// never past the last entry the current message proved to match. Committed entries are applied
// to the KV store in order, at once, so appliedIndex == commitIndex after every step.

import type { NodeCore } from "./state.js";
import { quorumValue } from "./quorum.js";
import { releaseWrite } from "./pending.js";
import { assert, broken, logIndex, type LogIndex, type Term } from "./types.js";

export function maybeCommit(n: NodeCore): void {
  const l = n.leader;
  assert(l !== null, "maybeCommit on a non-leader");
  const config = n.membership;
  const matches = l.matchScratch; // filled from 0, never emptied (quorum.ts says why)
  let count = 0;
  const own = n.config.leaderPersistsInParallel ? l.selfDurableIndex : n.log.lastIndex;
  for (const id of config.voters) matches[count++] = id === n.id ? own : (l.progress.get(id)?.matchIndex ?? 0);
  if (n.config.mutation === "learner-in-quorum") for (const id of config.learners) matches[count++] = l.progress.get(id)?.matchIndex ?? 0;
  const candidate = logIndex(quorumValue(matches, config.quorum, count));
  if (candidate <= n.commitIndex) return;
  const ownTerm = n.log.termAt(candidate) === n.currentTerm;
  if (!ownTerm && n.config.mutation !== "commit-old-term") return;
  n.commitIndex = candidate;
  applyCommitted(n, true);
}

/**
 * The runtime reports that the log is durable through (index, term). A leader counts its own copy
 * from then on; since only this leader writes entries of its term, a matching term at `index`
 * means the durable entry is ours and, by log matching, so is everything before it.
 */
export function notePersisted(n: NodeCore, index: LogIndex, t: Term): void {
  const l = n.leader;
  if (l === null || t !== n.currentTerm || n.log.termAt(index) !== t || index <= l.selfDurableIndex) return;
  l.selfDurableIndex = index;
  maybeCommit(n);
}

export function followerCommit(n: NodeCore, upTo: LogIndex): void {
  if (upTo <= n.commitIndex) return;
  n.commitIndex = upTo;
  applyCommitted(n, true);
}

/** Applies every committed entry not yet applied; `report` is false while replaying at start. */
export function applyCommitted(n: NodeCore, report: boolean): void {
  if (n.commitIndex > n.log.lastIndex) broken(`commit ${n.commitIndex} beyond the log (${n.log.lastIndex})`);
  while (n.appliedIndex < n.commitIndex) {
    const index = logIndex(n.appliedIndex + 1);
    const entry = n.log.entryAt(index);
    n.kv.apply(entry.command);
    n.appliedIndex = index;
    if (!report) continue;
    n.out.addApplied({ index, entry });
    if (n.role === "leader") n.out.addEvent({ kind: "leader-committed", nodeId: n.id, operation: entry.command });
    else if (n.config.entryEvents) n.out.addEvent({ kind: "follower-committed", nodeId: n.id, operation: entry.command });
    if (n.leader !== null) releaseWrite(n, index);
  }
}
