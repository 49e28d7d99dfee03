// Edges of the leader lease's step-down and of the commit rule, driven by hand through the public
// API: acknowledgements in any order, duplicated and stale; the deadline checked a millisecond on
// each side; outputs checked to stay the values they were when returned. From the Raft paper
// (Figure 2, §5.3-5.4, §6) and docs/lease.md (rules 1, 7, 9, 10).

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { logIndex, makeConfig, nodeId, RaftNode, requestId, term, TIMING_FAST } from "../../src/raft/index.js";
import type { AdminRequest, AppendReply, AppendRequest, Entry, FullOutput, Input, Message, PersistedState, RaftConfig, VoteReply } from "../../src/raft/index.js";

const L = TIMING_FAST.leaseMs;
const RHO = TIMING_FAST.driftPpmMax / 1e6;
const noop = (t: number): Entry => ({ term: term(t), command: { kind: "noop" } });
const setE = (t: number, v: string): Entry => ({ term: term(t), command: { kind: "set", key: "k", value: v, clientId: "", sequence: 0, firstUnanswered: 0 } });
const EMPTY: PersistedState = { hardState: { currentTerm: term(0), votedFor: null, commitIndex: logIndex(0) }, entries: [] };
type Overrides = Partial<Omit<RaftConfig, "id" | "members" | "timing">>;

/** One node driven by hand; every output's JSON is kept to check later that it never changed. */
class Driver {
  readonly node: RaftNode;
  now = 0;
  readonly sent: AppendRequest[] = [];
  readonly kept: { out: FullOutput; json: string }[] = [];
  constructor(id: number, ids: number[], overrides: Overrides = {}, persisted: PersistedState = EMPTY) {
    const config = makeConfig(nodeId(id), ids.map(nodeId), TIMING_FAST, { preVote: false, ...overrides });
    this.node = RaftNode.start(config, persisted, 0, () => 0);
  }
  step(input: Input): FullOutput {
    expect(input.nowMs).toBeGreaterThanOrEqual(this.now);
    this.now = input.nowMs;
    const out = this.node.step(input);
    this.kept.push({ out, json: JSON.stringify(out) });
    for (const m of out.messages) if (m.type === "append-request") this.sent.push(m);
    return out;
  }
  tick = (nowMs: number): FullOutput => this.step({ type: "tick", nowMs });
  deliver = (nowMs: number, message: Message): FullOutput => this.step({ type: "message", nowMs, message });
  ack = (nowMs: number, req: AppendRequest, matchIndex = req.prevLogIndex + req.entries.length): FullOutput => this.deliver(nowMs, ackOf(req, matchIndex));
  get role(): string { return this.node.status(this.now).role; } // prettier-ignore
  /** Every output handed out so far is still what it was when handed out. */
  checkOutputsUnchanged(): void {
    for (const [i, k] of this.kept.entries()) expect(JSON.stringify(k.out), `output #${i} changed after it was returned`).toBe(k.json);
  }
}

/** What a follower holding everything up to matchIndex answers to req. */
const ackOf = (req: AppendRequest, matchIndex: number): AppendReply => ({
  type: "append-reply", from: req.to, to: req.from, term: req.term, requestTerm: req.term, success: true, matchIndex: logIndex(matchIndex),
  conflictIndex: logIndex(0), conflictTerm: term(0), rejectedPrevIndex: logIndex(0), leaderSendMs: req.leaderSendMs,
});

/** Node 0 of `ids` elected by hand (every vote granted, no old lease reported); returns when it leads. */
function elect(ids: number[], overrides: Overrides = {}, persisted: PersistedState = EMPTY): Driver {
  const d = new Driver(0, ids, overrides, persisted);
  for (const v of d.tick(Math.max(d.node.inspect().electionDeadlineMs, 900)).messages) {
    if (v.type !== "vote-request" || d.role === "leader") continue;
    const reply: VoteReply = { type: "vote-reply", from: v.to, to: v.from, term: v.term, requestTerm: v.term, granted: true, preVote: false, leaseRemainingMs: 0, leaseTerm: term(0) };
    d.deliver(d.now, reply);
  }
  expect(d.role).toBe("leader");
  return d;
}

/** The (q-1)-th largest of the peers' newest acknowledged send times: the start of a leader's lease. */
function leaseStart(acked: Map<number, number>, voterPeers: number[], quorum: number): number {
  const times = voterPeers.map((p) => acked.get(p) ?? -Infinity).sort((a, b) => b - a);
  return quorum === 1 ? Infinity : times[quorum - 2]!;
}

/** Follows the node's wake times: a leader, waking no later than `deadline`, until 1 ms before it; a follower 1 ms after. */
function expectStepDownAt(d: Driver, deadline: number, eps = 1): void {
  for (let i = 0; i < 100; i++) {
    expect(d.role, `leader at ${d.now}, before the deadline ${deadline}`).toBe("leader");
    expect(d.node.wakeAtMs(), `wake time past the step-down deadline ${deadline}`).toBeLessThanOrEqual(deadline);
    const next = Math.min(d.node.wakeAtMs(), deadline - eps);
    if (next <= d.now) break;
    expect(d.tick(next).wakeAtMs).toBeLessThanOrEqual(deadline);
  }
  if (d.now < deadline - eps) d.tick(deadline - eps);
  expect(d.role, `leader ${eps} ms before the deadline ${deadline}`).toBe("leader");
  const out = d.tick(deadline + eps);
  expect(d.role, `stepped down ${eps} ms after the deadline ${deadline}`).toBe("follower");
  expect(out.events.some((e) => e.kind === "lease-renewal-failed" && e.leaderId === 0)).toBe(true);
  d.checkOutputsUnchanged();
}

/** Ticks at each heartbeat until `until`, returning the heartbeats sent at each tick. */
function heartbeatsUntil(d: Driver, until: number): AppendRequest[][] {
  const rounds: AppendRequest[][] = [];
  while (d.node.inspect().nextHeartbeatAtMs! <= until) rounds.push(d.tick(d.node.inspect().nextHeartbeatAtMs!).messages.filter((m) => m.type === "append-request"));
  return rounds;
}

const to = (round: AppendRequest[], peer: number) => round.find((m) => m.to === peer)!;

describe("leader lease step-down (docs/lease.md rules 1, 7, 9)", () => {
  it("3 nodes: newest ack first, then stale and duplicate ones; the deadline is the newest majority send + L", () => {
    const d = elect([0, 1, 2]), e = d.now;
    const first = d.sent.filter((m) => m.leaderSendMs === e);
    const rounds = heartbeatsUntil(d, e + 200);
    const [h1, h2, s2] = [rounds[0]!, rounds[1]!, to(rounds[1]!, 1).leaderSendMs];
    expect(s2).toBeGreaterThan(e);
    d.ack(e + 250, to(h2, 1));
    d.ack(e + 251, to(h1, 1)); // stale: answers an older request
    d.ack(e + 252, to(h2, 1)); // duplicate
    d.ack(e + 253, to(first, 2)); // node 2 acknowledges only the first request
    expect(d.node.inspect().commitIndex).toBe(1);
    expect(d.node.status(e + 300).leaseRemainingMs).toBeCloseTo(s2 + L * (1 - RHO) - (e + 300), 6);
    expectStepDownAt(d, s2 + L);
  });

  it("3 nodes: an ack of an old request arriving after newer sends counts from the old send time only", () => {
    const d = elect([0, 1, 2]), e = d.now;
    const rounds = heartbeatsUntil(d, e + 500);
    const s1 = to(rounds[0]!, 2).leaderSendMs;
    d.ack(e + 550, to(rounds[0]!, 2));
    expect(d.node.status(e + 550).leaseRemainingMs).toBeCloseTo(s1 + L * (1 - RHO) - (e + 550), 6);
    expect(d.node.leaseWindow(e + 550)?.untilMs ?? 0).toBeLessThanOrEqual(s1 + L * (1 - RHO) + 1e-6);
    expectStepDownAt(d, s1 + L);
  });

  it("a leader no one acknowledges steps down L after it became leader; bogus echoes are dropped, not clamped", () => {
    const d = elect([0, 1, 2, 3, 4], {}, oldLog(2)), e = d.now;
    const [r] = heartbeatsUntil(d, e + 100);
    d.deliver(e + 150, { ...ackOf(to(r!, 1), 0), leaderSendMs: e + 400 }); // a send time in the future
    d.deliver(e + 150, { ...ackOf(to(r!, 2), 0), leaderSendMs: e - 1 }); // before this leadership
    d.deliver(e + 150, { ...ackOf(to(r!, 3), 0), requestTerm: term(1) }); // answers an earlier term
    d.deliver(e + 150, { ...ackOf(to(r!, 4), 0), leaderSendMs: e + 150.5 });
    expectStepDownAt(d, e + L);
  });

  it("5 nodes: the lease starts at the second newest peer ack, whatever the order", () => {
    const d = elect([0, 1, 2, 3, 4]), e = d.now;
    const rounds = heartbeatsUntil(d, e + 400);
    // node 1 the newest, node 4 the second newest, node 2 older, node 3 nothing
    d.ack(e + 410, to(rounds[3]!, 1));
    d.ack(e + 411, to(rounds[0]!, 2));
    d.ack(e + 412, to(rounds[1]!, 4));
    d.ack(e + 413, to(rounds[2]!, 1));
    d.ack(e + 414, to(rounds[0]!, 4));
    expectStepDownAt(d, to(rounds[1]!, 4).leaderSendMs + L);
  });

  it("a single voter keeps its lease with no acknowledgement at all", () => {
    const d = elect([0]), e = d.now;
    for (let t = e + 1; t < e + 20 * L; t += 337) {
      const out = d.tick(t); // a runtime late for its wake-ups, by up to 337 ms
      expect(out.events.some((e) => e.kind === "lease-renewal-failed")).toBe(false);
      expect(d.role).toBe("leader");
    }
    expect(d.now).toBeGreaterThan(e + 10 * L);
    expect(d.node.leaseReadable(d.now)).toBe(true);
    d.checkOutputsUnchanged();
  });

  for (const size of [3, 5]) {
    it(`${size} nodes, random acks (stale, duplicated, reordered): leader before the deadline, follower after`, () => {
      const [peers, q] = [Array.from({ length: size - 1 }, (_, i) => i + 1), Math.floor(size / 2) + 1];
      // fractional clock readings (a runtime late for its wake-ups by under 1 ms), the deadline checked 0.01 ms on each side
      const action = fc.record({ gap: fc.double({ min: 0.01, max: 260, noNaN: true }), late: fc.double({ min: 0, max: 0.9, noNaN: true }), pick: fc.nat(), dup: fc.boolean() });
      fc.assert(
        fc.property(fc.array(action, { minLength: 1, maxLength: 40 }), (actions) => {
          const d = elect([0, ...peers]), e = d.now;
          const acked = new Map<number, number>();
          const deadline = () => Math.max(e, leaseStart(acked, peers, q)) + L;
          for (const a of actions) {
            let at = d.now + a.gap;
            while (d.node.wakeAtMs() < at && d.node.wakeAtMs() < deadline() - 1) d.tick(Math.max(d.now, d.node.wakeAtMs() + a.late));
            at = Math.max(at, d.now);
            if (at >= deadline()) break;
            const req = d.sent[a.pick % d.sent.length]!;
            d.ack(at, req);
            if (a.dup) d.ack(at, req);
            acked.set(req.to, Math.max(acked.get(req.to) ?? -Infinity, req.leaderSendMs));
            expect(d.role).toBe("leader");
            if (d.node.inspect().commitIndex >= 1) expect(d.node.status(at).leaseRemainingMs).toBeCloseTo(Math.max(0, leaseStart(acked, peers, q) + L * (1 - RHO) - at), 6);
          }
          expectStepDownAt(d, deadline(), 0.01);
        }),
        { numRuns: 40, seed: 9 + size },
      );
    });
  }
});

describe("lease across membership changes (docs/lease.md rule 10)", () => {
  const admin = (d: Driver, nowMs: number, request: AdminRequest) => d.step({ type: "admin", nowMs, call: { requestId: requestId(900 + d.kept.length), request } });
  const voters = (d: Driver) => d.node.status(d.now).members.filter((m) => m.role === "voter").map((m) => m.id as number);

  it("removing the voter that gave the newest ack moves the deadline back to the remaining majority's", () => {
    const d = elect([0, 1, 2]), e = d.now;
    const rounds = heartbeatsUntil(d, e + 300);
    d.ack(e + 310, to(rounds[2]!, 2));
    d.ack(e + 311, to(rounds[0]!, 1));
    expect(d.node.inspect().commitIndex).toBe(1);
    admin(d, e + 320, { kind: "remove-member", id: nodeId(2) });
    expect(voters(d)).toEqual([0, 1]);
    // node 2 is no voter of the configuration in use: its newest ack counts no more
    const last = d.sent.filter((m) => m.to === 2).at(-1)!;
    d.ack(e + 330, last);
    expectStepDownAt(d, to(rounds[0]!, 1).leaderSendMs + L);
  });

  it("a leader removing itself counts neither itself toward its lease nor its copy toward the commit", () => {
    const d = elect([0, 1, 2]), e = d.now;
    const first = d.sent.splice(0);
    const rounds = heartbeatsUntil(d, e + 300);
    d.ack(e + 310, to(rounds[2]!, 1));
    d.ack(e + 311, to(first, 2));
    d.ack(e + 312, to(rounds[0]!, 2));
    expect(d.node.inspect().commitIndex).toBe(1);
    admin(d, e + 320, { kind: "remove-member", id: nodeId(0) });
    expect(voters(d)).toEqual([1, 2]);
    const cfg = d.sent.filter((m) => m.entries.length > 0 && m.leaderSendMs === e + 320);
    d.ack(e + 330, to(cfg, 1));
    d.ack(e + 331, to(rounds[1]!, 1));
    expect(d.node.inspect().commitIndex, "the leader's own copy counted though it is no voter").toBe(1);
    expectStepDownAt(d, to(rounds[0]!, 2).leaderSendMs + L);
  });

  it("a single voter that gains a second voter then needs that voter's acks for its lease", () => {
    const d = elect([0]);
    set(d, d.now + 1, "a");
    expect(d.node.inspect().commitIndex).toBe(2);
    d.tick(d.now + 2 * L);
    admin(d, d.now + 1, { kind: "add-member", id: nodeId(1), address: "" });
    for (let i = 0; i < 8 && voters(d).length < 2; i++) {
      const req = d.sent.at(-1);
      if (req) d.ack(d.now + 1, req);
      else d.tick(d.node.wakeAtMs());
    }
    expect(voters(d)).toEqual([0, 1]);
    const rounds = heartbeatsUntil(d, d.now + 200);
    d.ack(d.now + 10, to(rounds.at(-1)!, 1));
    expectStepDownAt(d, to(rounds.at(-1)!, 1).leaderSendMs + L);
  });

  it("a learner's acks never count; once promoted, the 4-voter majority needs two peers", () => {
    const d = elect([0, 1, 2]), e = d.now;
    for (const m of d.sent.slice()) d.ack(e + 5, m);
    admin(d, e + 10, { kind: "add-member", id: nodeId(3), address: "" });
    expect(voters(d)).toEqual([0, 1, 2]);
    // 1 and 2 take the configuration entry; the learner catches up with everything it was sent
    for (let i = 0; i < 6 && d.node.status(d.now).members.some((m) => m.role === "learner"); i++) {
      const pending = d.sent.filter((m) => m.leaderSendMs >= e + 10);
      d.sent.length = 0;
      for (const m of pending) d.ack(d.now + 1, m);
    }
    expect(voters(d)).toEqual([0, 1, 2, 3]);
    const t = d.now;
    const rounds = heartbeatsUntil(d, t + 300);
    // 4 voters: the second newest of the peers' acks (3's); neither 1's alone nor 2's
    d.ack(t + 310, to(rounds[2]!, 1));
    d.ack(t + 311, to(rounds[1]!, 3));
    d.ack(t + 312, to(rounds[1]!, 3));
    d.ack(t + 313, to(rounds[0]!, 2));
    expectStepDownAt(d, to(rounds[1]!, 3).leaderSendMs + L);
  });

  it("while node 3 is a learner, its newest acks do not hold up a lease the voters let lapse", () => {
    const d = elect([0, 1, 2]), e = d.now;
    d.ack(e + 5, to(d.sent, 1)); // the voters: only the NO-OP's request, sent at e
    admin(d, e + 10, { kind: "add-member", id: nodeId(3), address: "" });
    const rounds = heartbeatsUntil(d, e + 400);
    for (const m of d.sent.filter((x) => x.to === 3).reverse()) d.ack(e + 410, m);
    expect(rounds.length).toBeGreaterThan(2);
    expect(d.node.status(d.now).members.find((m) => m.id === 3)?.role).toBe("learner");
    expectStepDownAt(d, e + L);
  });
});

/** A term-1 log of `k` entries on node 0's disk, uncommitted: it leads term 2 with its NO-OP at k + 1. */
function oldLog(k: number): PersistedState {
  const entries = [noop(1), ...Array.from({ length: k - 1 }, (_, i) => setE(1, `old${i}`))];
  return { hardState: { currentTerm: term(1), votedFor: null, commitIndex: logIndex(0) }, entries };
}

/** What a follower with an empty log answers to req. */
const reject = (req: AppendRequest): AppendReply => ({ ...ackOf(req, 0), success: false, conflictIndex: logIndex(1), rejectedPrevIndex: req.prevLogIndex });

const set = (d: Driver, nowMs: number, value: string) =>
  d.step({ type: "client", nowMs, calls: [{ requestId: requestId(d.kept.length + 1), request: { kind: "set", key: "k", value, clientId: "", sequence: 0, firstUnanswered: 0 } }] });

/** Figure 2's rule: the largest N held by a majority of voters whose entry is of the current term. */
function expectedCommit(d: Driver, match: Map<number, number>, peers: number[], selfMatch: number, before: number): number {
  const view = d.node.inspect();
  const q = Math.floor((peers.length + 1) / 2) + 1;
  for (let n = view.lastLogIndex; n > before; n--) {
    const holders = (selfMatch >= n ? 1 : 0) + peers.filter((p) => (match.get(p) ?? 0) >= n).length;
    if (holders >= q && view.termAt(logIndex(n)) === view.term) return n;
  }
  return before;
}

describe("commit: a majority of voters, and an entry of the current term (Figure 2, §5.3-5.4)", () => {
  for (const size of [3, 5]) {
    it(`${size} nodes, old-term prefix, random acks (stale, duplicated, at or below the commit index), parallel persist or not`, () => {
      const peers = Array.from({ length: size - 1 }, (_, i) => i + 1);
      const action = fc.oneof(
        { arbitrary: fc.record({ kind: fc.constant("ack" as const), pick: fc.nat(), times: fc.integer({ min: 1, max: 3 }) }), weight: 3 },
        { arbitrary: fc.record({ kind: fc.constant("newest" as const), peer: fc.constantFrom(...peers) }), weight: 4 },
        { arbitrary: fc.record({ kind: fc.constant("set" as const) }), weight: 1 },
        { arbitrary: fc.record({ kind: fc.constant("tick" as const), gap: fc.integer({ min: 1, max: 40 }) }), weight: 1 },
        { arbitrary: fc.record({ kind: fc.constant("persist" as const), ahead: fc.integer({ min: -2, max: 3 }) }), weight: 2 },
      );
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.array(action, { minLength: 10, maxLength: 60 }), (k, parallel, actions) => {
          const d = elect([0, ...peers], { batchCountMax: 1, leaderPersistsInParallel: parallel }, oldLog(k));
          for (const m of d.sent.splice(0)) d.deliver(d.now, reject(m)); // every follower's log is empty
          const match = new Map<number, number>();
          let [commit, applied, durable] = [0, 0, k];
          const check = (out: FullOutput, _modelUpdatedAfterTheStep?: unknown) => {
            commit = expectedCommit(d, match, peers, parallel ? durable : d.node.inspect().lastLogIndex, commit);
            expect(d.node.inspect().commitIndex).toBe(commit);
            for (const a of out.applied) expect(a.index).toBe(++applied);
            expect(d.node.status(d.now).appliedIndex, "applied entries missing from the outputs").toBe(applied);
          };
          const ack = (req: AppendRequest) => check(d.ack(d.now, req), match.set(req.to, Math.max(match.get(req.to) ?? 0, req.prevLogIndex + req.entries.length)));
          const persist = (index: number) =>
            check(d.step({ type: "persisted", nowMs: d.now, index: logIndex(index), term: d.node.inspect().termAt(logIndex(index))! }), (durable = Math.max(durable, index)));
          for (const a of actions) {
            const newest = a.kind === "newest" ? d.sent.filter((m) => m.to === a.peer).at(-1) : undefined;
            if (a.kind === "ack" && d.sent.length > 0) for (let i = 0; i < a.times; i++) ack(d.sent[a.pick % d.sent.length]!);
            else if (newest) ack(newest);
            else if (a.kind === "set") check(set(d, d.now, `v${d.kept.length}`));
            else if (a.kind === "tick") check(d.tick(Math.min(d.now + a.gap, d.node.wakeAtMs())));
            else if (a.kind === "persist" && parallel) persist(Math.max(1, Math.min(d.node.inspect().lastLogIndex, durable + a.ahead)));
            if (d.role !== "leader") return;
          }
          // Everything acknowledged by everyone and durable: all of it commits, the old prefix with it.
          if (parallel) persist(d.node.inspect().lastLogIndex);
          for (let done = 0; done < d.sent.length; done++) ack(d.sent[done]!);
          expect(d.node.inspect().commitIndex).toBe(d.node.inspect().lastLogIndex);
          d.checkOutputsUnchanged();
        }),
        { numRuns: 80, seed: 77 + size },
      );
    });
  }

  it("a majority holding only old-term entries commits nothing; the NO-OP's majority commits them all", () => {
    const d = elect([0, 1, 2, 3, 4], { batchCountMax: 1 }, oldLog(3));
    for (const m of d.sent.splice(0)) d.deliver(d.now, reject(m));
    const upTo = (p: number, n: number) => d.sent.filter((m) => m.to === p && m.prevLogIndex + m.entries.length <= n);
    for (const p of [1, 2, 3, 4]) for (const m of upTo(p, 3)) d.ack(d.now, m);
    expect(d.node.inspect().commitIndex).toBe(0);
    const noopTo = (p: number) => d.sent.find((m) => m.to === p && m.prevLogIndex + m.entries.length === 4)!;
    d.ack(d.now, noopTo(1));
    expect(d.node.inspect().commitIndex).toBe(0); // leader and 1: two of five
    for (const p of [3, 2, 4]) for (const m of upTo(p, 3)) d.ack(d.now + 1, m); // stale, below the commit
    expect(d.node.inspect().commitIndex).toBe(0);
    const out = d.ack(d.now + 1, noopTo(3));
    expect(d.node.inspect().commitIndex).toBe(4);
    expect(out.applied.map((a) => a.index)).toEqual([1, 2, 3, 4]);
    // A later write: several replies at or below the commit index, then the one completing a majority.
    set(d, d.now + 2, "new");
    const next = (p: number) => d.sent.find((m) => m.to === p && m.prevLogIndex + m.entries.length === 5);
    for (const p of [1, 3]) for (const m of upTo(p, 4)) d.ack(d.now + 3, m);
    d.ack(d.now + 3, noopTo(2));
    d.ack(d.now + 3, noopTo(2));
    expect(d.node.inspect().commitIndex).toBe(4);
    const n1 = next(1) ?? d.sent.filter((m) => m.to === 1).at(-1)!;
    d.ack(d.now + 4, n1, 5);
    expect(d.node.inspect().commitIndex).toBe(4);
    d.ack(d.now + 4, noopTo(4));
    d.ack(d.now + 4, n1, 5);
    expect(d.node.inspect().commitIndex).toBe(4);
    const n3 = next(3) ?? d.sent.filter((m) => m.to === 3).at(-1)!;
    d.ack(d.now + 5, n3, 5);
    expect(d.node.inspect().commitIndex).toBe(5);
    d.checkOutputsUnchanged();
  });

  it("a leader persisting in parallel counts itself only once a persisted input says so", () => {
    const d = elect([0, 1, 2], { leaderPersistsInParallel: true });
    expect(d.node.wantsPersistedReports()).toBe(true);
    const first = d.sent.splice(0);
    d.ack(d.now + 1, to(first, 1));
    d.ack(d.now + 1, to(first, 1));
    expect(d.node.inspect().commitIndex).toBe(0); // only node 1's copy is durable
    d.step({ type: "persisted", nowMs: d.now + 2, index: logIndex(1), term: term(1) });
    expect(d.node.inspect().commitIndex).toBe(1);
    set(d, d.now + 3, "a");
    set(d, d.now + 3, "b");
    d.step({ type: "persisted", nowMs: d.now + 4, index: logIndex(2), term: term(1) });
    const reqs = d.sent.splice(0).filter((m) => m.to === 1);
    for (const m of reqs.reverse()) d.ack(d.now + 5, m);
    expect(d.node.inspect().commitIndex).toBe(2); // node 1 holds 3, the leader only 2
    for (const m of first) d.ack(d.now + 5, m); // stale, at the commit index
    expect(d.node.inspect().commitIndex).toBe(2);
    d.step({ type: "persisted", nowMs: d.now + 6, index: logIndex(3), term: term(1) });
    expect(d.node.inspect().commitIndex).toBe(3);
    d.checkOutputsUnchanged();
  });
});

describe("commit across a membership change (§6, one server at a time)", () => {
  it("removing a voter lets an entry held by the smaller majority commit, even on a stale ack", () => {
    const d = elect([0, 1, 2, 3]);
    for (const m of d.sent.splice(0)) d.ack(d.now, m);
    expect(d.node.inspect().commitIndex).toBe(1);
    set(d, d.now + 1, "x");
    const setReqs = d.sent.splice(0);
    d.ack(d.now + 2, to(setReqs, 1));
    expect(d.node.inspect().commitIndex).toBe(1); // leader and 1: two of four
    d.step({ type: "admin", nowMs: d.now + 3, call: { requestId: requestId(77), request: { kind: "remove-member", id: nodeId(3) } } });
    expect(d.node.status(d.now).members.map((m) => m.id)).toEqual([0, 1, 2]);
    d.ack(d.now + 4, to(setReqs, 1)); // a duplicate, at nothing new
    expect(d.node.inspect().commitIndex, "two of the three voters hold index 2; the configuration entry only the leader").toBe(2);
    d.checkOutputsUnchanged();
  });
});

describe("outputs are values: nothing a step returned changes after later steps", () => {
  it("a leader's messages keep their entry lists while it appends more", () => {
    const d = elect([0, 1, 2], {}, oldLog(4));
    const snaps: { m: AppendRequest; json: string }[] = [];
    const keep = (out: FullOutput) => out.messages.forEach((m) => m.type === "append-request" && snaps.push({ m, json: JSON.stringify(m.entries) }));
    for (const m of d.sent.splice(0)) keep(d.deliver(d.now, reject(m))); // both resent the whole log
    expect(snaps.filter((x) => x.m.prevLogIndex === 0 && x.m.entries.length === 5)).toHaveLength(2);
    for (let i = 0; i < 6; i++) {
      keep(set(d, d.now + 1, `v${i}`));
      for (const m of d.sent.splice(0).filter((x) => x.to === 1)) keep(d.ack(d.now + 1, m));
    }
    expect(d.node.inspect().commitIndex).toBe(11);
    for (const x of snaps) expect(JSON.stringify(x.m.entries)).toBe(x.json);
    d.checkOutputsUnchanged();
  });

  it("a follower's appends, replies and applied lists survive later truncations and appends", () => {
    const hardState = { currentTerm: term(1), votedFor: null, commitIndex: logIndex(1) };
    const f = new Driver(1, [0, 1, 2], {}, { hardState, entries: [noop(1), setE(1, "a"), setE(1, "b"), setE(1, "c")] });
    const req = (t: number, from: number, prev: number, prevTerm: number, entries: Entry[], commit: number, at: number): AppendRequest => ({
      type: "append-request", from: nodeId(from), to: nodeId(1), term: term(t), prevLogIndex: logIndex(prev), prevLogTerm: term(prevTerm),
      entries, leaderCommit: logIndex(commit), lease: { leaseMs: L, driftPpmMax: TIMING_FAST.driftPpmMax }, leaderSendMs: at,
    });
    const o1 = f.deliver(10, req(2, 0, 1, 1, [noop(2), setE(2, "x")], 1, 10));
    expect(o1.truncateFrom).toBe(2);
    expect(o1.append).toHaveLength(2);
    const o2 = f.deliver(20, req(2, 0, 3, 2, [setE(2, "y"), setE(2, "z")], 3, 20));
    expect(o2.applied.map((a) => a.index)).toEqual([2, 3]);
    const o3 = f.deliver(30, req(3, 2, 3, 2, [noop(3), setE(3, "w")], 5, 30));
    expect(o3.truncateFrom).toBe(4);
    f.deliver(40, req(3, 2, 5, 3, [setE(3, "v")], 6, 40));
    expect(f.node.inspect().valueOf("k")).toBe("v");
    expect(o1.append.map((e) => e.term)).toEqual([2, 2]);
    f.checkOutputsUnchanged();
  });
});
