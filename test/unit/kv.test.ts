import { describe, expect, it } from "vitest";
import { get, set, TestCluster } from "./support/cluster.js";

/** A one-node cluster: every SET commits at once, and the state machine is read through the node's view. */
function single(sessionCountMax = 10) {
  const c = new TestCluster(1, { overrides: { sessionCountMax } });
  c.elect(0);
  const apply = (key: string, value: string, clientId = "", sequence = 0) => c.replyFor(c.client(0, set(key, value, clientId, sequence)))?.result;
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
