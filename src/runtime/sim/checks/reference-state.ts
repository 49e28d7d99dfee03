// The checker's own state machine: the committed log applied by the rule the product documents
// (docs/file-formats.md, "Client sessions"): per client id, a bound and the sequences applied at
// or above it; a SET whose sequence is below the bound or among them is a duplicate and changes
// nothing; applying one records its sequence, raises the bound to its firstUnanswered and forgets
// the sequences below. It is kept apart from the core's so that a bug in one is not copied into
// the other (plain sorted arrays here, no amortized tricks). It can tell the state as of any
// committed index, to judge a snapshot taken there: it keeps an undo record per index and rolls a
// copy back.
//
// The session table here never evicts: the simulator's clients are far fewer than any session
// bound, so the core never evicts either.

import type { Entry, SessionWindow } from "../../../raft/index.js";

interface Undo {
  readonly key: string;
  readonly value: string | undefined;
  readonly clientId: string;
  /** The session before this entry (undefined: it had none). */
  readonly session: SessionWindow | undefined;
}

export class ReferenceStateMachine {
  private readonly data = new Map<string, string>();
  private readonly sessions = new Map<string, SessionWindow>();
  /** undo[i - 1]: what applying index i changed (null: nothing). */
  private readonly undo: (Undo | null)[] = [];

  apply(e: Entry): void {
    const c = e.command;
    if (c.kind === "noop" || c.kind === "config") {
      this.undo.push(null);
      return;
    }
    const before = c.clientId === "" ? undefined : this.sessions.get(c.clientId);
    if (before !== undefined && (c.sequence < before.firstUnanswered || before.applied.includes(c.sequence))) {
      this.undo.push(null);
      return;
    }
    this.undo.push({ key: c.key, value: this.data.get(c.key), clientId: c.clientId, session: before });
    this.data.set(c.key, c.value);
    if (c.clientId === "") return;
    const bound = Math.max(before?.firstUnanswered ?? 0, c.firstUnanswered);
    this.sessions.set(c.clientId, { firstUnanswered: bound, applied: withSequence(before?.applied ?? [], c.sequence, bound) });
  }

  /** How `data` and `sessions` differ from the state as of `index`, or null when they do not. */
  differenceAt(index: number, data: ReadonlyMap<string, string>, sessions: ReadonlyMap<string, SessionWindow>): string | null {
    // At the newest index nothing is rolled back: the maps are read as they are (a copy would hold
    // the same, in the same order), without copying them for each snapshot.
    const latest = index >= this.undo.length;
    const wantData = latest ? this.data : new Map(this.data);
    const wantSessions = latest ? this.sessions : new Map(this.sessions);
    for (let i = this.undo.length; i > index; i--) {
      const u = this.undo[i - 1];
      if (u === null || u === undefined) continue;
      restore(wantData, u.key, u.value);
      if (u.clientId !== "") restore(wantSessions, u.clientId, u.session);
    }
    return mapDifference("key", wantData, data, (a, b) => a === b) ?? mapDifference("session", wantSessions, sessions, sameWindow);
  }
}

/** The ascending sequences of `applied` at or above `bound`, with `sequence` put in its place. */
function withSequence(applied: readonly number[], sequence: number, bound: number): number[] {
  const out: number[] = [];
  let placed = sequence < bound;
  for (let k = 0; k < applied.length; k++) {
    const q = applied[k]!;
    if (!placed && sequence < q) {
      out.push(sequence);
      placed = true;
    }
    if (q >= bound) out.push(q);
  }
  if (!placed) out.push(sequence);
  return out;
}

function sameWindow(a: SessionWindow | undefined, b: SessionWindow | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.firstUnanswered === b.firstUnanswered && a.applied.length === b.applied.length && a.applied.every((q, i) => b.applied[i] === q);
}

function restore<V>(m: Map<string, V>, key: string, value: V | undefined): void {
  if (value === undefined) m.delete(key);
  else m.set(key, value);
}

function mapDifference<V>(what: string, want: ReadonlyMap<string, V>, have: ReadonlyMap<string, V>, same: (a: V | undefined, b: V | undefined) => boolean): string | null {
  for (const [k, v] of want) if (!same(have.get(k), v)) return `${what} ${JSON.stringify(k)} is ${JSON.stringify(have.get(k))}, want ${JSON.stringify(v)}`;
  // Every key wanted is there: a key too many shows in the sizes (so a snapshot's image is not walked when they agree).
  if (have.size === want.size) return null;
  for (const k of have.keys()) if (!want.has(k)) return `${what} ${JSON.stringify(k)} should not be there`;
  return null;
}
