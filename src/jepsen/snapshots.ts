// Snapshots in a fault-test run: each node's snapshot.txt read as it is on disk, the snapshots
// taken and installed as the dumps tell them, and the checks that keep this coverage honest:
// snapshots of the same index agree across nodes, every node that applied enough entries took
// or installed a snapshot recently enough, and a run long enough to compact did compact.

import { existsSync, readFileSync } from "node:fs";
import { checkLine } from "../runtime/grpc/line-checksum.js";

export interface SnapshotFile {
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** The lines after the header (MEMBERS, KEY, SESSION), without their checksum tokens. */
  readonly body: readonly string[];
  /** What is wrong with the file (a damaged line, a count that does not match, no END), or null. */
  readonly problem: string | null;
}

/** snapshot.txt at `file`, or null when there is none. */
export function readSnapshotFile(file: string): SnapshotFile | null {
  if (!existsSync(file)) return null;
  return parseSnapshot(readFileSync(file, "latin1").split("\n").filter((l) => l.length > 0));
}

export function parseSnapshot(lines: readonly string[]): SnapshotFile {
  const texts: string[] = [];
  for (const [i, line] of lines.entries()) {
    const checked = checkLine(line);
    if (!checked.ok) return { lastIndex: 0, lastTerm: 0, body: [], problem: `line ${i + 1} ("${line.slice(0, 80)}"): ${checked.error}` };
    texts.push(checked.text);
  }
  const header = /^SNAPSHOT ([0-9]+) ([0-9]+) ([0-9]+) ([0-9]+)$/.exec(texts[0] ?? "");
  if (header === null) return { lastIndex: 0, lastTerm: 0, body: [], problem: `no SNAPSHOT header: "${texts[0] ?? "(empty file)"}"` };
  const [lastIndex, lastTerm, keyCount, sessionCount] = header.slice(1).map(Number) as [number, number, number, number];
  const body = texts.slice(1, -1);
  const keys = body.filter((l) => l.startsWith("KEY ")).length;
  const sessions = body.filter((l) => l.startsWith("SESSION ")).length;
  let problem: string | null = null;
  if (texts.at(-1) !== "END") problem = "no END line";
  else if (keys !== keyCount || sessions !== sessionCount) problem = `the header says ${keyCount} keys and ${sessionCount} sessions, the file holds ${keys} and ${sessions}`;
  return { lastIndex, lastTerm, body, problem };
}

/** The values a snapshot holds, key -> value, still escaped as in the file. */
export function snapshotValues(s: SnapshotFile): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of s.body) {
    const [kind, key, value] = line.split(" ");
    if (kind === "KEY" && key !== undefined && value !== undefined) out.set(key, value);
  }
  return out;
}

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
      lastIndex: n.snapshot?.lastIndex ?? null,
    };
  });
}

/**
 * A damaged snapshot.txt, or two nodes' snapshots of the same index that differ (term,
 * members, a key's value, a session): both are images of the same committed prefix, so a
 * difference is a state machine that diverged or a snapshot written or installed wrongly.
 */
export function snapshotDisagreement(nodes: readonly NodeSnapshots[]): string | null {
  const byIndex = new Map<number, { id: number; s: SnapshotFile }>();
  for (const n of nodes) {
    const s = n.snapshot;
    if (s === null) continue;
    if (s.problem !== null) return `node ${n.id}: snapshot.txt is damaged: ${s.problem}`;
    const other = byIndex.get(s.lastIndex);
    if (other === undefined) {
      byIndex.set(s.lastIndex, { id: n.id, s });
      continue;
    }
    if (other.s.lastTerm !== s.lastTerm) return `snapshots through entry ${s.lastIndex} differ: term ${other.s.lastTerm} on node ${other.id}, ${s.lastTerm} on node ${n.id}`;
    const length = Math.max(other.s.body.length, s.body.length);
    for (let i = 0; i < length; i++) {
      if (other.s.body[i] !== s.body[i]) {
        return `snapshots through entry ${s.lastIndex} differ at line ${i + 2}: node ${other.id} has "${other.s.body[i] ?? "(nothing)"}", node ${n.id} has "${s.body[i] ?? "(nothing)"}"`;
      }
    }
  }
  return null;
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
