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

import type { Entry, SessionWindow, SetCommand } from "../../../raft/index.js";
import { NumberColumn } from "./number-column.js";

/**
 * A client's session. The current one is updated in place, its sequences too: the undo records
 * copy what they need of it, so no one else holds its array.
 */
class Session implements SessionWindow {
  constructor(
    public firstUnanswered: number,
    readonly applied: number[],
  ) {}
}

/** An undo record's mark for an entry that changed nothing (a NO-OP, a configuration, a duplicate SET). */
const UNCHANGED = -1;

/**
 * What applying each index changed, to roll back: index i at [i - 1]. The entry there names the
 * key and the client it changed, so the records are numbers only, in columns the collector never
 * copies (they live for the whole run: see number-column.ts). A session before is copied into
 * them, not kept as an array of its own.
 */
class UndoLog {
  /** The index of the entry that wrote the key's value before (0: none), or UNCHANGED. */
  readonly writersBefore = new NumberColumn();
  /** Where the client's session as it was before starts in `windows` (-1: it had none, or no client). */
  private readonly sessionStarts = new NumberColumn();
  /** Sessions before, one after another: the bound, how many sequences, then the sequences. */
  private readonly windows = new NumberColumn();

  get length(): number {
    return this.writersBefore.length;
  }

  unchanged(): void {
    this.writersBefore.push(UNCHANGED);
    this.sessionStarts.push(-1);
  }

  push(writerBefore: number, before: Session | undefined): void {
    this.writersBefore.push(writerBefore);
    if (before === undefined) return this.sessionStarts.push(-1);
    const w = this.windows;
    this.sessionStarts.push(w.length);
    w.push(before.firstUnanswered);
    w.push(before.applied.length);
    for (let k = 0; k < before.applied.length; k++) w.push(before.applied[k]!);
  }

  /** The session as it was before index i + 1 was applied (undefined: it had none). */
  sessionBefore(i: number): SessionWindow | undefined {
    const start = this.sessionStarts.at(i);
    if (start < 0) return undefined;
    const w = this.windows;
    const applied: number[] = [];
    for (let k = 0; k < w.at(start + 1); k++) applied.push(w.at(start + 2 + k));
    return { firstUnanswered: w.at(start), applied };
  }
}

export class ReferenceStateMachine {
  /** The committed log applied so far: index i at [i - 1] (the undo records point into it). */
  readonly log: Entry[] = [];
  private readonly data = new Map<string, string>();
  /** The index of the entry that wrote each key's value. */
  private readonly writers = new Map<string, number>();
  private readonly sessions = new Map<string, Session>();
  private readonly undo = new UndoLog();

  apply(e: Entry): void {
    this.log.push(e);
    const c = e.command;
    if (c.kind === "noop" || c.kind === "config") return this.undo.unchanged();
    const before = c.clientId === "" ? undefined : this.sessions.get(c.clientId);
    if (before !== undefined && (c.sequence < before.firstUnanswered || before.applied.includes(c.sequence))) {
      return this.undo.unchanged();
    }
    this.undo.push(this.writers.get(c.key) ?? 0, before);
    this.data.set(c.key, c.value);
    this.writers.set(c.key, this.log.length);
    if (c.clientId === "") return;
    const bound = Math.max(before?.firstUnanswered ?? 0, c.firstUnanswered);
    if (before === undefined) this.sessions.set(c.clientId, new Session(bound, c.sequence < bound ? [] : [c.sequence]));
    else {
      before.firstUnanswered = bound;
      addSequence(before.applied, c.sequence, bound);
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
    if (!latest) this.rollBack(index, wantData, wantSessions);
    return mapDifference("key", wantData, data, (a, b) => a === b) ?? mapDifference("session", wantSessions, sessions, sameWindow);
  }

  /** Undoes, in copies of the maps, what the entries after `index` changed. */
  private rollBack(index: number, data: Map<string, string>, sessions: Map<string, SessionWindow>): void {
    const u = this.undo;
    // Walking back, a client's earliest record decides its session then: only that one is built.
    const sessionFrom = new Map<string, number>();
    for (let i = u.length; i > index; i--) {
      const writer = u.writersBefore.at(i - 1);
      if (writer === UNCHANGED) continue;
      const c = this.setAt(i);
      restore(data, c.key, writer === 0 ? undefined : this.setAt(writer).value);
      if (c.clientId !== "") sessionFrom.set(c.clientId, i - 1);
    }
    sessionFrom.forEach((i, clientId) => restore(sessions, clientId, u.sessionBefore(i)));
  }

  /** The SET applied at index i, one that changed the state. */
  private setAt(i: number): SetCommand {
    const c = this.log[i - 1]!.command;
    if (c.kind !== "set") throw new Error(`reference state machine: the undo record of entry ${i} names a ${c.kind} entry`);
    return c;
  }
}

/**
 * Drops the sequences of `applied` (ascending) below `bound`, a prefix, and puts `sequence` (not
 * among them) in its place when it is at or above it; in place. The usual apply drops the one
 * sequence before and adds the next, so the length stays: the array is neither cut (V8 trims its
 * storage then) nor grown (a new storage, young again).
 */
function addSequence(applied: number[], sequence: number, bound: number): void {
  let drop = 0;
  while (drop < applied.length && applied[drop]! < bound) drop++;
  const add = sequence >= bound;
  if (drop === 0) {
    if (add) insertFromEnd(applied, sequence);
    return;
  }
  // Each sequence moves left (by drop, or drop - 1 past the new one): read ahead of where it writes.
  let k = 0;
  let placed = !add;
  for (let r = drop; r < applied.length; r++) {
    const q = applied[r]!;
    if (!placed && sequence < q) {
      applied[k++] = sequence;
      placed = true;
    }
    applied[k++] = q;
  }
  if (!placed) applied[k++] = sequence;
  if (k < applied.length) applied.length = k;
}

function insertFromEnd(applied: number[], sequence: number): void {
  let k = applied.length;
  applied.push(sequence);
  for (; k > 0 && applied[k - 1]! > sequence; k--) applied[k] = applied[k - 1]!;
  applied[k] = sequence;
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
