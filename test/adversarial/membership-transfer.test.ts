// Leadership transfer (Raft thesis 3.10) with leases: the leader stops taking writes, brings the
// target up to date, sends TimeoutNow (handing its lease over: it serves no read from then on),
// and the target stands at once. At no instant of true time may two nodes be able to serve lease
// reads (the world records every node's read window in true time), whatever happens to the
// TimeoutNow (late, twice, lost), to the old leader (cut off right after sending it) or to the
// clocks (drift at the bound). Acknowledged writes survive every handover.

import { describe, expect, it } from "vitest";
import {
  candidateWaitMs,
  logIndex,
  makeConfig,
  nodeId,
  RaftNode,
  term,
  TIMING_FAST,
  type Entry,
  type FullOutput,
  type Member,
  type Message,
  type Mutation,
  type NodeId,
  type PersistedState,
  type Term,
} from "../../src/raft/index.js";
import { rateWithin } from "./support/clock.js";
import { isVoter } from "./support/membership.js";
import { adminDone, cluster, mworld, N, problems, setOk, type MWorld } from "./support/mworld.js";
import { jitter } from "./support/jitter.js";
import type { MessageId } from "./support/pool.js";

const RHO = TIMING_FAST.driftPpmMax;

function heldTimeoutNows(m: MWorld): MessageId[] {
  return m.w.pool.select((e) => e.held && e.type === "timeout-now").map((e) => e.id);
}

/** Every acknowledged SET's value is what `at` reads now (unique keys per write). */
function ackedWritesReadable(m: MWorld, at: number): void {
  const { w } = m;
  const latest = new Map<string, string>();
  for (const op of w.history.ops) if (op.kind === "set" && op.result?.ok === true) latest.set(op.key, op.value!);
  for (const [k, v] of latest) expect(w.view(at)!.valueOf(k), `acknowledged SET ${k}=${v} at node ${at}`).toBe(v);
}

describe("a transfer in progress", () => {
  it("refuses writes (not-leader, hint: the target), serves reads until TimeoutNow, sends TimeoutNow only once the target is caught up; the target stands at once", () => {
    const m = cluster({ size: 3 });
    const { w } = m;
    // 1 misses entries.
    w.net.cut(0, 1);
    for (let i = 0; i < 5; i++) setOk(m, 0, `a${i}`, `${i}`);
    w.net.holdNext((e) => e.type === "timeout-now");
    const t = w.status(0)!.term;
    const rid = w.admin(0, { kind: "transfer-leader", to: N(1) });
    w.run(50);
    expect(w.status(0)!.transferringTo).toBe(1);
    expect(w.events.some((e) => e.event.kind === "transfer-started")).toBe(true);
    expect(heldTimeoutNows(m)).toEqual([]);
    const set = w.set(0, "b", "x");
    expect(w.history.op(set).result).toMatchObject({ ok: false, code: "not-leader", leaderHint: 1 });
    const get = w.get(0, "a0");
    w.run(5);
    expect(w.history.op(get).result).toEqual({ ok: true, value: "0" });
    // A second transfer or a change meanwhile: overloaded.
    expect(adminDone(w, 0, { kind: "transfer-leader", to: N(2) })).toMatchObject({ ok: false, code: "overloaded" });
    expect(adminDone(w, 0, { kind: "remove-member", id: N(2) })).toMatchObject({ ok: false, code: "overloaded" });
    w.net.healAll();
    w.runUntil("TimeoutNow sent", () => heldTimeoutNows(m).length === 1, 2000);
    expect(w.adminResults.get(rid)).toEqual({ ok: true, value: "1" });
    // From now on 0 serves no read.
    expect(w.status(0)!.leaseReadable).toBe(false);
    const late = w.get(0, "a0");
    w.run(1);
    expect(w.history.op(late).result?.ok).not.toBe(true);
    // The target stands in the step that delivers TimeoutNow: no pre-vote, no timer.
    const r = w.deliver(heldTimeoutNows(m)[0]!)!;
    expect(w.status(1)!.role).toBe("candidate");
    expect(w.status(1)!.term).toBe(t + 1);
    const asks = r.out.messages.filter((x) => x.type === "vote-request");
    expect(asks.length).toBe(2);
    expect(asks.every((x) => x.type === "vote-request" && !x.preVote && x.term === t + 1)).toBe(true);
    expect(r.out.events.map((e) => e.kind)).toContain("timeout-now-received");
    expect(r.out.events.map((e) => e.kind)).not.toContain("election-timeout");
    w.runUntil("1 leads with a lease", () => w.status(1)!.role === "leader" && w.status(1)!.leaseReadable, 1000);
    w.run(50);
    expect(w.leases.startOf(N(1), term(t + 1)) - w.leases.endOf(N(0), term(t))).toBeLessThan(50);
    ackedWritesReadable(m, 1);
    expect(problems(m)).toEqual([]);
  });

  it("transfer to null picks a caught-up voter; a transfer to the leader itself is not a handover", () => {
    const m = cluster({ size: 3 });
    const { w } = m;
    w.net.isolate(2);
    const r = adminDone(w, 0, { kind: "transfer-leader", to: null });
    expect(r).toEqual({ ok: true, value: "1" });
    w.runUntil("1 leads", () => w.status(1)!.role === "leader", 1000);
    const self = adminDone(w, 1, { kind: "transfer-leader", to: N(1) });
    expect(w.status(1)!.role).toBe("leader");
    expect(w.status(1)!.transferringTo).toBeNull();
    expect(JSON.stringify(self)).not.toMatch(/"ok":true,"value":"[02]"/);
    expect(problems(m)).toEqual([]);
  });

  it("that times out (target unreachable) fails: the leader takes writes again and keeps its lease and term", () => {
    const m = cluster({ size: 3 });
    const { w } = m;
    // 1 cannot be brought up to date: it misses a write and hears nothing more.
    w.net.isolate(1);
    setOk(m, 0, "before", "1");
    const t = w.status(0)!.term;
    const rid = w.admin(0, { kind: "transfer-leader", to: N(1) });
    w.runUntil("transfer-failed", () => w.events.some((e) => e.event.kind === "transfer-failed"), 5000);
    expect(w.adminResults.get(rid)).toMatchObject({ ok: false });
    expect(w.status(0)!.transferringTo).toBeNull();
    expect(w.status(0)!.role).toBe("leader");
    expect(w.status(0)!.term).toBe(t);
    setOk(m, 0, "k", "v");
    w.run(50);
    expect(w.status(0)!.leaseReadable).toBe(true);
    expect(problems(m)).toEqual([]);
  });
});

describe("a transfer while the leader still waits out older leases", () => {
  it("reads queued for the lease are refused once TimeoutNow is sent, never served later; the target waits out what the leader waited for", () => {
    const m = cluster({ size: 3, voters: [0, 1, 2] });
    const { w } = m;
    setOk(m, 0, "k", "v");
    // 2 is cut off from 0; when its timer fires, 1 reboots (assuming a full lease may run) and 0 is
    // cut off (its lease runs out on its own clock): 2 is elected and must wait about L.
    w.net.cut(0, 2);
    w.net.cut(2, 0);
    w.runUntil("2's timer", () => w.status(2)!.role === "candidate", 4000);
    w.crash(1);
    w.restart(1, 5);
    w.net.isolate(0);
    w.runUntil("2 leads", () => w.status(2)!.role === "leader", 2000);
    const l = N(2);
    w.runUntil("its NO-OP committed", () => w.status(l)!.commitIndex === w.status(l)!.lastLogIndex, 500);
    expect(w.view(l)!.oldLeaseWaitUntilMs).not.toBeNull();
    expect(w.status(l)!.leaseReadable).toBe(false);
    const gets = [w.get(l, "k"), w.get(l, "k")];
    const to = N(1);
    for (let i = 0; i < 20; i++) if (w.status(0)!.role === "leader") w.get(0, "k");
    const rid = w.admin(l, { kind: "transfer-leader", to });
    w.runUntil("TimeoutNow sent", () => w.adminResults.has(rid), 1000);
    expect(w.adminResults.get(rid)).toEqual({ ok: true, value: `${to}` });
    for (let i = 0; i < 80; i++) {
      if (w.status(0)!.role === "leader") w.get(0, "k");
      if (w.status(1)!.role === "leader") w.get(1, "k");
      w.run(25);
    }
    for (const g of gets) expect(w.history.op(g).result?.ok, `queued GET ${g}`).not.toBe(true);
    expect(w.leases.startOf(l, term(w.status(to)!.term - 1))).toBe(Infinity);
    expect(w.status(to)!.role).toBe("leader");
    expect(problems(m)).toEqual([]);
  });
});

describe("lease safety around TimeoutNow", () => {
  /** 0 leads a three-node cluster; its TimeoutNow to 1 is held; returns when it has been sent. */
  function timeoutNowHeld(o: { mutation?: Mutation | null; rates?: number[]; size?: number } = {}) {
    const m = cluster({ size: o.size ?? 3, voters: [...Array(o.size ?? 3).keys()], mutation: o.mutation ?? null, ...(o.rates ? { rates: o.rates } : {}) });
    const { w } = m;
    setOk(m, 0, "k", "old");
    w.net.holdNext((e) => e.type === "timeout-now", 2);
    const t = w.status(0)!.term;
    w.admin(0, { kind: "transfer-leader", to: N(1) });
    w.runUntil("TimeoutNow sent", () => heldTimeoutNows(m).length === 1, 2000);
    const sentAt = w.trueMs;
    return { m, w, t, sentAt, tn: heldTimeoutNows(m)[0]! };
  }

  function oldLeaderCutOffAfterSending(mutation: Mutation | null) {
    const { m, w, t, sentAt, tn } = timeoutNowHeld({ mutation, rates: [rateWithin(RHO, -1), rateWithin(RHO, 1), rateWithin(RHO, 1)] });
    w.net.isolate(0);
    w.deliver(tn);
    // 0 keeps believing it leads for a while; it is asked to read throughout.
    for (let i = 0; i < 40; i++) {
      if (w.status(0)!.role === "leader") w.get(0, "k");
      if (w.status(1)!.role === "leader") w.set(1, `n${i}`, "new");
      w.run(25);
    }
    return { m, w, t, sentAt };
  }

  it("the old leader cut off right after sending TimeoutNow serves no read from the moment it sent it; the target leads without waiting for it", () => {
    const { m, w, t, sentAt } = oldLeaderCutOffAfterSending(null);
    expect(w.leases.endOf(N(0), term(t))).toBeLessThanOrEqual(sentAt);
    expect(w.status(1)!.role).toBe("leader");
    expect(w.leases.startOf(N(1), term(t + 1)) - sentAt).toBeLessThan(50);
    expect(w.history.ops.filter((o) => o.kind === "get" && o.node === 0 && o.invokeTrueMs > sentAt && o.result?.ok === true)).toEqual([]);
    expect(problems(m)).toEqual([]);
  });

  it("negative control (transfer-keeps-lease): an old leader that goes on serving after TimeoutNow overlaps the target's lease", () => {
    const { m } = oldLeaderCutOffAfterSending("transfer-keeps-lease");
    expect(m.w.leases.overlaps().length).toBeGreaterThan(0);
  });

  it("acknowledgements that reach the old leader after it sent TimeoutNow do not give it its lease back", () => {
    const { m, w, t, sentAt } = timeoutNowHeld();
    // 1 never hears the TimeoutNow; 2 goes on acknowledging 0's heartbeats until the transfer fails.
    w.run(3000);
    expect(w.leases.endOf(N(0), term(t))).toBeLessThanOrEqual(sentAt);
    expect(w.events.some((e) => e.node === 0 && e.event.kind === "transfer-failed")).toBe(true);
    expect(w.status(0)!.role !== "leader" || w.status(0)!.term > t).toBe(true);
    w.runUntil("a leader with a lease", () => w.leaders().some((s) => s.leaseReadable), 5000);
    w.run(100);
    expect(problems(m)).toEqual([]);
  });

  it("a TimeoutNow delivered twice: the second copy, arriving after the target won, changes nothing", () => {
    const { m, w, t, tn } = timeoutNowHeld();
    w.deliver(tn, { duplicate: true });
    w.runUntil("1 leads with a lease", () => w.status(1)!.role === "leader" && w.status(1)!.leaseReadable, 1000);
    setOk(m, 1, "k2", "v2");
    w.deliver(tn);
    w.run(500);
    expect(w.status(1)!.role).toBe("leader");
    expect(w.status(1)!.term).toBe(t + 1);
    expect(w.ids.map((id) => w.status(id)!.term)).toEqual([t + 1, t + 1, t + 1]);
    expect(problems(m)).toEqual([]);
  });

  it("a TimeoutNow delivered late, after the transfer failed and another leader was elected, neither disrupts it nor overlaps its lease", () => {
    const { m, w, t, tn } = timeoutNowHeld({ size: 5 });
    // 1 is cut off; the transfer fails; 0 steps down and some node wins an ordinary election.
    w.net.isolate(1);
    w.runUntil("a new leader with a lease", () => w.leaders().some((s) => s.term > t && s.leaseReadable), 8000);
    const l = w.leaders().find((s) => s.term > t)!;
    setOk(m, l.id, "k3", "v3");
    // 1 still is in term t (cut off, pre-votes failing): to 1 the TimeoutNow looks current.
    const t1 = w.status(1)!.term;
    w.deliver(tn);
    for (let i = 0; i < 60; i++) {
      w.get(l.id, "k");
      if (w.status(1)!.role === "leader") w.get(1, "k");
      w.run(25);
    }
    w.net.healAll();
    w.run(3000);
    expect(t1 === t || w.status(1)!.term === t1).toBe(true);
    expect(problems(m)).toEqual([]);
  });

  it("a TimeoutNow whose term is over is ignored", () => {
    const { m, w, t, tn } = timeoutNowHeld();
    w.net.isolate(1);
    w.runUntil("a new leader of a later term", () => w.leaders().some((s) => s.term > t && s.leaseReadable), 8000);
    w.net.healAll();
    w.runUntil("1 in the new term", () => w.status(1)!.term > t, 3000);
    const t1 = w.status(1)!.term;
    const r = w.deliver(tn)!;
    expect(r.out.messages.filter((x) => x.type === "vote-request")).toEqual([]);
    expect(w.status(1)!.term).toBe(t1);
    expect(problems(m)).toEqual([]);
  });
});

// ---------------------------------------------------------------- the target's wait, exactly

/**
 * One node driven by hand: the TimeoutNow target. Its clock is the test's; messages to it are
 * made here with the fields the lease argument depends on.
 */
class Target {
  readonly node: RaftNode;
  now = 0;
  outs: FullOutput[] = [];
  readonly lease = { leaseMs: TIMING_FAST.leaseMs, driftPpmMax: TIMING_FAST.driftPpmMax };

  constructor(id: number, persisted: PersistedState, members: number[] = [0, 1, 2]) {
    const cfg = makeConfig(nodeId(id), members.map(nodeId), TIMING_FAST, { addresses: Object.fromEntries(members.map((m) => [m, `n${m}`])) });
    this.node = RaftNode.start(cfg, persisted, 0, () => 0.5);
  }

  at(ms: number): this {
    this.now = ms;
    return this;
  }

  step(message: Message): FullOutput {
    const out = this.node.step({ type: "message", nowMs: this.now, message });
    this.outs.push(out);
    return out;
  }

  timeoutNow(from: number, t: number, oldLeaseRemainingMs: number): FullOutput {
    return this.step({ type: "timeout-now", from: nodeId(from), to: this.node.id, term: term(t), oldLeaseRemainingMs, lease: this.lease });
  }

  vote(from: number, t: number, leaseRemainingMs: number, leaseTerm: number): FullOutput {
    return this.step({
      type: "vote-reply",
      from: nodeId(from),
      to: this.node.id,
      term: term(t),
      requestTerm: term(t),
      granted: true,
      preVote: false,
      leaseRemainingMs,
      leaseTerm: term(leaseTerm),
    });
  }

  /** Every follower acknowledges every append-request of the last output (so the NO-OP commits). */
  ackAll(out: FullOutput): FullOutput[] {
    const res: FullOutput[] = [];
    for (const m of out.messages) {
      if (m.type !== "append-request") continue;
      res.push(
        this.step({
          type: "append-reply",
          from: m.to,
          to: m.from,
          term: m.term,
          requestTerm: m.term,
          success: true,
          matchIndex: logIndex(m.prevLogIndex + m.entries.length),
          conflictIndex: logIndex(0),
          conflictTerm: term(0),
          rejectedPrevIndex: logIndex(0),
          leaderSendMs: m.leaderSendMs,
        }),
      );
    }
    return res;
  }

  /** The first clock reading from which it may serve lease reads (scanning forward from now). */
  readableFrom(maxMs = 5000): number {
    for (let c = this.now; c <= this.now + maxMs; c += 0.25) if (this.node.leaseReadable(c)) return c;
    return Infinity;
  }
}

const noop = (t: number): Entry => ({ term: term(t) as Term, command: { kind: "noop" } });
const config = (t: number, members: Member[]): Entry => ({ term: term(t), command: { kind: "config", members } });
const mem = (id: number, role: "voter" | "learner" = "voter"): Member => ({ id: nodeId(id), address: `n${id}`, role });

/** Node 1 of {0,1,2}, in term 2 under leader 2, its log [noop t1, noop t2], long after its restart. */
function target(entries: Entry[] = [noop(1), noop(2)], members?: number[], id = 1): Target {
  const p: PersistedState = { hardState: { currentTerm: term(2), votedFor: nodeId(2), commitIndex: logIndex(entries.length) }, entries };
  return new Target(id, p, members).at(50_000);
}

/**
 * Ticks a target whose TimeoutNow round (term 3) failed until it stands in an ordinary round
 * (term 4 or later), pre-votes granted by the voters; returns the clock reading it got there.
 */
function standInOrdinaryRound(b: Target): number {
  let now = b.now;
  for (let i = 0; i < 50 && b.node.status(now).term < 4; i++) {
    now = Math.max(now + 1, b.node.wakeAtMs());
    b.at(now);
    const out = b.node.step({ type: "tick", nowMs: now });
    for (const m of out.messages) {
      if (m.type === "vote-request" && m.preVote) {
        b.step({ type: "vote-reply", from: m.to, to: m.from, term: term(3), requestTerm: m.term, granted: true, preVote: true, leaseRemainingMs: 0, leaseTerm: term(0) });
      }
    }
  }
  return now;
}

describe("the TimeoutNow target's wait (exact, on one node)", () => {
  it("stands at once, and waits out the handing-over leader's own wait, stretched by (1+ρ)/(1−ρ) from when TimeoutNow arrived", () => {
    const b = target();
    const out = b.timeoutNow(2, 2, 500);
    expect(b.node.status(b.now).role).toBe("candidate");
    expect(out.messages.filter((m) => m.type === "vote-request" && !m.preVote && m.term === 3).length).toBe(2);
    const arrived = b.now;
    b.at(arrived + 1);
    const won = b.vote(2, 3, 0, 2);
    expect(b.node.status(b.now).role).toBe("leader");
    b.at(arrived + 2);
    b.ackAll(won);
    const from = b.readableFrom();
    expect(from, `readable from ${from}, TimeoutNow at ${arrived}`).toBeGreaterThanOrEqual(arrived + candidateWaitMs(TIMING_FAST, 500) - 1e-9);
    // And not much later: the handing-over leader's lease itself is not waited for.
    expect(from).toBeLessThan(arrived + candidateWaitMs(TIMING_FAST, 500) + 5);
  });

  it("ignores only the lease of the leader that sent TimeoutNow: an older leader's lease reported in a vote is waited out", () => {
    const b = target();
    b.timeoutNow(2, 2, 0);
    const arrived = b.now;
    b.at(arrived + 1);
    const won = b.vote(0, 3, 700, 1);
    expect(b.node.status(b.now).role).toBe("leader");
    b.at(arrived + 2);
    b.ackAll(won);
    expect(b.readableFrom()).toBeGreaterThanOrEqual(arrived + 1 + candidateWaitMs(TIMING_FAST, 700) - 1e-9);
  });

  it("a lease of unknown term (the voter restarted) is waited out", () => {
    const b = target();
    b.timeoutNow(2, 2, 0);
    const arrived = b.now;
    b.at(arrived + 1);
    const won = b.vote(0, 3, 650, 0);
    b.at(arrived + 2);
    b.ackAll(won);
    expect(b.readableFrom()).toBeGreaterThanOrEqual(arrived + 1 + candidateWaitMs(TIMING_FAST, 650) - 1e-9);
  });

  it("a candidate that lost its TimeoutNow round and stands again in an ordinary election waits out the lease of the leader of the round it lost", () => {
    const b = target();
    b.timeoutNow(2, 2, 0);
    expect(b.node.status(b.now).term).toBe(3);
    // Term 3 went to node 0 meanwhile (b did not get a majority); b hears of it only through a vote later.
    const now = standInOrdinaryRound(b);
    const t = b.node.status(now).term;
    expect(t).toBeGreaterThanOrEqual(4);
    b.at(now + 1);
    const won = b.vote(0, t, 700, 3);
    expect(b.node.status(b.now).role).toBe("leader");
    b.at(now + 2);
    b.ackAll(won);
    expect(b.readableFrom()).toBeGreaterThanOrEqual(now + 1 + candidateWaitMs(TIMING_FAST, 700) - 1e-9);
  });

  it("a vote of the TimeoutNow round that arrives after the target moved on to an ordinary round is not counted", () => {
    const b = target();
    b.timeoutNow(2, 2, 0);
    const now = standInOrdinaryRound(b);
    const t = b.node.status(now).term;
    expect(t).toBeGreaterThanOrEqual(4);
    expect(b.node.status(now).role).toBe("candidate");
    // The round-3 vote, late; the voter has since moved on to the target's term.
    b.at(now + 1).step({ type: "vote-reply", from: nodeId(0), to: nodeId(1), term: term(t), requestTerm: term(3), granted: true, preVote: false, leaseRemainingMs: 0, leaseTerm: term(2) });
    expect(b.node.status(b.now).role).toBe("candidate");
  });

  it("a TimeoutNow of an older term, or from a node that is not its leader's term, makes no candidate", () => {
    const b = target();
    const out = b.timeoutNow(2, 1, 0);
    expect(out.messages.filter((m) => m.type === "vote-request")).toEqual([]);
    expect(b.node.status(b.now).role).toBe("follower");
    expect(b.node.status(b.now).term).toBe(2);
  });

  it("a learner, a removed node and a joining node sent TimeoutNow never stand", () => {
    const learner = target([noop(1), config(1, [mem(0), mem(1, "learner"), mem(2)]), noop(2)]);
    const removed = target([noop(1), config(1, [mem(0), mem(2)]), noop(2)]);
    for (const b of [learner, removed]) {
      const out = b.timeoutNow(2, 2, 0);
      expect(out.messages.filter((m) => m.type === "vote-request")).toEqual([]);
      expect(b.node.status(b.now).role).toBe("follower");
    }
    const cfg = makeConfig(nodeId(7), [0, 1, 2].map(nodeId), TIMING_FAST, { join: true });
    const j = RaftNode.start(cfg, { hardState: { currentTerm: term(2), votedFor: null, commitIndex: logIndex(0) }, entries: [] }, 0, () => 0.5);
    const out = j.step({ type: "message", nowMs: 10, message: { type: "timeout-now", from: nodeId(2), to: nodeId(7), term: term(2), oldLeaseRemainingMs: 0, lease: learner.lease } });
    expect(out.messages.filter((m) => m.type === "vote-request")).toEqual([]);
    expect(j.status(10).role).toBe("follower");
    expect(isVoter(j.status(10).members, 7)).toBe(false);
  });
});

// ---------------------------------------------------------------- handovers in a row, with drift

describe("transfers in a row with clocks at the drift bound and messages that take no time", () => {
  const cases: [string, number[]][] = [
    ["leaders slow, targets fast", [-1, 1, -1, 1, -1]],
    ["leaders fast, targets slow", [1, -1, 1, -1, 1]],
    ["mixed", [1, 1, -1, -1, 0]],
  ];
  for (const [what, fractions] of cases) {
    it(`no two lease holders overlap (${what}), each transfer issued as soon as the previous leader can`, () => {
      const m = mworld({
        size: 5,
        voters: [0, 1, 2, 3, 4],
        random: jitter({ 0: 0, 1: 0.5, 2: 0.9, 3: 0.3, 4: 0.6 }),
        rates: fractions.map((f) => rateWithin(RHO, f)),
        clockStartMs: [5, 1e6, 333, 2e6, 42],
        network: () => [0],
      });
      const { w } = m;
      w.runUntil("0 leads", () => w.status(0)?.role === "leader", 3000);
      let transfers = 0;
      let leader: NodeId = N(0);
      for (let round = 0; round < 8; round++) {
        // As soon as the leader may propose (its NO-OP committed), hand over to the next node.
        w.runUntil("the leader's NO-OP committed", () => w.status(leader)!.commitIndex === w.status(leader)!.lastLogIndex, 2000);
        w.set(leader, `r${round}`, `${round}`);
        w.get(leader, "r0");
        const to = N((leader + 1 + (round % 2)) % 5);
        const rid = w.admin(leader, { kind: "transfer-leader", to });
        const started = w.trueMs;
        const t0 = w.status(leader)!.term;
        w.runUntil("the transfer answered", () => w.adminResults.has(rid), 3000);
        if (w.adminResults.get(rid)!.ok) transfers++;
        w.runUntil("some leader", () => w.leaders().some((s) => s.term > t0 || (s.id === leader && s.transferringTo === null)), 4000);
        w.run(1);
        leader = w.leaders().reduce((a, b) => (b.term > a.term ? b : a)).id;
        for (let i = 0; i < 10; i++) {
          for (const s of w.leaders()) w.get(s.id, "r0");
          w.run(5);
        }
        expect(w.trueMs - started).toBeLessThan(5000);
      }
      w.run(1000);
      expect(transfers).toBeGreaterThanOrEqual(6);
      expect(problems(m)).toEqual([]);
      ackedWritesReadable(m, leader);
    });
  }
});

describe("a transfer right after a failover", () => {
  /**
   * Five nodes, no message delay, clocks at the drift bound. Leader 0 holds its lease; 2 is cut
   * off from it; when 2's timer fires, 1 and 3 reboot (forgetting 0), 0 is cut off, and 1 and 3
   * elect 2, which must wait out 0's lease. As soon as 2 may, it hands over to 3, which hands over
   * to 4: the wait for 0's lease travels in oldLeaseRemainingMs, and must not shrink on the way.
   */
  function failoverThenTransfers(mutation: Mutation | null) {
    const m = mworld({
      size: 5,
      voters: [0, 1, 2, 3, 4],
      random: jitter({ 0: 0, 1: 0.99, 2: 0.01, 3: 0.99, 4: 0.99 }),
      rates: [-1, 1, -1, 1, 1].map((f) => rateWithin(RHO, f)),
      clockStartMs: [3e6, 10, 777_777, 5, 1e5],
      network: () => [0],
      mutation,
    });
    const { w } = m;
    w.runUntil("0 leads with a lease", () => w.status(0)?.role === "leader" && w.status(0)!.leaseReadable, 4000);
    setOk(m, 0, "k", "old");
    // 2 hears neither 0 nor 4 (so 0 learns of no newer term through 4 and steps down only when its lease is out).
    for (const x of [0, 4]) {
      w.net.cut(x, 2);
      w.net.cut(2, x);
    }
    // 2's (pre-)vote requests are out, due now; 1 and 3 reboot before they arrive.
    w.runUntil("2's timer", () => w.status(2)!.role === "candidate", 4000);
    for (const id of [1, 3]) {
      w.crash(id);
      w.restart(id, id * 1000 + 1);
    }
    // 0 is cut off from everyone now: nothing tells it of the new terms, only its clock ends its lease.
    w.net.isolate(0);
    const readAll = () => {
      for (const s of w.leaders()) w.get(s.id, "k");
    };
    w.runUntil("2 leads", () => w.status(2)!.role === "leader", 3000);
    for (const [from, to] of [[2, 3], [3, 4]] as const) {
      if (to === 4) w.net.heal(2, 4);
      w.runUntil(`${from}'s NO-OP committed`, () => w.status(from)!.commitIndex === w.status(from)!.lastLogIndex, 1000);
      const rid = w.admin(from, { kind: "transfer-leader", to: N(to) });
      w.runUntil("transfer answered", () => w.adminResults.has(rid), 2000);
      expect(w.adminResults.get(rid)).toEqual({ ok: true, value: `${to}` });
      w.runUntil(`${to} leads`, () => w.status(to)!.role === "leader", 2000);
      readAll();
    }
    for (let i = 0; i < 400; i++) {
      readAll();
      w.run(5);
    }
    return m;
  }

  it("no two lease holders overlap, and 4 serves (the handovers carried the wait)", () => {
    const m = failoverThenTransfers(null);
    expect(m.w.status(4)!.leaseReadable).toBe(true);
    if (process.env.ADV_DEBUG) console.log(JSON.stringify(m.w.leases.intervals));
    expect(m.mon.stats.timeoutNowSent).toBe(2);
    expect(problems(m)).toEqual([]);
  });

  it("negative control: without the new leader's wait (no-lease-wait) the same schedule overlaps", () => {
    const m = failoverThenTransfers("no-lease-wait");
    expect(m.w.leases.overlaps().length).toBeGreaterThan(0);
  });
});
