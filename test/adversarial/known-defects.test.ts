// Two defects known before these tests were written, each staged exactly as described to the
// reviewers. Both tests state the rule they protect; on a core with the defect they fail on that
// rule's assertion, not on the staging (every step of the staging is asserted on its own).

import { describe, expect, it } from "vitest";
import { nodeId } from "../../src/raft/index.js";
import { rateWithin } from "./support/clock.js";
import { jitter } from "./support/jitter.js";
import { heartbeatTraffic } from "./support/traffic.js";
import { World } from "./support/world.js";

const A = nodeId(0);
const B = nodeId(1);
const C = nodeId(2);

describe("known defect: a stale acknowledgement renews the lease", () => {
  it("a reply to an earlier term's request never renews the lease", () => {
    const rho = 1000;
    const w = new World({
      size: 3,
      rates: [rateWithin(rho, 0.5), rateWithin(rho, -0.5), rateWithin(rho, 0.2)],
      clockStartMs: [100_000, 50_000, 70_000],
      // A times out first; C 100 ms after the minimum; B last.
      random: jitter({ [A]: 0, [B]: 0.99, [C]: 0.1 }),
    });
    w.runUntil("A leading term 1", () => w.status(A)?.role === "leader" && w.status(A)?.term === 1, 3000);
    w.run(300);
    expect(w.clockMs(A)).toBeGreaterThan(100_000);

    // One of A's term-1 heartbeats to B is held back; then A crashes and reboots near 0.
    w.net.holdNext((e) => e.type === "append-request" && e.from === A && e.to === B);
    w.runUntil("a term-1 heartbeat to B held", () => w.pool.select((e) => e.held).length === 1, 200);
    const [oldHeartbeat] = w.pool.select((e) => e.held);
    expect(oldHeartbeat!.term).toBe(1);
    w.run(20);
    w.crash(A);
    w.run(20);
    w.restart(A, 5);

    // A wins term 2 (with B), its NO-OP commits, it serves a write: the value a stale read returns.
    w.runUntil("A leading term 2", () => w.status(A)?.role === "leader" && w.status(A)?.term === 2, 3000);
    w.runUntil("A's term-2 lease", () => w.status(A)?.leaseReadable === true, 3000);
    const oldSet = w.set(A, "k", "old");
    w.runUntil("SET k=old acknowledged", () => w.history.op(oldSet).result !== null, 100);
    expect(w.history.op(oldSet).result?.ok).toBe(true);
    w.run(50);

    // A is cut off. About 700 ms later the old heartbeat reaches B, which refuses it (B is at
    // term 2); the refusal reaches A.
    w.net.isolate(A);
    const cutAtMs = w.trueMs;
    w.run(700);
    expect(w.status(B)?.term).toBe(2);
    const refusal = w.deliver(oldHeartbeat!.id);
    expect(refusal?.sent.length).toBe(1);
    const reply = w.pool.envelope(refusal!.sent[0]!);
    expect([reply.type, reply.from, reply.to, reply.term]).toEqual(["append-reply", B, A, 2]);
    w.deliver(reply.id);

    // C wins term 3 with B, which reports no lease left; C acknowledges a SET.
    w.runUntil("C leading term 3", () => w.status(C)?.role === "leader" && w.status(C)?.term === 3, 1500);
    const newSet = w.set(C, "k", "new");
    w.runUntil("SET k=new acknowledged by C", () => w.history.op(newSet).result !== null, 300);
    expect(w.history.op(newSet).result?.ok).toBe(true);
    expect(w.trueMs - cutAtMs).toBeLessThan(1400);

    // A, cut off since cutAtMs, is asked for k.
    w.run(5);
    if (w.status(A)?.role === "leader") w.get(A, "k");
    w.run(1000);

    // The rule: the only acknowledgement A got after it was cut off answered a term-1 request
    // sent before A's reboot; it proves nothing about term 2, so A's lease must have ended
    // within L of its last real acknowledgement, before C could serve or acknowledge anything.
    expect(w.problems()).toEqual([]);
  });
});

describe("known defect: a stale refusal starts an endless probe", () => {
  it("a refusal of an earlier term's request sends no message loop without new input", () => {
    const rho = 1000;
    const w = new World({
      size: 3,
      // A's clock a little slow, B's a little fast: when A's timer fires, B has not heard a leader for longer.
      rates: [rateWithin(rho, -0.5), rateWithin(rho, 0.5), rateWithin(rho, 0)],
      random: jitter({ [A]: 0, [B]: 0.99, [C]: 0.1 }),
    });
    w.runUntil("A leading term 1", () => w.status(A)?.role === "leader" && w.status(A)?.term === 1, 3000);
    w.runUntil("A's NO-OP committed everywhere", () => w.ids.every((id) => w.status(id)?.commitIndex === 1), 1000);
    w.run(10);

    // A pipelines entries 2-6, one batch per write and follower, all at the same instant.
    const batchToB = new Map<number, number>();
    const batchToC = new Map<number, number>();
    for (let index = 2; index <= 6; index++) {
      w.set(A, "k", `v${index}`);
      expect(w.lastSent.length).toBe(2);
      batchToB.set(index - 1, w.lastSentTo(w.lastSent, B));
      batchToC.set(index - 1, w.lastSentTo(w.lastSent, C));
    }
    const toB = (prev: number) => batchToB.get(prev)!;
    const toC = (prev: number) => batchToC.get(prev)!;
    w.net.isolate(A);
    // B and C get entry 2 only; the batch with prev=5 to B is held back; the rest are lost.
    w.deliver(toB(1));
    w.deliver(toC(1));
    w.pool.hold(toB(5));
    for (const prev of [2, 3, 4]) w.drop(toB(prev));
    for (const prev of [2, 3, 4, 5]) w.drop(toC(prev));
    expect(w.disk(B).length).toBe(2);
    expect(w.disk(C).length).toBe(2);

    // C leads term 2; once A hears from it, A's tail (3-6) is truncated.
    w.runUntil("C leading term 2", () => w.status(C)?.role === "leader" && w.status(C)?.term === 2, 3000);
    w.net.healAll();
    w.runUntil("A's log rewritten by C", () => w.disk(A).length === 3 && w.disk(A).entry(3)?.term === 2, 1000);

    // A leads term 3 with B, which matches A's whole log.
    w.net.isolate(C);
    w.runUntil("A leading term 3", () => w.status(A)?.role === "leader" && w.status(A)?.term === 3, 3000);
    w.runUntil("B matching A's log", () => w.status(B)?.commitIndex === 4 && w.status(A)?.commitIndex === 4, 500);
    w.run(50);
    const periodMs = 1000;
    const budget = heartbeatTraffic(w, periodMs);
    expect(w.messagesSentOver(periodMs, budget * 10), "messages in a quiet period before the refusal").toBeLessThanOrEqual(budget);

    // The old term-1 batch (prev=5) reaches B, which refuses it; the refusal reaches A.
    const old = w.pool.envelope(toB(5));
    expect([old.type, old.term]).toEqual(["append-request", 1]);
    const refusal = w.deliver(old.id);
    expect(refusal?.sent.length).toBe(1);

    // The rule: with no new input, the cluster sends heartbeat traffic and nothing more.
    expect(w.messagesSentOver(periodMs, budget * 10), `messages in a ${periodMs} ms quiet period after the refusal`).toBeLessThanOrEqual(budget);
    expect(w.problems()).toEqual([]);
  });
});
