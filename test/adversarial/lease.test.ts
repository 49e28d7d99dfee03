// The lease rules (the argument at the top of src/raft/lease.ts): at no instant of true time may
// two nodes be able to serve lease reads, and a new leader answers no write and serves no read
// before every older lease is over, whatever the delays, drift within the bound, pauses and
// reboots. Each staging has a negative control: a broken variant, or drift beyond the bound.

import { describe, expect, it } from "vitest";
import { nodeId, term, type Mutation, type RequestId } from "../../src/raft/index.js";
import { rateWithin } from "./support/clock.js";
import { jitter } from "./support/jitter.js";
import { World } from "./support/world.js";

const [A, B, C] = [0, 1, 2].map(nodeId) as [ReturnType<typeof nodeId>, ReturnType<typeof nodeId>, ReturnType<typeof nodeId>];
const RHO = 1000;
const leads = (w: World, id: number) => () => w.status(id)?.role === "leader";

/** A leads with its lease established and a value written. */
function leaderWithLease(opts: { mutation?: Mutation | null; rates?: number[] } = {}): World {
  const w = new World({
    size: 3,
    mutation: opts.mutation ?? null,
    rates: opts.rates ?? [rateWithin(RHO, -1), rateWithin(RHO, 1), rateWithin(RHO, 0.3)],
    clockStartMs: [3_000_000, 10, 777_777],
    random: jitter({ [A]: 0, [B]: 0.99, [C]: 0.1 }),
  });
  w.runUntil("A leading", leads(w, A), 3000);
  w.runUntil("A's lease", () => w.status(A)?.leaseReadable === true, 3000);
  const s = w.set(A, "k", "old");
  w.runUntil("SET k=old acknowledged", () => w.history.op(s).result?.ok === true, 100);
  w.run(30);
  return w;
}

/** Asks C for a write and a read as soon as it leads, then reads "k" at A while A still thinks it leads. */
function newLeaderAsked(w: World): { set: RequestId; get: RequestId } {
  w.runUntil("C leading", leads(w, C), 4000);
  const set = w.set(C, "k", "new");
  const get = w.get(C, "k");
  for (let i = 0; i < 40; i++) {
    w.run(25);
    if (w.status(A)?.role === "leader") w.get(A, "k");
  }
  return { set, get };
}

/** C's answers came no earlier than the end of A's lease, in true time. */
function answeredAfterOldLease(w: World, asked: { set: RequestId; get: RequestId }, termA: number): void {
  const oldEnd = w.leases.endOf(A, term(termA));
  expect(oldEnd).toBeGreaterThan(0);
  for (const id of [asked.set, asked.get]) {
    const op = w.history.op(id);
    if (op.result?.ok === true) expect(op.responseTrueMs!, `C answered request ${id} during A's lease`).toBeGreaterThanOrEqual(oldEnd);
  }
  expect(w.leases.startOf(C, w.status(C)!.term)).toBeGreaterThanOrEqual(oldEnd);
}

/**
 * A leads; C is cut off from A, so its timer runs out while A still holds its lease with B. B
 * then reboots (its clock starts over, its memory of A's lease is gone) and votes for C at once.
 */
function voterReboots(mutation: Mutation | null) {
  const w = leaderWithLease({ mutation });
  const termA = w.status(A)!.term;
  w.net.cut(A, C);
  w.net.cut(C, A);
  w.runUntil("C's election timer", () => w.status(C)?.role === "candidate", 3000);
  w.crash(B);
  w.restart(B, 3);
  const asked = newLeaderAsked(w);
  return { w, termA, asked };
}

describe("lease: a new leader waits out the old lease", () => {
  it("a new leader answers no write and serves no read before the old lease is over (a voter rebooted)", () => {
    const { w, termA, asked } = voterReboots(null);
    answeredAfterOldLease(w, asked, termA);
    expect(w.history.op(asked.set).result?.ok).toBe(true);
    expect(w.problems()).toEqual([]);
  });

  it("negative control: a new leader that does not wait serves during the old lease", () => {
    const { w } = voterReboots("no-lease-wait");
    expect(w.problems().join("\n")).toMatch(/node 0 \(term \d+\) and node 2 \(term \d+\) could both serve lease reads/);
  });

  it("negative control: a rebooted voter that forgets a lease may be running lets the new leader serve during it", () => {
    const { w } = voterReboots("restart-forgets-lease");
    expect(w.problems().join("\n")).toMatch(/could both serve lease reads/);
  });
});

/** A is cut off right after a heartbeat whose acknowledgement from B is held, then delivered late. */
function lateAcknowledgement(mutation: Mutation | null): World {
  const w = leaderWithLease({ mutation });
  w.net.holdNext((e) => e.type === "append-reply" && e.from === B && e.to === A);
  w.runUntil("B's acknowledgement held", () => w.pool.select((e) => e.held).length === 1, 200);
  w.net.isolate(A);
  w.run(690);
  w.deliver(w.pool.select((e) => e.held)[0]!.id);
  newLeaderAsked(w);
  w.run(1000);
  return w;
}

describe("lease: counted from when the heartbeat left", () => {
  it("a late acknowledgement of a heartbeat never extends the lease past L from its sending", () => {
    const w = lateAcknowledgement(null);
    expect(w.problems()).toEqual([]);
  });

  it("negative control: a lease counted from when the acknowledgement arrived overlaps the next one", () => {
    const w = lateAcknowledgement("lease-from-receive");
    expect(w.problems().join("\n")).toMatch(/node 0 \(term \d+\) and node 2 \(term \d+\) could both serve lease reads/);
  });
});

/** Once A leads, its clock runs at `rateA`; A is cut off after a heartbeat; C takes over. */
function leaderCutOff(rateA: number): World {
  const w = leaderWithLease({ rates: [rateWithin(RHO, 0), rateWithin(RHO, 1), rateWithin(RHO, 1)] });
  w.setClockRate(A, rateA);
  w.run(200);
  w.net.isolate(A);
  newLeaderAsked(w);
  w.run(1000);
  return w;
}

describe("lease: clock drift", () => {
  it("a leader whose clock runs slow by the whole drift bound gives up its lease before the next leader starts", () => {
    const w = leaderCutOff(rateWithin(RHO, -1));
    expect(w.leaders().map((s) => s.id)).toEqual([C]);
    expect(w.problems()).toEqual([]);
  });

  it("negative control: a leader clock slower than the bound allows (half speed) overlaps the next lease", () => {
    const w = leaderCutOff(0.5);
    expect(w.problems().join("\n")).toMatch(/node 0 \(term \d+\) and node 2 \(term \d+\) could both serve lease reads/);
  });
});

describe("lease: pauses", () => {
  it("a leader paused past its lease serves no read when it wakes, though no tick has come yet", () => {
    const w = leaderWithLease();
    w.pause(A);
    const newer = newLeaderAskedWhileAPaused(w);
    w.resume(A);
    const read = w.get(A, "k");
    expect(w.history.op(newer).result?.ok).toBe(true);
    expect(w.history.op(read).result?.ok).not.toBe(true);
    expect(w.problems()).toEqual([]);
  });
});

function newLeaderAskedWhileAPaused(w: World): RequestId {
  w.runUntil("C leading", leads(w, C), 4000);
  const set = w.set(C, "k", "new");
  w.runUntil("SET k=new answered", () => w.history.op(set).result !== null, 2000);
  w.run(10);
  return set;
}
