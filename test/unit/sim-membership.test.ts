// Membership in the simulator: the membership checker and its negative controls, the fault verbs
// of churn, and runs that add, remove, replace, transfer and SIGTERM.

import { describe, expect, it } from "vitest";
import { logIndex, nodeId, term, type Entry, type FullOutput, type Member, type RaftNode, type Snapshot } from "../../src/raft/index.js";
import { MembershipChecker } from "../../src/runtime/sim/checks/membership-check.js";
import { PropertyViolation } from "../../src/runtime/sim/checks/violation.js";
import { idLimit } from "../../src/runtime/sim/faults/membership-faults.js";
import { formatSchedule, parseSchedule, runSimulation, simOptions } from "../../src/runtime/sim/index.js";

const voter = (id: number): Member => ({ id: nodeId(id), address: "", role: "voter" });
const learner = (id: number): Member => ({ id: nodeId(id), address: `n${id}`, role: "learner" });
const config = (t: number, ...members: Member[]): Entry => ({ term: term(t), command: { kind: "config", members } });
const noop = (t: number): Entry => ({ term: term(t), command: { kind: "noop" } });

/** A node as the checker reads it: its log, commit index and the configuration it uses. */
function fakeNode(log: readonly Entry[], commit: number, inUse: readonly Member[]): RaftNode {
  const view = { lastLogIndex: log.length, commitIndex: commit, firstLogIndex: 1, entryAt: (i: number) => log[i - 1]! };
  return { inspect: () => view, status: () => ({ members: inUse }) } as unknown as RaftNode;
}

const changed = { membership: [], installSnapshot: null, saveSnapshot: null, truncateFrom: null, applied: [] } as unknown as FullOutput;

function violation(f: () => void): string {
  try {
    f();
  } catch (e) {
    if (e instanceof PropertyViolation) return `${e.property}: ${e.message}`;
    throw e;
  }
  return "none";
}

describe("membership checker", () => {
  const initial = [0, 1, 2].map(nodeId);

  it("passes one server at a time: a learner added, promoted, a voter removed", () => {
    const committed = [noop(1), config(1, voter(0), voter(1), voter(2), learner(3)), config(1, voter(0), voter(1), voter(2), { ...learner(3), role: "voter" }), config(1, voter(0), voter(1), { ...learner(3), role: "voter" })];
    const c = new MembershipChecker(initial, committed, () => false);
    expect(c.inForce().map((m) => m.id)).toEqual([0, 1, 3]);
    expect(c.passed.changes).toBe(3);
  });

  it("catches a committed configuration two voters away from the one before (its negative control)", () => {
    const committed = [noop(1), config(1, voter(0), voter(1), voter(2), voter(3), voter(4))];
    const c = new MembershipChecker(initial, committed, () => false);
    expect(violation(() => c.inForce())).toMatch(/^membership safety: the configuration committed at entry 2 \(voters 0,1,2,3,4\) differs .* by more than one voter/);
  });

  it("catches a node that uses another configuration than its log says (its negative control)", () => {
    const log = [noop(1), config(1, voter(0), voter(1))];
    const c = new MembershipChecker(initial, log, () => false);
    expect(violation(() => c.afterStep(nodeId(2), fakeNode(log, 2, [voter(0), voter(1)]), changed))).toBe("none");
    expect(violation(() => c.afterStep(nodeId(1), fakeNode(log, 2, [voter(0), voter(1), voter(2)]), changed))).toMatch(/node 1 uses the configuration voters 0,1,2, but its log says voters 0,1/);
    // an entry above the commit index is the one in use
    const longer = [...log, config(2, voter(0))];
    expect(violation(() => c.afterStep(nodeId(1), fakeNode(longer, 2, [voter(0), voter(1)]), changed))).toMatch(/its newest configuration entry, 3/);
  });

  it("catches a snapshot whose members are not the configuration in force at its index (its negative control)", () => {
    const log = [noop(1), config(1, voter(0), voter(1)), noop(2)];
    const c = new MembershipChecker(initial, log, () => false);
    const snapshot = (members: Member[]): Snapshot => ({ lastIndex: logIndex(3), lastTerm: term(2), data: new Map(), sessions: new Map(), members }) as unknown as Snapshot;
    const out = (s: Snapshot): FullOutput => ({ ...changed, membership: null, saveSnapshot: s }) as FullOutput;
    const node = fakeNode(log, 3, [voter(0), voter(1)]);
    expect(violation(() => c.afterStep(nodeId(0), node, out(snapshot([voter(0), voter(1)]))))).toBe("none");
    expect(violation(() => c.afterStep(nodeId(0), node, out(snapshot([voter(0), voter(1), voter(2)]))))).toMatch(/took a snapshot through entry 3 with members voters 0,1,2, but the configuration in force there is voters 0,1/);
  });

  it("lets a node that joined use no configuration while only the initial one is in force", () => {
    const c = new MembershipChecker(initial, [noop(1)], (id) => id === 5);
    expect(violation(() => c.afterStep(nodeId(5), fakeNode([noop(1)], 1, []), changed))).toBe("none");
    expect(violation(() => c.afterStep(nodeId(2), fakeNode([noop(1)], 1, []), changed))).toMatch(/node 2 uses the configuration voters none/);
  });
});

describe("the membership verbs of --faults", () => {
  it("round-trip through their text form", () => {
    const text = "2000 add 5; 2500 remove L; 3000 replace n1 6; 3500 transfer; 4000 transfer n3; 4500 sigterm L 800; 5000 sigterm F; 6000 crash n6";
    expect(formatSchedule(parseSchedule(text, 5))).toBe(text);
  });

  it("name nodes that join only when the schedule adds them", () => {
    expect(idLimit("1000 add 5; 2000 crash n5", 5)).toBe(6);
    expect(() => parseSchedule("2000 crash n5", 5)).toThrow(/target "n5" is not L, F, \*, all or a node n0..n4/);
    expect(() => parseSchedule("2000 add 9", 5)).toThrow(/the node that joins must be a node id 0..8, like "add 5"/);
    expect(() => parseSchedule("2000 sigterm L soon", 5)).toThrow(/the restart delay must be a time in ms/);
  });
});

describe("runs with churn", () => {
  const faults = "2000 add 5; 4000 remove L; 6000 transfer; 8000 replace n1 6; 12000 sigterm L 1000; 15000 transfer n3; 17000 remove n2";

  it("pass every check, change the configuration one server at a time, and replay byte for byte", () => {
    const lines: string[] = [];
    const r = runSimulation(simOptions({ seed: "1", scenario: "swarm", faults, trace: (l) => lines.push(l) }));
    expect(r.violation, r.violation?.message).toBeNull();
    expect(r.checks["membership: one voter at a time"]).toBeGreaterThanOrEqual(6);
    const text = lines.join("\n");
    expect(text).toMatch(/operator: add node 5: done by node \d/);
    expect(text).toMatch(/Node 5 now uses the configuration of entry \d+: voters 0,1,2,3,4,5\./);
    const again: string[] = [];
    runSimulation(simOptions({ seed: "1", scenario: "swarm", faults, trace: (l) => again.push(l) }));
    expect(again.join("\n")).toBe(text);
  });

  it("SIGTERM moves leadership by transfer: the next leader is elected on TimeoutNow, with no election timeout", () => {
    const lines: string[] = [];
    const r = runSimulation(simOptions({ seed: "1", scenario: "swarm", faults: "3000 sigterm L 500; 9000 sigterm L 500", trace: (l) => lines.push(l) }));
    expect(r.violation, r.violation?.message).toBeNull();
    const after = lines.filter((l) => Number(l.trim().split(" ")[0]) >= 3000 && Number(l.trim().split(" ")[0]) < 20_000);
    expect(after.filter((l) => /received TimeoutNow/.test(l))).toHaveLength(2);
    expect(after.filter((l) => /election timer timed out/.test(l))).toEqual([]);
  });

  it("each verb is a negative control: add beside a cut-off leader catches learner-in-quorum, transfer catches transfer-keeps-lease", () => {
    const cutOff = "2000 remove n4; 2500 remove n3; 4000 sever L n0; 4000 sever L n1; 4000 sever L n2; 4000 sever L n3; 4000 sever L n4; 4100 add 5; 7000 heal";
    const slowTransfer = "2000 slow n0 L 300; 2000 slow n1 L 300; 2000 slow n2 L 300; 2000 slow n3 L 300; 2000 slow n4 L 300; 2300 transfer; 4000 heal";
    for (const f of [cutOff, slowTransfer]) expect(runSimulation(simOptions({ seed: "1", scenario: "swarm", faults: f })).violation).toBeNull();
    const learnerBug = runSimulation(simOptions({ seed: "1", scenario: "swarm", faults: cutOff, mutation: "learner-in-quorum" }));
    expect(["leader completeness", "state machine safety", "lease safety"]).toContain(learnerBug.violation?.property);
    const transferBug = runSimulation(simOptions({ seed: "1", scenario: "swarm", faults: slowTransfer, mutation: "transfer-keeps-lease" }));
    expect(transferBug.violation?.property).toBe("lease safety");
  });
});
