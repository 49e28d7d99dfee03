// The replicated state machine: a map of strings, plus a session table so that a retried SET
// (same client id and sequence) is applied once.
//
// The session rule (the Raft thesis, section 6.3). A SET may carry a client id, a sequence number
// and firstUnanswered: the lowest sequence of that session the client may still send (it has
// neither had an answer for it nor given up on it). Per client id the table keeps a lower bound
// (the highest firstUnanswered applied so far) and the set of sequences at or above it already
// applied. A SET is a duplicate, and changes nothing, when its sequence is below the bound or in
// the set. Applying one records its sequence and raises the bound to its firstUnanswered (never
// lowers it), forgetting the sequences below. A client with one SET at a time sends
// firstUnanswered = sequence, which makes this exactly the older rule "a sequence at or below the
// highest applied one is a duplicate". The door (checkSession) keeps sequence - firstUnanswered
// below SESSION_WINDOW_MAX, so no session remembers more than that many sequences.
//
// Sessions are evicted least-recently-used first when more than sessionCountMax are known; since
// every node applies the same log in the same order (or restores the same snapshot, which keeps
// that order), every node evicts the same sessions.
//
// An image for a snapshot shares the key-value map's storage (copy-on-write, kv-image.ts); the
// session table, small next to it, is copied.

import { VersionedMap } from "./kv-image.js";
import { SequenceSet } from "./sequence-set.js";
import { assertNever, type Command, type LogIndex, type Member, type SessionWindow, type Snapshot, type Term } from "./types.js";

export type ApplyResult = "applied" | "duplicate" | "noop";

/** One session's memory: the bound, and the applied sequences at or above it; a link of the use order. */
interface Session {
  readonly clientId: string;
  firstUnanswered: number;
  readonly applied: SequenceSet;
  /** The session used just before this one, and just after (null: none). */
  older: Session | null;
  newer: Session | null;
}

export class KvStore {
  private readonly data = new VersionedMap();
  /**
   * clientId -> its session, and the sessions in order of use, least recent first, as a list
   * through the sessions themselves: a use moves one to the end without touching the map (a
   * delete and a set per SET applied, as in a Map kept in use order, cost several hash lookups
   * and now and then a rehash of the table).
   */
  private sessions = new Map<string, Session>();
  private oldest: Session | null = null;
  private newest: Session | null = null;

  constructor(private readonly sessionCountMax: number) {}

  /** GET of a key that was never set is "". */
  get(key: string): string {
    return this.data.get(key) ?? "";
  }

  get size(): number {
    return this.data.size;
  }

  /** A copy of the state machine as of (lastIndex, lastTerm), for a snapshot. */
  image(lastIndex: LogIndex, lastTerm: Term, members: readonly Member[], forgetSessions: boolean): Snapshot {
    const sessions = new Map<string, SessionWindow>();
    if (!forgetSessions) {
      for (let s = this.oldest; s !== null; s = s.newer) sessions.set(s.clientId, { firstUnanswered: s.firstUnanswered, applied: s.applied.toArray() });
    }
    return { lastIndex, lastTerm, members, data: this.data.image(), sessions };
  }

  /** Replaces the state machine by a snapshot's (copied: the image stays unchanged). */
  restore(snapshot: Snapshot): void {
    this.data.reset(snapshot.data);
    this.sessions = new Map();
    this.oldest = this.newest = null;
    for (const [clientId, w] of snapshot.sessions) this.addSession(clientId, w.firstUnanswered, new SequenceSet(w.applied));
  }

  apply(command: Command): ApplyResult {
    switch (command.kind) {
      case "noop":
      case "config": // the log keeps configurations (membership.ts); the map has nothing to do
        return "noop";
      case "set":
        if (command.clientId !== "" && !this.admit(command.clientId, command.sequence, command.firstUnanswered)) return "duplicate";
        this.data.set(command.key, command.value);
        return "applied";
      default:
        return assertNever(command);
    }
  }

  /** Records (clientId, sequence) and raises the bound; false when the sequence is a duplicate. */
  private admit(clientId: string, sequence: number, firstUnanswered: number): boolean {
    let s = this.sessions.get(clientId);
    if (s !== undefined) {
      if (sequence < s.firstUnanswered || s.applied.has(sequence)) return false;
      this.unlink(s);
      this.link(s); // to the most recently used end
    } else {
      s = this.addSession(clientId, 0, new SequenceSet());
    }
    s.applied.add(sequence);
    if (firstUnanswered > s.firstUnanswered) raiseBound(s, firstUnanswered);
    if (this.sessions.size > this.sessionCountMax) {
      const oldest = this.oldest!;
      this.unlink(oldest);
      this.sessions.delete(oldest.clientId);
    }
    return true;
  }

  /** A session new to the table, the most recently used. */
  private addSession(clientId: string, firstUnanswered: number, applied: SequenceSet): Session {
    const s: Session = { clientId, firstUnanswered, applied, older: null, newer: null };
    this.sessions.set(clientId, s);
    this.link(s);
    return s;
  }

  /** Puts s at the most recently used end of the order. */
  private link(s: Session): void {
    s.older = this.newest;
    s.newer = null;
    if (this.newest !== null) this.newest.newer = s;
    else this.oldest = s;
    this.newest = s;
  }

  private unlink(s: Session): void {
    if (s.older !== null) s.older.newer = s.newer;
    else this.oldest = s.newer;
    if (s.newer !== null) s.newer.older = s.older;
    else this.newest = s.older;
  }
}

/** Raises a session's bound to `to`, forgetting the applied sequences below it (amortized O(1)). */
function raiseBound(s: Session, to: number): void {
  s.firstUnanswered = to;
  s.applied.dropBelow(to);
}
