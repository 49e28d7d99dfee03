// Snapshots and log compaction.
//
// Every snapshotEveryEntries applied entries a node asks its runtime to save an image of its state
// machine (`saveSnapshot`), and goes on. Once the runtime reports it durable (`snapshot-saved`),
// the log before it goes, except the last snapshotKeepEntries, kept so that a follower a little
// behind still gets entries. A leader whose follower needs a compacted entry sends its snapshot
// instead (replication.ts); the follower installs it here.
//
// A snapshot holds only committed entries, so installing one never loses an acknowledged write:
// a follower installs a snapshot only past its commit index, and keeps the log entries after the
// snapshot's last index when its log holds that index with the snapshot's term (they may be
// entries it acknowledged). A runtime never replaces a durable snapshot by an older one.

import type { NodeCore } from "./state.js";
import { assert, broken, logIndex, type LogIndex, type LogStart, type Snapshot, type SnapshotReply, type SnapshotRequest } from "./types.js";

/** After applying: asks for a snapshot when enough entries were applied since the last one. */
export function maybeTakeSnapshot(n: NodeCore): void {
  if (n.savingSnapshot !== null) return;
  const since = n.snapshot?.lastIndex ?? 0;
  if (n.appliedIndex - since < n.config.snapshotEveryEntries) return;
  const lastTerm = n.log.termAt(n.appliedIndex);
  // Not assert with a message function: this runs on every step, and a closure over n would
  // allocate a context on each (types.ts, broken, says why).
  if (lastTerm === undefined) broken(`applied index ${n.appliedIndex} outside the log`);
  const forget = n.config.mutation === "snapshot-forgets-sessions";
  n.savingSnapshot = n.kv.image(n.appliedIndex, lastTerm, n.log.membershipAt(n.appliedIndex).members, forget);
  n.out.saveSnapshot = n.savingSnapshot;
}

/** The runtime made the snapshot through `index` durable: adopt it and compact the log before it. */
export function noteSnapshotSaved(n: NodeCore, index: LogIndex): void {
  const saving = n.savingSnapshot;
  if (saving === null || saving.lastIndex !== index) return;
  n.savingSnapshot = null;
  if (index <= (n.snapshot?.lastIndex ?? 0)) return; // an installed snapshot overtook it
  n.snapshot = saving;
  const prevIndex = logIndex(index - n.config.snapshotKeepEntries);
  if (prevIndex <= n.log.prevIndex) return;
  const prevTerm = n.log.termAt(prevIndex);
  assert(prevTerm !== undefined, () => `compaction point ${prevIndex} outside the log`);
  const start: LogStart = { prevIndex, prevTerm };
  n.log.compactTo(start);
  n.out.compactTo = start;
  n.out.addEvent({ kind: "log-compacted", nodeId: n.id, snapshotIndex: index, firstIndex: logIndex(prevIndex + 1) });
}

/**
 * At start: the log found on disk next to the newest snapshot. Where the log does not hold the
 * snapshot's last entry (a crash between installing a snapshot and rewriting the log), the log
 * is dropped and starts after the snapshot.
 */
export function restoreSnapshot(n: NodeCore, s: Snapshot): void {
  assert(s.lastIndex >= n.log.prevIndex, () => `the log starts after ${n.log.prevIndex}, past the snapshot's last index ${s.lastIndex}`);
  if (n.log.termAt(s.lastIndex) !== s.lastTerm) {
    // The disk still holds the old log: the first step's output drops it, as the install would have.
    const start: LogStart = { prevIndex: s.lastIndex, prevTerm: s.lastTerm };
    const from = logIndex(Math.max(s.lastIndex, n.log.prevIndex) + 1);
    n.startRepair = { truncateFrom: n.log.lastIndex >= from ? from : null, compactTo: start };
    n.log.resetTo(start, s.members);
  } else {
    n.log.rebase(s.members, s.lastIndex);
  }
  n.kv.restore(s);
  n.snapshot = s;
  n.appliedIndex = s.lastIndex;
  if (n.commitIndex < s.lastIndex) n.commitIndex = s.lastIndex;
}

/** Follower or candidate: a snapshot from the leader of the current term (terms were handled at the door). */
export function handleSnapshotRequest(n: NodeCore, m: SnapshotRequest): void {
  if (n.role === "candidate" || n.leaderId !== m.from) n.becomeFollower(m.from);
  n.lastLeaderContactMs = n.nowMs;
  n.resetElectionTimer();
  n.leaseMemory.heard(n.nowMs, m.term);
  const s = m.snapshot;
  const older = s.lastIndex <= n.commitIndex && n.config.mutation !== "install-older-snapshot";
  if (!older) install(n, s, m.from);
  n.send(snapshotReply(n, m, older ? n.commitIndex : s.lastIndex));
}

function install(n: NodeCore, s: Snapshot, leader: SnapshotRequest["from"]): void {
  const start: LogStart = { prevIndex: s.lastIndex, prevTerm: s.lastTerm };
  const keepsSuffix = n.log.termAt(s.lastIndex) === s.lastTerm && n.config.mutation !== "install-older-snapshot";
  if (keepsSuffix) {
    n.log.compactTo(start);
    n.log.rebase(s.members, s.lastIndex);
  } else {
    const from = logIndex(Math.max(s.lastIndex, n.log.prevIndex) + 1);
    if (n.log.lastIndex >= from) n.out.truncated(from);
    n.log.resetTo(start, s.members);
  }
  n.out.compactTo = start;
  n.out.installSnapshot = s;
  n.snapshot = s;
  n.savingSnapshot = null;
  n.kv.restore(s);
  n.commitIndex = s.lastIndex;
  n.appliedIndex = s.lastIndex;
  n.out.addEvent({ kind: "snapshot-installed", nodeId: n.id, leaderId: leader, index: s.lastIndex, term: s.lastTerm });
}

/** A snapshot of an older term: answered with nothing matched, so that its sender learns our term. */
export function refuseStaleSnapshot(n: NodeCore, m: SnapshotRequest): void {
  n.send(snapshotReply(n, m, logIndex(0)));
}

function snapshotReply(n: NodeCore, m: SnapshotRequest, matchIndex: LogIndex): SnapshotReply {
  return {
    type: "snapshot-reply",
    from: n.id,
    to: m.from,
    term: n.currentTerm,
    requestTerm: m.term,
    matchIndex,
    snapshotIndex: m.snapshot.lastIndex,
    leaderSendMs: m.leaderSendMs,
  };
}
