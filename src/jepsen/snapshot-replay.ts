// A node's snapshot checked against another node's older snapshot and log. Nodes snapshot at
// different entries (an install, a restart, the batch that crossed the interval), so at the end
// most pairs of snapshot.txt cover different indexes; where node B's snapshot is older than node
// A's and B's logs.txt holds the committed entries in between, B's snapshot with those entries
// applied must be A's, key for key and session for session. The entries are applied by the rule
// docs/file-formats.md documents ("Client sessions"), written here apart from the core's
// KvStore so that a bug in one is not copied into the other.

import { decodeToken, encodeToken } from "../runtime/grpc/escape.js";
import { parseEntryLine } from "../runtime/grpc/log-line.js";
import { decodeWindow, encodeWindow } from "../runtime/grpc/snapshot-file.js";
import { entryAt, type NodeFiles } from "./checks.js";
import type { SnapshotFile } from "./snapshots.js";

interface Window {
  bound: number;
  applied: Set<number>;
}

/** A snapshot's keys (escaped, as in the file) and session windows, or an error. */
interface State {
  readonly values: Map<string, string>;
  readonly sessions: Map<string, Window>;
}

function stateOf(s: SnapshotFile): State | string {
  const values = new Map<string, string>();
  const sessions = new Map<string, Window>();
  for (const line of s.body) {
    const [kind, name = "", ...rest] = line.split(" ");
    if (kind === "KEY") values.set(name, rest[0] ?? "");
    if (kind !== "SESSION") continue;
    const client = decodeToken(name);
    const w = decodeWindow(rest);
    if (!client.ok || typeof w === "string") return `bad SESSION line "${line}"`;
    sessions.set(client.value, { bound: w.firstUnanswered, applied: new Set(w.applied) });
  }
  return { values, sessions };
}

/** Applies one SET by the session rule: false for a duplicate, which changes nothing. */
function admit(sessions: Map<string, Window>, clientId: string, sequence: number, firstUnanswered: number): boolean {
  if (clientId === "") return true;
  let w = sessions.get(clientId);
  if (w === undefined) sessions.set(clientId, (w = { bound: 0, applied: new Set() }));
  if (sequence < w.bound || w.applied.has(sequence)) return false;
  w.applied.add(sequence);
  if (firstUnanswered > w.bound) {
    w.bound = firstUnanswered;
    for (const q of w.applied) if (q < w.bound) w.applied.delete(q);
  }
  return true;
}

const windowText = (w: Window): string => encodeWindow({ firstUnanswered: w.bound, applied: [...w.applied].sort((a, b) => a - b) });

/** The first difference between two states, or null. */
function difference(want: State, got: State): string | null {
  for (const [key, value] of want.values) if (got.values.get(key) !== value) return `key ${key} is ${got.values.get(key) ?? "(missing)"}, replayed ${value}`;
  for (const key of got.values.keys()) if (!want.values.has(key)) return `key ${key} is in it, not in the replay`;
  for (const [client, w] of want.sessions) {
    const g = got.sessions.get(client);
    if (g === undefined || windowText(g) !== windowText(w)) return `session ${client} is ${g === undefined ? "(missing)" : windowText(g)}, replayed ${windowText(w)}`;
  }
  for (const client of got.sessions.keys()) if (!want.sessions.has(client)) return `session ${client} is in it, not in the replay`;
  return null;
}

/** Node `from`'s snapshot with its committed entries up to `to`'s snapshot applied; null when its files cannot tell. */
function replay(from: NodeFiles, to: SnapshotFile): State | string | null {
  const base = from.snapshot;
  if (base === null || base.problem !== null || base.lastIndex >= to.lastIndex) return null;
  if (from.prevIndex > base.lastIndex || to.lastIndex > Math.min(from.commitLength, from.prevIndex + from.lines.length)) return null;
  const state = stateOf(base);
  if (typeof state === "string") return state;
  for (let i = base.lastIndex + 1; i <= to.lastIndex; i++) {
    const parsed = parseEntryLine(entryAt(from, i) ?? "");
    if (!parsed.ok) return null; // a damaged line: the prefix check reports a committed one
    if (i === to.lastIndex && parsed.entry.term !== to.lastTerm) return `entry ${i} has term ${parsed.entry.term} in its log, the snapshot says ${to.lastTerm}`;
    const c = parsed.entry.command;
    if (c.kind === "set" && admit(state.sessions, c.clientId, c.sequence, c.firstUnanswered)) state.values.set(encodeToken(c.key), encodeToken(c.value));
  }
  return state;
}

/**
 * The first snapshot.txt that differs from another node's older snapshot replayed through its
 * committed log, or null. Only whole snapshots are compared (snapshotDisagreement reports damage).
 */
export function snapshotReplayDisagreement(nodes: readonly NodeFiles[]): string | null {
  for (const a of nodes) {
    const target = a.snapshot;
    if (target === null || target.problem !== null) continue;
    for (const b of nodes) {
      const replayed = replay(b, target);
      if (replayed === null) continue;
      const got = stateOf(target);
      const diff = typeof replayed === "string" ? replayed : typeof got === "string" ? got : difference(replayed, got);
      if (diff !== null) {
        return `node ${a.id}'s snapshot through entry ${target.lastIndex} differs from node ${b.id}'s snapshot through entry ${b.snapshot?.lastIndex} and its log after it: ${diff}`;
      }
    }
  }
  return null;
}
