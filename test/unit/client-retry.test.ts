// The client's retry rule while leadership moves (RetryPolicy.settleOnHints, which RaftClient
// uses): two nodes that name each other as leader are retried after one short backoff that does
// not grow, and only answers naming no leader make the backoff grow (short while the nodes answer
// that they know no leader: an election is on). Off (the simulator's
// clients), a named leader is tried at once and every attempt counts.
import { describe, expect, it } from "vitest";
import { Attempts, DEFAULT_RETRY, LeaderTracker, type Decision, type NodeAnswer } from "../../src/client/retry.js";
import { nodeId } from "../../src/raft/index.js";

const A = nodeId(0);
const B = nodeId(1);
const C = nodeId(2);
const notLeader = (hint: typeof A | null): NodeAnswer => ({ kind: "error", code: "not-leader", message: "not the leader", leaderHint: hint });
const wait = (d: Decision) => (d.kind === "send" ? d.afterMs : -1);

function attempts(settleOnHints: boolean): Attempts {
  return new Attempts(new LeaderTracker([A, B, C]), { ...DEFAULT_RETRY, settleOnHints }, () => 1, 0);
}

describe("retries while leadership moves", () => {
  it("settleOnHints: a bounce between two nodes waits one short backoff each time, never more", () => {
    const a = attempts(true);
    expect(a.start()).toEqual({ kind: "send", target: A, afterMs: 0 });
    expect(a.answer(A, notLeader(B), 1)).toEqual({ kind: "send", target: B, afterMs: 0 }); // a new hint: at once
    for (let i = 0; i < 30; i++) {
      const from = i % 2 === 0 ? B : A;
      const d = a.answer(from, notLeader(from === B ? A : B), 2 + i);
      expect(d).toEqual({ kind: "send", target: from === B ? A : B, afterMs: DEFAULT_RETRY.backoffBaseMs });
    }
    // No leader known (the target stands for election): the backoff starts small again, and
    // while no node knows a leader it stays short; a node that cannot be reached grows it further.
    expect(wait(a.answer(B, notLeader(null), 40))).toBe(2 * DEFAULT_RETRY.backoffBaseMs);
    for (let i = 0; i < 5; i++) expect(wait(a.answer(C, notLeader(null), 41 + i))).toBeLessThanOrEqual(4 * DEFAULT_RETRY.backoffBaseMs);
    expect(wait(a.answer(A, { kind: "unreachable", message: "down" }, 50))).toBeGreaterThan(4 * DEFAULT_RETRY.backoffBaseMs);
  });

  it("without it, the same bounce goes at once and every attempt makes the next backoff longer", () => {
    const a = attempts(false);
    a.start();
    for (let i = 0; i < 30; i++) {
      const from = i % 2 === 0 ? A : B;
      expect(wait(a.answer(from, notLeader(from === A ? B : A), 1 + i))).toBe(0);
    }
    expect(wait(a.answer(A, notLeader(null), 40))).toBe(DEFAULT_RETRY.backoffMaxMs);
  });
});
