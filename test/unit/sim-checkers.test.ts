// Negative controls for every checker of the simulator: each is handed a made-up situation that
// breaks its property and must object (a check that cannot fail is a defect), and a benign one
// that it must accept.

import { describe, expect, it } from "vitest";
import { logIndex, nodeId, term, type Entry, type FullOutput, type LogIndex, type NodeView, type Role, type Term } from "../../src/raft/index.js";
import { checkAckedWrites, checkCatchUp, checkLinearizability, checkOpLiveness } from "../../src/runtime/sim/checks/final-checks.js";
import { opId, type Op } from "../../src/check/history.js";
import { LeaseChecker } from "../../src/runtime/sim/checks/lease-check.js";
import { SafetyChecker } from "../../src/runtime/sim/checks/safety.js";
import { PropertyViolation } from "../../src/runtime/sim/checks/violation.js";
import { ReferenceStateMachine } from "../../src/runtime/sim/checks/reference-state.js";

const noop = (t: number): Entry => ({ term: term(t), command: { kind: "noop" } });
const setE = (t: number, key: string, value: string): Entry => ({ term: term(t), command: { kind: "set", key, value, clientId: "c", sequence: 1, firstUnanswered: 1 } });

/** A made-up node view: just what the checkers read, with no cast. */
function fakeNode(id: number, role: Role, t: number, entries: Entry[], commitIndex = 0): NodeView {
  const termAt = (i: LogIndex): Term | undefined => (i === 0 ? term(0) : entries[i - 1]?.term);
  return {
    id: nodeId(id),
    role,
    term: term(t),
    leaderId: role === "leader" ? nodeId(id) : null,
    commitIndex: logIndex(commitIndex),
    lastLogIndex: logIndex(entries.length),
    firstLogIndex: logIndex(1),
    snapshotIndex: logIndex(0),
    snapshot: null,
    termAt,
    entryAt: (i) => entries[i - 1]!,
    valueOf: () => "",
    noopIndex: role === "leader" ? logIndex(entries.length) : null,
    oldLeaseWaitUntilMs: null,
    nextHeartbeatAtMs: null,
    electionDeadlineMs: 0,
    pendingWriteCount: 0,
    pendingReadCount: 0,
    matchIndexOf: () => null,
  };
}

function out(parts: Partial<FullOutput>): FullOutput {
  return {
    hardState: null,
    hardStateMustSync: false,
    sendBeforePersist: false,
    installSnapshot: null,
    truncateFrom: null,
    compactTo: null,
    saveSnapshot: null,
    membership: null,
    appendFrom: null,
    append: [],
    messages: [],
    applied: [],
    replies: [],
    events: [],
    wakeAtMs: 0,
    ...parts,
  };
}

function violation(f: () => unknown): PropertyViolation {
  try {
    f();
  } catch (e) {
    if (e instanceof PropertyViolation) return e;
    throw e;
  }
  throw new Error("expected a property violation, got none");
}

describe("the checker's own state machine", () => {
  const set = (sequence: number, firstUnanswered: number, value: string): Entry => ({
    term: term(1),
    command: { kind: "set", key: "k", value, clientId: "c", sequence, firstUnanswered },
  });
  it("keeps a session's applied sequences sorted at or above its bound, and skips duplicates", () => {
    const r = new ReferenceStateMachine();
    // Out of order, a retry of 5, then a bound of 4 that forgets 3.
    for (const e of [set(5, 1, "a"), set(3, 1, "b"), set(7, 1, "c"), set(5, 1, "dup"), set(6, 4, "d")]) r.apply(e);
    const data = new Map([["k", "d"]]);
    expect(r.differenceAt(5, data, new Map([["c", { firstUnanswered: 4, applied: [5, 6, 7] }]]))).toBeNull();
    expect(r.differenceAt(5, data, new Map([["c", { firstUnanswered: 4, applied: [6, 5, 7] }]]))).toMatch(/session "c"/);
    expect(r.differenceAt(5, data, new Map([["c", { firstUnanswered: 1, applied: [3, 5, 6, 7] }]]))).toMatch(/session "c"/);
    // As of index 3: before the retry and the bound.
    expect(r.differenceAt(3, new Map([["k", "c"]]), new Map([["c", { firstUnanswered: 1, applied: [3, 5, 7] }]]))).toBeNull();
  });
});

describe("election safety", () => {
  it("objects to two leaders in one term, across the whole run", () => {
    const c = new SafetyChecker();
    c.afterStep(nodeId(0), fakeNode(0, "leader", 3, [noop(3)]), out({}));
    c.afterStep(nodeId(0), fakeNode(0, "follower", 4, [noop(3)]), out({}));
    const v = violation(() => c.afterStep(nodeId(1), fakeNode(1, "leader", 3, [noop(3)]), out({})));
    expect(v.property).toBe("election safety");
    expect(v.message).toMatch(/nodes 0 and 1 were both leader in term 3/);
  });

  it("accepts one leader per term", () => {
    const c = new SafetyChecker();
    c.afterStep(nodeId(0), fakeNode(0, "leader", 1, [noop(1)]), out({}));
    c.afterStep(nodeId(1), fakeNode(1, "leader", 2, [noop(1), noop(2)]), out({}));
    expect(c.passed.election).toBe(2);
  });
});

describe("log matching", () => {
  it("objects to two different entries with the same index and term", () => {
    const c = new SafetyChecker();
    c.afterStep(nodeId(0), fakeNode(0, "follower", 1, [setE(1, "a", "1")]), out({ appendFrom: logIndex(1), append: [setE(1, "a", "1")] }));
    const v = violation(() => c.afterStep(nodeId(1), fakeNode(1, "follower", 1, [setE(1, "a", "2")]), out({ appendFrom: logIndex(1), append: [setE(1, "a", "2")] })));
    expect(v.property).toBe("log matching");
  });

  it("objects to the same entry after a different predecessor", () => {
    const c = new SafetyChecker();
    c.afterStep(nodeId(0), fakeNode(0, "follower", 3, [noop(1), noop(3)]), out({ appendFrom: logIndex(1), append: [noop(1), noop(3)] }));
    const v = violation(() => c.afterStep(nodeId(1), fakeNode(1, "follower", 3, [noop(2), noop(3)]), out({ appendFrom: logIndex(2), append: [noop(3)] })));
    expect(v.message).toMatch(/after term 2.*after term 1/);
  });
});

describe("state machine safety", () => {
  it("objects to an index applied with different entries", () => {
    const c = new SafetyChecker();
    c.afterStep(nodeId(0), fakeNode(0, "follower", 1, []), out({ applied: [{ index: logIndex(1), entry: setE(1, "a", "1") }] }));
    const v = violation(() => c.afterStep(nodeId(1), fakeNode(1, "follower", 2, []), out({ applied: [{ index: logIndex(1), entry: setE(2, "a", "1") }] })));
    expect(v.property).toBe("state machine safety");
  });

  it("objects to a restarted node whose disk disagrees with what was applied", () => {
    const c = new SafetyChecker();
    c.afterStep(nodeId(0), fakeNode(0, "follower", 1, []), out({ applied: [{ index: logIndex(1), entry: setE(1, "a", "1") }] }));
    const disk = { hardState: { currentTerm: term(1), votedFor: null, commitIndex: logIndex(1) }, entries: [setE(1, "a", "X")] };
    expect(violation(() => c.afterRestart(nodeId(2), disk)).property).toBe("state machine safety");
  });
});

describe("leader completeness", () => {
  it("objects to a leader elected without an entry committed in an earlier term", () => {
    const c = new SafetyChecker();
    c.afterStep(nodeId(0), fakeNode(0, "leader", 1, [noop(1)]), out({ applied: [{ index: logIndex(1), entry: noop(1) }] }));
    const v = violation(() => c.afterStep(nodeId(1), fakeNode(1, "leader", 2, [noop(2)]), out({})));
    expect(v.property).toBe("leader completeness");
  });

  it("objects to an entry committed late that a leader of a higher term was elected without", () => {
    const c = new SafetyChecker();
    c.afterStep(nodeId(0), fakeNode(0, "leader", 1, [noop(1)]), out({ appendFrom: logIndex(1), append: [noop(1)] }));
    c.afterStep(nodeId(1), fakeNode(1, "leader", 3, [noop(3)]), out({ appendFrom: logIndex(1), append: [noop(3)] }));
    const v = violation(() => c.afterStep(nodeId(0), fakeNode(0, "leader", 1, [noop(1)]), out({ applied: [{ index: logIndex(1), entry: noop(1) }] })));
    expect(v.message).toMatch(/leader of term 3, was elected without it/);
  });
});

describe("lease safety", () => {
  it("objects to two nodes able to serve lease reads at the same instant", () => {
    const l = new LeaseChecker(3);
    l.update(0, 0, { fromMs: 0, toMs: 100, term: 1 });
    l.update(1, 50, { fromMs: 60, toMs: 200, term: 2 });
    const v = violation(() => l.update(0, 120, null));
    expect(v.property).toBe("lease safety");
    expect(v.message).toMatch(/node 0 \(term 1\) and node 1 \(term 2\) could both serve lease reads from 60.000 to 100.000 ms/);
    expect(v.atMs).toBe(60);
  });

  it("catches the overlap even when no event falls inside it", () => {
    const l = new LeaseChecker(2);
    l.update(0, 0, { fromMs: 0, toMs: 100, term: 1 });
    l.update(0, 10, null); // node 0 stepped down at 10: it held [0, 10)
    l.update(1, 5, { fromMs: 8, toMs: 50, term: 2 });
    expect(violation(() => l.finish(60)).message).toMatch(/from 8.000 to 10.000 ms/);
  });

  it("accepts a hand-over where one lease ends as the next begins, and renewals in between", () => {
    const l = new LeaseChecker(2);
    l.update(0, 0, { fromMs: 0, toMs: 100, term: 1 });
    expect(l.update(0, 50, { fromMs: 0, toMs: 150, term: 1 })).toBe("extended");
    l.update(1, 60, { fromMs: 150, toMs: 300, term: 2 });
    l.update(0, 160, null);
    l.finish(400);
    expect(l.pieces[0]).toEqual([{ nodeId: 0, fromMs: 0, toMs: 150, term: 1 }]);
  });

  it("objects to a read served outside the server's own lease", () => {
    const l = new LeaseChecker(2);
    l.update(0, 0, { fromMs: 10, toMs: 100, term: 1 });
    expect(violation(() => l.readServed(0, 5)).message).toMatch(/outside its own lease/);
    l.readServed(0, 50);
  });
});

const op = (o: Partial<Op> & Pick<Op, "kind" | "key" | "value" | "invokeMs">): Op => ({ id: opId(0), clientId: "c", completeMs: o.invokeMs + 1, outcome: "ok", ...o }) as Op;

describe("whole-run checks", () => {
  it("objects to an acknowledged write missing from the committed log", () => {
    const history = [op({ id: opId(0), kind: "set", key: "a", value: "1", invokeMs: 0 })];
    expect(violation(() => checkAckedWrites(history, [noop(1)], null)).property).toBe("acknowledged write lost");
    expect(checkAckedWrites(history, [noop(1), setE(1, "a", "1")], null)).toBe(1);
  });

  it("finds acknowledged writes committed in any order, and matches key and value", () => {
    const history = [
      op({ id: opId(0), kind: "set", key: "a", value: "1", invokeMs: 0 }),
      op({ id: opId(1), kind: "set", key: "a", value: "2", invokeMs: 10 }),
      op({ id: opId(2), kind: "set", key: "b", value: "1", invokeMs: 20, clientId: "d" }),
    ];
    // Not in the order the client made them (one operation at a time would not allow it), nor by the client that made them.
    const committed = [noop(1), setE(1, "b", "1"), setE(1, "a", "2"), setE(1, "a", "1")];
    expect(checkAckedWrites(history, committed, null)).toBe(3);
    // The value of another key is not this key's: the first acknowledged write missing is named.
    const lost = violation(() => checkAckedWrites(history, [noop(1), setE(1, "b", "1"), setE(1, "a", "2")], null));
    expect(lost.message).toMatch(/^SET a 1 by client c was acknowledged at 1 ms but is not in the committed log/);
  });

  it("objects to a final leader that lacks committed entries", () => {
    const leader = fakeNode(0, "leader", 2, [noop(2)], 1);
    expect(violation(() => checkAckedWrites([], [noop(1)], leader)).message).toMatch(/does not hold committed entry 1 of term 1/);
  });

  it("objects to a stale read", () => {
    const history = [
      op({ id: opId(0), kind: "set", key: "a", value: "1", invokeMs: 0, completeMs: 10 }),
      op({ id: opId(1), kind: "set", key: "a", value: "2", invokeMs: 20, completeMs: 30 }),
      op({ id: opId(2), kind: "get", key: "a", value: "1", invokeMs: 40, completeMs: 50 }),
    ];
    expect(violation(() => checkLinearizability(history, 100)).property).toBe("linearizability");
  });

  it("objects to an operation that fails or hangs after the faults stopped and a leader was due", () => {
    const bounds = { quietFromMs: 1000, leaderMs: 500, opMs: 300, endMs: 5000 };
    expect(checkOpLiveness([op({ kind: "get", key: "a", value: "", invokeMs: 2000 })], bounds)).toBe(1);
    expect(violation(() => checkOpLiveness([op({ kind: "get", key: "a", value: "", invokeMs: 2000, outcome: "fail" })], bounds)).property).toBe("liveness");
    expect(violation(() => checkOpLiveness([op({ kind: "set", key: "a", value: "1", invokeMs: 2000, completeMs: null, outcome: "unknown" })], bounds)).message).toMatch(
      /did not succeed within 300 ms/,
    );
    expect(violation(() => checkOpLiveness([op({ kind: "set", key: "a", value: "1", invokeMs: 900, completeMs: 1900 })], bounds)).message).toMatch(/still pending/);
  });

  it("objects to a node that is neither caught up with the leader nor catching up", () => {
    const leader = fakeNode(0, "leader", 1, [noop(1), noop(1), noop(1)], 3);
    const behind = fakeNode(1, "follower", 1, [noop(1)], 1);
    const stuck = new Map([[1, 1]]);
    expect(violation(() => checkCatchUp([leader, behind], leader, stuck, 5000)).message).toMatch(/node 1 has not caught up by the end and made no progress since the clients stopped at 5000 ms/);
    expect(checkCatchUp([leader, behind], leader, new Map([[1, 0]]), 5000)).toBe(1); // still catching up
    expect(checkCatchUp([leader, fakeNode(1, "follower", 1, [noop(1), noop(1), noop(1)], 3), null], leader, stuck, 5000)).toBe(1);
  });
});
