// Membership rules (Raft thesis, chapter 4), checked after every step from the public API and the
// disks only:
//
//  - the configuration in use is the newest in the log (committed or not), else the snapshot's,
//    else the initial one (empty for a joining node): status.members must say exactly that, so a
//    truncated configuration entry reverts the node to the previous configuration;
//  - one server at a time: a configuration entry a leader appends differs from the one in use by
//    one member at most (added, removed, or its role changed), and is appended only once the
//    previous configuration entry and the leader's own-term NO-OP are committed;
//  - majorities count voters only: a leader's new commit index is held by a majority of the
//    voters of its configuration; a node becomes leader only with the votes of a majority of the
//    voters of its configuration; a node stands (vote request, candidacy, leadership) only as a
//    voter of its configuration in use or of the one committed as far as it knows (thesis 4.2.2: a
//    node removed by an entry not yet committed may still be needed to elect a leader);
//  - every snapshot (saved, installed) names the configuration as of its lastIndex in the
//    committed log.
//
// A TimeoutNow goes only to a caught-up voter: when it is sent, the target's log holds the
// leader's last entry.

import type { Entry, Member, NodeId, NodeStatus, Snapshot } from "../../../src/raft/index.js";
import type { Disk } from "./disk.js";
import type { StepRecord, World } from "./world.js";

const VIOLATIONS_MAX = 20;

export const membersText = (ms: readonly Member[]): string =>
  ms.map((m) => `${m.id}${m.role === "learner" ? "/L" : ""}@${m.address}`).join(",");

export const votersOf = (ms: readonly Member[]): NodeId[] => ms.filter((m) => m.role === "voter").map((m) => m.id);

export const isVoter = (ms: readonly Member[], id: number): boolean => ms.some((m) => m.id === id && m.role === "voter");

/** The configuration a disk says is in use: newest configuration entry, else the snapshot's, else `initial`. */
export function configOnDisk(disk: Disk, initial: readonly Member[]): { members: readonly Member[]; index: number } {
  for (let i = disk.lastIndex; i >= disk.firstIndex; i--) {
    const e = disk.entry(i);
    if (e?.command.kind === "config") return { members: e.command.members, index: i };
  }
  const snap = disk.snapshot;
  if (snap !== null) return { members: snap.members, index: snap.lastIndex };
  return { members: initial, index: 0 };
}

/** The configuration in force at `upTo` on a disk: newest configuration entry at or before it, else the snapshot's, else `initial`. */
export function configAtOnDisk(disk: Disk, initial: readonly Member[], upTo: number): readonly Member[] {
  for (let i = Math.min(upTo, disk.lastIndex); i >= disk.firstIndex; i--) {
    const e = disk.entry(i);
    if (e?.command.kind === "config") return e.command.members;
  }
  return disk.snapshot?.members ?? initial;
}

/** How many members differ between two configurations (presence or role). */
export function memberChanges(a: readonly Member[], b: readonly Member[]): number {
  const ids = new Set([...a.map((m) => m.id), ...b.map((m) => m.id)]);
  let n = 0;
  for (const id of ids) {
    const x = a.find((m) => m.id === id);
    const y = b.find((m) => m.id === id);
    if (x?.role !== y?.role) n++;
  }
  return n;
}

export class MembershipMonitor {
  readonly violations: string[] = [];

  /** Counts of what the run exercised, so tests can show they reached the interesting cases. */
  readonly stats = { configAppends: 0, timeoutNowSent: 0, snapshotsChecked: 0, leadersElected: 0, promotions: 0 };
  /** Granted real votes delivered: `${candidate}@${term}` -> voters. */
  private readonly grants = new Map<string, Set<number>>();

  constructor(
    private readonly w: World,
    /** The initial configuration of node `id` (empty for a joining node). */
    private readonly initialOf: (id: NodeId) => readonly Member[],
  ) {
    w.observers.push((r) => this.check(r));
  }

  private fail(message: string): void {
    if (this.violations.length < VIOLATIONS_MAX && !this.violations.includes(message)) this.violations.push(message);
  }

  /** Request ids of GETs (the world's client calls): their answers are checked against the lease. */
  private readonly gets = new Set<number>();

  private check(r: StepRecord): void {
    const { id, before, out, after, disk, input } = r;
    if (input.type === "client") for (const c of input.calls) if (c.request.kind === "get") this.gets.add(c.requestId);
    const at = `at ${r.trueMs.toFixed(3)} ms`;
    // The configuration in use is the newest in the log.
    const want = configOnDisk(disk, this.initialOf(id));
    if (membersText(after.members) !== membersText(want.members)) {
      this.fail(`config in use: node ${id} ${at} reports [${membersText(after.members)}] but its log/snapshot says [${membersText(want.members)}] (index ${want.index})`);
    }
    for (let i = 1; i < after.members.length; i++) {
      if (after.members[i - 1]!.id >= after.members[i]!.id) this.fail(`config order: node ${id} reports members not in ascending id order [${membersText(after.members)}]`);
    }
    if (out.membership !== null && membersText(out.membership) !== membersText(after.members)) {
      this.fail(`output.membership: node ${id} ${at} outputs [${membersText(out.membership)}] but uses [${membersText(after.members)}]`);
    }
    if (out.membership === null && membersText(before.members) !== membersText(after.members)) {
      this.fail(`output.membership: node ${id} ${at} changed its configuration from [${membersText(before.members)}] to [${membersText(after.members)}] without saying so`);
    }
    // A GET answered ok is a lease read: the node could serve lease reads at that instant.
    for (const rep of out.replies) {
      if (!rep.result.ok || !this.gets.has(rep.requestId)) continue;
      if (!before.leaseReadable && !after.leaseReadable) {
        this.fail(`lease read: node ${id} ${at} answers GET (request ${rep.requestId}) while it cannot serve lease reads (role ${after.role}, term ${after.term})`);
      }
    }
    // Votes delivered.
    if (input.type === "message" && input.message.type === "vote-reply" && input.message.granted && !input.message.preVote) {
      const k = `${id}@${input.message.requestTerm}`;
      if (!this.grants.has(k)) this.grants.set(k, new Set());
      this.grants.get(k)!.add(input.message.from);
    }
    // Non-voters never stand (a voter of the committed configuration may, until its removal commits).
    const mayStand = isVoter(after.members, id) || isVoter(configAtOnDisk(disk, this.initialOf(id), after.commitIndex), id);
    for (const m of out.messages) {
      if (m.type === "vote-request" && !mayStand) {
        this.fail(`non-voter stands: node ${id} ${at} sends a ${m.preVote ? "pre-vote" : "vote"} request for term ${m.term} while its configuration is [${membersText(after.members)}]`);
      }
    }
    if (after.role === "candidate" && !mayStand) {
      this.fail(`non-voter stands: node ${id} ${at} is a candidate in term ${after.term} with configuration [${membersText(after.members)}]`);
    }
    // Becoming leader: a voter, with a majority of voters.
    if (after.role === "leader" && (before.role !== "leader" || before.term !== after.term)) {
      this.stats.leadersElected++;
      const voters = votersOf(after.members);
      if (!mayStand) this.fail(`election: node ${id} ${at} became leader of term ${after.term} though not a voter of [${membersText(after.members)}] nor of its committed configuration`);
      const got = new Set([...(this.grants.get(`${id}@${after.term}`) ?? [])].filter((v) => voters.includes(v as NodeId)));
      if (voters.includes(id)) got.add(id);
      if (got.size * 2 <= voters.length) {
        this.fail(`election: node ${id} ${at} became leader of term ${after.term} with votes of voters [${[...got].join(",")}] of [${voters.join(",")}]: not a majority`);
      }
    }
    // Commit by a majority of voters.
    if (after.role === "leader" && after.commitIndex > before.commitIndex && before.role === "leader") {
      const c = after.commitIndex;
      const mine = disk.entry(c);
      const holders = (ms: readonly Member[]) =>
        votersOf(ms).filter((v) => {
          const d = v === id ? disk : this.w.disk(v);
          const e = d.entry(c);
          return (e !== undefined && mine !== undefined && e.term === mine.term) || (d.snapshot !== null && d.snapshot.lastIndex >= c);
        });
      const okWith = (ms: readonly Member[]) => holders(ms).length * 2 > votersOf(ms).length;
      if (!okWith(after.members) && !okWith(before.members)) {
        this.fail(
          `commit: leader ${id} ${at} commits index ${c} held by voters [${holders(after.members).join(",")}] of [${votersOf(after.members).join(",")}]: not a majority`,
        );
      }
    }
    // Configuration entries a leader appends.
    if (out.appendFrom !== null && after.role === "leader" && before.role === "leader" && before.term === after.term) {
      out.append.forEach((e, k) => {
        if (e.command.kind !== "config") return;
        this.stats.configAppends++;
        const index = out.appendFrom! + k;
        this.checkConfigAppend(id, at, index, e, disk, before, after);
      });
    }
    // TimeoutNow only to a caught-up voter.
    for (const m of out.messages) {
      if (m.type !== "timeout-now") continue;
      this.stats.timeoutNowSent++;
      const target = this.w.disk(m.to);
      const last = disk.lastIndex;
      if (target.termAt(last) !== disk.termAt(last) && !(target.snapshot !== null && target.snapshot.lastIndex >= last)) {
        this.fail(`timeout-now: leader ${id} ${at} sends TimeoutNow to ${m.to}, whose log ends at ${target.lastIndex} (term ${target.termAt(target.lastIndex)}), before it holds the leader's last entry ${last}`);
      }
      if (!isVoter(after.members, m.to) && !isVoter(before.members, m.to)) {
        this.fail(`timeout-now: leader ${id} ${at} sends TimeoutNow to ${m.to}, not a voter of [${membersText(after.members)}]`);
      }
    }
    // Snapshots name the configuration as of their index.
    if (out.saveSnapshot !== null) this.checkSnapshot(`node ${id} saves`, out.saveSnapshot);
    if (out.installSnapshot !== null) this.checkSnapshot(`node ${id} installs`, out.installSnapshot);
  }

  private checkConfigAppend(id: NodeId, at: string, index: number, e: Entry, disk: Disk, before: NodeStatus, after: NodeStatus): void {
    if (e.command.kind !== "config") return;
    const ms = e.command.members;
    // The configuration before this entry.
    let prev: readonly Member[] | null = null;
    let prevIndex = 0;
    for (let i = index - 1; i >= disk.firstIndex; i--) {
      const p = disk.entry(i);
      if (p?.command.kind === "config") {
        prev = p.command.members;
        prevIndex = i;
        break;
      }
    }
    if (prev === null) {
      prev = disk.snapshot?.members ?? this.initialOf(id);
      prevIndex = disk.snapshot?.lastIndex ?? 0;
    }
    if (memberChanges(prev, ms) > 1) {
      this.fail(`one at a time: leader ${id} ${at} appends configuration [${membersText(ms)}] at ${index}, more than one change from [${membersText(prev)}]`);
    }
    // Safety: the voters may differ by one from every configuration since the last committed one
    // (a node may still use any of them), so every two majorities in use overlap.
    for (let i = index - 1; i >= disk.firstIndex; i--) {
      const p = disk.entry(i);
      if (p?.command.kind !== "config") continue;
      const a = new Set(votersOf(p.command.members));
      const b = new Set(votersOf(ms));
      const diff = [...a].filter((x) => !b.has(x)).length + [...b].filter((x) => !a.has(x)).length;
      if (diff > 1) {
        this.fail(`one at a time: leader ${id} ${at} appends voters [${[...b].join(",")}] at ${index} while a node may still use voters [${[...a].join(",")}] (entry ${i}, commit ${after.commitIndex})`);
      }
      // (The step may commit an entry before it appends this one: the commit index after it counts.)
      if (i <= after.commitIndex) break;
    }
    for (const m of ms) {
      if (m.role !== "voter" || prev.find((p) => p.id === m.id)?.role !== "learner") continue;
      const d = this.w.disk(m.id);
      const c = before.commitIndex;
      if (d.termAt(c) !== disk.termAt(c) && !(d.snapshot !== null && d.snapshot.lastIndex >= c)) {
        this.fail(`promotion: leader ${id} ${at} promotes learner ${m.id} (entry ${index}) whose log ends at ${d.lastIndex}, short of the commit index ${c}`);
      }
      this.stats.promotions++;
    }
    // The step may commit the previous entry before it appends this one: the commit index after it counts.
    const commit = after.commitIndex;
    if (prevIndex > commit) {
      this.fail(`one at a time: leader ${id} ${at} appends configuration at ${index} while the previous one (index ${prevIndex}) is uncommitted (commit ${commit})`);
    }
    let firstOfTerm = 0;
    // Compacted away (a snapshot covers committed entries only): an entry of the term is committed.
    if (disk.logStart.prevTerm === before.term) firstOfTerm = disk.logStart.prevIndex;
    for (let i = disk.firstIndex; i < index && firstOfTerm === 0; i++) {
      if (disk.entry(i)?.term === before.term) {
        firstOfTerm = i;
        break;
      }
    }
    if (firstOfTerm === 0 || firstOfTerm > commit) {
      this.fail(`no-op first: leader ${id} ${at} appends configuration at ${index} before an entry of its term ${before.term} committed (first of term: ${firstOfTerm}, commit ${commit})`);
    }
  }

  private checkSnapshot(where: string, s: Snapshot): void {
    const ref = this.w.safety.reference;
    let want: readonly Member[] | null = null;
    for (let i = s.lastIndex; i >= 1; i--) {
      const e = ref.entry(i);
      if (e === undefined) return; // not learnt: cannot check
      if (e.command.kind === "config") {
        want = e.command.members;
        break;
      }
    }
    this.stats.snapshotsChecked++;
    // Before any configuration entry: the initial voters (any node that did not join).
    want ??= this.initialOf(this.w.ids.find((i) => this.initialOf(i).length > 0)!);
    if (membersText(s.members) !== membersText(want)) {
      this.fail(`snapshot: ${where} a snapshot through ${s.lastIndex} naming [${membersText(s.members)}], but the committed log's configuration there is [${membersText(want)}]`);
    }
  }
}

/** The initial configuration of a world made with `voters` (addresses `n<id>`). */
export function initialConfig(voters: readonly number[]): Member[] {
  return [...voters].sort((a, b) => a - b).map((id) => ({ id: id as NodeId, address: `n${id}`, role: "voter" as const }));
}
