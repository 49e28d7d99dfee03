import { describe, expect, it } from "vitest";
import { TestCluster, set, get } from "./support/cluster.js";

describe("smoke", () => {
  it("elects, writes and reads", () => {
    const c = new TestCluster(3);
    const leader = c.elect(0);
    expect(leader.role).toBe("leader");
    c.nowMs += leader.wakeAtMs() - c.nowMs;
    c.tick(0); c.deliverAll();
    const w = c.client(0, set("a", "1"));
    c.deliverAll();
    c.nowMs = Math.max(c.nowMs, leader.leader!.lease.oldLeaseWaitUntilMs);
    c.tick(0); c.deliverAll();
    expect(c.replyFor(w)?.result).toEqual({ ok: true, value: "" });
    const r = c.client(0, get("a"));
    expect(c.replyFor(r)?.result).toEqual({ ok: true, value: "1" });
    expect(c.node(1).kv.get("a")).toBe("1");
  });
});
