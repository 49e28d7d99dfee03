// Raft's safety properties (Raft paper, Figure 3), checked incrementally after every step:
//  - election safety: at most one leader per term, over the whole run;
//  - log matching: two logs with an entry of the same index and term agree up to that index.
//    Checked on appends: (index, term) names one entry and one predecessor term, everywhere;
//    by induction that is the whole property, and each appended entry is checked once;
//  - leader completeness: an entry committed in term C is in the log of every leader of a term
//    above C. Checked when a leader is elected (against everything committed so far) and when an
//    entry is first seen committed (against leaders already elected in higher terms);
//  - state machine safety: an index is applied with the same entry on every node, and every
//    snapshot (taken, installed, or found at a restart) holds exactly the state of the committed
//    log up to its last index: the keys and values, and the session table.
// Each check is O(1) per appended or applied entry, plus O(terms) walks that are rare, plus
// O(keys + entries since the snapshot) per snapshot.

import type { FullOutput, NodeView } from "../../../raft/index.js";
import { formatOperation, logIndex, nodeId, type Entry, type NodeId, type PersistedState, type Snapshot } from "../../../raft/index.js";
import { NumberColumn } from "./number-column.js";
import { ReferenceStateMachine } from "./reference-state.js";
import { violated } from "./violation.js";

interface Appended {
  readonly term: number;
  readonly entry: Entry;
  readonly prevTerm: number;
  readonly nodeId: NodeId;
}

interface TermStart {
  readonly leader: NodeId;
  /** Index of the term's first entry (its NO-OP) and the term of the entry before it. */
  readonly firstIndex: number;
  readonly prevTerm: number;
}

const fingerprints = new WeakMap<Entry, string>();

/** A string naming the entry: its term and command. Entries travel by reference, so it is cached. */
export function fingerprint(e: Entry): string {
  let fp = fingerprints.get(e);
  if (fp === undefined) {
    const c = e.command;
    fp = c.kind === "set" ? `${e.term}:SET ${c.key} ${c.value} (${c.clientId}#${c.sequence}/${c.firstUnanswered})` : `${e.term}:${formatOperation(c)}`;
    fingerprints.set(e, fp);
  }
  return fp;
}

/** The two entries have the same fingerprint. Entries travel by reference: usually the same object. */
function sameEntry(a: Entry, b: Entry): boolean {
  return a === b || fingerprint(a) === fingerprint(b);
}

/**
 * What was appended at each index: one record per term seen there. The first term seen at an
 * index is kept in columns (index i at [i - 1]: its entry, the term before it, the node), not in
 * an object per index: the records live for the whole run, and every young object that survives
 * is copied by the collector until it is promoted (the numbers are in columns it never copies:
 * see number-column.ts). Other terms at an index (rare: a conflicting suffix) are objects, in
 * `others`.
 */
class AppendedRecords {
  private readonly entries: Entry[] = [];
  private readonly prevTerms = new NumberColumn();
  private readonly nodeIds = new NumberColumn();
  private readonly others = new Map<number, Appended[]>();

  /**
   * Node `node` appended `e` at `index` after an entry of term prevTerm. The first record of
   * (index, e.term) is kept; a later one must agree with it: null when it does (or is the first),
   * else the record it disagrees with.
   */
  note(index: number, e: Entry, prevTerm: number, node: NodeId): Appended | null {
    const i = index - 1;
    const first = i < this.entries.length ? this.entries[i] : undefined;
    if (first === undefined) {
      this.entries[i] = e;
      this.prevTerms.set(i, prevTerm);
      this.nodeIds.set(i, node);
      return null;
    }
    if (first.term !== e.term) return this.noteOther(index, e, prevTerm, node);
    if (sameEntry(first, e) && this.prevTerms.at(i) === prevTerm) return null;
    return { term: e.term, entry: first, prevTerm: this.prevTerms.at(i), nodeId: nodeId(this.nodeIds.at(i)) };
  }

  private noteOther(index: number, e: Entry, prevTerm: number, nodeId: NodeId): Appended | null {
    let records = this.others.get(index);
    if (records === undefined) this.others.set(index, (records = []));
    const seen = records.find((a) => a.term === e.term);
    if (seen === undefined) records.push({ term: e.term, entry: e, prevTerm, nodeId });
    return seen === undefined || (sameEntry(seen.entry, e) && seen.prevTerm === prevTerm) ? null : seen;
  }
}

export class SafetyChecker {
  readonly passed = { election: 0, logMatching: 0, completeness: 0, stateMachine: 0 };
  /** Leader of each term, over the whole run. */
  readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly termStarts = new Map<number, TermStart>();
  private readonly appended = new AppendedRecords();
  /** The state machine of the committed log, applied by the checker itself. */
  private readonly reference = new ReferenceStateMachine();
  /** The committed log as first applied anywhere: index i at [i - 1] (the reference state machine's). */
  readonly committed: readonly Entry[] = this.reference.log;
  /** The term of the node that first applied each index (the commit happened in it or before). */
  private readonly commitTerm = new NumberColumn();
  private highestLeaderTerm = 0;
  /** The last leader checked, with its term, once recorded in leaderOfTerm. */
  private readonly lastLeader = { term: -1, id: -1 };
  /** Each node's commit index since it last started: within one life it never goes back. */
  private readonly commitOf: number[] = [];

  afterStep(id: NodeId, node: NodeView, out: FullOutput): void {
    if (out.installSnapshot !== null) this.checkSnapshot(id, out.installSnapshot, "installed");
    this.checkCommitMonotonic(id, node.commitIndex);
    if (node.role === "leader") this.checkLeader(id, node);
    if (out.appendFrom !== null) this.checkAppends(id, node, out);
    for (let k = 0; k < out.applied.length; k++) this.checkApplied(id, node.term, out.applied[k]!.index, out.applied[k]!.entry);
    if (out.saveSnapshot !== null) this.checkSnapshot(id, out.saveSnapshot, "took");
  }

  /** A node restarted from its disk: what it had committed must be what everyone applied. */
  afterRestart(id: NodeId, persisted: PersistedState): void {
    this.commitOf[id] = 0; // the commit index is volatile: a restarted node relearns it
    const commit = persisted.hardState.commitIndex;
    const snapshot = persisted.snapshot ?? null;
    if (snapshot !== null) this.checkSnapshot(id, snapshot, "restarted from");
    const prev = persisted.logStart?.prevIndex ?? 0;
    const last = prev + persisted.entries.length;
    for (let i = Math.max(prev, snapshot?.lastIndex ?? 0) + 1; i <= commit; i++) {
      const e = persisted.entries[i - prev - 1];
      const want = this.committed[i - 1];
      if (e === undefined) violated("output contract", `node ${id} restarted with commit index ${commit} but its log on disk ends at ${last}`);
      if (want !== undefined && !sameEntry(e, want)) {
        violated("state machine safety", `node ${id} restarted with committed entry ${i} = ${fingerprint(e)} on disk, but ${fingerprint(want)} was applied at ${i}`);
      }
    }
  }

  private checkLeader(id: NodeId, node: NodeView): void {
    const t = node.term;
    this.passed.election += 1;
    // A leader steps many times in its term: once it is recorded, its term's entry never changes.
    if (t === this.lastLeader.term && id === this.lastLeader.id) return;
    const known = this.leaderOfTerm.get(t);
    if (known === id) return this.noteLeader(t, id);
    if (known !== undefined) violated("election safety", `nodes ${known} and ${id} were both leader in term ${t}`);
    this.leaderOfTerm.set(t, id);
    this.noteLeader(t, id);
    this.highestLeaderTerm = Math.max(this.highestLeaderTerm, t);
    const firstIndex = node.noopIndex!;
    this.termStarts.set(t, { leader: id, firstIndex, prevTerm: node.termAt(logIndex(firstIndex - 1)) ?? 0 });
    this.checkNewLeaderHasCommitted(id, node);
  }

  private noteLeader(t: number, id: NodeId): void {
    this.lastLeader.term = t;
    this.lastLeader.id = id;
  }

  private checkNewLeaderHasCommitted(id: NodeId, node: NodeView): void {
    let i = this.committed.length;
    while (i > 0 && this.commitTerm.at(i - 1) >= node.term) i--;
    if (i === 0) return;
    this.passed.completeness += 1;
    const want = this.committed[i - 1]!;
    // An entry inside the leader's compacted prefix is in its snapshot, which was checked.
    const inSnapshot = i < node.firstLogIndex && node.snapshotIndex >= i;
    const have = inSnapshot ? want.term : node.termAt(logIndex(i));
    if (have !== want.term) {
      violated(
        "leader completeness",
        `node ${id} became leader of term ${node.term} without committed entry ${i} (${fingerprint(want)}, committed by term ${this.commitTerm.at(i - 1)}); its log has ${have === undefined ? "no entry" : `term ${have}`} there`,
      );
    }
  }

  private checkAppends(id: NodeId, node: NodeView, out: FullOutput): void {
    const from = out.appendFrom!;
    let prevTerm: number = node.termAt(logIndex(from - 1)) ?? -1;
    for (let k = 0; k < out.append.length; k++) {
      const e = out.append[k]!;
      const index = from + k;
      this.passed.logMatching += 1;
      const seen = this.appended.note(index, e, prevTerm, id);
      if (seen !== null) {
        violated(
          "log matching",
          `index ${index} term ${e.term}: node ${id} holds ${fingerprint(e)} after term ${prevTerm}, node ${seen.nodeId} held ${fingerprint(seen.entry)} after term ${seen.prevTerm}`,
        );
      }
      prevTerm = e.term;
    }
  }

  private checkApplied(id: NodeId, nodeTerm: number, index: number, e: Entry): void {
    this.passed.stateMachine += 1;
    if (index <= this.committed.length) {
      const want = this.committed[index - 1]!;
      if (!sameEntry(e, want)) violated("state machine safety", `node ${id} applied ${fingerprint(e)} at index ${index}, where ${fingerprint(want)} was applied before`);
      return;
    }
    if (index !== this.committed.length + 1) {
      violated("state machine safety", `node ${id} applied index ${index} before anyone applied index ${this.committed.length + 1}`);
    }
    this.reference.apply(e); // appends e to the committed log
    this.commitTerm.push(nodeTerm);
    this.checkEarlierLeadersHave(index, e, nodeTerm);
  }

  /** A node's state machine never goes back to an earlier index (an older snapshot over newer state). */
  private checkCommitMonotonic(id: NodeId, commit: number): void {
    const before = this.commitOf[id] ?? 0;
    if (commit < before) violated("state machine safety", `node ${id}'s commit index went back from ${before} to ${commit}: it undid applied entries`);
    this.commitOf[id] = commit;
  }

  /** A snapshot must hold the state of the committed log up to its last index, and that entry's term. */
  private checkSnapshot(id: NodeId, s: Snapshot, how: string): void {
    this.passed.stateMachine += 1;
    const want = this.committed[s.lastIndex - 1];
    if (want === undefined) violated("state machine safety", `node ${id} ${how} a snapshot through entry ${s.lastIndex}, beyond what anyone applied (${this.committed.length})`);
    if (want.term !== s.lastTerm) violated("state machine safety", `node ${id} ${how} a snapshot through entry ${s.lastIndex} of term ${s.lastTerm}, but that entry is ${fingerprint(want)}`);
    const diff = this.reference.differenceAt(s.lastIndex, s.data, s.sessions);
    if (diff !== null) violated("state machine safety", `node ${id} ${how} a snapshot through entry ${s.lastIndex} that differs from the committed log's state there: ${diff}`);
  }

  /** A newly committed entry must be in the election-time log of every leader of a higher term. */
  private checkEarlierLeadersHave(index: number, e: Entry, commitTerm: number): void {
    if (commitTerm >= this.highestLeaderTerm) return;
    for (const [t, start] of this.termStarts) {
      if (t <= commitTerm) continue;
      this.passed.completeness += 1;
      const have = this.termAtInLeaderLog(t, index);
      if (have !== null && have !== e.term) {
        violated(
          "leader completeness",
          `entry ${index} (${fingerprint(e)}) was committed by term ${commitTerm}, but node ${start.leader}, leader of term ${t}, was elected without it`,
        );
      }
    }
  }

  /** The term at `index` in the log leader t had when elected; undefined: it had no entry; null: unknown. */
  private termAtInLeaderLog(t: number, index: number): number | undefined | null {
    const top = this.termStarts.get(t)!;
    if (index > top.firstIndex) return undefined;
    let term = t;
    for (let start = top; index < start.firstIndex; ) {
      term = start.prevTerm;
      if (term === 0) return index === 0 ? 0 : undefined;
      const next = this.termStarts.get(term);
      if (next === undefined) return null;
      start = next;
    }
    return term;
  }
}
