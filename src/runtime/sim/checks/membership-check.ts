// Membership safety, checked after every step, from the checker's own reading of the committed log:
//  - one voter at a time: every committed configuration differs from the one before it (the
//    initial voters first) by at most one voter added or removed, so any majority of the old
//    voters and any majority of the new ones share a voter;
//  - agreement: a configuration is part of the log, so every node uses the one its log says: the
//    newest configuration entry of its log, or, when it has none above its commit index, the
//    committed configuration in force at its commit index; and every snapshot holds the committed
//    configuration in force at its last index.
// It also tells the other checks which configuration is in force (the voters liveness counts).
//
// The initial configuration is not in the log: a node that joined a running cluster does not know
// it, and uses (and snapshots) an empty configuration where the others use the initial one.

import { formatMembers, logIndex, sameMembers, type Entry, type FullOutput, type Member, type NodeId, type PersistedState, type RaftNode, type Snapshot } from "../../../raft/index.js";
import { violated } from "./violation.js";

interface Committed {
  readonly index: number;
  readonly members: readonly Member[];
}

function voterDifference(a: readonly Member[], b: readonly Member[]): number {
  const va = new Set(a.filter((m) => m.role === "voter").map((m) => m.id));
  const vb = new Set(b.filter((m) => m.role === "voter").map((m) => m.id));
  let n = 0;
  for (const id of va) if (!vb.has(id)) n++;
  for (const id of vb) if (!va.has(id)) n++;
  return n;
}

/** The step applied a configuration entry. (A loop: `some` with an arrow allocated a closure on every step.) */
function appliesConfig(out: FullOutput): boolean {
  const applied = out.applied;
  for (let k = 0; k < applied.length; k++) if (applied[k]!.entry.command.kind === "config") return true;
  return false;
}

export class MembershipChecker {
  readonly passed = { changes: 0, agreement: 0 };
  /** Committed configurations in log order; the initial one at index 0. */
  private readonly configs: Committed[];
  /** How much of the committed log has been read. */
  private read = 0;

  constructor(
    initialVoters: readonly NodeId[],
    /** The committed log as first applied anywhere (the safety checker's): index i at [i - 1]. */
    private readonly committed: readonly Entry[],
    /** Whether a node joined a running cluster (it starts with no configuration). */
    private readonly joined: (id: NodeId) => boolean,
  ) {
    this.configs = [{ index: 0, members: [...initialVoters].sort((a, b) => a - b).map((id) => ({ id, address: "", role: "voter" as const })) }];
  }

  /** The committed configuration in force now. */
  inForce(): readonly Member[] {
    this.readCommitted();
    return this.configs[this.configs.length - 1]!.members;
  }

  afterStep(id: NodeId, core: RaftNode, out: FullOutput): void {
    this.readCommitted();
    if (out.installSnapshot !== null) this.checkSnapshot(id, out.installSnapshot, "installed");
    if (out.saveSnapshot !== null) this.checkSnapshot(id, out.saveSnapshot, "took");
    const changed = out.membership !== null || out.installSnapshot !== null || out.truncateFrom !== null;
    if (changed || appliesConfig(out)) this.checkInUse(id, core);
  }

  /** A node restarted: its snapshot, and the configuration it uses, come from its disk. */
  afterBoot(id: NodeId, persisted: PersistedState, core: RaftNode): void {
    this.readCommitted();
    if (persisted.snapshot != null) this.checkSnapshot(id, persisted.snapshot, "restarted from");
    this.checkInUse(id, core);
  }

  private readCommitted(): void {
    for (; this.read < this.committed.length; this.read++) {
      const c = this.committed[this.read]!.command;
      if (c.kind !== "config") continue;
      const prev = this.configs[this.configs.length - 1]!;
      const index = this.read + 1;
      this.passed.changes += 1;
      if (voterDifference(prev.members, c.members) > 1) {
        violated("membership safety", `the configuration committed at entry ${index} (${formatMembers(c.members)}) differs from the one before it, at entry ${prev.index} (${formatMembers(prev.members)}), by more than one voter`);
      }
      this.configs.push({ index, members: c.members });
    }
  }

  /** The committed configuration in force at `index` (at or below what is committed). */
  private configAt(index: number): Committed {
    for (let k = this.configs.length - 1; k > 0; k--) if (this.configs[k]!.index <= index) return this.configs[k]!;
    return this.configs[0]!;
  }

  /** What the node's log says it must use: its newest uncommitted configuration, or the committed one. */
  private checkInUse(id: NodeId, core: RaftNode): void {
    const v = core.inspect();
    let want: readonly Member[] | null = null;
    let where = "";
    for (let i = v.lastLogIndex; i > v.commitIndex && i >= v.firstLogIndex; i--) {
      const c = v.entryAt(logIndex(i)).command;
      if (c.kind === "config") {
        want = c.members;
        where = `its newest configuration entry, ${i} (not committed yet)`;
        break;
      }
    }
    if (want === null) {
      if (v.commitIndex > this.committed.length) return;
      const at = this.configAt(v.commitIndex);
      want = at.members;
      where = at.index === 0 ? "the initial configuration" : `the committed configuration of entry ${at.index}, in force at its commit index ${v.commitIndex}`;
    }
    const inUse = core.status().members;
    this.passed.agreement += 1;
    if (sameMembers(inUse, want) || (inUse.length === 0 && this.joined(id) && where === "the initial configuration")) return;
    violated("membership safety", `node ${id} uses the configuration ${formatMembers(inUse)}, but its log says ${formatMembers(want)} (${where})`);
  }

  private checkSnapshot(id: NodeId, s: Snapshot, how: string): void {
    if (s.lastIndex > this.committed.length) return; // the safety checker objects to that
    const at = this.configAt(s.lastIndex);
    this.passed.agreement += 1;
    if (sameMembers(s.members, at.members)) return;
    if (s.members.length === 0 && at.index === 0) return; // taken by (or from) a node that joined: it never knew the initial configuration
    violated("membership safety", `node ${id} ${how} a snapshot through entry ${s.lastIndex} with members ${formatMembers(s.members)}, but the configuration in force there is ${formatMembers(at.members)} (entry ${at.index})`);
  }
}
