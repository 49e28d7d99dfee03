// The test's own state machine: what the committed log says the KV map and the session table are
// as of any index. Snapshots (saved, installed, sent, found at restart) and every node's state
// machine are compared with it.
//
// Semantics, from types.ts and the README: a SET with a client id applies only if its sequence is
// at or above the session's bound (the highest firstUnanswered applied) and not among the
// sequences applied at or above it; applying one records it and raises the bound to its
// firstUnanswered, forgetting what lies below (a one-at-a-time client sends firstUnanswered =
// sequence: "above the highest applied"); a SET without a client id always applies; a NO-OP
// changes nothing. The session table is kept least
// recently used first: a SET that applies moves its client to the end, and beyond
// sessionCountMax clients the first goes (docs/file-formats.md). A retry that does not apply is
// assumed to leave the order alone (not documented; the tests that evict never retry before an
// eviction).

import type { Entry, SessionWindow, Snapshot } from "../../../src/raft/index.js";

export interface MachineState {
  readonly data: ReadonlyMap<string, string>;
  readonly sessions: ReadonlyMap<string, SessionWindow>;
}

const EMPTY: MachineState = { data: new Map(), sessions: new Map() };

export function applyEntry(s: MachineState, e: Entry, sessionCountMax = Infinity): MachineState {
  const c = e.command;
  if (c.kind !== "set") return s;
  const w = c.clientId === "" ? undefined : s.sessions.get(c.clientId);
  if (w !== undefined && (c.sequence < w.firstUnanswered || w.applied.includes(c.sequence))) return s;
  const data = new Map(s.data).set(c.key, c.value);
  if (c.clientId === "") return { data, sessions: s.sessions };
  const sessions = new Map(s.sessions);
  sessions.delete(c.clientId);
  const bound = Math.max(w?.firstUnanswered ?? 0, c.firstUnanswered);
  const applied = [...(w?.applied ?? []), c.sequence].filter((q) => q >= bound).sort((a, b) => a - b);
  sessions.set(c.clientId, { firstUnanswered: bound, applied });
  for (const oldest of sessions.keys()) {
    if (sessions.size <= sessionCountMax) break;
    sessions.delete(oldest);
  }
  return { data, sessions };
}

function mapText(m: ReadonlyMap<string, string | number | SessionWindow>): string {
  return JSON.stringify([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Differences between two states, as text (empty when equal; session order is not compared). */
export function stateDiff(got: MachineState, want: MachineState): string | null {
  const problems: string[] = [];
  if (mapText(got.data) !== mapText(want.data)) problems.push(`data ${mapText(got.data)} but the committed log gives ${mapText(want.data)}`);
  if (mapText(got.sessions) !== mapText(want.sessions)) problems.push(`sessions ${mapText(got.sessions)} but the committed log gives ${mapText(want.sessions)}`);
  return problems.length === 0 ? null : problems.join("; ");
}

export class Reference {
  /** Committed entries, by index, as first learnt. */
  private readonly entries = new Map<number, Entry>();
  /** states[i]: the state after applying 1..i; computed for a contiguous known prefix. */
  private readonly states: MachineState[] = [EMPTY];
  /** Every key any committed entry set. */
  readonly keys = new Set<string>();

  constructor(private readonly sessionCountMax = Infinity) {}

  learn(index: number, e: Entry): void {
    if (this.entries.has(index)) return;
    this.entries.set(index, e);
    if (e.command.kind === "set") this.keys.add(e.command.key);
  }

  entry(index: number): Entry | undefined {
    return this.entries.get(index);
  }

  /** The state as of `index`, or null when some committed entry up to it was never seen. */
  stateAt(index: number): MachineState | null {
    while (this.states.length <= index) {
      const next = this.states.length;
      const e = this.entries.get(next);
      if (e === undefined) return null;
      this.states.push(applyEntry(this.states[next - 1]!, e, this.sessionCountMax));
    }
    return this.states[index]!;
  }

  /** Problems with a snapshot: its term, its maps, against the committed log (null when fine or unknown). */
  checkSnapshot(s: Snapshot): string | null | "unknown" {
    const want = this.stateAt(s.lastIndex);
    if (want === null) return "unknown";
    const problems: string[] = [];
    const at = s.lastIndex === 0 ? 0 : this.entries.get(s.lastIndex)!.term;
    if (s.lastTerm !== at) problems.push(`lastTerm ${s.lastTerm} but the committed entry ${s.lastIndex} has term ${at}`);
    const diff = stateDiff(s, want);
    if (diff !== null) problems.push(diff);
    return problems.length === 0 ? null : problems.join("; ");
  }
}
