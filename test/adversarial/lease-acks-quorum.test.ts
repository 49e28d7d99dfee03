// How a leader's lease follows its followers' acknowledgements (docs/lease.md rules 1, 7, 9, 10):
// the lease starts at the send time of the newest AppendEntries (heartbeats included) that a
// majority of the voters of the configuration in use, the leader itself included, has
// acknowledged, and lasts until that start + L(1 - rho) of the leader's clock. The leader
// "acknowledges" everything it sends, so with q = floor(n/2) + 1 voters needed, the start is the
// (q-1)-th newest of the peers' newest acknowledged send times. A reference computed here from
// scratch, from every reply delivered so far, is compared with `leaseWindow(now)` after every
// step; replies are reordered, duplicated, dropped and stale, never of another term.
//
// Public API only (src/raft/index.ts). Negative controls: an off-by-one reference and the core's
// `lease-from-receive` and `learner-in-quorum` mutations must each be told apart from the core.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { logIndex, makeConfig, nodeId, RaftNode, requestId, term, TIMING_FAST } from "../../src/raft/index.js";
import type { AdminRequest, AppendReply, AppendRequest, FullOutput, Input, Message, Mutation, PersistedState, VoteReply } from "../../src/raft/index.js";

const L = TIMING_FAST.leaseMs;
const RHO = TIMING_FAST.driftPpmMax / 1e6;
const LEADER_SPAN = L * (1 - RHO);
const EPS = 1e-6;
const EMPTY: PersistedState = { hardState: { currentTerm: term(0), votedFor: null, commitIndex: logIndex(0) }, entries: [] };

/** Which position (1 = newest) among all voters' newest acknowledged send times starts the lease, for n voters. */
type Position = (voters: number) => number;
const QUORUM: Position = (n) => Math.floor(n / 2) + 1;

/** Node 0 leading a cluster, driven by hand; it keeps every AppendEntries it sent and every reply delivered. */
class Leader {
  readonly node: RaftNode;
  now = 0;
  electedAt = 0;
  readonly sent: AppendRequest[] = [];
  /** Per follower: the newest send time it acknowledged (replies delivered so far). */
  readonly acked = new Map<number, number>();
  private calls = 0;

  constructor(
    readonly size: number,
    mutation: Mutation | null = null,
    batchCountMax = 512,
  ) {
    const ids = Array.from({ length: size }, (_, i) => nodeId(i));
    this.node = RaftNode.start(makeConfig(nodeId(0), ids, TIMING_FAST, { preVote: false, mutation, batchCountMax }), EMPTY, 0, () => 0);
    for (const v of this.tick(Math.max(this.node.inspect().electionDeadlineMs, 900)).messages) {
      if (v.type !== "vote-request" || this.role === "leader") continue;
      const reply: VoteReply = { type: "vote-reply", from: v.to, to: v.from, term: v.term, requestTerm: v.term, granted: true, preVote: false, leaseRemainingMs: 0, leaseTerm: term(0) };
      this.deliver(this.now, reply);
    }
    expect(this.role).toBe("leader");
    this.electedAt = this.now;
  }

  step(input: Input): FullOutput {
    expect(input.nowMs).toBeGreaterThanOrEqual(this.now);
    this.now = input.nowMs;
    const out = this.node.step(input);
    for (const m of out.messages) if (m.type === "append-request") this.sent.push(m);
    return out;
  }
  tick = (nowMs: number): FullOutput => this.step({ type: "tick", nowMs });
  deliver = (nowMs: number, message: Message): FullOutput => this.step({ type: "message", nowMs, message });
  /** The follower's success reply to req (it holds everything req carries), delivered at nowMs. */
  ack(nowMs: number, req: AppendRequest): FullOutput {
    const out = this.deliver(nowMs, ackOf(req));
    this.acked.set(req.to, Math.max(this.acked.get(req.to) ?? -Infinity, req.leaderSendMs));
    return out;
  }
  set(nowMs: number): FullOutput {
    const calls = [{ requestId: requestId(++this.calls), request: { kind: "set" as const, key: "k", value: `v${this.calls}`, clientId: "", sequence: 0, firstUnanswered: 0 } }];
    return this.step({ type: "client", nowMs, calls });
  }
  admin(nowMs: number, request: AdminRequest): FullOutput {
    return this.step({ type: "admin", nowMs, call: { requestId: requestId(5000 + ++this.calls), request } });
  }
  get role(): string { return this.node.status(this.now).role; } // prettier-ignore
  voters(): number[] {
    return this.node
      .status(this.now)
      .members.filter((m) => m.role === "voter")
      .map((m) => m.id as number);
  }
  /** Heartbeat rounds: ticks at each heartbeat time until `until`, the AppendEntries of each. */
  rounds(until: number): AppendRequest[][] {
    const out: AppendRequest[][] = [];
    while (this.node.inspect().nextHeartbeatAtMs! <= until) out.push(this.tick(this.node.inspect().nextHeartbeatAtMs!).messages.filter((m) => m.type === "append-request"));
    return out;
  }
  /** The leader's own newest send time: it has "acknowledged" every AppendEntries it sent. */
  get lastSend(): number {
    return this.sent.reduce((a, m) => Math.max(a, m.leaderSendMs), this.electedAt);
  }
}

const ackOf = (req: AppendRequest): AppendReply => ({
  type: "append-reply", from: req.to, to: req.from, term: req.term, requestTerm: req.term, success: true, matchIndex: logIndex(req.prevLogIndex + req.entries.length),
  conflictIndex: logIndex(0), conflictTerm: term(0), rejectedPrevIndex: logIndex(0), leaderSendMs: req.leaderSendMs,
}); // prettier-ignore

const to = (round: AppendRequest[], peer: number): AppendRequest => {
  const m = round.find((x) => x.to === peer);
  if (m === undefined) throw new Error(`no AppendEntries to ${peer} in this round`);
  return m;
};

/** The lease start from scratch: the position-th newest of the voters' newest acknowledged send times (the leader: its newest send). */
function referenceStart(d: Leader, voters: number[], position: Position = QUORUM): number {
  const times = voters.map((v) => (v === 0 ? d.lastSend : (d.acked.get(v) ?? -Infinity))).sort((a, b) => b - a);
  return times[position(voters.length) - 1] ?? -Infinity;
}

/** The reference's lease end, on the leader's clock (-Infinity: no majority acknowledged anything). */
const referenceUntil = (d: Leader, voters: number[], position: Position = QUORUM): number => referenceStart(d, voters, position) + LEADER_SPAN;

/** When the leader must have stepped down (rule 9): L after the lease start, or after its election with none. */
const stepDownAt = (d: Leader, voters: number[]): number => Math.max(d.electedAt, referenceStart(d, voters)) + L;

/** The core's lease end now; null when it has no window (no lease, expired, or its NO-OP uncommitted). */
const coreUntil = (d: Leader): number | null => d.node.leaseWindow(d.now)?.untilMs ?? null;

/** Why the core's window differs from the reference's (null when equal). */
function mismatch(d: Leader, position: Position = QUORUM, voters = d.voters()): string | null {
  const want = referenceUntil(d, voters, position);
  const w = d.node.leaseWindow(d.now);
  const acks = [...d.acked].map(([p, s]) => `${p}:${s}`).join(" ");
  if (want > d.now) {
    if (w === null) return `at ${d.now}: no window, the reference's ends at ${want} (acks ${acks}; voters ${voters.join(",")})`;
    if (w.fromMs > d.now) return `at ${d.now}: the window opens only at ${w.fromMs}`;
    if (Math.abs(w.untilMs - want) > EPS) return `at ${d.now}: window ends at ${w.untilMs}, the reference's at ${want} (acks ${acks}; voters ${voters.join(",")})`;
  } else if (w !== null) {
    return `at ${d.now}: window until ${w.untilMs}, but the reference has none (ends ${want}; acks ${acks}; voters ${voters.join(",")})`;
  }
  const remaining = d.node.status(d.now).leaseRemainingMs;
  const wantRemaining = Math.max(0, want - d.now);
  if (Math.abs(remaining - wantRemaining) > EPS) return `at ${d.now}: leaseRemainingMs ${remaining}, the reference ${wantRemaining}`;
  return null;
}

const expectMatch = (d: Leader, what = ""): void => expect(mismatch(d), what).toBeNull();

// ---------------------------------------------------------------------------------------------
// 1. The property.

type Action =
  | { kind: "tick"; gap: number }
  | { kind: "set" }
  | { kind: "reply"; peer: number; age: number; delay: number; dup: boolean }
  | { kind: "stale"; peer: number; pick: number; delay: number };

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("tick" as const), gap: fc.double({ min: 0.25, max: 160, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("set" as const) }) },
  {
    weight: 7,
    arbitrary: fc.record({
      kind: fc.constant("reply" as const),
      peer: fc.nat(),
      // 0: the reply to the newest request to that follower; more: an older one (stale once a newer was delivered)
      age: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat({ max: 12 }) }),
      delay: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 40, noNaN: true })),
      dup: fc.boolean(),
    }),
  },
  // a reply to a request older than the newest that follower already acknowledged, if any
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("stale" as const), peer: fc.nat(), pick: fc.nat(), delay: fc.double({ min: 0, max: 40, noNaN: true }) }) },
);

/** What the runs exercised (the property is not vacuous). */
interface Stats {
  stale: number;
  dup: number;
  live: number;
  expired: number;
}

/**
 * One run: the leader of `size` voters under `actions`. Compares its window with the reference
 * (at `position`) after every step; returns the first difference, or null.
 */
function runActions(size: number, actions: Action[], opts: { mutation?: Mutation | null; position?: Position } = {}, stats?: Stats): string | null {
  const d = new Leader(size, opts.mutation ?? null);
  const peers = Array.from({ length: size - 1 }, (_, i) => i + 1);
  const voters = [0, ...peers];
  const check = (what: string): string | null => {
    if (d.role !== "leader") return `${what}: the leader stepped down at ${d.now} (deadline ${stepDownAt(d, voters)})`;
    if (stats !== undefined) stats[coreUntil(d) === null ? "expired" : "live"]++;
    const m = mismatch(d, opts.position, voters);
    return m === null ? null : `${what}: ${m}`;
  };
  /** A time no later than `at` and safely before the step-down deadline (never before now). */
  const clamp = (at: number): number => Math.max(d.now, Math.min(at, stepDownAt(d, voters) - 0.5));
  let bad = check("after the election");
  for (const [i, a] of actions.entries()) {
    if (bad !== null) return bad;
    if (a.kind === "tick") {
      d.tick(clamp(d.now + a.gap));
      bad = check(`step ${i} (tick)`);
    } else if (a.kind === "set") {
      d.set(d.now);
      bad = check(`step ${i} (set)`);
    } else {
      const peer = peers[a.peer % peers.length]!;
      const newest = d.acked.get(peer) ?? -Infinity;
      const mine = d.sent.filter((m) => m.to === peer && (a.kind === "reply" || m.leaderSendMs < newest));
      if (mine.length === 0) continue;
      const req = a.kind === "reply" ? mine[Math.max(0, mine.length - 1 - a.age)]! : mine[a.pick % mine.length]!;
      const dup = a.kind === "reply" && a.dup;
      const before = coreUntil(d);
      const stale = req.leaderSendMs < (d.acked.get(peer) ?? -Infinity);
      const at = clamp(d.now + a.delay);
      if (stats !== undefined && stale) stats.stale++;
      if (stats !== undefined && dup) stats.dup++;
      d.ack(at, req);
      if (dup) d.ack(at, req);
      bad = check(`step ${i} (reply of ${peer} to its request sent at ${req.leaderSendMs}${stale ? ", stale" : ""}${dup ? ", twice" : ""})`);
      // A stale reply changes nothing: not even a lease the reference would grant anyway.
      const after = coreUntil(d);
      if (bad === null && stale && before !== null && after !== null && after > before + EPS) bad = `step ${i}: a stale reply extended the lease from ${before} to ${after}`;
    }
  }
  return bad;
}

const SIZES = [3, 5, 7];
const SEED = 12;
const RUNS = 200;
const actionsArb = fc.array(actionArb, { minLength: 10, maxLength: 80, size: "max" });

/** The property at a size: `runActions` finds no difference. */
const quorumProperty = (size: number, opts: { mutation?: Mutation | null; position?: Position } = {}) =>
  fc.property(actionsArb, (actions) => {
    const bad = runActions(size, actions, opts);
    if (bad !== null) throw new Error(bad);
  });

describe("the leader's lease follows the quorum-th newest acknowledged send time (rules 1, 7, 9)", () => {
  for (const size of SIZES) {
    it(`${size} voters: after every step of a random run (reordered, duplicated, dropped, stale replies) the window equals the reference`, () => {
      fc.assert(quorumProperty(size), { seed: SEED + size, numRuns: RUNS });
    });
  }

  it("the runs exercise what they should: stale replies, duplicates, expired and live windows, at every size", () => {
    for (const size of SIZES) {
      const stats: Stats = { stale: 0, dup: 0, live: 0, expired: 0 };
      for (const actions of fc.sample(actionsArb, { seed: SEED + size, numRuns: RUNS })) expect(runActions(size, actions, {}, stats)).toBeNull();
      expect(stats.stale, `${size} voters: stale replies`).toBeGreaterThan(500);
      expect(stats.dup, `${size} voters: duplicated replies`).toBeGreaterThan(500);
      expect(stats.expired, `${size} voters: steps with no window`).toBeGreaterThan(200);
      expect(stats.live, `${size} voters: steps with a window`).toBeGreaterThan(2000);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Directed cases.

describe("directed: which acknowledgement moves the lease", () => {
  it("5 voters: a slow follower's ack below the quorum value changes nothing; one that lifts the quorum value does", () => {
    const d = new Leader(5), e = d.electedAt;
    const r = d.rounds(e + 600); // rounds[k] sent at s(k), increasing
    const s = (k: number, p = 1) => to(r[k]!, p).leaderSendMs;
    expect(r.length).toBeGreaterThanOrEqual(6);
    d.ack(e + 610, to(r[5]!, 1));
    expect(coreUntil(d), "one peer of the two needed").toBeNull();
    d.ack(e + 611, to(r[4]!, 2));
    expect(coreUntil(d)).toBeCloseTo(s(4) + LEADER_SPAN, 6);
    d.ack(e + 612, to(r[1]!, 3)); // the slow follower, below the quorum value
    expect(coreUntil(d)).toBeCloseTo(s(4) + LEADER_SPAN, 6);
    expectMatch(d);
    d.ack(e + 613, to(r[2]!, 3)); // still below
    expect(coreUntil(d)).toBeCloseTo(s(4) + LEADER_SPAN, 6);
    d.ack(e + 614, to(r[0]!, 4)); // the slowest of all
    expect(coreUntil(d)).toBeCloseTo(s(4) + LEADER_SPAN, 6);
    const more = d.rounds(e + 700);
    d.ack(e + 701, to(more.at(-1)!, 3)); // the slow follower, now the newest of all: lifts the quorum value to node 1's
    expect(coreUntil(d)).toBeCloseTo(s(5) + LEADER_SPAN, 6);
    expectMatch(d);
    d.ack(e + 702, to(r[3]!, 4)); // node 4, below the new quorum value
    expect(coreUntil(d)).toBeCloseTo(s(5) + LEADER_SPAN, 6);
    expectMatch(d);
  });

  it("5 voters: an ack exactly equal to the quorum value changes nothing; lifting the tied value's holder moves to the tie", () => {
    const d = new Leader(5), e = d.electedAt;
    const r = d.rounds(e + 500);
    const s = (k: number) => to(r[k]!, 1).leaderSendMs;
    d.ack(e + 510, to(r[4]!, 1));
    d.ack(e + 511, to(r[2]!, 2));
    expect(coreUntil(d)).toBeCloseTo(s(2) + LEADER_SPAN, 6);
    d.ack(e + 512, to(r[2]!, 3)); // equal to the quorum value
    expect(coreUntil(d)).toBeCloseTo(s(2) + LEADER_SPAN, 6);
    d.ack(e + 513, to(r[2]!, 3)); // the same reply again
    expect(coreUntil(d)).toBeCloseTo(s(2) + LEADER_SPAN, 6);
    expectMatch(d);
    d.ack(e + 514, to(r[3]!, 2)); // 2 moves up; 3 still holds s(2): the quorum value is s(3)
    expect(coreUntil(d)).toBeCloseTo(s(3) + LEADER_SPAN, 6);
    d.ack(e + 515, to(r[4]!, 4)); // equal to the newest (node 1's): the second newest is now s(4)
    expect(coreUntil(d)).toBeCloseTo(s(4) + LEADER_SPAN, 6);
    expectMatch(d);
  });

  for (const size of SIZES) {
    it(`${size} voters: every follower acknowledging the same send time; then all stale replies change nothing`, () => {
      const d = new Leader(size), e = d.electedAt;
      const r = d.rounds(e + 300);
      const last = r.at(-1)!;
      const sT = last[0]!.leaderSendMs;
      for (let p = 1; p < size; p++) {
        d.ack(e + 300 + p, to(last, p));
        const need = QUORUM(size) - 1;
        if (p < need) expect(coreUntil(d), `${p} of ${need} peers`).toBeNull();
        else expect(coreUntil(d), `${p} of ${need} peers`).toBeCloseTo(sT + LEADER_SPAN, 6);
        expectMatch(d);
      }
      for (const round of r.slice(0, -1).reverse()) for (let p = 1; p < size; p++) d.ack(d.now + 0.5, to(round, p));
      expect(coreUntil(d)).toBeCloseTo(sT + LEADER_SPAN, 6);
      expectMatch(d);
    });
  }

  it("5 voters: acks of the 4th, 2nd, 1st, 3rd heartbeat from four followers, checked after each", () => {
    const d = new Leader(5), e = d.electedAt;
    const r = d.rounds(e + 400).slice(0, 4);
    expect(r).toHaveLength(4);
    const s = (k: number) => to(r[k - 1]!, 1).leaderSendMs;
    const want: (number | null)[] = [null, s(2), s(2), s(3)];
    [4, 2, 1, 3].forEach((k, i) => {
      d.ack(e + 410 + i, to(r[k - 1]!, i + 1));
      if (want[i] === null) expect(coreUntil(d)).toBeNull();
      else expect(coreUntil(d), `after the ack of heartbeat ${k}`).toBeCloseTo(want[i]! + LEADER_SPAN, 6);
      expectMatch(d);
    });
  });

  it("5 voters: one follower's acks of the 4th, 2nd, 1st, 3rd heartbeat (stale after the first), then a second follower's", () => {
    const d = new Leader(5), e = d.electedAt;
    const r = d.rounds(e + 400).slice(0, 4);
    const s = (k: number) => to(r[k - 1]!, 1).leaderSendMs;
    d.ack(e + 405, to(r[1]!, 2)); // node 2: heartbeat 2
    for (const [i, k] of [4, 2, 1, 3].entries()) {
      d.ack(e + 410 + i, to(r[k - 1]!, 1));
      expect(coreUntil(d), `after node 1's ack of heartbeat ${k}`).toBeCloseTo(s(2) + LEADER_SPAN, 6);
      expectMatch(d);
    }
    d.ack(e + 420, to(r[2]!, 3)); // node 3: heartbeat 3 lifts the second newest to s(3)
    expect(coreUntil(d)).toBeCloseTo(s(3) + LEADER_SPAN, 6);
    expectMatch(d);
  });

  it("3 voters: the lease expires at exactly start + L(1 - rho) and a late ack of an old heartbeat does not revive it past that", () => {
    const d = new Leader(3), e = d.electedAt;
    const r = d.rounds(e + 200);
    const s1 = to(r[0]!, 1).leaderSendMs;
    d.ack(e + 205, to(r[0]!, 1));
    const until = s1 + LEADER_SPAN;
    d.tick(until - 0.001);
    expect(coreUntil(d)).toBeCloseTo(until, 6);
    expectMatch(d);
    d.tick(until);
    expect(coreUntil(d), "the window is half-open: none at its end").toBeNull();
    d.ack(until + 0.1, to(r[0]!, 2)); // an ack of the same old heartbeat, from the other peer
    expect(coreUntil(d)).toBeNull();
    expectMatch(d);
    // the newest heartbeat's ack (sent before `until`) revives it from that send time
    const fresh = d.sent.filter((m) => m.to === 2).at(-1)!;
    d.ack(d.now + 0.1, fresh);
    expect(coreUntil(d)).toBeCloseTo(fresh.leaderSendMs + LEADER_SPAN, 6);
    expectMatch(d);
  });

  it("3 voters: a rejection (log mismatch) of a heartbeat of this leadership counts as an acknowledgement, like a success (rule 7)", () => {
    const d = new Leader(3), e = d.electedAt;
    const r = d.rounds(e + 500);
    d.ack(e + 510, to(r[1]!, 1)); // commits the NO-OP: the lease starts at the 2nd heartbeat's send
    expect(coreUntil(d)).toBeCloseTo(to(r[1]!, 1).leaderSendMs + LEADER_SPAN, 6);
    const req = to(r[4]!, 2);
    const rejection: AppendReply = { ...ackOf(req), success: false, matchIndex: logIndex(0), conflictIndex: logIndex(1), rejectedPrevIndex: req.prevLogIndex };
    d.deliver(e + 511, rejection);
    d.acked.set(2, req.leaderSendMs);
    expect(coreUntil(d), "node 2 recognized this leadership: its rejection lifts the lease to the 5th heartbeat's send").toBeCloseTo(req.leaderSendMs + LEADER_SPAN, 6);
    expectMatch(d);
  });
});

// ---------------------------------------------------------------------------------------------
// 3. The configuration changes after acknowledgements were cached.

/** Leader of `size` with the acks `acks` (peer -> heartbeat round) delivered, NO-OP committed. */
function withAcks(size: number, acks: Record<number, number>, mutation: Mutation | null = null): { d: Leader; s: (k: number) => number; r: AppendRequest[][] } {
  const d = new Leader(size, mutation), e = d.electedAt;
  const r = d.rounds(e + 500);
  for (const [p, k] of Object.entries(acks)) d.ack(e + 510, to(r[k]!, Number(p)));
  expect(d.node.inspect().commitIndex).toBeGreaterThanOrEqual(1);
  return { d, s: (k) => to(r[k]!, 1).leaderSendMs, r };
}

describe("the lease is recomputed for the configuration in use (rule 10)", () => {
  it("5 voters -> 4: removing the voter with the newest ack moves the lease back to the 4-voter majority's", () => {
    const { d, s } = withAcks(5, { 1: 4, 2: 3, 3: 2, 4: 1 });
    expect(coreUntil(d)).toBeCloseTo(s(3) + LEADER_SPAN, 6);
    d.admin(d.now + 1, { kind: "remove-member", id: nodeId(1) });
    expect(d.voters()).toEqual([0, 2, 3, 4]);
    // 4 voters need 3: the leader and the two newest of 2, 3, 4 -> node 3's s(2)
    expect(coreUntil(d)).toBeCloseTo(s(2) + LEADER_SPAN, 6);
    expectMatch(d);
    // node 1's newer acks no longer count
    d.ack(d.now + 1, d.sent.filter((m) => m.to === 1).at(-1)!);
    expect(coreUntil(d)).toBeCloseTo(s(2) + LEADER_SPAN, 6);
    expectMatch(d);
  });

  it("4 voters -> 3: removing a voter shrinks the quorum and lifts the lease with no new ack", () => {
    const { d, s } = withAcks(4, { 1: 4, 2: 2, 3: 1 });
    expect(coreUntil(d)).toBeCloseTo(s(2) + LEADER_SPAN, 6);
    d.admin(d.now + 1, { kind: "remove-member", id: nodeId(3) });
    expect(d.voters()).toEqual([0, 1, 2]);
    // 3 voters need 2: the leader and node 1's s(4)
    expect(coreUntil(d)).toBeCloseTo(s(4) + LEADER_SPAN, 6);
    expectMatch(d);
  });

  it("3 voters + a learner: the learner's acks never count; once it is a voter the 4-voter majority is recomputed", () => {
    const { d, seen, e, sL, s5, untilAfter } = learnerScenario(null);
    expect(seen.every((m) => m === null), seen.filter((m) => m !== null).join("\n")).toBe(true);
    expect(seen.length).toBeGreaterThanOrEqual(5);
    expect(untilAfter.learnerAck).toBeCloseTo(e + 2 + LEADER_SPAN, 6); // the voters' newest (the SET's request), not the learner's sL
    expect(untilAfter.voterAck).toBeCloseTo(s5 + LEADER_SPAN, 6);
    expect(sL).toBeLessThan(s5);
    expect(d.voters(), "the learner was promoted once it had caught up").toEqual([0, 1, 2, 3]);
  });
});

/**
 * 3 voters with a SET committed, then node 3 added as a learner with an empty log, fed one entry
 * per AppendEntries: its first ack (entry 1 only) leaves it behind the commit index, so it stays a
 * learner while a voter's newer ack commits the configuration entry; then it catches up and is
 * promoted. The comparison with the reference (voters of the configuration in use) after each step.
 */
function learnerScenario(mutation: Mutation | null) {
  const d = new Leader(3, mutation, 1), e = d.electedAt;
  const untilAfter = { learnerAck: NaN, voterAck: NaN };
  const seen: (string | null)[] = [];
  const look = (): void => void seen.push(mismatch(d));
  for (const m of d.sent.slice()) d.ack(e + 1, m); // the NO-OP
  d.set(e + 2);
  for (const m of d.sent.filter((x) => x.leaderSendMs === e + 2 && x.entries.length > 0)) d.ack(e + 3, m);
  expect(d.node.inspect().commitIndex).toBe(2);
  d.admin(e + 4, { kind: "add-member", id: nodeId(3), address: "" });
  expect(d.node.status(d.now).members.find((m) => m.id === 3)?.role).toBe("learner");
  look();
  const r = d.rounds(e + 400);
  d.deliver(e + 401, { ...ackOf(to(r[0]!, 3)), success: false, matchIndex: logIndex(0), conflictIndex: logIndex(1), rejectedPrevIndex: to(r[0]!, 3).prevLogIndex });
  look();
  const retry = d.sent.filter((m) => m.to === 3).at(-1)!;
  expect(retry.prevLogIndex + retry.entries.length, "the leader backs up to entry 1, one entry per message").toBe(1);
  const sL = retry.leaderSendMs;
  d.ack(e + 402, retry); // the learner's newest ack, newer than any voter's
  untilAfter.learnerAck = coreUntil(d) ?? NaN;
  look();
  expect(d.node.status(d.now).members.find((m) => m.id === 3)?.role).toBe("learner");
  const next = d.rounds(e + 520).at(-1)!;
  const s5 = to(next, 1).leaderSendMs;
  d.ack(e + 521, to(next, 1)); // node 1: the configuration entry and a newer send time than the learner's
  untilAfter.voterAck = coreUntil(d) ?? NaN;
  look();
  expect(d.node.inspect().commitIndex).toBeGreaterThanOrEqual(3);
  // the learner answers everything it was sent, oldest first (stale and duplicate answers included)
  for (let i = 0; i < 6 && d.voters().length < 4; i++) {
    for (const m of d.sent.filter((x) => x.to === 3)) d.ack(d.now + 0.5, m);
    look();
  }
  look();
  return { d, seen, e, sL, s5, untilAfter };
}

// ---------------------------------------------------------------------------------------------
// 4. Negative controls: each check can fail.

describe("negative controls: the comparison tells a wrong quorum position, and lease mutations, apart", () => {
  it("an off-by-one reference (second newest, not the quorum-th) differs from the core in some run of 5 and of 7 voters", () => {
    for (const size of [5, 7]) {
      const r = fc.check(quorumProperty(size, { position: () => 2 }), { seed: SEED + size, numRuns: RUNS, endOnFailure: true });
      expect(r.failed, `${size} voters: the wrong reference was never told apart`).toBe(true);
    }
  });

  it("an off-by-one reference the other way (the (q+1)-th newest) differs in some run of every size", () => {
    for (const size of SIZES) {
      const r = fc.check(quorumProperty(size, { position: (n) => QUORUM(n) + 1 }), { seed: SEED + size, numRuns: RUNS, endOnFailure: true });
      expect(r.failed, `${size} voters`).toBe(true);
    }
  });

  it("the core with `lease-from-receive` (lease counted from the ack's arrival) fails the property at every size", () => {
    for (const size of SIZES) {
      const r = fc.check(quorumProperty(size, { mutation: "lease-from-receive" }), { seed: SEED + size, numRuns: RUNS, endOnFailure: true });
      expect(r.failed, `${size} voters`).toBe(true);
      expect(String(r.errorInstance)).toMatch(/window ends at|stale reply extended|leaseRemainingMs/);
    }
  });

  it("the core with `learner-in-quorum` fails the learner case", () => {
    const { seen } = learnerScenario("learner-in-quorum");
    expect(
      seen.some((m) => m !== null),
      "learner-in-quorum went unnoticed",
    ).toBe(true);
  });
});
