// Snapshots in a fault-test run: each node's snapshot.txt read as it is on disk, the snapshots
// taken and installed as the dumps tell them, and the checks that keep this coverage honest:
// snapshots of the same index agree across nodes, every node that applied enough entries took
// or installed a snapshot recently enough, and a run long enough to compact did compact.

import { existsSync, readFileSync } from "node:fs";
import { formatMembers, type Result, type SessionWindow, type Snapshot } from "../raft/index.js";
import { encodeWindow, parseSnapshot } from "../runtime/grpc/snapshot-file.js";

/**
 * A node's snapshot.txt as the node itself reads it at a restart (its own reader: checksums, the
 * header's counts, escapes, END), or what is wrong with it.
 */
export type SnapshotFile = Result<Snapshot>;

/** snapshot.txt at `file`, or null when there is none. */
export function readSnapshotFile(file: string): SnapshotFile | null {
  return existsSync(file) ? parseSnapshot(readFileSync(file, "utf8")) : null;
}

/** A snapshot's keys and session windows, as a replay builds them (snapshot-replay.ts). */
export interface SnapshotState {
  readonly values: ReadonlyMap<string, string>;
  readonly sessions: ReadonlyMap<string, SessionWindow>;
}

/** The first difference between two states, read as `want` against `got`, or null. */
export function stateDifference(want: SnapshotState, got: SnapshotState): string | null {
  for (const [key, value] of want.values) {
    if (got.values.get(key) !== value) return `key ${JSON.stringify(key)} is ${quoted(got.values.get(key))}, want ${JSON.stringify(value)}`;
  }
  for (const key of got.values.keys()) if (!want.values.has(key)) return `key ${JSON.stringify(key)} is in it, not wanted`;
  for (const [client, w] of want.sessions) {
    const g = got.sessions.get(client);
    if (g === undefined || windowText(g) !== windowText(w)) return `session ${JSON.stringify(client)} is ${g === undefined ? "(missing)" : windowText(g)}, want ${windowText(w)}`;
  }
  for (const client of got.sessions.keys()) if (!want.sessions.has(client)) return `session ${JSON.stringify(client)} is in it, not wanted`;
  return null;
}

/** A window as a snapshot line writes it, its applied sequences in order whatever order they came in. */
const windowText = (w: SessionWindow): string => encodeWindow({ firstUnanswered: w.firstUnanswered, applied: [...w.applied].sort((a, b) => a - b) });

const quoted = (v: string | undefined): string => (v === undefined ? "(missing)" : JSON.stringify(v));

export const stateOf = (s: Snapshot): SnapshotState => ({ values: s.data, sessions: s.sessions });

/** What a node's files say about its snapshots. */
export interface NodeSnapshots {
  readonly id: number;
  readonly snapshot: SnapshotFile | null;
  readonly dump: readonly string[];
  /** commit_length from metadata.txt: the last index the node knew committed. */
  readonly commitLength: number;
}

export interface SnapshotCounts {
  readonly id: number;
  /** Snapshots the node took and compacted its log to (dump: `saved a snapshot through entry`). */
  readonly saved: number;
  /** Snapshots a leader installed on it (dump: `installed snapshot through entry`). */
  readonly installed: number;
  /** Snapshots it sent as leader, counting resends (dump: `sending snapshot through entry`). */
  readonly sent: number;
  /** The last index of its snapshot.txt at the end, or null without one. */
  readonly lastIndex: number | null;
}

export function snapshotCounts(nodes: readonly NodeSnapshots[]): SnapshotCounts[] {
  return nodes.map((n) => {
    const count = (re: RegExp): number => n.dump.filter((l) => re.test(l)).length;
    return {
      id: n.id,
      saved: count(/ Node [0-9]+ saved a snapshot through entry [0-9]+;/),
      installed: count(/ Node [0-9]+ installed snapshot through entry [0-9]+ /),
      sent: count(/ Leader [0-9]+ sending snapshot through entry [0-9]+ /),
      lastIndex: n.snapshot?.ok === true ? n.snapshot.value.lastIndex : null,
    };
  });
}

/**
 * A damaged snapshot.txt, or two nodes' snapshots of the same index that differ (term,
 * members, a key's value, a session): both are images of the same committed prefix, so a
 * difference is a state machine that diverged or a snapshot written or installed wrongly.
 */
export function snapshotDisagreement(nodes: readonly NodeSnapshots[]): string | null {
  const byIndex = new Map<number, { id: number; s: Snapshot }>();
  for (const n of nodes) {
    if (n.snapshot === null) continue;
    if (!n.snapshot.ok) return `node ${n.id}: snapshot.txt is damaged: ${n.snapshot.error}`;
    const s = n.snapshot.value;
    const other = byIndex.get(s.lastIndex);
    if (other === undefined) {
      byIndex.set(s.lastIndex, { id: n.id, s });
      continue;
    }
    const diff = snapshotDifference(other.s, s);
    if (diff !== null) return `snapshots through entry ${s.lastIndex} differ: ${diff}, on node ${n.id} against node ${other.id}`;
  }
  return null;
}

function snapshotDifference(want: Snapshot, got: Snapshot): string | null {
  if (want.lastTerm !== got.lastTerm) return `term ${got.lastTerm}, want ${want.lastTerm}`;
  if (formatMembers(want.members) !== formatMembers(got.members)) return `members ${formatMembers(got.members)}, want ${formatMembers(want.members)}`;
  return stateDifference(stateOf(want), stateOf(got));
}

/**
 * Null when the run compacted as often as it should have; otherwise why not. A node applies
 * every entry up to its commit length, and takes a snapshot whenever `every` entries were
 * applied since its last one (taken or installed), so a node that knew C entries committed,
 * C >= 2 * every, holds a snapshot through an index above C - 2 * every (one interval, and one
 * more for a save still under way when it stopped) and has saved or installed at least one.
 */
export function missingCompaction(nodes: readonly NodeSnapshots[], every: number): string | null {
  const counts = snapshotCounts(nodes);
  for (const [i, n] of nodes.entries()) {
    if (n.commitLength < 2 * every) continue;
    const c = counts[i]!;
    const floor = n.commitLength - 2 * every;
    if (c.saved + c.installed === 0) return `node ${n.id} knew ${n.commitLength} entries committed but its dump shows no snapshot saved or installed (one every ${every} entries)`;
    if (c.lastIndex === null || c.lastIndex <= floor) {
      return `node ${n.id} knew ${n.commitLength} entries committed but its snapshot.txt ${c.lastIndex === null ? "is missing" : `ends at entry ${c.lastIndex}`}, not above ${floor} (one every ${every} entries)`;
    }
  }
  return null;
}

/**
 * A fault that surely leaves a follower behind while the others go on writing: leader-majority,
 * a minority cut off from the leader's side. (A kill or pause may hit the leader even when the
 * label does not say so: victims drawn at random can include it, and a cluster without its
 * leader writes nothing until it elects another; a random minority may hold the leader.)
 */
function lagsAFollower(b: { readonly kind: string }): boolean {
  return b.kind === "leader-majority";
}

/**
 * Null unless a run fast enough that a lagging follower must have needed a snapshot saw none
 * installed. A run that committed 0.75 intervals a second or more, through a fault of 3 s or
 * more that left a follower behind (leader-majority), left it 2.25 intervals behind: beyond the leader's last
 * snapshot and the entries it keeps below it (`keep`, at most half an interval), so it could
 * catch up only by an install. Slower runs (a loaded machine) only report their installs.
 */
export function missingInstall(nodes: readonly NodeSnapshots[], bands: readonly { readonly kind: string }[], every: number, keep: number, seconds: number): string | null {
  const committed = Math.max(0, ...nodes.map((n) => n.commitLength));
  const lagging = bands.filter(lagsAFollower).length;
  if (committed < 0.75 * every * seconds || lagging === 0 || keep * 2 > every) return null;
  if (snapshotCounts(nodes).some((c) => c.installed > 0)) return null;
  return `${committed} entries committed in ${seconds} s (a snapshot every ${every}) and ${lagging} faults that left a follower behind, but no node had a snapshot installed`;
}
