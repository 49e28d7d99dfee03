// A node's snapshot checked against another node's older snapshot and log. Nodes snapshot at
// different entries (an install, a restart, the batch that crossed the interval), so at the end
// most pairs of snapshot.txt cover different indexes; where node B's snapshot is older than node
// A's and B's logs.txt holds the committed entries in between, B's snapshot with those entries
// applied must be A's, key for key and session for session. The entries are applied by the rule
// docs/file-formats.md documents ("Client sessions"), written here apart from the core's
// KvStore so that a bug in one is not copied into the other.

import type { Snapshot } from "../raft/index.js";
import { parseEntryLine } from "../runtime/grpc/log-line.js";
import { entryAt, type NodeFiles } from "./checks.js";
import { stateDifference, stateOf, type SnapshotState } from "./snapshots.js";

interface Window {
  firstUnanswered: number;
  applied: Set<number>;
}

/** A replay's state: values, and session windows it changes in place. */
interface ReplayState {
  readonly values: Map<string, string>;
  readonly sessions: Map<string, Window>;
}

function copyState(s: Snapshot): ReplayState {
  const sessions = new Map<string, Window>();
  for (const [client, w] of s.sessions) sessions.set(client, { firstUnanswered: w.firstUnanswered, applied: new Set(w.applied) });
  return { values: new Map(s.data), sessions };
}

const asState = (r: ReplayState): SnapshotState => ({ values: r.values, sessions: new Map([...r.sessions].map(([client, w]) => [client, { firstUnanswered: w.firstUnanswered, applied: [...w.applied] }])) });

/** Applies one SET by the session rule: false for a duplicate, which changes nothing. */
function admit(sessions: Map<string, Window>, clientId: string, sequence: number, firstUnanswered: number): boolean {
  if (clientId === "") return true;
  let w = sessions.get(clientId);
  if (w === undefined) sessions.set(clientId, (w = { firstUnanswered: 0, applied: new Set() }));
  if (sequence < w.firstUnanswered || w.applied.has(sequence)) return false;
  w.applied.add(sequence);
  if (firstUnanswered > w.firstUnanswered) {
    w.firstUnanswered = firstUnanswered;
    for (const q of w.applied) if (q < w.firstUnanswered) w.applied.delete(q);
  }
  return true;
}

/** Node `from`'s snapshot with its committed entries up to `to`'s snapshot applied; null when its files cannot tell. */
function replay(from: NodeFiles, to: Snapshot): SnapshotState | string | null {
  if (from.snapshot === null || !from.snapshot.ok) return null;
  const base = from.snapshot.value;
  if (base.lastIndex >= to.lastIndex) return null;
  if (from.prevIndex > base.lastIndex || to.lastIndex > Math.min(from.commitLength, from.prevIndex + from.lines.length)) return null;
  const state = copyState(base);
  for (let i = base.lastIndex + 1; i <= to.lastIndex; i++) {
    const parsed = parseEntryLine(entryAt(from, i) ?? "");
    if (!parsed.ok) return null; // a damaged line: the prefix check reports a committed one
    if (i === to.lastIndex && parsed.entry.term !== to.lastTerm) return `entry ${i} has term ${parsed.entry.term} in its log, the snapshot says ${to.lastTerm}`;
    const c = parsed.entry.command;
    if (c.kind === "set" && admit(state.sessions, c.clientId, c.sequence, c.firstUnanswered)) state.values.set(c.key, c.value);
  }
  return asState(state);
}

/**
 * The first snapshot.txt that differs from another node's older snapshot replayed through its
 * committed log, or null. Only whole snapshots are compared (snapshotDisagreement reports damage).
 */
export function snapshotReplayDisagreement(nodes: readonly NodeFiles[]): string | null {
  for (const a of nodes) {
    if (a.snapshot === null || !a.snapshot.ok) continue;
    const target = a.snapshot.value;
    for (const b of nodes) {
      const replayed = replay(b, target);
      if (replayed === null) continue;
      const diff = typeof replayed === "string" ? replayed : stateDifference(replayed, stateOf(target));
      if (diff !== null) {
        const base = b.snapshot?.ok === true ? b.snapshot.value.lastIndex : "?";
        return `node ${a.id}'s snapshot through entry ${target.lastIndex} differs from node ${b.id}'s snapshot through entry ${base} and its log after it: ${diff}`;
      }
    }
  }
  return null;
}
