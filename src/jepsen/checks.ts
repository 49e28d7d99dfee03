// The checks after a run: linearizability of the whole history (our WGL checker, split by key,
// indeterminate writes allowed either way), every acknowledged write present in the committed
// log, every node's committed log a prefix of the longest, and the counts the summary prints.

import { readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { decodeToken } from "../runtime/grpc/escape.js";
import { checkLine } from "../runtime/grpc/line-checksum.js";
import type { History } from "../check/history.js";
import { checkLinearizable, type CheckResult } from "../check/linearizability.js";
import { readSnapshotFile, type SnapshotFile } from "./snapshots.js";

export interface NodeFiles {
  readonly id: number;
  /**
   * logs.txt lines without their checksum tokens: a token's mark says where a write ended, which
   * differs between nodes holding the same entry. A line whose token does not check stays whole.
   */
  readonly lines: readonly string[];
  /**
   * The index before lines[0]: 0, or the prevIndex of the START line a compacted logs.txt begins
   * with (its earlier entries are in the node's snapshot, and no longer readable as entries).
   */
  readonly prevIndex: number;
  /** commit_length from metadata.txt. */
  readonly commitLength: number;
  /** The event lines: dump.3.txt ... dump.1.txt (rotated, oldest first) then dump.txt. */
  readonly dump: readonly string[];
  /** snapshot.txt, or null when the node has none. */
  readonly snapshot: SnapshotFile | null;
}

/** Rotated dumps, oldest first (the runtime keeps dump.1.txt to dump.3.txt besides dump.txt). */
const DUMP_FILES = ["dump.3.txt", "dump.2.txt", "dump.1.txt", "dump.txt"];

export function readNodeFiles(dataDir: string, id: number): NodeFiles {
  const folder = path.join(dataDir, `logs_node_${id}`);
  const read = (name: string): string[] => {
    const p = path.join(folder, name);
    // logs.txt of a killed node may end in reserved zero bytes after its lines: free space.
    return existsSync(p) ? readFileSync(p, "latin1").replace(/\0+$/, "").split("\n").filter((l) => l.length > 0) : [];
  };
  const commitLine = read("metadata.txt").find((l) => l.startsWith("commit_length "));
  const lines = read("logs.txt").map((line) => {
    const checked = checkLine(line);
    return checked.ok ? checked.text : line;
  });
  const start = /^START ([0-9]+) [0-9]+$/.exec(lines[0] ?? "");
  const prevIndex = start === null ? 0 : Number(start[1]);
  return {
    id,
    lines: start === null ? lines : lines.slice(1),
    prevIndex,
    commitLength: commitLine === undefined ? 0 : Number(commitLine.split(" ")[1]),
    dump: DUMP_FILES.flatMap(read),
    snapshot: readSnapshotFile(path.join(folder, "snapshot.txt")),
  };
}

/** Node's entry at index i (1-based), or undefined when its logs.txt does not hold it (compacted, or beyond). */
export function entryAt(node: NodeFiles, i: number): string | undefined {
  return i > node.prevIndex ? node.lines[i - node.prevIndex - 1] : undefined;
}

/** The first disagreement between two nodes' committed prefixes, or null when every pair agrees. */
export function committedPrefixDisagreement(nodes: readonly NodeFiles[]): string | null {
  const longest = [...nodes].sort((a, b) => b.commitLength - a.commitLength)[0];
  if (longest === undefined) return null;
  for (const node of nodes) {
    const last = node.prevIndex + node.lines.length;
    if (node.commitLength > last) return `node ${node.id}: commit_length ${node.commitLength} is beyond its last log entry ${last}`;
    // Compared where both hold the entry: an index compacted away on either side is in its snapshot.
    for (let i = Math.max(node.prevIndex, longest.prevIndex) + 1; i <= node.commitLength; i++) {
      if (entryAt(node, i) !== entryAt(longest, i)) {
        return `committed entry ${i} differs: node ${node.id} has "${entryAt(node, i)}", node ${longest.id} has "${entryAt(longest, i) ?? "(nothing)"}"`;
      }
    }
  }
  return null;
}

/** The dump's record of a SET applied: written when the node applied it, so committed. */
const APPLIED_SET = / committed the entry SET (\S+) (\S+) to the state machine\.$/;

/**
 * Acknowledged SETs found neither in any node's committed entries, nor among the SETs a dump says
 * were applied, nor as a key's value in a snapshot. A compacted logs.txt no longer holds the
 * entries its snapshot covers; the node applied them, so its dump (or another node's log, not yet
 * compacted that far) names them, and a SET no later one overwrote is in the snapshot itself.
 */
export function lostWrites(history: History, nodes: readonly NodeFiles[]): string[] {
  const committed = new Set<string>();
  for (const node of nodes) {
    for (let i = node.prevIndex + 1; i <= node.commitLength; i++) {
      const [kind, key, value] = (entryAt(node, i) ?? "").split(" ");
      if (kind !== "SET" || key === undefined || value === undefined) continue;
      const k = decodeToken(key);
      const v = decodeToken(value);
      if (k.ok && v.ok) committed.add(`${k.value}\u0000${v.value}`);
    }
    for (const line of node.dump) {
      const m = APPLIED_SET.exec(line);
      if (m !== null) committed.add(`${m[1]}\u0000${m[2]}`);
    }
    if (node.snapshot?.ok === true) for (const [key, value] of node.snapshot.value.data) committed.add(`${key}\u0000${value}`);
  }
  return history
    .filter((op) => op.kind === "set" && op.outcome === "ok" && !committed.has(`${op.key}\u0000${op.value}`))
    .map((op) => `SET ${op.key} ${op.value} by ${op.clientId}, acknowledged at ${op.completeMs?.toFixed(1)} ms`);
}

/** (term, leader) pairs announced in the dumps, in term order: the leaders the run saw. */
export function leadersSeen(nodes: readonly NodeFiles[]): { term: number; node: number }[] {
  const seen = new Map<number, number>();
  for (const n of nodes) {
    for (const line of n.dump) {
      const m = / Node ([0-9]+) became the leader for term ([0-9]+)\./.exec(line);
      if (m !== null) seen.set(Number(m[2]), Number(m[1]));
    }
  }
  return [...seen].sort((a, b) => a[0] - b[0]).map(([term, node]) => ({ term, node }));
}

export interface Counts {
  readonly ops: number;
  readonly ok: number;
  readonly failed: number;
  readonly indeterminate: number;
  readonly okSets: number;
  readonly okGets: number;
}

export function countOps(history: History): Counts {
  const by = (f: (o: History[number]) => boolean): number => history.filter(f).length;
  return {
    ops: history.length,
    ok: by((o) => o.outcome === "ok"),
    failed: by((o) => o.outcome === "fail"),
    indeterminate: by((o) => o.outcome === "unknown"),
    okSets: by((o) => o.outcome === "ok" && o.kind === "set"),
    okGets: by((o) => o.outcome === "ok" && o.kind === "get"),
  };
}

export function checkHistory(history: History): CheckResult {
  return checkLinearizable(history);
}
