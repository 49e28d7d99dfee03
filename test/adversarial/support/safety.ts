// Raft's safety properties (Figure 3 of the Raft paper), checked after every step from what the
// public API and the disks show: status(), inspect(), the durable log and snapshot, and outputs.
//
//  - election safety: at most one leader per term;
//  - one vote per term: a node's votedFor for a term never changes, across crashes too;
//  - leader append-only: a leader never overwrites or deletes entries of its log;
//  - log matching: two logs with an entry of the same index and term agree on all entries up to it;
//  - leader completeness: an entry committed in term T is in the log (or the compacted prefix,
//    which a durable snapshot covers) of every leader of a later term;
//  - state machine safety: no two nodes apply different entries at the same index.
//
// With snapshots (a reference state machine built from the committed log, support/reference.ts):
//  - every snapshot a node saves, installs, sends or restarts from equals the committed state as
//    of its lastIndex (data and sessions), names that entry's term, and covers committed entries
//    only;
//  - every node's state machine equals the committed state as of its applied index, after every
//    step and at every start;
//  - within one boot, a node's commit index and applied index never go back; a node that starts
//    from a snapshot has applied at least through it.

import type { Entry, FullOutput, NodeId, NodeStatus, NodeView, Snapshot } from "../../../src/raft/index.js";
import type { Disk } from "./disk.js";
import { Reference, stateDiff } from "./reference.js";

const VIOLATIONS_MAX = 20;

export function entryKey(e: Entry): string {
  const c = e.command;
  if (c.kind === "config") return `${e.term}:config ${JSON.stringify(c.members)}`;
  return c.kind === "noop" ? `${e.term}:noop` : `${e.term}:set ${JSON.stringify([c.key, c.value, c.clientId, c.sequence])}`;
}

/** What log matching compares of a log: the term at an index, the entry when held. */
export interface LogLike {
  termAt(index: number): number | undefined;
  entry(index: number): Entry | undefined;
  readonly lastIndex: number;
}

function arrayLog(entries: readonly Entry[]): LogLike {
  return { termAt: (i) => (i === 0 ? 0 : entries[i - 1]?.term), entry: (i) => entries[i - 1], lastIndex: entries.length };
}

/** The first index at which two logs that share (index, term) somewhere disagree before it, or null. */
export function logMatchingBreak(a: readonly Entry[] | LogLike, b: readonly Entry[] | LogLike): number | null {
  const x = Array.isArray(a) ? arrayLog(a) : (a as LogLike);
  const y = Array.isArray(b) ? arrayLog(b) : (b as LogLike);
  let shared = 0;
  for (let i = Math.min(x.lastIndex, y.lastIndex); i >= 1; i--) {
    const t = x.termAt(i);
    if (t !== undefined && t === y.termAt(i)) {
      shared = i;
      break;
    }
  }
  for (let i = 1; i <= shared; i++) {
    const ex = x.entry(i);
    const ey = y.entry(i);
    if (ex !== undefined && ey !== undefined && entryKey(ex) !== entryKey(ey)) return i;
  }
  return null;
}

interface BootRecord {
  commitIndex: number;
  appliedIndex: number;
}

export class SafetyMonitor {
  readonly violations: string[] = [];
  /** The committed log as learnt so far, and the states it gives. */
  readonly reference: Reference;
  /** Checks that could not be made (a committed entry the monitor never saw): for the harness tests. */
  unverified = 0;
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly voteOf = new Map<string, NodeId>();
  private readonly appliedAt = new Map<number, { key: string; node: NodeId }>();
  /** index -> the committed entry and the lowest term in which some node knew it committed. */
  private readonly committed = new Map<number, { key: string; term: number }>();
  private readonly boots = new Map<NodeId, BootRecord>();
  /** Snapshots already checked (they are immutable, so identity suffices). */
  private readonly checkedSnapshots = new WeakSet<Snapshot>();

  /** `members`: what every snapshot must name; `sessionCountMax`: the session table's bound. */
  constructor(private readonly members: readonly NodeId[] | null = null, sessionCountMax = Infinity) {
    this.reference = new Reference(sessionCountMax);
  }

  private fail(message: string): void {
    if (this.violations.length < VIOLATIONS_MAX && !this.violations.includes(message)) this.violations.push(message);
  }

  /** A node started from its disk (its replayed commit index counts as knowledge). */
  started(status: NodeStatus, disk: Disk, view?: NodeView): void {
    this.boots.delete(status.id);
    const snap = disk.snapshot;
    if (snap !== null) {
      this.snapshot(`node ${status.id} restarts from`, snap);
      if (status.commitIndex < snap.lastIndex || status.appliedIndex < snap.lastIndex) {
        this.fail(`restart: node ${status.id} starts from a durable snapshot through ${snap.lastIndex} with commit ${status.commitIndex}, applied ${status.appliedIndex}`);
      }
    }
    this.noteStatus(status, disk, view);
  }

  afterStep(before: NodeStatus, lastIndexBefore: number, out: FullOutput, after: NodeStatus, disk: Disk, disks: Map<NodeId, Disk>, view?: NodeView): void {
    if (before.role === "leader" && after.role === "leader" && before.term === after.term) {
      if (out.truncateFrom !== null || out.installSnapshot !== null || (out.appendFrom !== null && out.appendFrom !== lastIndexBefore + 1)) {
        this.fail(`leader append-only: leader ${after.id} of term ${after.term} rewrote its log from index ${out.truncateFrom ?? out.installSnapshot?.lastIndex ?? out.appendFrom}`);
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
      const broken = logMatchingBreak(disk, d);
      if (broken !== null) this.fail(`log matching: nodes ${after.id} and ${other} share an entry's index and term but differ at index ${broken}`);
    }
    this.noteStatus(after, disk, view);
    // Checked once the step's own commits are learnt: a snapshot covers committed entries only.
    if (out.saveSnapshot !== null) {
      this.snapshot(`node ${after.id} saves`, out.saveSnapshot);
      if (out.saveSnapshot.lastIndex > after.appliedIndex) {
        this.fail(`snapshot: node ${after.id} saves a snapshot through ${out.saveSnapshot.lastIndex}, beyond its applied index ${after.appliedIndex}`);
      }
    }
    if (out.installSnapshot !== null) this.snapshot(`node ${after.id} installs`, out.installSnapshot);
  }

  /** A snapshot seen anywhere (saved, installed, sent, restarted from) must be the committed state. */
  snapshot(where: string, s: Snapshot): void {
    if (this.checkedSnapshots.has(s)) return;
    const problem = this.reference.checkSnapshot(s);
    if (problem === "unknown") {
      this.unverified++;
      return;
    }
    this.checkedSnapshots.add(s);
    const ids = s.members.map((m) => m.id);
    if (this.members !== null && JSON.stringify([...ids].sort((a, b) => a - b)) !== JSON.stringify(this.members)) {
      this.fail(`snapshot: ${where} a snapshot through ${s.lastIndex} naming members [${ids.join(", ")}], not [${this.members.join(", ")}]`);
    }
    if (problem !== null) this.fail(`snapshot: ${where} a snapshot through ${s.lastIndex} that differs from the committed state: ${problem}`);
  }

  private noteStatus(s: NodeStatus, disk: Disk, view?: NodeView): void {
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
    for (let i = Math.max(1, disk.firstIndex, (disk.snapshot?.lastIndex ?? 0) + 1); i <= s.commitIndex; i++) {
      const e = disk.entry(i);
      if (e === undefined) {
        this.fail(`commit: node ${s.id} has commit index ${s.commitIndex}, but its disk holds entries ${disk.firstIndex}-${disk.lastIndex}`);
        break;
      }
      const key = entryKey(e);
      const known = this.committed.get(i);
      if (known === undefined) {
        this.committed.set(i, { key, term: s.term });
        this.reference.learn(i, e);
      } else if (known.key !== key) this.fail(`state machine safety: node ${s.id} committed ${key} at index ${i}, another node ${known.key}`);
      else if (s.term < known.term) known.term = s.term;
    }
    if (s.role === "leader") {
      for (const [i, c] of this.committed) {
        if (c.term >= s.term || i < disk.firstIndex) continue; // the compacted prefix: its snapshot is checked
        const mine = disk.entry(i);
        if (mine === undefined || entryKey(mine) !== c.key) {
          this.fail(`leader completeness: leader ${s.id} of term ${s.term} lacks entry ${i} (${c.key}), committed by term ${c.term}`);
        }
      }
    }
    const boot = this.boots.get(s.id);
    if (boot !== undefined) {
      if (s.commitIndex < boot.commitIndex) this.fail(`commit index went back: node ${s.id} from ${boot.commitIndex} to ${s.commitIndex} without a restart`);
      if (s.appliedIndex < boot.appliedIndex) this.fail(`state machine went back: node ${s.id} applied index from ${boot.appliedIndex} to ${s.appliedIndex} without a restart`);
    }
    this.boots.set(s.id, { commitIndex: Math.max(s.commitIndex, boot?.commitIndex ?? 0), appliedIndex: Math.max(s.appliedIndex, boot?.appliedIndex ?? 0) });
    if (s.appliedIndex > s.commitIndex) this.fail(`apply: node ${s.id} applied through ${s.appliedIndex}, beyond its commit index ${s.commitIndex}`);
    if (view !== undefined) this.checkMachine(s, view);
  }

  /** The node's state machine (read key by key through inspect()) against the committed state. */
  private checkMachine(s: NodeStatus, view: NodeView): void {
    const want = this.reference.stateAt(s.appliedIndex);
    if (want === null) {
      this.unverified++;
      return;
    }
    const data = new Map<string, string>();
    for (const key of this.reference.keys) {
      const v = view.valueOf(key);
      if (v !== "") data.set(key, v);
    }
    const diff = stateDiff({ data, sessions: new Map() }, { data: want.data, sessions: new Map() });
    if (diff !== null) this.fail(`state machine: node ${s.id} (applied through ${s.appliedIndex}) has ${diff}`);
  }
}
