import { describe, expect, it } from "vitest";
import { KvStore } from "../../src/raft/kv.js";
import { get, set, TestCluster } from "./support/cluster.js";

const setCmd = (key: string, value: string, clientId = "", sequence = 0) => ({ kind: "set" as const, key, value, clientId, sequence });

describe("state machine (SETs only, unset keys read empty, exactly-once)", () => {
  it("GET of a key that was never set returns the empty string", () => {
    expect(new KvStore(10).get("never")).toBe("");
  });

  it("SET stores strings that GET returns, the last write winning", () => {
    const kv = new KvStore(10);
    kv.apply(setCmd("k", "1"));
    kv.apply(setCmd("k", "two words"));
    expect(kv.get("k")).toBe("two words");
  });

  it("a retried SET with the same client id and sequence is applied once", () => {
    const kv = new KvStore(10);
    expect(kv.apply(setCmd("k", "a", "c1", 1))).toBe("applied");
    expect(kv.apply(setCmd("k", "b", "c1", 2))).toBe("applied");
    expect(kv.apply(setCmd("k", "a", "c1", 1))).toBe("duplicate"); // a late retry of sequence 1
    expect(kv.get("k")).toBe("b");
  });

  it("the session table forgets the least recently used client beyond its bound", () => {
    const kv = new KvStore(2);
    kv.apply(setCmd("k", "1", "a", 1));
    kv.apply(setCmd("k", "2", "b", 1));
    kv.apply(setCmd("k", "3", "a", 2)); // a is now the most recent
    kv.apply(setCmd("k", "4", "c", 1)); // evicts b
    expect(kv.apply(setCmd("k", "5", "a", 2))).toBe("duplicate");
    expect(kv.apply(setCmd("k", "6", "b", 1))).toBe("applied"); // b was forgotten
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
    expect(c.node(2).kv.get("k")).toBe("v2");
  });

  it("oversized keys and values are refused as invalid, and the node keeps working", () => {
    const c = new TestCluster(1);
    c.elect(0);
    const big = c.client(0, set("k", "x".repeat(64 * 1024 + 1)));
    const empty = c.client(0, get(""));
    expect(c.replyFor(big)?.result).toMatchObject({ ok: false, code: "invalid" });
    expect(c.replyFor(empty)?.result).toMatchObject({ ok: false, code: "invalid" });
    expect(c.node(0).role).toBe("leader");
  });

  it("pending requests are bounded: beyond pendingCountMax the client is told to retry later", () => {
    const c = new TestCluster(3, { overrides: { pendingCountMax: 2 } });
    c.elect(0, (m) => m.type === "append-request"); // appends are lost: writes stay pending
    const rs = [c.client(0, set("a", "1")), c.client(0, set("b", "1")), c.client(0, set("c", "1"))];
    expect(c.replyFor(rs[2]!)?.result).toMatchObject({ ok: false, code: "overloaded" });
  });
});
