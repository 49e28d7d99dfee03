// Cluster configurations: who votes, who only learns, and what makes a majority.
//
// Rules (the Raft thesis, chapter 4, one server at a time):
//  - a configuration is a log entry holding the whole member list; a node uses the newest one in
//    its log from the moment it appends it, committed or not, and falls back to the one before
//    when that entry is truncated;
//  - a change adds or removes one voter, or adds or removes a learner, so any majority of the old
//    voters and any majority of the new ones share a voter;
//  - a leader proposes a change only once this term's NO-OP and the previous change are
//    committed, so at most one change is outstanding and two leaders never count disjoint
//    majorities (the thesis' fix to single-server changes);
//  - majorities (commit, votes, the lease) count voters only: a learner receives the log and
//    acknowledges it, and counts for nothing until it is promoted;
//  - a node stands for election as a voter of its configuration in use, or of the one committed
//    as far as it knows: a node removed by an entry not yet committed may be needed to elect a
//    leader until it commits (the node may hold the only other copy of that entry); it counts the
//    votes of the configuration in use, not its own;
//  - a voter that hears from a leader ignores vote requests from nodes outside its configuration
//    (a removed node that never learned of its removal), so such a node cannot depose a leader.

import { assert, type Member, type MemberRole, type NodeId } from "./types.js";

export class Membership {
  /** Voters, ascending. */
  readonly voters: readonly NodeId[];
  /** Learners, ascending. */
  readonly learners: readonly NodeId[];
  /** Votes or acknowledgements of voters that make a majority (1 when there are no voters). */
  readonly quorum: number;

  constructor(readonly members: readonly Member[]) {
    for (let i = 1; i < members.length; i++) {
      assert(members[i - 1]!.id < members[i]!.id, () => `a configuration lists its members once each, by id: ${formatMembers(members)}`);
    }
    // Built by push into array literals. Built by filter and map, the optimized code reading
    // these lists (isVoter, the quorum, the lease's peers, requestVotes, maybeCommit) kept
    // meeting an object map it had not seen and was compiled again, still rounds into a run of
    // the same seeds (--trace-deopt: "wrong map"); built this way, never after the first round.
    const voters: NodeId[] = [];
    const learners: NodeId[] = [];
    for (let k = 0; k < members.length; k++) (members[k]!.role === "voter" ? voters : learners).push(members[k]!.id);
    this.voters = voters;
    this.learners = learners;
    this.quorum = Math.floor(voters.length / 2) + 1;
  }

  static readonly EMPTY = new Membership([]);

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  has(id: NodeId): boolean {
    // A loop: `some` with an arrow made a closure per call, and a follower asks for every request it refuses.
    for (let k = 0; k < this.members.length; k++) if (this.members[k]!.id === id) return true;
    return false;
  }

  roleOf(id: NodeId): MemberRole | null {
    return this.members.find((m) => m.id === id)?.role ?? null;
  }

  /** A copy with `member` in it (added, or its role or address replaced). */
  with(member: Member): Member[] {
    return [...this.members.filter((m) => m.id !== member.id), member].sort((a, b) => a.id - b.id);
  }

  without(id: NodeId): Member[] {
    return this.members.filter((m) => m.id !== id);
  }
}

/** The initial configuration: every id a voter, with the addresses known for them. */
export function initialMembers(ids: readonly NodeId[], addresses: Readonly<Record<number, string>>): Member[] {
  return [...ids].sort((a, b) => a - b).map((id) => ({ id, address: addresses[id] ?? "", role: "voter" as const }));
}

/**
 * True when `next` differs from `prev` by one server at most: one member added or removed, or one
 * member's role changed (addresses may change with it). Such changes keep majorities overlapping.
 */
export function isSingleChange(prev: readonly Member[], next: readonly Member[]): boolean {
  const before = new Map(prev.map((m) => [m.id, m.role]));
  const after = new Map(next.map((m) => [m.id, m.role]));
  let changed = 0;
  for (const id of new Set([...before.keys(), ...after.keys()])) if (before.get(id) !== after.get(id)) changed++;
  return changed <= 1;
}

export function sameMembers(a: readonly Member[], b: readonly Member[]): boolean {
  return a.length === b.length && a.every((m, i) => m.id === b[i]!.id && m.role === b[i]!.role && m.address === b[i]!.address);
}

/** `voters 0,1,2; learners 5` (the dump lines' form). */
export function formatMembers(members: readonly Member[]): string {
  const voters = members.filter((m) => m.role === "voter").map((m) => m.id);
  const learners = members.filter((m) => m.role === "learner").map((m) => m.id);
  return `voters ${voters.length === 0 ? "none" : voters.join(",")}` + (learners.length > 0 ? `; learners ${learners.join(",")}` : "");
}
