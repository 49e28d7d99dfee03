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

/** A client's session; the current one is updated in place (the undo records keep what it was). */
class Session implements SessionWindow {
  constructor(
    public firstUnanswered: number,
    public applied: readonly number[],
  ) {}
}

/**
 * What applying each index changed, to roll back: index i at [i - 1], in flat arrays rather than
 * an object per index (they live for the whole run, and every young object that survives is
 * copied by the collector until it is promoted).
 */
class UndoLog {
  /** The key set (null: the entry changed nothing), and its value before (undefined: none). */
  readonly keys: (string | null)[] = [];
  readonly values: (string | undefined)[] = [];
  /** The client whose session it changed ("": none), and that session's bound and sequences before (undefined: it had none). */
  readonly clientIds: string[] = [];
  readonly bounds: number[] = [];
  readonly applied: (readonly number[] | undefined)[] = [];

  get length(): number {
    return this.keys.length;
  }

  push(key: string | null, value: string | undefined, clientId: string, before: Session | undefined): void {
    this.keys.push(key);
    this.values.push(value);
    this.clientIds.push(clientId);
    this.bounds.push(before?.firstUnanswered ?? 0);
    this.applied.push(before?.applied);
  }
}

export class ReferenceStateMachine {
  private readonly data = new Map<string, string>();
  private readonly sessions = new Map<string, Session>();
  private readonly undo = new UndoLog();

  apply(e: Entry): void {
    const c = e.command;
    if (c.kind === "noop" || c.kind === "config") return this.undo.push(null, undefined, "", undefined);
    const before = c.clientId === "" ? undefined : this.sessions.get(c.clientId);
    if (before !== undefined && (c.sequence < before.firstUnanswered || before.applied.includes(c.sequence))) {
      return this.undo.push(null, undefined, "", undefined);
    }
    this.undo.push(c.key, this.data.get(c.key), c.clientId, before);
    this.data.set(c.key, c.value);
    if (c.clientId === "") return;
    const bound = Math.max(before?.firstUnanswered ?? 0, c.firstUnanswered);
    const applied = withSequence(before?.applied ?? [], c.sequence, bound);
    if (before === undefined) this.sessions.set(c.clientId, new Session(bound, applied));
    else {
      before.firstUnanswered = bound;
      before.applied = applied;
    }
  }

  /** How `data` and `sessions` differ from the state as of `index`, or null when they do not. */
  differenceAt(index: number, data: ReadonlyMap<string, string>, sessions: ReadonlyMap<string, SessionWindow>): string | null {
    // At the newest index nothing is rolled back: the maps are read as they are (a copy would hold
    // the same, in the same order), without copying them for each snapshot.
    const u = this.undo;
    const latest = index >= u.length;
    const wantData = latest ? this.data : new Map(this.data);
    const wantSessions: Map<string, SessionWindow> = latest ? this.sessions : new Map(this.sessions);
    for (let i = u.length; i > index; i--) {
      const key = u.keys[i - 1];
      if (key === null || key === undefined) continue;
      restore(wantData, key, u.values[i - 1]);
      const clientId = u.clientIds[i - 1]!;
      const applied = u.applied[i - 1];
      if (clientId !== "") restore(wantSessions, clientId, applied === undefined ? undefined : { firstUnanswered: u.bounds[i - 1]!, applied });
    }
    return mapDifference("key", wantData, data, (a, b) => a === b) ?? mapDifference("session", wantSessions, sessions, sameWindow);
  }
}

/**
 * The ascending sequences of `applied` at or above `bound`, with `sequence` put in its place.
 * Every one is kept for the run (in the undo records): the usual result, no earlier sequence
 * kept, is an array literal of its exact size (an array grown by push from empty reserves room
 * for 16, and `new Array(n)` was a call into the runtime).
 */
function withSequence(applied: readonly number[], sequence: number, bound: number): number[] {
  let above = 0;
  for (let k = 0; k < applied.length; k++) if (applied[k]! >= bound) above++;
  if (above === 0) return sequence < bound ? [] : [sequence];
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
  // Keys, then values: for-of over the entries made a [key, value] pair per entry, per snapshot.
  for (const k of want.keys()) {
    const v = want.get(k);
    if (!same(have.get(k), v)) return `${what} ${JSON.stringify(k)} is ${JSON.stringify(have.get(k))}, want ${JSON.stringify(v)}`;
  }
  // Every key wanted is there: a key too many shows in the sizes (so a snapshot's image is not walked when they agree).
  if (have.size === want.size) return null;
  for (const k of have.keys()) if (!want.has(k)) return `${what} ${JSON.stringify(k)} should not be there`;
  return null;
}
