// Raft's safety properties (Raft paper, Figure 3), checked incrementally after every step:
//  - election safety: at most one leader per term, over the whole run;
//  - log matching: two logs with an entry of the same index and term agree up to that index.
//    Checked on appends: (index, term) names one entry and one predecessor term, everywhere;
//    by induction that is the whole property, and each appended entry is checked once;
//  - leader completeness: an entry committed in term C is in the log of every leader of a term
//    above C. Checked when a leader is elected (against everything committed so far) and when an
//    entry is first seen committed (against leaders already elected in higher terms);
//  - state machine safety: an index is applied with the same entry on every node.
// Each check is O(1) per appended or applied entry, plus O(terms) walks that are rare.

import type { FullOutput, NodeView } from "../../../raft/index.js";
import { logIndex, type Entry, type NodeId, type PersistedState } from "../../../raft/index.js";
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
    fp = c.kind === "noop" ? `${e.term}:NO-OP` : `${e.term}:SET ${c.key} ${c.value} (${c.clientId}#${c.sequence})`;
    fingerprints.set(e, fp);
  }
  return fp;
}

/** The two entries have the same fingerprint. Entries travel by reference: usually the same object. */
function sameEntry(a: Entry, b: Entry): boolean {
  return a === b || fingerprint(a) === fingerprint(b);
}

/** The record of term t among those at one index, if any. */
function appendedInTerm(atIndex: readonly Appended[], t: number): Appended | undefined {
  for (let k = 0; k < atIndex.length; k++) if (atIndex[k]!.term === t) return atIndex[k];
  return undefined;
}

export class SafetyChecker {
  readonly passed = { election: 0, logMatching: 0, completeness: 0, stateMachine: 0 };
  /** Leader of each term, over the whole run. */
  readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly termStarts = new Map<number, TermStart>();
  /** What was appended at each index, one record per term seen there (usually one). */
  private readonly appended: Appended[][] = [];
  /** The committed log as first applied anywhere: index i at [i - 1]. */
  readonly committed: Entry[] = [];
  /** The term of the node that first applied each index (the commit happened in it or before). */
  private readonly commitTerm: number[] = [];
  private highestLeaderTerm = 0;

  afterStep(id: NodeId, node: NodeView, out: FullOutput): void {
    if (node.role === "leader") this.checkLeader(id, node);
    if (out.appendFrom !== null) this.checkAppends(id, node, out);
    for (let k = 0; k < out.applied.length; k++) this.checkApplied(id, node.term, out.applied[k]!.index, out.applied[k]!.entry);
  }

  /** A node restarted from its disk: what it had committed must be what everyone applied. */
  afterRestart(id: NodeId, persisted: PersistedState): void {
    const commit = persisted.hardState.commitIndex;
    for (let i = 1; i <= commit; i++) {
      const e = persisted.entries[i - 1];
      const want = this.committed[i - 1];
      if (e === undefined) violated("output contract", `node ${id} restarted with commit index ${commit} but only ${persisted.entries.length} entries on disk`);
      if (want !== undefined && !sameEntry(e, want)) {
        violated("state machine safety", `node ${id} restarted with committed entry ${i} = ${fingerprint(e)} on disk, but ${fingerprint(want)} was applied at ${i}`);
      }
    }
  }

  private checkLeader(id: NodeId, node: NodeView): void {
    const t = node.term;
    const known = this.leaderOfTerm.get(t);
    this.passed.election += 1;
    if (known === id) return;
    if (known !== undefined) violated("election safety", `nodes ${known} and ${id} were both leader in term ${t}`);
    this.leaderOfTerm.set(t, id);
    this.highestLeaderTerm = Math.max(this.highestLeaderTerm, t);
    const firstIndex = node.noopIndex!;
    this.termStarts.set(t, { leader: id, firstIndex, prevTerm: node.termAt(logIndex(firstIndex - 1)) ?? 0 });
    this.checkNewLeaderHasCommitted(id, node);
  }

  private checkNewLeaderHasCommitted(id: NodeId, node: NodeView): void {
    let i = this.committed.length;
    while (i > 0 && this.commitTerm[i - 1]! >= node.term) i--;
    if (i === 0) return;
    this.passed.completeness += 1;
    const have = node.termAt(logIndex(i));
    const want = this.committed[i - 1]!;
    if (have !== want.term) {
      violated(
        "leader completeness",
        `node ${id} became leader of term ${node.term} without committed entry ${i} (${fingerprint(want)}, committed by term ${this.commitTerm[i - 1]}); its log has ${have === undefined ? "no entry" : `term ${have}`} there`,
      );
    }
  }

  private checkAppends(id: NodeId, node: NodeView, out: FullOutput): void {
    const from = out.appendFrom!;
    let prevTerm: number = node.termAt(logIndex(from - 1)) ?? -1;
    for (let k = 0; k < out.append.length; k++) {
      const e = out.append[k]!;
      const index = from + k;
      const atIndex = (this.appended[index] ??= []);
      const seen = appendedInTerm(atIndex, e.term);
      this.passed.logMatching += 1;
      if (seen === undefined) atIndex.push({ term: e.term, entry: e, prevTerm, nodeId: id });
      else if (!sameEntry(seen.entry, e) || seen.prevTerm !== prevTerm) {
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
    this.committed.push(e);
    this.commitTerm.push(nodeTerm);
    this.checkEarlierLeadersHave(index, e, nodeTerm);
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
