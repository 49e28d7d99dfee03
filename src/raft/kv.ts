// The replicated state machine: a map of strings, plus a session table so that a retried SET
// (same client id and sequence) is applied once.
//
// Sessions are evicted least-recently-used first when more than sessionCountMax are known; since
// every node applies the same log in the same order (or restores the same snapshot, which keeps
// that order), every node evicts the same sessions.

import { assertNever, type Command, type LogIndex, type NodeId, type Snapshot, type Term } from "./types.js";

export type ApplyResult = "applied" | "duplicate" | "noop";

export class KvStore {
  private data = new Map<string, string>();
  /** clientId -> highest sequence applied; Map order is least recently used first. */
  private sessions = new Map<string, number>();

  constructor(private readonly sessionCountMax: number) {}

  /** GET of a key that was never set is "". */
  get(key: string): string {
    return this.data.get(key) ?? "";
  }

  get size(): number {
    return this.data.size;
  }

  /** A copy of the state machine as of (lastIndex, lastTerm), for a snapshot. */
  image(lastIndex: LogIndex, lastTerm: Term, members: readonly NodeId[], forgetSessions: boolean): Snapshot {
    return { lastIndex, lastTerm, members, data: new Map(this.data), sessions: forgetSessions ? new Map() : new Map(this.sessions) };
  }

  /** Replaces the state machine by a snapshot's (copied: the image stays unchanged). */
  restore(snapshot: Snapshot): void {
    this.data = new Map(snapshot.data);
    this.sessions = new Map(snapshot.sessions);
  }

  apply(command: Command): ApplyResult {
    switch (command.kind) {
      case "noop":
        return "noop";
      case "set":
        if (command.clientId !== "" && !this.admit(command.clientId, command.sequence)) return "duplicate";
        this.data.set(command.key, command.value);
        return "applied";
      default:
        return assertNever(command);
    }
  }

  /** Records (clientId, sequence); false when that sequence (or a later one) was applied before. */
  private admit(clientId: string, sequence: number): boolean {
    const last = this.sessions.get(clientId);
    if (last !== undefined && sequence <= last) return false;
    this.sessions.delete(clientId);
    this.sessions.set(clientId, sequence);
    if (this.sessions.size > this.sessionCountMax) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    return true;
  }
}
