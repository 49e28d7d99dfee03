// A node removed by a configuration entry that is not committed is still a voter of the committed
// configuration, and may be needed to elect a leader until the change commits (Raft thesis, 4.2.2).
// Found by the simulator: raft-sim run --seed 254 --scenario membership (no leader ever again
// after the quiet period: the leader of voters {3,4} appended its own removal, lost its lease and
// stepped down; node 3 could not win without node 4's vote, which node 4 denied since its log was
// longer, and node 4 never stood since it was no voter of its newest configuration).
// And (thesis 4.2.3, disruptive servers): a removed node that never heard of its removal times
// out and stands in ever higher terms; without PreVote its vote requests deposed every leader.
// Found by raft-sim run --seed 381 --scenario swarm (PreVote off; removed nodes 1, 3 and 4 kept
// the cluster leaderless after the quiet period).

import { describe, expect, it } from "vitest";
import { logIndex, nodeId, requestId, term, type Entry } from "../../src/raft/index.js";
import { persistedWith, startNode, TestCluster } from "./support/cluster.js";
import { appendReq, noop, voteReq } from "./support/msg.js";

const config = (t: number, voters: readonly number[]): Entry => ({
  term: term(t),
  command: { kind: "config", members: voters.map((id) => ({ id: nodeId(id), address: "", role: "voter" as const })) },
});

describe("elections while a configuration change is not committed", () => {
  it("a node that its own uncommitted entry removes still stands, as a voter of the committed configuration", () => {
    // voters {0,1} committed at entry 2; entry 3 (not committed) removes node 1 itself
    const n = startNode(1, 2, persistedWith([noop(1), config(1, [0, 1]), config(1, [0])], 1, 2));
    const out = n.step({ type: "tick", nowMs: 60_000 });
    expect(out.events.map((e) => e.kind)).toContain("election-timeout");
    expect(out.messages.filter((m) => m.type === "vote-request").map((m) => m.to)).toEqual([0]);
  });

  it("a node whose removal is committed never stands", () => {
    const n = startNode(1, 2, persistedWith([noop(1), config(1, [0, 1]), config(1, [0])], 1, 3));
    const out = n.step({ type: "tick", nowMs: 60_000 });
    expect(out.events.map((e) => e.kind)).not.toContain("election-timeout");
    expect(out.messages.filter((m) => m.type === "vote-request")).toEqual([]);
  });
});

describe("a removed node that does not know it (thesis 4.2.3, disruptive servers)", () => {
  it("cannot depose a leader with a vote request of a higher term, PreVote off", () => {
    const c = new TestCluster(2, { preVote: false });
    const leader = c.elect(0);
    const out = leader.step({ type: "message", nowMs: c.nowMs + 1, message: voteReq({ from: 2, to: 0, term: 9, lastLogIndex: 50, lastLogTerm: 8 }) });
    expect(leader.inspect().role).toBe("leader");
    expect(leader.inspect().term).toBe(1);
    expect(out.messages.filter((m) => m.type === "vote-reply")).toEqual([]);
  });

  it("a member's vote request of a higher term still deposes the leader", () => {
    const c = new TestCluster(3, { preVote: false });
    const leader = c.elect(0);
    leader.step({ type: "message", nowMs: c.nowMs + 1, message: voteReq({ from: 2, to: 0, term: 9, lastLogIndex: 50, lastLogTerm: 8 }) });
    expect(leader.inspect().role).toBe("follower");
    expect(leader.inspect().term).toBe(9);
  });
});

describe("a removed node answering clients", () => {
  // Found by raft-sim run --seed 230 --scenario swarm: two removed nodes still running sent a
  // client back and forth (node 2: "try node 1", node 1: "no leader is known") past its deadline.
  it("names no leader: who it last heard lead is stale news", () => {
    const n = startNode(1, 2, persistedWith([noop(1), config(1, [0, 1]), config(1, [0])], 1, 3));
    n.step({ type: "message", nowMs: 1, message: appendReq({ from: 0, to: 1, term: 1, prevLogIndex: logIndex(3), prevLogTerm: term(1), leaderCommit: logIndex(3) }) });
    expect(n.status().leaderId).toBe(0);
    const out = n.step({ type: "client", nowMs: 2, calls: [{ requestId: requestId(1), request: { kind: "get", key: "k" } }] });
    expect(out.replies[0]!.result).toMatchObject({ ok: false, code: "not-leader", leaderHint: null });
  });
});
