// Replies that answer something else: a request of an earlier term, or of a previous life of the
// same node (whose clock started over at a reboot). A leader must interpret only replies to the
// requests of its own leadership; anything else is dropped, never clamped into range.

import { describe, expect, it } from "vitest";
import { TIMING_FAST, type Message, type Mutation } from "../../src/raft/index.js";
import { get, set } from "./support/cluster.js";
import { World } from "./support/world.js";

/** Election timeouts of 1000-1010 ms, so that who times out when is fixed by the schedule. */
const TIMING = { ...TIMING_FAST, electionTimeoutMaxMs: 1010 };

/** Runs node id as the only ticking node until it leads, with everything delivered. */
function electAlone(w: World, id: number): void {
  w.tickWhenDue(id);
  w.settle();
  expect(w.node(id).status().role).toBe("leader");
}

describe("a reply names the request it answers", () => {
  it("a reply to a previous life's heartbeat never renews the lease, so no stale read follows", () => {
    const w = new World(3, {}, TIMING);
    w.boot(0, 100_000); // A: a machine up for a while
    w.boot(1, 40_000); // B
    w.boot(2, 70_000); // C
    electAlone(w, 0);
    w.runUntil(w.trueMs + 1_500);
    // One of A's heartbeats to B is held back on the wire.
    w.runUntil(w.trueMs + 100, () => false);
    w.tickWhenDue(0);
    const ghost = w.take((m) => m.type === "append-request" && m.to === 1);
    w.settle();
    // A crashes; its machine reboots, so its monotonic clock starts over near zero. It wins term 2.
    w.crash(0);
    w.advance(50);
    w.boot(0, 10);
    electAlone(w, 0);
    expect(w.node(0).status().term).toBe(2);
    w.runUntil(w.trueMs + 1_200);
    const write = w.client(0, set("x", "old"));
    w.settle();
    expect(w.replyFor(write)?.result).toEqual({ ok: true, value: "" });
    expect(w.node(0).status(w.clock(0)).leaseReadable).toBe(true);

    // A is cut off: nothing it sends arrives, and only B's answers to appends reach it.
    const cut = (m: Message) => m.from === 0 || (m.to === 0 && m.type !== "append-reply");
    const cutAtMs = w.trueMs;
    w.runUntil(cutAtMs + 780, cut);
    expect(w.node(0).status().role).toBe("leader");
    const leftBeforeMs = w.node(0).status(w.clock(0)).leaseRemainingMs;
    // The old heartbeat (term 1, sent at A's old clock reading) reaches B, which refuses it; the
    // refusal reaches A.
    w.deliver(ghost);
    const refusal = w.take((m) => m.type === "append-reply" && m.to === 0);
    w.deliver(refusal);
    expect(w.node(0).status(w.clock(0)).leaseRemainingMs).toBeLessThanOrEqual(leftBeforeMs);

    // B or C wins term 3 (B remembers no lease from A beyond its last real heartbeat) and takes a write.
    w.runUntil(cutAtMs + 1_100, cut);
    const next = [1, 2].find((id) => w.node(id).status().role === "leader");
    expect(next, "a new leader within the election timeout").toBeDefined();
    w.runUntil(cutAtMs + 1_150, cut);
    const newer = w.client(next!, set("x", "new"));
    w.settle(cut);
    expect(w.replyFor(newer)?.result).toEqual({ ok: true, value: "" });
    // A must not serve the old value now.
    const read = w.client(0, get("x"));
    expect(w.replyFor(read)?.result).not.toEqual({ ok: true, value: "old" });
    const bothReadable = w.node(0).status(w.clock(0)).leaseReadable && w.node(next!).status(w.clock(next!)).leaseReadable;
    expect(bothReadable, "two lease holders at once").toBe(false);
  });

  for (const mutation of [null, "reply-current-term"] as (Mutation | null)[]) {
    const how = mutation === null ? "" : " (and a probe ends once its own prev is acknowledged, even when replies are taken on term alone)";
    it(`a refusal of an earlier term's batch starts no endless probing${how}`, () => {
      const w = new World(3, { batchCountMax: 1, mutation }, TIMING);
      for (const id of [0, 1, 2]) w.boot(id, 0);
      electAlone(w, 0); // A leads term 1; its NO-OP is index 1 everywhere
      // A pipelines entries 2-6, one per batch; all are lost but the batch with prev 5 to B, held back.
      for (let i = 2; i <= 6; i++) w.client(0, set(`k${i}`, `v${i}`));
      const old = w.take((m) => m.type === "append-request" && m.to === 1 && m.prevLogIndex === 5);
      w.settle((m) => m.from === 0);
      // C leads term 2 (B votes for it); its NO-OP truncates A's tail. Then A leads term 3, with
      // a log of length 3 that B holds in full.
      electAlone(w, 2);
      electAlone(w, 0);
      w.settle();
      expect(w.node(0).status()).toMatchObject({ term: 3, lastLogIndex: 3, commitIndex: 3 });
      // The old batch reaches B, which refuses it; then nothing new happens: the messages must stop.
      w.deliver(old);
      const delivered = w.settle(() => false, 200);
      expect(w.wire, "messages still flowing with no new input").toHaveLength(0);
      expect(delivered).toBeLessThan(10);
    });
  }
});
