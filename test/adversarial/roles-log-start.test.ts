// Every message kind in every role, and the log's start after compaction: driven by hand through
// the public API (src/raft/index.ts), from the Raft paper (Figure 2, §5.1-5.4, §7), the thesis
// (PreVote, §9.6; leadership transfer, §3.10), docs/lease.md (rules 2-4, 11), the README
// ("Changing the cluster", "Files on disk") and docs/file-formats.md ("After compaction").
//
// Part 1: a follower, a candidate and a leader of term T, each given every message kind with a
// term below, equal to and above T; learners and removed nodes; votes; the lease a voter reports
// and the wait of a new leader; then seeded random deliveries (fast-check) to a 3-node cluster
// whose every message the test holds, delivers, duplicates or drops, checked after every step.
// Part 2: a follower that took a snapshot and compacted its log keeping entries below it, given
// AppendEntries around its log's start, InstallSnapshot older, equal and newer, and restarts.
// ADV_SEED=<n> replays one random schedule seed; ADV_RUNS=<n> runs more.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { logIndex, makeConfig, nodeId, RaftNode, requestId, term, TIMING_FAST } from "../../src/raft/index.js";
import type {
  AppendReply,
  AppendRequest,
  Entry,
  FullOutput,
  Input,
  LogStart,
  Member,
  Message,
  NodeId,
  PersistedState,
  RaftConfig,
  Snapshot,
  SnapshotReply,
  SnapshotRequest,
  TimeoutNow,
  VoteReply,
  VoteRequest,
} from "../../src/raft/index.js";
import { Disk } from "./support/disk.js";
import { applyEntry, type MachineState } from "./support/reference.js";
import { entryKey } from "./support/safety.js";
import { World } from "./support/world.js";

type Overrides = Partial<Omit<RaftConfig, "id" | "members" | "timing">>;
const L = TIMING_FAST.leaseMs;
const RHO = TIMING_FAST.driftPpmMax / 1e6;
const LEASE = { leaseMs: L, driftPpmMax: TIMING_FAST.driftPpmMax };
const EMIN = TIMING_FAST.electionTimeoutMinMs;
const EMAX = TIMING_FAST.electionTimeoutMaxMs;

const noop = (t: number): Entry => ({ term: term(t), command: { kind: "noop" } });
const setE = (t: number, key: string, value: string, clientId = "", sequence = 0): Entry => ({
  term: term(t),
  command: { kind: "set", key, value, clientId, sequence, firstUnanswered: sequence },
});
const hard = (t: number, votedFor: number | null, commit: number) => ({ currentTerm: term(t), votedFor: votedFor === null ? null : nodeId(votedFor), commitIndex: logIndex(commit) });
const voters = (ids: number[]): Member[] => ids.map((id) => ({ id: nodeId(id), address: "", role: "voter" as const }));

/** One node driven by hand, on its own clock; every output is kept. */
class Hand {
  readonly node: RaftNode;
  now: number;
  readonly outs: FullOutput[] = [];
  constructor(
    readonly id: number,
    persisted: PersistedState,
    overrides: Overrides = {},
    ids: number[] = [0, 1, 2],
    startMs = 0,
  ) {
    this.now = startMs;
    this.node = RaftNode.start(makeConfig(nodeId(id), ids.map(nodeId), TIMING_FAST, { preVote: false, ...overrides }), persisted, startMs, () => 0);
  }
  step(input: Input): FullOutput {
    this.now = Math.max(this.now, input.nowMs);
    const out = this.node.step({ ...input, nowMs: this.now } as Input);
    this.outs.push(out);
    return out;
  }
  tick = (nowMs: number) => this.step({ type: "tick", nowMs });
  deliver = (m: Message, nowMs = this.now) => this.step({ type: "message", nowMs, message: m });
  get st() {
    return this.node.status(this.now);
  }
  get view() {
    return this.node.inspect();
  }
  /** The only message of `type` the output sends (to `to`). */
  sent<T extends Message["type"]>(out: FullOutput, type: T, to?: number): Extract<Message, { type: T }> {
    const ms = out.messages.filter((m) => m.type === type && (to === undefined || m.to === to));
    expect(ms.map((m) => `${m.type}>${m.to}`), `the ${type} messages sent`).toHaveLength(1);
    return ms[0] as Extract<Message, { type: T }>;
  }
  /** A summary of what a message must not change. */
  facts() {
    const s = this.st;
    const v = this.view;
    const log: string[] = [];
    for (let i = v.firstLogIndex; i <= v.lastLogIndex; i++) log.push(entryKey(v.entryAt(logIndex(i))));
    return { role: s.role, term: s.term, votedFor: s.votedFor, leaderId: s.leaderId, commit: s.commitIndex, applied: s.appliedIndex, first: v.firstLogIndex, last: v.lastLogIndex, snap: v.snapshotIndex, log };
  }
}

// ------------------------------------------------------------------ messages, built as a peer would

const appendReq = (from: number, to: number, t: number, prev: number, prevTerm: number, entries: Entry[], commit: number, sendMs = 1): AppendRequest => ({
  type: "append-request", from: nodeId(from), to: nodeId(to), term: term(t), prevLogIndex: logIndex(prev), prevLogTerm: term(prevTerm),
  entries, leaderCommit: logIndex(commit), lease: LEASE, leaderSendMs: sendMs,
});
const voteReq = (from: number, to: number, t: number, lastIndex: number, lastTerm: number, preVote = false): VoteRequest => ({
  type: "vote-request", from: nodeId(from), to: nodeId(to), term: term(t), lastLogIndex: logIndex(lastIndex), lastLogTerm: term(lastTerm), preVote, lease: LEASE,
});
const voteRep = (from: number, to: number, t: number, requestTerm: number, granted: boolean, leaseRemainingMs = 0, leaseTerm = 0, preVote = false): VoteReply => ({
  type: "vote-reply", from: nodeId(from), to: nodeId(to), term: term(t), requestTerm: term(requestTerm), granted, preVote, leaseRemainingMs, leaseTerm: term(leaseTerm),
});
const appendRep = (from: number, to: number, t: number, requestTerm: number, matchIndex: number, sendMs: number, success = true): AppendReply => ({
  type: "append-reply", from: nodeId(from), to: nodeId(to), term: term(t), requestTerm: term(requestTerm), success, matchIndex: logIndex(success ? matchIndex : 0),
  conflictIndex: logIndex(success ? 0 : 1), conflictTerm: term(0), rejectedPrevIndex: logIndex(success ? 0 : matchIndex), leaderSendMs: sendMs,
});
const snapReq = (from: number, to: number, t: number, snapshot: Snapshot, sendMs = 1): SnapshotRequest => ({
  type: "snapshot-request", from: nodeId(from), to: nodeId(to), term: term(t), snapshot, lease: LEASE, leaderSendMs: sendMs,
});
const snapRep = (from: number, to: number, t: number, requestTerm: number, index: number, sendMs: number): SnapshotReply => ({
  type: "snapshot-reply", from: nodeId(from), to: nodeId(to), term: term(t), requestTerm: term(requestTerm), matchIndex: logIndex(index), snapshotIndex: logIndex(index), leaderSendMs: sendMs,
});
const timeoutNow = (from: number, to: number, t: number): TimeoutNow => ({ type: "timeout-now", from: nodeId(from), to: nodeId(to), term: term(t), oldLeaseRemainingMs: 0, lease: LEASE });

// ------------------------------------------------------------------ a node in each role, term T = 5

const T = 5;
/** Node 1's log in part 1: (1,1) (2,1) (3,3); last (3, term 3), commit 2. */
const LOG1 = [noop(1), setE(1, "k", "a"), noop(3)];
const SNAP1: Snapshot = { lastIndex: logIndex(3), lastTerm: term(3), members: voters([0, 1, 2]), data: new Map([["k", "a"]]), sessions: new Map() };

type RoleName = "follower" | "candidate" | "leader";

/** Node 1 of [0, 1, 2] as a follower, candidate or leader of term T (lease wait over, NO-OP at 4). */
function inRole(role: RoleName, overrides: Overrides = {}): Hand {
  if (role === "follower") {
    const h = new Hand(1, { hardState: hard(T, null, 2), entries: LOG1 }, overrides);
    h.tick(10);
    expect(h.st.role).toBe("follower");
    return h;
  }
  const h = new Hand(1, { hardState: hard(T - 1, null, 2), entries: LOG1 }, overrides);
  h.tick(h.view.electionDeadlineMs);
  expect([h.st.role, h.st.term, h.st.votedFor]).toEqual(["candidate", T, 1]);
  if (role === "leader") {
    h.deliver(voteRep(0, 1, T, T, true));
    expect([h.st.role, h.st.term]).toEqual(["leader", T]);
    expect(h.st.lastLogIndex).toBe(4);
  }
  return h;
}

/** Every message kind, from peer `p` to node 1, carrying term `t` (a request's log position is up to date). */
function everyKind(t: number, p: number): { kind: string; m: Message }[] {
  return [
    { kind: "append-request", m: appendReq(p, 1, t, 3, 3, [], 2) },
    { kind: "append-reply", m: appendRep(p, 1, t, t, 4, 1) },
    { kind: "vote-request", m: voteReq(p, 1, t, 10, t) },
    { kind: "vote-reply", m: voteRep(p, 1, t, t, true) },
    { kind: "snapshot-request", m: snapReq(p, 1, t, SNAP1) },
    { kind: "snapshot-reply", m: snapRep(p, 1, t, t, 3, 1) },
    { kind: "timeout-now", m: timeoutNow(p, 1, t) },
  ];
}

const ROLES: RoleName[] = ["follower", "candidate", "leader"];

describe("every message kind in every role (Figure 2: 'Rules for Servers', RequestVote, AppendEntries; §7)", () => {
  it("a lower term is refused with the receiver's term and changes nothing, in every role", () => {
    for (const role of ROLES) {
      for (const { kind, m } of everyKind(T - 1, 0)) {
        const h = inRole(role);
        const before = h.facts();
        const out = h.deliver(m, h.now + 5);
        const what = `${role} given a ${kind} of term ${T - 1}`;
        expect(h.facts(), what).toEqual(before);
        expect(out.hardState?.currentTerm ?? T, what).toBe(T);
        expect([out.truncateFrom, out.installSnapshot, out.compactTo, out.append.length], what).toEqual([null, null, null, 0]);
        if (kind === "append-request") {
          const r = h.sent(out, "append-reply", 0);
          expect([r.term, r.success], what).toEqual([T, false]);
        } else if (kind === "vote-request") {
          const r = h.sent(out, "vote-reply", 0);
          expect([r.term, r.granted], what).toEqual([T, false]);
        } else if (kind === "snapshot-request") {
          expect(h.sent(out, "snapshot-reply", 0).term, what).toBe(T);
        } else {
          expect(out.messages.filter((x) => x.type === "vote-request"), `${what}: no election`).toEqual([]);
        }
      }
    }
  });

  it("a higher term makes any node a follower of that term first, durably, before its answer leaves", () => {
    for (const role of ROLES) {
      for (const { kind, m } of everyKind(T + 1, 2)) {
        const h = inRole(role);
        const out = h.deliver(m, h.now + 5);
        const what = `${role} given a ${kind} of term ${T + 1}`;
        expect(out.hardState?.currentTerm, what).toBeGreaterThanOrEqual(T + 1);
        expect(out.hardStateMustSync, what).toBe(true);
        expect(h.st.role, what).not.toBe("leader");
        if (kind === "timeout-now") {
          // The target of a transfer stands at once (README "Leadership transfer"): a real vote, term T + 2.
          expect([h.st.role, h.st.term, h.st.votedFor], what).toEqual(["candidate", T + 2, 1]);
          expect(out.messages.filter((x) => x.type === "vote-request").map((x) => [x.term, (x as VoteRequest).preVote]), what).toEqual([[T + 2, false], [T + 2, false]]);
          continue;
        }
        expect([h.st.role, h.st.term], what).toEqual(["follower", T + 1]);
        for (const msg of out.messages) expect(msg.term, `${what}: ${msg.type} to ${msg.to}`).toBe(T + 1);
        if (kind === "append-request" || kind === "snapshot-request") {
          expect(h.st.leaderId, what).toBe(2);
          const r = kind === "append-request" ? h.sent(out, "append-reply", 2) : h.sent(out, "snapshot-reply", 2);
          expect(r.requestTerm, what).toBe(T + 1);
          if (r.type === "append-reply") expect([r.success, r.matchIndex], what).toEqual([true, 3]);
        } else if (kind === "vote-request") {
          const r = h.sent(out, "vote-reply", 2);
          expect([r.term, r.granted, h.st.votedFor, out.hardState?.votedFor], what).toEqual([T + 1, true, 2, 2]);
        } else {
          expect([h.st.votedFor, h.st.leaderId], what).toEqual([null, null]);
        }
        // Committed entries survive the change of role.
        if (h.view.firstLogIndex <= 2) expect(h.view.entryAt(logIndex(2)).command, what).toEqual(LOG1[1]!.command);
        expect(h.view.valueOf("k"), what).toBe("a");
        expect(h.st.commitIndex, what).toBeGreaterThanOrEqual(2);
      }
    }
  });

  it("a candidate hearing AppendEntries or InstallSnapshot of its own term follows that leader", () => {
    for (const kind of ["append-request", "snapshot-request"] as const) {
      const h = inRole("candidate");
      const m = kind === "append-request" ? appendReq(0, 1, T, 3, 3, [noop(T)], 2) : snapReq(0, 1, T, SNAP1);
      const out = h.deliver(m, h.now + 3);
      expect([h.st.role, h.st.term, h.st.leaderId, h.st.votedFor], kind).toEqual(["follower", T, 0, 1]);
      if (kind === "append-request") {
        const r = h.sent(out, "append-reply", 0);
        expect([r.term, r.requestTerm, r.success, r.matchIndex, r.leaderSendMs]).toEqual([T, T, true, 4, 1]);
        expect(h.st.lastLogIndex).toBe(4);
      } else {
        const r = h.sent(out, "snapshot-reply", 0);
        expect([r.term, r.requestTerm, r.snapshotIndex]).toEqual([T, T, 3]);
      }
      // No election of its own meanwhile: the timer was reset by the leader's message.
      const late = h.tick(h.now + EMIN - 1);
      expect(late.messages.filter((x) => x.type === "vote-request")).toEqual([]);
      expect(h.st.role).toBe("follower");
    }
  });

  it("a follower of term T takes AppendEntries of T from its leader; stray replies of T change nothing", () => {
    const h = inRole("follower");
    const out = h.deliver(appendReq(0, 1, T, 3, 3, [noop(T)], 4, 123.5), 50);
    const r = h.sent(out, "append-reply", 0);
    expect([r.term, r.requestTerm, r.success, r.matchIndex, r.leaderSendMs]).toEqual([T, T, true, 4, 123.5]);
    expect([h.st.leaderId, h.st.commitIndex, h.st.appliedIndex]).toEqual([0, 4, 4]);
    for (const m of [appendRep(2, 1, T, T, 9, 1), voteRep(2, 1, T, T, true), snapRep(2, 1, T, T, 9, 1)]) {
      const before = h.facts();
      const o = h.deliver(m, h.now + 1);
      expect(h.facts(), m.type).toEqual(before);
      expect(o.messages, m.type).toEqual([]);
    }
  });

  it("a leader hearing AppendEntries or InstallSnapshot of its own term reports a broken invariant (two leaders in one term)", () => {
    for (const m of [appendReq(0, 1, T, 4, T, [], 4), snapReq(0, 1, T, SNAP1)]) {
      const h = inRole("leader");
      expect(() => h.deliver(m, h.now + 1), m.type).toThrow(/invariant/);
    }
  });

  it("a leader ignores vote replies, vote requests of its term, and AppendEntries replies to older terms", () => {
    const h = inRole("leader");
    const hb = h.outs.at(-1)!.messages.filter((x): x is AppendRequest => x.type === "append-request");
    const to0 = hb.find((x) => x.to === 0)!;
    const before = h.facts();
    const match0 = h.view.matchIndexOf(nodeId(0));
    expect(match0 ?? 0).toBeLessThan(4);
    h.deliver(voteRep(2, 1, T, T, true), h.now + 1);
    h.deliver(voteRep(2, 1, T, T, false), h.now + 1);
    const vr = h.sent(h.deliver(voteReq(2, 1, T, 50, T), h.now + 1), "vote-reply", 2);
    expect([vr.term, vr.granted]).toEqual([T, false]);
    // An answer to a request of term T - 1 (this node was no leader then), claiming everything.
    h.deliver({ ...appendRep(0, 1, T, T - 1, 4, to0.leaderSendMs) }, h.now + 1);
    h.deliver({ ...appendRep(2, 1, T, T - 1, 4, to0.leaderSendMs) }, h.now + 1);
    expect(h.facts()).toEqual(before);
    expect([h.view.matchIndexOf(nodeId(0)), h.st.commitIndex]).toEqual([match0, 2]);
    // The same answer to this term's request counts (the control for the line above).
    h.deliver(appendRep(0, 1, T, T, 4, to0.leaderSendMs), h.now + 1);
    expect([h.view.matchIndexOf(nodeId(0)), h.st.commitIndex]).toEqual([4, 4]);
  });

  it("a candidate counts only grants of its own round, each voter once", () => {
    const h = new Hand(1, { hardState: hard(T - 1, null, 2), entries: LOG1 }, {}, [0, 1, 2, 3, 4]);
    h.tick(h.view.electionDeadlineMs);
    expect([h.st.role, h.st.term]).toEqual(["candidate", T]);
    h.deliver(voteRep(0, 1, T, T - 1, true)); // an answer to an older round
    h.deliver(voteRep(2, 1, T, T - 1, true));
    h.deliver(voteRep(3, 1, T, T, true));
    h.deliver(voteRep(3, 1, T, T, true)); // a duplicate
    h.deliver(voteRep(4, 1, T, T, false));
    expect(h.st.role, "two votes of five (self and 3)").toBe("candidate");
    h.deliver(voteRep(0, 1, T, T, true));
    expect([h.st.role, h.st.term]).toEqual(["leader", T]);
  });

  it("TimeoutNow of its leader's term makes a follower stand at once, without PreVote", () => {
    const h = inRole("follower", { preVote: true });
    h.deliver(appendReq(0, 1, T, 3, 3, [], 2), 100);
    const out = h.deliver(timeoutNow(0, 1, T), 150);
    expect([h.st.role, h.st.term, h.st.votedFor]).toEqual(["candidate", T + 1, 1]);
    expect(out.hardStateMustSync).toBe(true);
    const reqs = out.messages.filter((m): m is VoteRequest => m.type === "vote-request");
    expect(reqs.map((m) => [m.to, m.term, m.preVote, m.lastLogIndex, m.lastLogTerm])).toEqual([[0, T + 1, false, 3, 3], [2, T + 1, false, 3, 3]]);
  });
});

describe("votes: once per term, to an up-to-date log only (§5.2, §5.4.1)", () => {
  it("grants only candidates whose last (term, index) is at least its own; a refusal still adopts the term", () => {
    // Node 1's last entry is (3, term 3).
    const cases: [number, number, boolean][] = [[10, 2, false], [2, 3, false], [3, 3, true], [9, 3, true], [1, 4, true], [0, 0, false]];
    for (const [lastIndex, lastTerm, grant] of cases) {
      const h = inRole("follower");
      const r = h.sent(h.deliver(voteReq(2, 1, T + 1, lastIndex, lastTerm), 20), "vote-reply", 2);
      const what = `candidate's last entry (${lastIndex}, term ${lastTerm})`;
      expect([r.granted, r.term, r.requestTerm, h.st.term, h.st.votedFor], what).toEqual([grant, T + 1, T + 1, T + 1, grant ? 2 : null]);
    }
  });

  it("one vote per term: repeated to the same candidate, refused to another, also after a restart", () => {
    const disk = Disk.holding({ hardState: hard(T, null, 2), entries: LOG1 });
    let h = new Hand(1, disk.persisted());
    const step = (m: Message, at: number) => {
      const out = h.deliver(m, at);
      disk.persist(out);
      return h.sent(out, "vote-reply", m.from);
    };
    expect(step(voteReq(2, 1, T + 1, 3, 3), 10).granted).toBe(true);
    expect(step(voteReq(2, 1, T + 1, 3, 3), 11).granted, "the same candidate again (a retry)").toBe(true);
    expect(step(voteReq(0, 1, T + 1, 9, 3), 12).granted, "another candidate, same term").toBe(false);
    disk.crash(false);
    h = new Hand(1, disk.persisted(), {}, [0, 1, 2], 5000);
    expect([h.st.term, h.st.votedFor]).toEqual([T + 1, 2]);
    expect(step(voteReq(0, 1, T + 1, 9, 3), 5001).granted, "another candidate after a restart").toBe(false);
    expect(step(voteReq(0, 1, T + 2, 9, 3), 5002).granted, "the next term is a new vote").toBe(true);
    expect(h.st.votedFor).toBe(0);
  });
});

describe("learners and removed nodes (README 'Changing the cluster')", () => {
  it("a node that joins, and a node the committed configuration removed, never stand for election", () => {
    const joiner = new Hand(3, { hardState: hard(0, null, 0), entries: [] }, { join: true, addresses: {} }, [0, 1, 2]);
    const removedLog = [noop(1), { term: term(1), command: { kind: "config" as const, members: voters([0, 2]) } }];
    const removed = new Hand(1, { hardState: hard(1, null, 2), entries: removedLog });
    for (const h of [joiner, removed]) {
      for (let t = 0; t <= 10 * EMAX; t += 250) {
        const out = h.tick(t);
        expect(out.messages.filter((m) => m.type === "vote-request"), `node ${h.id} at ${t} ms`).toEqual([]);
      }
      expect(h.st.role).toBe("follower");
    }
    // The joiner still follows a leader of a higher term (a learner receives the log).
    const learnerLog = [noop(1), { term: term(1), command: { kind: "config" as const, members: [...voters([0, 1, 2]), { id: nodeId(3), address: "", role: "learner" as const }] } }];
    const out = joiner.deliver(appendReq(0, 3, 2, 0, 0, learnerLog, 2), joiner.now + 1);
    expect(joiner.sent(out, "append-reply", 0).success).toBe(true);
    expect([joiner.st.term, joiner.st.leaderId, joiner.st.commitIndex]).toEqual([2, 0, 2]);
    const until = joiner.now + 5 * EMAX;
    for (let t = joiner.now; t <= until; t += 250) expect(joiner.tick(t).messages.filter((m) => m.type === "vote-request")).toEqual([]);
  });
});

describe("the lease in elections (docs/lease.md rules 2-4; PreVote)", () => {
  it("with PreVote, a follower that heard its leader recently refuses pre-votes, and grants them once the election timeout passed; a pre-vote changes no term", () => {
    const h = inRole("follower", { preVote: true });
    h.deliver(appendReq(0, 1, T, 3, 3, [], 2), 1000);
    let r = h.sent(h.deliver(voteReq(2, 1, T + 1, 3, 3, true), 1100), "vote-reply", 2);
    expect([r.granted, r.preVote, h.st.term, h.st.votedFor, h.st.leaderId]).toEqual([false, true, T, null, 0]);
    r = h.sent(h.deliver(voteReq(2, 1, T + 1, 3, 3, true), 1000 + EMAX + 1), "vote-reply", 2);
    expect([r.granted, r.preVote, h.st.term, h.st.votedFor]).toEqual([true, true, T, null]);
  });

  it("a voter reports what remains of the lease it heard, stretched; the new leader waits it out before reads and write answers", () => {
    const f = inRole("follower");
    f.deliver(appendReq(0, 1, T, 3, 3, [], 2, 777), 3000);
    const reply = f.sent(f.deliver(voteReq(2, 1, T + 1, 3, 3), 3100), "vote-reply", 2);
    expect(reply.granted).toBe(true);
    expect(reply.leaseRemainingMs).toBeCloseTo(L * (1 + RHO) - 100, 6);
    expect(reply.leaseTerm).toBe(T);
    // Node 2, the candidate of T + 1, receives it at its clock 50,000.
    const c = new Hand(2, { hardState: hard(T, null, 2), entries: LOG1 }, {}, [0, 1, 2], 40_000);
    c.tick(c.view.electionDeadlineMs);
    expect([c.st.role, c.st.term]).toEqual(["candidate", T + 1]);
    c.deliver(reply, 50_000);
    expect(c.st.role).toBe("leader");
    const waitUntil = 50_000 + (reply.leaseRemainingMs * (1 + RHO)) / (1 - RHO);
    expect(c.view.oldLeaseWaitUntilMs).toBeCloseTo(waitUntil, 6);
    for (const m of c.outs.at(-1)!.messages) if (m.type === "append-request") c.deliver(appendRep(m.to, 2, T + 1, T + 1, 4, m.leaderSendMs), 50_001);
    expect(c.st.commitIndex, "the NO-OP commits during the wait").toBe(4);
    const get = c.step({ type: "client", nowMs: 50_002, calls: [{ requestId: requestId(1), request: { kind: "get", key: "k" } }] });
    const set = c.step({ type: "client", nowMs: 50_003, calls: [{ requestId: requestId(2), request: { kind: "set", key: "k", value: "b", clientId: "", sequence: 0, firstUnanswered: 0 } }] });
    expect([...get.replies, ...set.replies]).toEqual([]);
    for (const m of set.messages) if (m.type === "append-request" && m.entries.length > 0) c.deliver(appendRep(m.to, 2, T + 1, T + 1, 5, m.leaderSendMs), 50_004);
    expect(c.st.commitIndex, "the SET commits during the wait, unanswered").toBe(5);
    expect([c.node.leaseReadable(waitUntil - 0.01), c.tick(waitUntil - 0.01).replies]).toEqual([false, []]);
    // Heartbeats keep the lease once the wait ends.
    for (const m of c.outs.flatMap((o) => o.messages)) if (m.type === "append-request" && m.to === 0) c.deliver(appendRep(0, 2, T + 1, T + 1, m.prevLogIndex + m.entries.length, m.leaderSendMs), c.now);
    const after = c.tick(Math.max(waitUntil, c.now) + 0.01);
    expect(after.replies.map((r) => [r.requestId, r.result.ok, r.result.ok ? r.result.value : ""]).sort()).toEqual([[1, true, "b"], [2, true, ""]].sort() as unknown[]);
  });
});

// ------------------------------------------------------------------ random deliveries, invariants after every step

describe("random deliveries to a 3-node cluster, stepped by hand: invariants after every step", () => {
  const action = fc.oneof(
    { arbitrary: fc.record({ a: fc.constant("deliver" as const), pick: fc.nat(), dup: fc.boolean() }), weight: 8 },
    { arbitrary: fc.record({ a: fc.constant("drop" as const), pick: fc.nat() }), weight: 2 },
    { arbitrary: fc.record({ a: fc.constant("time" as const), ms: fc.integer({ min: 1, max: 900 }) }), weight: 4 },
    { arbitrary: fc.record({ a: fc.constant("tick" as const), node: fc.integer({ min: 0, max: 2 }) }), weight: 2 },
    { arbitrary: fc.record({ a: fc.constant("crash" as const), node: fc.integer({ min: 0, max: 2 }), clock: fc.integer({ min: 0, max: 1e6 }) }), weight: 1 },
    { arbitrary: fc.record({ a: fc.constant("set" as const), node: fc.integer({ min: 0, max: 2 }) }), weight: 2 },
  );
  const seed = Number(process.env.ADV_SEED ?? 110);
  const runs = Number(process.env.ADV_RUNS ?? 60);

  it(`at most one leader per term, terms never go down, one vote per term, committed entries never change (seed ${seed}, ${runs} runs)`, () => {
    let stepsChecked = 0;
    let leadersSeen = 0;
    const property = fc.property(fc.boolean(), fc.array(action, { minLength: 20, maxLength: 120 }), (preVote, actions) => {
      const w = new World({ size: 3, preVote, overrides: { snapshotEveryEntries: 6, snapshotKeepEntries: 2 }, seed: `adv11-${seed}` });
      w.net.holdNext(() => true, 1e9);
      const leaderOf = new Map<number, number>();
      const termOf = new Map<number, number>();
      const voteOf = new Map<string, number>();
      const committed = new Map<number, string>();
      let values = 0;
      const check = (id: NodeId) => {
        const s = w.status(id);
        const v = w.view(id);
        if (s === null || v === null) return;
        stepsChecked++;
        const where = `node ${id} (term ${s.term}, ${s.role})`;
        expect(s.term, `${where}: its term went down`).toBeGreaterThanOrEqual(termOf.get(id) ?? 0);
        termOf.set(id, s.term);
        if (s.role === "leader") {
          if (!leaderOf.has(s.term)) leadersSeen++;
          expect(leaderOf.get(s.term) ?? id, `${where}: a second leader of term ${s.term}`).toBe(id);
          leaderOf.set(s.term, id);
        }
        if (s.votedFor !== null) {
          const key = `${id}/${s.term}`;
          expect(voteOf.get(key) ?? s.votedFor, `${where}: its vote in term ${s.term} changed`).toBe(s.votedFor);
          voteOf.set(key, s.votedFor);
        }
        for (let i = v.firstLogIndex; i <= Math.min(s.commitIndex, v.lastLogIndex); i++) {
          const k = entryKey(v.entryAt(logIndex(i)));
          expect(committed.get(i) ?? k, `${where}: committed entry ${i} changed`).toBe(k);
          committed.set(i, k);
        }
        expect(s.appliedIndex, `${where}: applied past the commit index`).toBeLessThanOrEqual(s.commitIndex);
        expect(s.commitIndex, `${where}: commit past the log`).toBeLessThanOrEqual(s.lastLogIndex);
      };
      w.observers.push((r) => check(r.id));
      for (const x of actions) {
        const held = w.pool.select((e) => e.held);
        if (x.a === "deliver" && held.length > 0) w.deliver(held[x.pick % held.length]!.id, { duplicate: x.dup });
        else if (x.a === "drop" && held.length > 0) w.drop(held[x.pick % held.length]!.id);
        else if (x.a === "time") w.run(x.ms);
        else if (x.a === "tick" && w.isUp(x.node)) w.tick(x.node);
        else if (x.a === "crash") {
          if (w.isUp(x.node)) w.crash(x.node);
          w.restart(x.node, x.clock);
          check(nodeId(x.node));
        } else if (x.a === "set" && w.isUp(x.node)) w.set(x.node, `k${values % 2}`, `v${++values}`);
      }
      expect(w.problems()).toEqual([]);
    });
    fc.assert(property, { seed, numRuns: runs, verbose: 1 });
    expect(stepsChecked).toBeGreaterThan(runs * 20);
    expect(leadersSeen, "the schedules elected leaders").toBeGreaterThan(runs / 10);
  });
});

// ------------------------------------------------------------------ part 2: the log's start after compaction

/** The canonical history: 1-5 term 1, 6-12 term 2, 13-20 term 3; a session SET at 11, retried at 14. */
const H: Entry[] = [
  noop(1), setE(1, "a", "1"), setE(1, "b", "2"), setE(1, "a", "3"), setE(1, "c", "4"),
  noop(2), setE(2, "a", "6"), setE(2, "b", "7"), setE(2, "c", "8"), setE(2, "a", "9"), setE(2, "x", "first", "c1", 1), setE(2, "x", "second"),
  noop(3), setE(3, "x", "first", "c1", 1), setE(3, "a", "15"), setE(3, "b", "16"), setE(3, "c", "17"), setE(3, "a", "18"), setE(3, "b", "19"), setE(3, "c", "20"),
];
const at = (i: number) => H[i - 1]!;
const range = (from: number, to: number) => H.slice(from - 1, to);
const termOf = (i: number) => (i === 0 ? 0 : at(i).term);
function stateAt(n: number, log: readonly Entry[] = H): MachineState {
  let s: MachineState = { data: new Map(), sessions: new Map() };
  for (const e of log.slice(0, n)) s = applyEntry(s, e);
  return s;
}
function snapshotAt(n: number, log: readonly Entry[] = H): Snapshot {
  const s = stateAt(n, log);
  return { lastIndex: logIndex(n), lastTerm: log[n - 1]!.term, members: voters([0, 1, 2]), data: s.data, sessions: s.sessions };
}
const KEYS = ["a", "b", "c", "x"];
const values = (h: Hand) => Object.fromEntries(KEYS.map((k) => [k, h.view.valueOf(k)]));
const want = (s: MachineState) => Object.fromEntries(KEYS.map((k) => [k, s.data.get(k) ?? ""]));

/** The terms node `h` knows at indexes lo..hi (undefined where it knows none). */
const termsKnown = (h: Hand, lo: number, hi: number) => Array.from({ length: hi - lo + 1 }, (_, i) => h.view.termAt(logIndex(lo + i)));
const termsWant = (lo: number, hi: number, known: (i: number) => boolean) => Array.from({ length: hi - lo + 1 }, (_, i) => (known(lo + i) ? termOf(lo + i) : undefined));

/**
 * Follower 1 of leader 0 (term 3), snapshots every 12 applied entries keeping `keep` below: it gets
 * entries 1-16 with commit 12, saves the snapshot it asks for, and compacts.
 */
function compacted(keep: number): Hand {
  const h = new Hand(1, { hardState: hard(0, null, 0), entries: [] }, { snapshotEveryEntries: 12, snapshotKeepEntries: keep });
  const out = h.deliver(appendReq(0, 1, 3, 0, 0, range(1, 16), 12), 10);
  expect(h.sent(out, "append-reply", 0).matchIndex).toBe(16);
  expect(out.applied.map((a) => a.index)).toEqual(range(1, 12).map((_, i) => i + 1));
  const save = h.outs.map((o) => o.saveSnapshot).find((s) => s !== null);
  expect(save?.lastIndex, "a snapshot asked through the 12th applied entry").toBe(12);
  expect(save?.lastTerm).toBe(2);
  expect(want(save!)).toEqual(want(stateAt(12)));
  expect([...save!.sessions]).toEqual([...stateAt(12).sessions]);
  expect(h.view.snapshotIndex, "not durable before snapshot-saved").toBe(0);
  const saved = h.step({ type: "snapshot-saved", nowMs: 20, index: logIndex(12) });
  expect(saved.compactTo).toEqual({ prevIndex: 12 - keep, prevTerm: termOf(12 - keep) });
  expectShape(h, { first: 13 - keep, last: 16, snap: 12, commit: 12 });
  return h;
}

function expectShape(h: Hand, s: { first: number; last: number; snap: number; commit: number; applied?: number }, what = ""): void {
  const v = h.view;
  expect({ first: v.firstLogIndex, last: v.lastLogIndex, snap: v.snapshotIndex, commit: h.st.commitIndex, applied: h.st.appliedIndex }, what).toEqual({ ...s, applied: s.applied ?? s.commit });
  // The term at every index the node knows: firstLogIndex - 1 (the log's start) through lastLogIndex.
  const lo = Math.max(1, s.first - 3);
  expect(termsKnown(h, lo, s.last + 2), `${what} terms at ${lo}..${s.last + 2}`).toEqual(termsWant(lo, s.last + 2, (i) => i >= s.first - 1 && i <= s.last));
  expect(values(h), `${what} state machine`).toEqual(want(stateAt(h.st.appliedIndex)));
}

describe("the log's start after a snapshot and compaction (§7; docs/file-formats.md 'After compaction')", () => {
  it("the follower's snapshot, its compaction keeping 4 entries below it, and what it then knows", () => {
    const h = compacted(4);
    expect(h.view.snapshot?.lastIndex).toBe(12);
    expect(h.view.termAt(logIndex(8)), "the log's start: the entry before its first").toBe(2);
  });

  // prev: prevLogIndex around the log's start (8 = first - 1, 9 = first kept) and the snapshot (12).
  for (const prev of [3, 7, 8, 9, 11, 12]) {
    it(`AppendEntries at or below the snapshot, prevLogIndex ${prev}: matching is accepted; a conflicting prevTerm never undoes a committed entry`, () => {
      const h = compacted(4);
      const out = h.deliver(appendReq(0, 1, 3, prev, termOf(prev), range(prev + 1, 17), 14), 30);
      const r = h.sent(out, "append-reply", 0);
      expect([r.success, r.matchIndex, r.term, r.requestTerm]).toEqual([true, 17, 3, 3]);
      expect(out.truncateFrom, "nothing to truncate: every entry matches").toBe(null);
      expectShape(h, { first: 9, last: 17, snap: 12, commit: 14 });
      // A conflicting prevTerm at or below the commit index: no correct leader sends it; refused, or reported.
      const g = compacted(4);
      const before = g.facts();
      let o: FullOutput | null = null;
      try {
        o = g.deliver(appendReq(0, 1, 3, prev, termOf(prev) === 1 ? 2 : 1, [], 12), 30);
      } catch (e) {
        expect(String(e)).toMatch(/invariant/);
      }
      if (o !== null) {
        const r2 = g.sent(o, "append-reply", 0);
        // Where the node knows the term (from the log's start on) the mismatch is refused; inside
        // the compacted prefix it cannot see one, and every entry there is committed.
        if (prev >= 8) expect(r2.success, "a mismatch at an index whose term the node knows").toBe(false);
        else expect(r2.matchIndex, "a success inside the compacted prefix claims no more than the prefix").toBeLessThanOrEqual(12);
        expect([o.truncateFrom, o.compactTo, o.installSnapshot, o.append.length]).toEqual([null, null, null, 0]);
        expect(g.facts()).toEqual(before);
      }
    });
  }

  it("AppendEntries from a new leader whose log diverges right after the snapshot: the uncommitted tail is replaced", () => {
    for (const keep of [0, 4]) {
      const h = compacted(keep);
      const out = h.deliver(appendReq(2, 1, 4, 12, 2, [noop(4)], 12), 40);
      expect(out.truncateFrom, `keep ${keep}`).toBe(13);
      expect(h.sent(out, "append-reply", 2)).toMatchObject({ success: true, matchIndex: 13, term: 4 });
      expect(h.view.termAt(logIndex(13))).toBe(4);
      expect([h.view.firstLogIndex, h.view.lastLogIndex, h.view.snapshotIndex, h.st.commitIndex]).toEqual([13 - keep, 13, 12, 12]);
      expect(termsKnown(h, 13 - keep - 1, 12)).toEqual(termsWant(13 - keep - 1, 12, () => true));
    }
  });

  it("AppendEntries just above the snapshot: a matching prevTerm commits; a conflicting one is refused with a hint inside the uncommitted tail", () => {
    const h = compacted(4);
    const ok = h.sent(h.deliver(appendReq(0, 1, 3, 13, 3, [], 13), 30), "append-reply", 0);
    expect([ok.success, ok.matchIndex]).toEqual([true, 13]);
    expectShape(h, { first: 9, last: 16, snap: 12, commit: 13 });
    expect(h.view.valueOf("x")).toBe("second");
    const g = compacted(0);
    const r = g.sent(g.deliver(appendReq(2, 1, 4, 14, 4, [], 12), 30), "append-reply", 2);
    expect([r.success, r.term, r.requestTerm, r.rejectedPrevIndex]).toEqual([false, 4, 4, 14]);
    expect(r.conflictIndex, "retry from inside the uncommitted tail").toBeGreaterThan(12);
    expect(r.conflictIndex).toBeLessThanOrEqual(14);
    if (r.conflictTerm !== 0) expect(g.view.termAt(r.conflictIndex)).toBe(r.conflictTerm);
    expect([g.view.snapshotIndex, g.st.commitIndex, g.view.firstLogIndex]).toEqual([12, 12, 13]);
    const far = g.sent(g.deliver(appendReq(2, 1, 4, 30, 4, [], 12), 31), "append-reply", 2);
    expect([far.success, far.conflictIndex, far.conflictTerm, far.rejectedPrevIndex]).toEqual([false, 17, 0, 30]);
  });

  it("a follower far behind: AppendEntries refused with its log's end, then InstallSnapshot, then entries after it", () => {
    const h = new Hand(2, { hardState: hard(0, null, 0), entries: [] });
    const r = h.sent(h.deliver(appendReq(0, 2, 3, 16, 3, [], 12), 10), "append-reply", 0);
    expect([r.success, r.conflictIndex, r.conflictTerm, r.rejectedPrevIndex]).toEqual([false, 1, 0, 16]);
    const out = h.deliver(snapReq(0, 2, 3, snapshotAt(12), 55.5), 20);
    expect(out.installSnapshot?.lastIndex).toBe(12);
    expect(out.compactTo).toEqual({ prevIndex: 12, prevTerm: 2 });
    const sr = h.sent(out, "snapshot-reply", 0);
    expect([sr.term, sr.requestTerm, sr.matchIndex, sr.snapshotIndex, sr.leaderSendMs]).toEqual([3, 3, 12, 12, 55.5]);
    expectShape(h, { first: 13, last: 12, snap: 12, commit: 12 });
    expect(h.view.termAt(logIndex(11))).toBeUndefined();
    const o2 = h.deliver(appendReq(0, 2, 3, 12, 2, range(13, 16), 16), 30);
    expect(h.sent(o2, "append-reply", 0)).toMatchObject({ success: true, matchIndex: 16 });
    expect(o2.applied.map((a) => a.index)).toEqual([13, 14, 15, 16]);
    expectShape(h, { first: 13, last: 16, snap: 12, commit: 16 });
    expect(h.view.valueOf("x"), "the retry at 14 is a duplicate, known from the installed snapshot's sessions").toBe("second");
  });

  it("InstallSnapshot older than and equal to the follower's: nothing installed, nothing lost, an answer that covers it", () => {
    for (const n of [6, 8, 12]) {
      const h = compacted(4);
      const before = h.facts();
      const out = h.deliver(snapReq(0, 1, 3, snapshotAt(n), 9), 30);
      expect([out.installSnapshot, out.truncateFrom, out.compactTo], `snapshot through ${n}`).toEqual([null, null, null]);
      expect(h.facts(), `snapshot through ${n}`).toEqual(before);
      const r = h.sent(out, "snapshot-reply", 0);
      expect([r.snapshotIndex, r.term, r.requestTerm, r.leaderSendMs]).toEqual([n, 3, 3, 9]);
      expect(r.matchIndex).toBeGreaterThanOrEqual(n);
      expect(r.matchIndex).toBeLessThanOrEqual(16);
    }
  });

  it("InstallSnapshot newer than the follower's: inside its log with the same term keeps the entries after it; another term or past its log replaces the log", () => {
    const same = compacted(4);
    const o1 = same.deliver(snapReq(0, 1, 3, snapshotAt(14), 9), 30);
    expect(same.sent(o1, "snapshot-reply", 0).matchIndex).toBeGreaterThanOrEqual(14);
    expect(same.view.lastLogIndex, "entries 15-16 follow the snapshot's last entry: kept").toBe(16);
    expect(same.view.snapshotIndex).toBe(14);
    expect(same.view.firstLogIndex, "the log restarts after the snapshot, at the latest").toBeLessThanOrEqual(15);
    expect(termsKnown(same, 14, 17)).toEqual([3, 3, 3, undefined]);
    expect(same.st.commitIndex).toBeGreaterThanOrEqual(14);
    expect(same.st.appliedIndex).toBe(same.st.commitIndex);
    expect(values(same)).toEqual(want(stateAt(same.st.appliedIndex)));

    // Leader 2 of term 4 whose history diverges after 12: its entries 13-14 are of term 4.
    const other = [...range(1, 12), noop(4), setE(4, "x", "fourth")];
    const conflict = compacted(4);
    const o2 = conflict.deliver(snapReq(2, 1, 4, snapshotAt(14, other), 9), 30);
    expect(o2.installSnapshot?.lastIndex).toBe(14);
    expect(conflict.sent(o2, "snapshot-reply", 2)).toMatchObject({ matchIndex: 14, snapshotIndex: 14, term: 4, requestTerm: 4 });
    expect([conflict.view.firstLogIndex, conflict.view.lastLogIndex, conflict.view.snapshotIndex, conflict.st.commitIndex, conflict.st.appliedIndex]).toEqual([15, 14, 14, 14, 14]);
    expect([conflict.view.termAt(logIndex(14)), conflict.view.termAt(logIndex(15)), conflict.view.valueOf("x")]).toEqual([4, undefined, "fourth"]);

    const past = compacted(4);
    const o3 = past.deliver(snapReq(0, 1, 3, snapshotAt(20), 9), 30);
    expect(o3.installSnapshot?.lastIndex).toBe(20);
    expect(past.sent(o3, "snapshot-reply", 0)).toMatchObject({ matchIndex: 20, snapshotIndex: 20 });
    expectShape(past, { first: 21, last: 20, snap: 20, commit: 20 });
  });
});

describe("restart from a persisted snapshot and a compacted log", () => {
  it("snapshot through 12, log 9-16 (START 8), a commit index below the snapshot's: the snapshot's state, then the tail applied once", () => {
    const persisted: PersistedState = { hardState: hard(3, 0, 7), snapshot: snapshotAt(12), logStart: { prevIndex: logIndex(8), prevTerm: term(2) }, entries: range(9, 16) };
    const h = new Hand(1, persisted, {}, [0, 1, 2], 123_456);
    expectShape(h, { first: 9, last: 16, snap: 12, commit: 12 });
    expect([h.st.term, h.st.votedFor, h.st.role]).toEqual([3, 0, "follower"]);
    const out = h.deliver(appendReq(0, 1, 3, 16, 3, [], 16), 123_460);
    expect(h.sent(out, "append-reply", 0)).toMatchObject({ success: true, matchIndex: 16 });
    expect(out.applied.map((a) => a.index)).toEqual([13, 14, 15, 16]);
    expectShape(h, { first: 9, last: 16, snap: 12, commit: 16 });
    expect(h.view.valueOf("x"), "the retried session SET at 14 is not applied again").toBe("second");
  });

  const cases: { name: string; logStart: LogStart; entries: Entry[]; commit: number }[] = [
    { name: "a log that ends before the snapshot's last entry (1-8)", logStart: { prevIndex: logIndex(0), prevTerm: term(0) }, entries: range(1, 8), commit: 5 },
    { name: "a log whose entry at the snapshot's last index has another term (stale term-1 entries 6-14)", logStart: { prevIndex: logIndex(0), prevTerm: term(0) }, entries: [...range(1, 5), ...Array.from({ length: 9 }, (_, i) => setE(1, "a", `stale${i}`))], commit: 5 },
    { name: "a compacted log (START 3) that ends before the snapshot's last entry", logStart: { prevIndex: logIndex(3), prevTerm: term(1) }, entries: range(4, 10), commit: 6 },
  ];
  for (const c of cases) {
    it(`snapshot through 12 (term 2) and ${c.name}: the node knows the snapshot's entry and nothing that contradicts it; its first output repairs the disk`, () => {
      const persisted: PersistedState = { hardState: hard(3, null, c.commit), snapshot: snapshotAt(12), logStart: c.logStart, entries: c.entries };
      const disk = Disk.holding(persisted);
      const h = new Hand(1, persisted, {}, [0, 1, 2], 9_000);
      expectShape(h, { first: 13, last: 12, snap: 12, commit: 12 });
      expect(h.view.termAt(logIndex(11)), "no term from the old log below the snapshot").toBeUndefined();
      disk.persist(h.tick(9_001));
      expect([disk.firstIndex, disk.lastIndex, disk.termAt(12)], "the disk after the first output").toEqual([13, 12, 2]);
      const out = h.deliver(appendReq(0, 1, 3, 12, 2, range(13, 16), 16), 9_010);
      disk.persist(out);
      expect(h.sent(out, "append-reply", 0)).toMatchObject({ success: true, matchIndex: 16 });
      expectShape(h, { first: 13, last: 16, snap: 12, commit: 16 });
      expect([disk.firstIndex, disk.lastIndex]).toEqual([13, 16]);
    });
  }
});
