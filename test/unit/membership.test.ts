// Membership changes and leadership transfer in the core: learners, promotion, removal (the
// leader's too), one change at a time, TimeoutNow and the lease handed over.

import { describe, expect, it } from "vitest";
import { logIndex, nodeId, term, TIMING_FAST, type Entry, type Member, type Message, type PersistedState } from "../../src/raft/index.js";
import { get, persistedWith, set, startNode, TestCluster } from "./support/cluster.js";

const voters = (...ids: number[]) => ids.map((i) => nodeId(i));
const idsOf = (members: readonly Member[], role: Member["role"]) => members.filter((m) => m.role === role).map((m) => m.id);
const to = (...ids: number[]) => (m: Message): boolean => ids.includes(m.to);

/** A 3-node cluster with node 0 leading and its NO-OP committed. */
function cluster(): TestCluster {
  const c = new TestCluster(3);
  c.elect(0);
  c.deliverAll();
  return c;
}

describe("membership changes", () => {
  it("a member joins as a learner, is answered once that commits, and is promoted once caught up", () => {
    const c = cluster();
    c.join(3);
    const rid = c.admin(0, { kind: "add-member", id: nodeId(3), address: "h3:1" });
    expect(idsOf(c.node(0).status().members, "learner")).toEqual(voters(3));
    c.deliverAll();
    c.tick(0, c.nowMs + TIMING_FAST.heartbeatMs);
    c.deliverAll();
    expect(c.replyFor(rid)?.result).toEqual({ ok: true, value: "" });
    const members = c.node(0).status().members;
    expect(idsOf(members, "voter")).toEqual(voters(0, 1, 2, 3));
    for (const id of [1, 2, 3]) expect(c.node(id).status().members).toEqual(members);
    expect(c.events(3)).toContain("config-changed");
    expect(c.node(3).status().commitIndex).toBe(c.node(0).status().commitIndex);
  });

  it("learners count for nothing: with only a learner's acknowledgement nothing commits", () => {
    const c = cluster();
    c.join(3);
    c.admin(0, { kind: "add-member", id: nodeId(3), address: "" });
    c.deliverAll(to(1, 2)); // the learner's config entry cannot commit without a voter
    const before = c.node(0).status().commitIndex;
    c.client(0, set("k", "v"));
    c.deliverAll(to(1, 2));
    expect(c.node(0).status().commitIndex).toBe(before);
    expect(idsOf(c.node(0).status().members, "learner")).toEqual(voters(3));
  });

  it("the learner-in-quorum mutation commits on a learner's acknowledgement alone (its negative control)", () => {
    const c = new TestCluster(3, { mutation: "learner-in-quorum" });
    c.elect(0);
    c.deliverAll();
    c.join(3);
    c.admin(0, { kind: "add-member", id: nodeId(3), address: "" });
    const before = c.node(0).status().commitIndex;
    c.deliverAll(to(1, 2));
    expect(c.node(0).status().commitIndex).toBeGreaterThan(before);
  });

  it("one change at a time: a second change waits for the first to commit", () => {
    const c = cluster();
    c.join(3);
    c.admin(0, { kind: "add-member", id: nodeId(3), address: "" });
    const second = c.admin(0, { kind: "remove-member", id: nodeId(2) });
    expect(c.replyFor(second)?.result).toMatchObject({ ok: false, code: "overloaded" });
    const again = c.admin(0, { kind: "add-member", id: nodeId(1), address: "" });
    expect(c.replyFor(again)?.result).toMatchObject({ ok: false, code: "invalid", message: expect.stringContaining("already a voter") });
  });

  // It may still stand (its removal is not committed as far as it knows, and until then it may be
  // needed: the thesis, 4.1), but it disturbs nobody: voters that hear from a leader refuse it.
  it("a removed follower learns of it, says so, and disturbs nobody", () => {
    const c = cluster();
    const rid = c.admin(0, { kind: "remove-member", id: nodeId(2) });
    c.deliverAll();
    c.tick(0, c.nowMs + TIMING_FAST.heartbeatMs);
    c.deliverAll();
    expect(c.replyFor(rid)?.result.ok).toBe(true);
    expect(idsOf(c.node(1).status().members, "voter")).toEqual(voters(0, 1));
    expect(c.events(2)).toContain("removed-from-cluster");
    const term = c.node(0).status().term;
    c.tick(2, c.nowMs + TIMING_FAST.electionTimeoutMaxMs * 3);
    c.deliverAll();
    expect(c.node(0).status()).toMatchObject({ role: "leader", term });
    expect(c.node(2).status().role).not.toBe("leader");
  });

  it("a truncated configuration entry gives the node its previous configuration back", () => {
    const entries: Entry[] = [
      { term: term(1), command: { kind: "noop" } },
      { term: term(1), command: { kind: "config", members: voters(0, 1).map((id) => ({ id, address: "", role: "voter" as const })) } },
    ];
    const n = startNode(1, 3, persistedWith(entries, 1, 1));
    expect(idsOf(n.status().members, "voter")).toEqual(voters(0, 1));
    n.step({
      type: "message",
      nowMs: 10,
      message: { type: "append-request", from: nodeId(0), to: nodeId(1), term: term(2), prevLogIndex: logIndex(1), prevLogTerm: term(1), entries: [{ term: term(2), command: { kind: "noop" } }], leaderCommit: logIndex(1), lease: { leaseMs: TIMING_FAST.leaseMs, driftPpmMax: TIMING_FAST.driftPpmMax }, leaderSendMs: 5 },
    });
    expect(idsOf(n.status().members, "voter")).toEqual(voters(0, 1, 2));
  });

  it("the stored configuration wins over the initial members at restart", () => {
    const members = [0, 1, 2, 3].map((id) => ({ id: nodeId(id), address: `h${id}:1`, role: "voter" as const }));
    const persisted: PersistedState = persistedWith([{ term: term(1), command: { kind: "config", members } }], 1, 1);
    expect(startNode(1, 3, persisted).status().members).toEqual(members);
  });
});

describe("the leader's removal and leadership transfer", () => {
  it("a removed leader leads until the removal commits, then hands over without an election timeout or lease wait", () => {
    const c = cluster();
    c.admin(0, { kind: "remove-member", id: nodeId(0) });
    c.deliverAll();
    expect(c.events(0)).toContain("timeout-now-sent");
    expect(c.node(0).status().role).toBe("follower");
    const leader = [1, 2].find((id) => c.node(id).status().role === "leader");
    expect(leader).toBeDefined();
    expect(c.events(leader!)).not.toContain("election-timeout");
    expect(c.node(leader!).inspect().oldLeaseWaitUntilMs).toBe(c.nowMs); // no wait: the lease was handed over
    expect(idsOf(c.node(leader!).status().members, "voter")).toEqual(voters(1, 2));
  });

  it("a transfer refuses writes, sends TimeoutNow once the target is caught up, and the old leader stops reading at once", () => {
    const c = cluster();
    c.client(0, set("a", "1"));
    const rid = c.admin(0, { kind: "transfer-leader", to: nodeId(2) });
    const w = c.client(0, set("b", "2"));
    expect(c.replyFor(w)?.result).toMatchObject({ ok: false, code: "not-leader", leaderHint: 2 });
    expect(c.events(0)).not.toContain("timeout-now-sent"); // node 2 lacks SET a 1 still
    const readable = c.node(0).leaseReadable(c.nowMs);
    c.deliverAll((m) => m.type === "timeout-now");
    expect(c.events(0)).toContain("timeout-now-sent");
    expect(readable).toBe(true);
    expect(c.node(0).leaseReadable(c.nowMs)).toBe(false);
    expect(c.replyFor(rid)?.result).toEqual({ ok: true, value: "2" });
    const r = c.client(0, get("a"));
    expect(c.replyFor(r)?.result).toMatchObject({ ok: false, code: "not-leader", leaderHint: 2 });
  });

  it("the target stands at once and serves without waiting for the handed-over lease", () => {
    const c = cluster();
    c.admin(0, { kind: "transfer-leader", to: nodeId(1) });
    c.deliverAll();
    expect(c.node(1).status().role).toBe("leader");
    expect(c.events(1)).toContain("timeout-now-received");
    expect(c.events(1)).not.toContain("election-timeout");
    expect(c.node(1).inspect().oldLeaseWaitUntilMs).toBe(c.nowMs);
    expect(c.node(1).leaseReadable(c.nowMs)).toBe(true);
    expect(c.node(0).status().role).toBe("follower");
  });

  it("the transfer-keeps-lease mutation reads after TimeoutNow (its negative control)", () => {
    const c = new TestCluster(3, { mutation: "transfer-keeps-lease" });
    c.elect(0);
    c.deliverAll();
    c.admin(0, { kind: "transfer-leader", to: nodeId(1) });
    c.deliverAll((m) => m.type === "timeout-now");
    expect(c.events(0)).toContain("timeout-now-sent");
    expect(c.node(0).leaseReadable(c.nowMs)).toBe(true);
  });

  it("a transfer to a target that never catches up is given up at the deadline, and writes resume", () => {
    const c = cluster();
    c.client(0, set("a", "1"));
    const rid = c.admin(0, { kind: "transfer-leader", to: nodeId(2) });
    const deadline = c.nowMs + TIMING_FAST.electionTimeoutMinMs;
    while (c.nowMs <= deadline) {
      c.deliverAll(to(2));
      c.tick(0, c.nowMs + TIMING_FAST.heartbeatMs);
    }
    expect(c.events(0)).toContain("transfer-failed");
    expect(c.replyFor(rid)?.result).toMatchObject({ ok: false, code: "stepped-down" });
    expect(c.node(0).status().role).toBe("leader");
    const w = c.client(0, set("b", "2"));
    c.deliverAll(to(2));
    expect(c.replyFor(w)?.result.ok).toBe(true);
  });

  it("a snapshot carries the configuration as of its index, and installing it adopts it", () => {
    const c = new TestCluster(3, { overrides: { snapshotEveryEntries: 4, snapshotKeepEntries: 0 } });
    c.elect(0);
    c.deliverAll();
    c.admin(0, { kind: "remove-member", id: nodeId(2) });
    c.deliverAll();
    for (let i = 0; i < 4; i++) c.client(0, set(`k${i}`, "v"));
    c.deliverAll();
    const s = c.outputs.map((o) => o.output.saveSnapshot).filter((x) => x !== null).at(-1)!;
    expect(idsOf(s.members, "voter")).toEqual(voters(0, 1));
  });
});
