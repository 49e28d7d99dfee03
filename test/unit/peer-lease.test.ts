// The lease argument holds only if every node shrinks, stretches and waits by the same lease
// length and drift bound: a node refuses the messages of a peer whose lease parameters differ,
// and says so once per change, naming both.

import { describe, expect, it } from "vitest";
import { formatEvent, nodeId, type FullOutput, type RaftEvent } from "../../src/raft/index.js";
import { startNode } from "./support/cluster.js";
import { appendReq, FAST_LEASE, voteReq } from "./support/msg.js";

const mismatches = (out: FullOutput) => out.events.filter((e) => e.kind === "peer-lease-mismatch");

describe("lease parameters are the same on every node", () => {
  it("a follower refuses AppendEntries that hand out a lease of another length, and says so once", () => {
    const n = startNode(1, 3);
    const longer = { ...FAST_LEASE, leaseMs: 4_000 };
    const out = n.step({ type: "message", nowMs: 10, message: appendReq({ from: 0, to: 1, term: 1, lease: longer }) });
    expect(out.messages).toHaveLength(0);
    expect(n.status().term).toBe(0);
    expect(n.status().leaderId).toBeNull();
    expect(mismatches(out)).toEqual([{ kind: "peer-lease-mismatch", nodeId: 1, peerId: 0, ours: FAST_LEASE, theirs: longer }]);
    const again = n.step({ type: "message", nowMs: 20, message: appendReq({ from: 0, to: 1, term: 1, lease: longer }) });
    expect(again.messages).toHaveLength(0);
    expect(mismatches(again)).toHaveLength(0);
    const otherDrift = { ...longer, driftPpmMax: 5 };
    expect(mismatches(n.step({ type: "message", nowMs: 30, message: appendReq({ from: 0, to: 1, term: 1, lease: otherDrift }) }))).toHaveLength(1);
  });

  it("a voter refuses a candidate whose drift bound differs, and grants once it matches", () => {
    const n = startNode(1, 3);
    const loose = { ...FAST_LEASE, driftPpmMax: 50 };
    const refused = n.step({ type: "message", nowMs: 10, message: voteReq({ from: 2, to: 1, term: 1, lease: loose }) });
    expect(refused.messages).toHaveLength(0);
    expect(refused.hardState).toBeNull();
    expect(mismatches(refused)).toHaveLength(1);
    const granted = n.step({ type: "message", nowMs: 20, message: voteReq({ from: 2, to: 1, term: 1 }) });
    expect(granted.messages).toMatchObject([{ type: "vote-reply", granted: true }]);
  });

  it("the refusal names both sets of parameters and what to do", () => {
    const e: RaftEvent = { kind: "peer-lease-mismatch", nodeId: nodeId(1), peerId: nodeId(0), ours: FAST_LEASE, theirs: { leaseMs: 4_000, driftPpmMax: 1_000 } };
    expect(formatEvent(e)).toBe(
      "Node 1 refused messages from Node 0: its lease parameters (lease 4000 ms, drift 1000 ppm) differ from ours (lease 800 ms, drift 1000 ppm); start every node with the same timing.",
    );
  });
});
