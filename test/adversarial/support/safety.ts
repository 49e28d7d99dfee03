// Raft's safety properties (Figure 3 of the Raft paper), checked after every step from what the
// public API and the disks show: status(), the durable log, and the applied entries of outputs.
//
//  - election safety: at most one leader per term;
//  - one vote per term: a node's votedFor for a term never changes, across crashes too;
//  - leader append-only: a leader never overwrites or deletes entries of its log;
//  - log matching: two logs with an entry of the same index and term agree on all entries up to it;
//  - leader completeness: an entry committed in term T is in the log of every leader of a later term;
//  - state machine safety: no two nodes apply different entries at the same index.

import type { Entry, FullOutput, NodeId, NodeStatus } from "../../../src/raft/index.js";
import type { Disk } from "./disk.js";

const VIOLATIONS_MAX = 20;

export function entryKey(e: Entry): string {
  const c = e.command;
  return c.kind === "noop" ? `${e.term}:noop` : `${e.term}:set ${JSON.stringify([c.key, c.value, c.clientId, c.sequence])}`;
}

/** The first index at which two logs that share (index, term) somewhere disagree before it, or null. */
export function logMatchingBreak(a: readonly Entry[], b: readonly Entry[]): number | null {
  let shared = 0;
  for (let i = Math.min(a.length, b.length); i >= 1; i--) {
    if (a[i - 1]!.term === b[i - 1]!.term) {
      shared = i;
      break;
    }
  }
  for (let i = 1; i <= shared; i++) if (entryKey(a[i - 1]!) !== entryKey(b[i - 1]!)) return i;
  return null;
}

export class SafetyMonitor {
  readonly violations: string[] = [];
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly voteOf = new Map<string, NodeId>();
  private readonly appliedAt = new Map<number, { key: string; node: NodeId }>();
  /** index -> the committed entry and the lowest term in which some node knew it committed. */
  private readonly committed = new Map<number, { key: string; term: number }>();

  private fail(message: string): void {
    if (this.violations.length < VIOLATIONS_MAX) this.violations.push(message);
  }

  /** A node started from its disk (its replayed commit index counts as knowledge). */
  started(status: NodeStatus, disk: Disk): void {
    this.noteStatus(status, disk);
  }

  afterStep(before: NodeStatus, diskBefore: readonly Entry[], out: FullOutput, after: NodeStatus, disk: Disk, disks: Map<NodeId, Disk>): void {
    if (before.role === "leader" && after.role === "leader" && before.term === after.term) {
      if (out.truncateFrom !== null || (out.appendFrom !== null && out.appendFrom !== diskBefore.length + 1)) {
        this.fail(`leader append-only: leader ${after.id} of term ${after.term} rewrote its log from index ${out.truncateFrom ?? out.appendFrom}`);
      }
    }
    for (const a of out.applied) {
      const key = entryKey(a.entry);
      const seen = this.appliedAt.get(a.index);
      if (seen === undefined) this.appliedAt.set(a.index, { key, node: after.id });
      else if (seen.key !== key) this.fail(`state machine safety: index ${a.index} applied as ${seen.key} by node ${seen.node} and as ${key} by node ${after.id}`);
    }
    for (const [other, d] of disks) {
      if (other === after.id) continue;
      const broken = logMatchingBreak(disk.entries(), d.entries());
      if (broken !== null) this.fail(`log matching: nodes ${after.id} and ${other} share an entry's index and term but differ at index ${broken}`);
    }
    this.noteStatus(after, disk);
  }

  private noteStatus(s: NodeStatus, disk: Disk): void {
    if (s.role === "leader") {
      const other = this.leaderOfTerm.get(s.term);
      if (other === undefined) this.leaderOfTerm.set(s.term, s.id);
      else if (other !== s.id) this.fail(`election safety: nodes ${other} and ${s.id} both led term ${s.term}`);
    }
    if (s.votedFor !== null) {
      const k = `${s.id}@${s.term}`;
      const earlier = this.voteOf.get(k);
      if (earlier === undefined) this.voteOf.set(k, s.votedFor);
      else if (earlier !== s.votedFor) this.fail(`one vote per term: node ${s.id} voted for ${earlier} and then for ${s.votedFor} in term ${s.term}`);
    }
    for (let i = 1; i <= s.commitIndex; i++) {
      const key = entryKey(disk.entry(i)!);
      const known = this.committed.get(i);
      if (known === undefined) this.committed.set(i, { key, term: s.term });
      else if (known.key !== key) this.fail(`state machine safety: node ${s.id} committed ${key} at index ${i}, another node ${known.key}`);
      else if (s.term < known.term) known.term = s.term;
    }
    if (s.role === "leader") {
      for (const [i, c] of this.committed) {
        if (c.term >= s.term) continue;
        const mine = disk.entry(i);
        if (mine === undefined || entryKey(mine) !== c.key) {
          this.fail(`leader completeness: leader ${s.id} of term ${s.term} lacks entry ${i} (${c.key}), committed by term ${c.term}`);
        }
      }
    }
  }
}
