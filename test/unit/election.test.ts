import { describe, expect, it } from "vitest";
import { TIMING_FAST, nodeId, type Message, type VoteReply } from "../../src/raft/index.js";
import { persistedWith, startNode, TestCluster } from "./support/cluster.js";
import { appendReq, noop, voteReq } from "./support/msg.js";

const votesIn = (ms: readonly Message[]) => ms.filter((m): m is VoteReply => m.type === "vote-reply");

describe("elections (Raft §5.2, §5.4.1) and PreVote", () => {
  it("a node that sees a higher term adopts it, forgets its vote and becomes a follower", () => {
    const c = new TestCluster(3);
    const leader = c.elect(0);
    expect(leader.inspect().role).toBe("leader");
    expect(leader.inspect().term).toBe(1);
    const out = leader.step({ type: "message", nowMs: c.nowMs, message: appendReq({ from: 1, to: 0, term: 6 }) });
    expect(leader.inspect().role).toBe("follower");
    expect(leader.status().term).toBe(6);
    expect(leader.status().votedFor).toBeNull();
    expect(out.hardStateMustSync).toBe(true);
    expect(out.events.map((e) => e.kind)).toContain("stepping-down");
  });

  it("a vote request from a stale term is denied and answered with the current term", () => {
    const n = startNode(0, 3, persistedWith([], 4));
    const out = n.step({ type: "message", nowMs: 1, message: voteReq({ from: 1, to: 0, term: 3 }) });
    const [reply] = votesIn(out.messages);
    expect(reply).toMatchObject({ granted: false, term: 4 });
    expect(out.events).toContainEqual({ kind: "vote-denied", nodeId: 0, candidateId: 1, term: 3 });
  });

  it("a follower votes at most once per term", () => {
    const n = startNode(0, 3);
    const first = n.step({ type: "message", nowMs: 1, message: voteReq({ from: 1, to: 0, term: 1 }) });
    const second = n.step({ type: "message", nowMs: 2, message: voteReq({ from: 2, to: 0, term: 1 }) });
    expect(votesIn(first.messages)[0]!.granted).toBe(true);
    expect(votesIn(second.messages)[0]!.granted).toBe(false);
    expect(n.status().votedFor).toBe(1);
    // Asking again for the same candidate is fine (a retransmission).
    const again = n.step({ type: "message", nowMs: 3, message: voteReq({ from: 1, to: 0, term: 1 }) });
    expect(votesIn(again.messages)[0]!.granted).toBe(true);
  });

  it("a granted vote is in the hard state that must be durable before the reply leaves", () => {
    const n = startNode(0, 3);
    const out = n.step({ type: "message", nowMs: 1, message: voteReq({ from: 1, to: 0, term: 1 }) });
    expect(out.hardStateMustSync).toBe(true);
    expect(out.hardState).toEqual({ currentTerm: 1, votedFor: 1, commitIndex: 0 });
  });

  it("a vote is denied to a candidate whose log is less up to date", () => {
    const n = startNode(0, 3, persistedWith([noop(1), noop(2)], 2));
    const olderTerm = n.step({ type: "message", nowMs: 1, message: voteReq({ from: 1, to: 0, term: 3, lastLogIndex: 5, lastLogTerm: 1 }) });
    expect(votesIn(olderTerm.messages)[0]!.granted).toBe(false);
    const shorter = n.step({ type: "message", nowMs: 2, message: voteReq({ from: 2, to: 0, term: 3, lastLogIndex: 1, lastLogTerm: 2 }) });
    expect(votesIn(shorter.messages)[0]!.granted).toBe(false);
    const equal = n.step({ type: "message", nowMs: 3, message: voteReq({ from: 2, to: 0, term: 3, lastLogIndex: 2, lastLogTerm: 2 }) });
    expect(votesIn(equal.messages)[0]!.granted).toBe(true);
  });

  it("the election timeout is drawn from the seeded PRNG within the configured range", () => {
    const deadlines = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const n = startNode(i % 3, 3, undefined, 0, { overrides: {} });
      expect(n.inspect().electionDeadlineMs).toBeGreaterThanOrEqual(TIMING_FAST.electionTimeoutMinMs);
      expect(n.inspect().electionDeadlineMs).toBeLessThanOrEqual(TIMING_FAST.electionTimeoutMaxMs);
      deadlines.add(n.inspect().electionDeadlineMs);
    }
    // Three seeds (one per node id) give three distinct, repeatable deadlines.
    expect(deadlines.size).toBe(3);
  });

  it("an expired election timer starts a pre-vote that changes no term", () => {
    const n = startNode(0, 3);
    const out = n.step({ type: "tick", nowMs: n.inspect().electionDeadlineMs });
    expect(out.events).toContainEqual({ kind: "election-timeout", nodeId: 0 });
    expect(n.inspect().role).toBe("candidate");
    expect(n.inspect().term).toBe(0);
    const requests = out.messages.filter((m) => m.type === "vote-request");
    expect(requests).toHaveLength(2);
    expect(requests.every((m) => m.type === "vote-request" && m.preVote && m.term === 1)).toBe(true);
    // The voter grants the pre-vote without adopting the term: its reply names the round it answers
    // (requestTerm 1) and carries its own term, still 0.
    const voter = startNode(1, 3);
    const reply = voter.step({ type: "message", nowMs: 1, message: requests[0]! });
    expect(votesIn(reply.messages)[0]).toMatchObject({ granted: true, preVote: true, term: 0, requestTerm: 1 });
    expect(voter.inspect().term).toBe(0);
    expect(reply.hardState).toBeNull();
  });

  it("PreVote: a node that heard from its leader recently refuses a pre-vote, so a rejoining node cannot depose it", () => {
    const n = startNode(0, 3);
    n.step({ type: "message", nowMs: 100, message: appendReq({ from: 1, to: 0, term: 1 }) });
    const soon = n.step({ type: "message", nowMs: 200, message: voteReq({ from: 2, to: 0, term: 2, preVote: true }) });
    expect(votesIn(soon.messages)[0]!.granted).toBe(false);
    expect(n.inspect().term).toBe(1);
    const later = n.step({ type: "message", nowMs: 100 + TIMING_FAST.electionTimeoutMinMs, message: voteReq({ from: 2, to: 0, term: 2, preVote: true }) });
    expect(votesIn(later.messages)[0]!.granted).toBe(true);
  });

  it("a candidate with a majority of votes becomes leader and appends a NO-OP of its term", () => {
    const c = new TestCluster(5);
    const leader = c.elect(2);
    expect(leader.inspect().role).toBe("leader");
    expect(leader.inspect().term).toBe(1);
    expect(c.events(2)).toContain("became-leader");
    expect(leader.inspect().entryAt(leader.inspect().lastLogIndex)).toEqual(noop(1));
    c.deliverAll();
    for (let i = 0; i < 5; i++) expect(c.node(i).inspect().lastLogIndex).toBe(1);
    expect([0, 1, 3, 4].map((i) => c.node(i).leaderId)).toEqual([2, 2, 2, 2].map(nodeId));
  });

  it("a single-node cluster elects itself", () => {
    const c = new TestCluster(1);
    const n = c.elect(0);
    expect(n.inspect().role).toBe("leader");
    expect(n.inspect().commitIndex).toBe(1);
  });
});
