// The checker's own state machine: the committed log applied by the rule the product documents
// (a SET with a client id and a sequence no higher than one applied for that client is a
// duplicate and changes nothing), kept apart from the core's so that a bug in one is not copied
// into the other. It can tell the state as of any committed index, to judge a snapshot taken
// there: it keeps an undo record per index and rolls a copy back.
//
// The session table here never evicts: the simulator's clients are far fewer than any session
// bound, so the core never evicts either.

import type { Entry } from "../../../raft/index.js";

interface Undo {
  readonly key: string;
  readonly value: string | undefined;
  readonly clientId: string;
  readonly sequence: number | undefined;
}

export class ReferenceStateMachine {
  private readonly data = new Map<string, string>();
  private readonly sessions = new Map<string, number>();
  /** undo[i - 1]: what applying index i changed (null: nothing). */
  private readonly undo: (Undo | null)[] = [];

  apply(e: Entry): void {
    const c = e.command;
    if (c.kind === "noop" || (c.clientId !== "" && (this.sessions.get(c.clientId) ?? -1) >= c.sequence)) {
      this.undo.push(null);
      return;
    }
    this.undo.push({ key: c.key, value: this.data.get(c.key), clientId: c.clientId, sequence: c.clientId === "" ? undefined : this.sessions.get(c.clientId) });
    this.data.set(c.key, c.value);
    if (c.clientId !== "") this.sessions.set(c.clientId, c.sequence);
  }

  /** How `data` and `sessions` differ from the state as of `index`, or null when they do not. */
  differenceAt(index: number, data: ReadonlyMap<string, string>, sessions: ReadonlyMap<string, number>): string | null {
    const wantData = new Map(this.data);
    const wantSessions = new Map(this.sessions);
    for (let i = this.undo.length; i > index; i--) {
      const u = this.undo[i - 1];
      if (u === null || u === undefined) continue;
      restore(wantData, u.key, u.value);
      if (u.clientId !== "") restore(wantSessions, u.clientId, u.sequence);
    }
    return mapDifference("key", wantData, data) ?? mapDifference("session", wantSessions, sessions);
  }
}

function restore<V>(m: Map<string, V>, key: string, value: V | undefined): void {
  if (value === undefined) m.delete(key);
  else m.set(key, value);
}

function mapDifference<V>(what: string, want: ReadonlyMap<string, V>, have: ReadonlyMap<string, V>): string | null {
  for (const [k, v] of want) if (have.get(k) !== v) return `${what} ${JSON.stringify(k)} is ${JSON.stringify(have.get(k))}, want ${JSON.stringify(v)}`;
  for (const k of have.keys()) if (!want.has(k)) return `${what} ${JSON.stringify(k)} should not be there`;
  return null;
}
