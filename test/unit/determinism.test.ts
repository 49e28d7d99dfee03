import { describe, expect, it } from "vitest";
import { formatEvent, nodeId, term, type Message, type RaftEvent } from "../../src/raft/index.js";
import { get, set, TestCluster } from "./support/cluster.js";

/** Runs a fixed script of elections, writes, reads and losses; returns every output as JSON. */
function script(): string {
  const c = new TestCluster(5);
  const drop = (m: Message) => m.to === 4 && m.type === "append-request";
  c.elect(3, drop);
  for (let round = 0; round < 30; round++) {
    c.nowMs += 37;
    for (let id = 0; id < 5; id++) if (c.nowMs >= c.node(id).wakeAtMs()) c.tick(id);
    if (round % 3 === 0) c.client(3, set(`k${round % 7}`, `v${round}`));
    if (round % 4 === 0) c.client(3, get(`k${round % 7}`));
    c.deliverAll(drop);
  }
  return JSON.stringify(c.outputs);
}

describe("determinism", () => {
  it("the same inputs give byte-identical outputs", () => {
    const a = script();
    const b = script();
    expect(a.length).toBeGreaterThan(10_000);
    expect(a).toBe(b);
  });
});

describe("dump events (docs/exercise.md)", () => {
  const SET_X_6 = { kind: "set", key: "x", value: "6", clientId: "", sequence: 0, firstUnanswered: 0 } as const;
  it("every event renders as the exercise's line for it", () => {
    const cases: [RaftEvent, string][] = [
      [{ kind: "heartbeat", leaderId: nodeId(1) }, "Leader 1 sending heartbeat & Renewing Lease"],
      [{ kind: "lease-renewal-failed", leaderId: nodeId(1) }, "Leader 1 lease renewal failed. Stepping Down."],
      [{ kind: "waiting-old-lease", nodeId: nodeId(1), waitMs: 5 }, "New Leader waiting for Old Leader Lease to timeout."],
      [{ kind: "election-timeout", nodeId: nodeId(2) }, "Node 2 election timer timed out, Starting election."],
      [{ kind: "became-leader", nodeId: nodeId(2), term: term(7) }, "Node 2 became the leader for term 7."],
      [{ kind: "rpc-error", followerId: nodeId(4) }, "Error occurred while sending RPC to Node 4."],
      [{ kind: "follower-committed", nodeId: nodeId(3), operation: SET_X_6 }, "Node 3 (follower) committed the entry SET x 6 to the state machine."],
      [{ kind: "leader-received", nodeId: nodeId(0), operation: { kind: "get", key: "x" } }, "Node 0 (leader) received an GET x request."],
      [{ kind: "leader-committed", nodeId: nodeId(0), operation: SET_X_6 }, "Node 0 (leader) committed the entry SET x 6 to the state machine."],
      [{ kind: "follower-committed", nodeId: nodeId(3), operation: { kind: "noop" } }, "Node 3 (follower) committed the entry NO-OP to the state machine."],
      [{ kind: "append-accepted", nodeId: nodeId(3), leaderId: nodeId(0) }, "Node 3 accepted AppendEntries RPC from 0."],
      [{ kind: "append-rejected", nodeId: nodeId(3), leaderId: nodeId(0) }, "Node 3 rejected AppendEntries RPC from 0."],
      [{ kind: "vote-granted", nodeId: nodeId(1), candidateId: nodeId(2), term: term(3) }, "Vote granted for Node 2 in term 3."],
      [{ kind: "vote-denied", nodeId: nodeId(1), candidateId: nodeId(2), term: term(3) }, "Vote denied for Node 2 in term 3."],
      [{ kind: "stepping-down", nodeId: nodeId(0) }, "0 Stepping down"],
    ];
    for (const [event, line] of cases) expect(formatEvent(event)).toBe(line);
  });
});
