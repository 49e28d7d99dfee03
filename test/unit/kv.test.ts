import fc from "fast-check";
import seedrandom from "seedrandom";
import { describe, expect, it } from "vitest";
import { Session } from "../../src/client/retry.js";
import { SESSION_WINDOW_MAX } from "../../src/raft/index.js";
import { get, set, TestCluster } from "./support/cluster.js";

/** A one-node cluster: every SET commits at once, and the state machine is read through the node's view. */
function single(sessionCountMax = 10) {
  const c = new TestCluster(1, { overrides: { sessionCountMax } });
  c.elect(0);
  const apply = (key: string, value: string, clientId = "", sequence = 0, firstUnanswered = sequence) =>
    c.replyFor(c.client(0, set(key, value, clientId, sequence, firstUnanswered)))?.result;
  return { c, apply, value: (key: string) => c.node(0).inspect().valueOf(key) };
}

describe("state machine (SETs only, unset keys read empty, exactly-once)", () => {
  it("GET of a key that was never set returns the empty string", () => {
    const { c } = single();
    c.nowMs = c.node(0).inspect().oldLeaseWaitUntilMs!;
    expect(c.replyFor(c.client(0, get("never")))?.result).toEqual({ ok: true, value: "" });
  });

  it("SET stores strings that GET returns, the last write winning", () => {
    const { apply, value } = single();
    apply("k", "1");
    apply("k", "two words");
    expect(value("k")).toBe("two words");
  });

  it("a retried SET with the same client id and sequence is applied once", () => {
    const { apply, value } = single();
    apply("k", "a", "c1", 1);
    apply("k", "b", "c1", 2);
    expect(apply("k", "a", "c1", 1)).toEqual({ ok: true, value: "" }); // a late retry of sequence 1 succeeds...
    expect(value("k")).toBe("b"); // ...without being applied again
  });

  it("the session table forgets the least recently used client beyond its bound", () => {
    const { apply, value } = single(2);
    apply("k", "1", "a", 1);
    apply("k", "2", "b", 1);
    apply("k", "3", "a", 2); // a is now the most recent
    apply("k", "4", "c", 1); // evicts b
    apply("k", "5", "a", 2);
    expect(value("k")).toBe("4"); // a's retry was a duplicate
    apply("k", "6", "b", 1);
    expect(value("k")).toBe("6"); // b was forgotten, so its retry applied again
  });

  it("a pipelining client's SETs, delivered out of order and retried, are each applied exactly once", () => {
    // One client id, up to 64 SETs outstanding. The network holds copies of them, delivers them in
    // random order, loses answers (the client retries, stamped with its first unanswered sequence
    // as it is then) and duplicates copies (a late copy still carries its old stamp).
    const { apply, value } = single();
    const rng = seedrandom("pipelining");
    const count = 2_000;
    const session = new Session("pipe");
    const outstanding = new Set<number>();
    const network: { sequence: number; firstUnanswered: number }[] = [];
    const applied = new Map<number, number>();
    let sent = 0;
    let deliveries = 0;
    let retries = 0;
    let mostOutstanding = 0;
    while (sent < count || network.length > 0) {
      if (sent < count && outstanding.size < 64 && (network.length === 0 || rng() < 0.5)) {
        const s = session.stampSet({ kind: "set", key: "x", value: "", clientId: "", sequence: 0, firstUnanswered: 0 });
        outstanding.add(s.sequence);
        network.push({ sequence: s.sequence, firstUnanswered: s.firstUnanswered });
        sent++;
        mostOutstanding = Math.max(mostOutstanding, outstanding.size);
        continue;
      }
      const [copy] = network.splice(Math.floor(rng() * network.length), 1);
      const { sequence, firstUnanswered } = copy!;
      if (rng() < 0.1) network.push(copy!); // duplicated on the way: a late copy comes later
      apply("x", "marker"); // no session: always applied, so "x" tells whether the SET below was
      expect(apply("x", `v${sequence}`, "pipe", sequence, firstUnanswered)).toEqual({ ok: true, value: "" });
      deliveries++;
      if (value("x") === `v${sequence}`) applied.set(sequence, (applied.get(sequence) ?? 0) + 1);
      if (!outstanding.has(sequence)) continue; // an answer the client no longer waits for
      if (rng() < 0.25) {
        retries++;
        network.push({ sequence, firstUnanswered: session.firstUnanswered }); // the answer was lost: retry
      } else {
        outstanding.delete(sequence);
        session.done(sequence);
      }
    }
    expect(mostOutstanding).toBe(64);
    expect(retries).toBeGreaterThan(count / 10);
    expect(deliveries).toBeGreaterThan(count + retries);
    const wrong = [...Array(count).keys()].map((i) => i + 1).filter((q) => applied.get(q) !== 1);
    expect(wrong.map((q) => `sequence ${q} applied ${applied.get(q) ?? 0} times`).slice(0, 5), `${wrong.length} of ${count} SETs not applied exactly once`).toEqual([]);
  });

  it("a client with one SET at a time (firstUnanswered = sequence) keeps the rule before windows: a sequence at or below the highest applied one is a duplicate", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 30 }), (sequences) => {
        const { apply, value } = single();
        let highest = 0;
        for (const q of sequences) {
          apply("x", "marker");
          apply("x", `v${q}`, "old", q);
          expect(value("x") === `v${q}`, `sequence ${q} after ${highest}`).toBe(q > highest);
          highest = Math.max(highest, q);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("a SET below its session's bound, or among the sequences applied at or above it, is a duplicate; the bound only rises", () => {
    const { apply, value } = single();
    const applies = (q: number, first: number): boolean => {
      apply("x", "marker");
      apply("x", `v${q}`, "w", q, first);
      return value("x") === `v${q}`;
    };
    expect(applies(5, 1)).toBe(true);
    expect(applies(3, 1)).toBe(true); // below 5 but above the bound 1 and never applied
    expect(applies(5, 1)).toBe(false); // in the set
    expect(applies(4, 4)).toBe(true); // raises the bound to 4: 3 is forgotten, 5 kept
    expect(applies(3, 3)).toBe(false); // below the bound
    expect(applies(5, 2)).toBe(false); // still remembered; its stale stamp lowers nothing
    expect(applies(6, 2)).toBe(true);
    expect(applies(2, 2)).toBe(false); // the bound stayed 4
  });

  it("a session's window is bounded: a SET 4096 or more past its first unanswered sequence is refused as invalid, saying why", () => {
    const { apply } = single();
    expect(apply("k", "v", "c", SESSION_WINDOW_MAX, 1)).toEqual({ ok: true, value: "" });
    expect(apply("k", "v", "c", SESSION_WINDOW_MAX + 1, 1)).toMatchObject({ ok: false, code: "invalid", message: expect.stringMatching(/at most 4096 SETs outstanding/) });
    expect(apply("k", "v", "c", 5, 6)).toMatchObject({ ok: false, code: "invalid", message: expect.stringMatching(/first unanswered sequence 6 is above the SET's own sequence 5/) });
    expect(apply("k", "v", "c", 5, 0)).toMatchObject({ ok: false, code: "invalid", message: expect.stringMatching(/first unanswered sequence of 1 or more/) });
    expect(apply("k", "v", "", 0, 3)).toMatchObject({ ok: false, code: "invalid", message: expect.stringMatching(/needs a client id/) });
  });

  it("the client's Session stamps the lowest sequence not yet done, and is full at 4096 outstanding", () => {
    const s = new Session("c");
    const stamp = () => s.stampSet({ kind: "set", key: "k", value: "v", clientId: "", sequence: 0, firstUnanswered: 0 });
    expect(stamp()).toMatchObject({ clientId: "c", sequence: 1, firstUnanswered: 1 });
    expect(stamp()).toMatchObject({ sequence: 2, firstUnanswered: 1 });
    expect(stamp()).toMatchObject({ sequence: 3, firstUnanswered: 1 });
    s.done(2);
    expect(stamp()).toMatchObject({ sequence: 4, firstUnanswered: 1 });
    s.done(1);
    expect(s.firstUnanswered).toBe(3);
    s.done(3);
    s.done(4);
    expect(stamp()).toMatchObject({ sequence: 5, firstUnanswered: 5 });
    for (let i = 0; i < SESSION_WINDOW_MAX - 1; i++) stamp();
    expect(s.full).toBe(true);
    s.done(5);
    expect(s.full).toBe(false);
  });

  it("a SET retried through the cluster is applied once and both attempts succeed", () => {
    const c = new TestCluster(3, { mutation: "no-lease-wait" });
    c.elect(0);
    c.deliverAll();
    const first = c.client(0, set("k", "v1", "client-1", 1));
    c.deliverAll();
    const overwrite = c.client(0, set("k", "v2", "client-2", 1));
    c.deliverAll();
    const retry = c.client(0, set("k", "v1", "client-1", 1));
    c.deliverAll();
    for (const r of [first, overwrite, retry]) expect(c.replyFor(r)?.result).toEqual({ ok: true, value: "" });
    const read = c.client(0, get("k"));
    c.deliverAll();
    expect(c.replyFor(read)?.result).toEqual({ ok: true, value: "v2" });
    expect(c.node(2).inspect().valueOf("k")).toBe("v2");
  });

  it("oversized keys and values are refused as invalid, and the node keeps working", () => {
    const c = new TestCluster(1);
    c.elect(0);
    const big = c.client(0, set("k", "x".repeat(64 * 1024 + 1)));
    const empty = c.client(0, get(""));
    expect(c.replyFor(big)?.result).toMatchObject({ ok: false, code: "invalid" });
    expect(c.replyFor(empty)?.result).toMatchObject({ ok: false, code: "invalid" });
    expect(c.node(0).inspect().role).toBe("leader");
  });

  it("pending requests are bounded: beyond pendingCountMax the client is told to retry later", () => {
    const c = new TestCluster(3, { overrides: { pendingCountMax: 2 } });
    c.elect(0, (m) => m.type === "append-request"); // appends are lost: writes stay pending
    const rs = [c.client(0, set("a", "1")), c.client(0, set("b", "1")), c.client(0, set("c", "1"))];
    expect(c.replyFor(rs[2]!)?.result).toMatchObject({ ok: false, code: "overloaded" });
  });
});
