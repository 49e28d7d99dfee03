// The harness's snapshot checks, each shown to catch what it is for: the disk's output-contract
// checks (support/disk.ts), the reference state machine and the monitor's snapshot and state
// machine checks (support/reference.ts, support/safety.ts), the world's background snapshot
// writes, and the stale-read rule with retried SETs (support/history.ts).

import { describe, expect, it } from "vitest";
import { logIndex, nodeId, term, type Entry, type FullOutput, type NodeStatus, type NodeView, type Snapshot } from "../../src/raft/index.js";
import { Disk } from "./support/disk.js";
import { ClientHistory } from "./support/history.js";
import { applyEntry, Reference } from "./support/reference.js";
import { SafetyMonitor } from "./support/safety.js";
import { A, B, cluster, writes } from "./support/snapshot-kit.js";

const noop = (t: number): Entry => ({ term: term(t), command: { kind: "noop" } });
const set = (t: number, key: string, value: string, clientId = "", sequence = 0): Entry => ({ term: term(t), command: { kind: "set", key, value, clientId, sequence, firstUnanswered: sequence } });

function output(over: Partial<FullOutput>): FullOutput {
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
    ...over,
  };
}

function snap(lastIndex: number, lastTerm: number, data: Record<string, string> = {}, sessions: Record<string, number> = {}): Snapshot {
  return { lastIndex: logIndex(lastIndex), lastTerm: term(lastTerm), members: [0, 1, 2].map((i) => ({ id: nodeId(i), address: "", role: "voter" as const })), data: new Map(Object.entries(data)), sessions: new Map(Object.entries(sessions).map(([c, q]) => [c, { firstUnanswered: q, applied: [q] }])) };
}

const hard = (commit: number) => ({ currentTerm: term(2), votedFor: null, commitIndex: logIndex(commit) });

/** Entries 1-6: a NO-OP and five SETs of term 1. */
function sixEntries(): Disk {
  const d = new Disk();
  d.persist(output({ appendFrom: logIndex(1), append: [noop(1), ...[1, 2, 3, 4, 5].map((i) => set(1, "k", `v${i}`))], hardState: hard(4) }));
  return d;
}

describe("harness: the disk carries out snapshots and compaction, and refuses outputs it cannot", () => {
  it("compacts behind a durable snapshot, keeps the tail, and restarts from both", () => {
    const d = sixEntries();
    d.saveSnapshot(snap(4, 1));
    d.persist(output({ compactTo: { prevIndex: logIndex(3), prevTerm: term(1) } }));
    expect([d.firstIndex, d.lastIndex, d.termAt(3), d.entry(3), d.entry(4)?.command]).toEqual([4, 6, 1, undefined, { kind: "set", key: "k", value: "v3", clientId: "", sequence: 0, firstUnanswered: 0 }]);
    d.persist(output({ appendFrom: logIndex(7), append: [noop(2)] }));
    d.crash(false);
    const p = d.persisted();
    expect([p.snapshot?.lastIndex, p.logStart, p.entries.length]).toEqual([4, { prevIndex: 3, prevTerm: 1 }, 4]);
  });

  it("an install with discard: the snapshot, then the log cut to nothing after it", () => {
    const d = sixEntries();
    d.persist(output({ installSnapshot: snap(10, 2), truncateFrom: logIndex(1), compactTo: { prevIndex: logIndex(10), prevTerm: term(2) }, hardState: hard(10) }));
    expect([d.firstIndex, d.lastIndex, d.entries().length, d.snapshot?.lastIndex]).toEqual([11, 10, 0, 10]);
  });

  it("a background save never replaces a newer snapshot", () => {
    const d = sixEntries();
    d.saveSnapshot(snap(5, 1));
    d.saveSnapshot(snap(3, 1));
    expect(d.snapshot?.lastIndex).toBe(5);
  });

  const refused: [string, (d: Disk) => void, RegExp][] = [
    ["compaction beyond the durable snapshot", (d) => d.persist(output({ compactTo: { prevIndex: logIndex(4), prevTerm: term(1) } })), /beyond the durable snapshot \(none\)/],
    [
      "an append inside the compacted prefix",
      (d) => {
        d.saveSnapshot(snap(4, 1));
        d.persist(output({ compactTo: { prevIndex: logIndex(4), prevTerm: term(1) } }));
        d.persist(output({ appendFrom: logIndex(3), append: [noop(2)] }));
      },
      /appends at 3, inside the compacted prefix/,
    ],
    ["an installed snapshot the log does not restart after", (d) => d.persist(output({ installSnapshot: snap(10, 2) })), /restarts after null/],
    [
      "an installed snapshot older than the durable one",
      (d) => {
        d.saveSnapshot(snap(5, 1));
        d.persist(output({ installSnapshot: snap(3, 1), compactTo: { prevIndex: logIndex(3), prevTerm: term(1) } }));
      },
      /over the durable one through 5/,
    ],
    [
      "a kept suffix after an entry of another term",
      (d) => d.persist(output({ installSnapshot: snap(4, 2), compactTo: { prevIndex: logIndex(4), prevTerm: term(2) } })),
      /keeps the entries after it, but the entry held there has term 1/,
    ],
    ["a commit index beyond the log and the snapshot", (d) => d.persist(output({ hardState: hard(7) })), /commit index 7 is persisted beyond/],
    ["a truncation inside the compacted prefix", (d) => {
      d.saveSnapshot(snap(4, 1));
      d.persist(output({ compactTo: { prevIndex: logIndex(4), prevTerm: term(1) } }));
      d.persist(output({ truncateFrom: logIndex(2) }));
    }, /truncates from 2, inside the compacted prefix/],
  ];
  for (const [what, act, message] of refused) {
    it(`refuses ${what}`, () => {
      expect(() => act(sixEntries())).toThrow(message);
    });
  }
});

describe("harness: the reference state machine", () => {
  it("applies a SET once per client sequence, and ignores a retry", () => {
    const r = new Reference();
    [noop(1), set(1, "x", "a", "c1", 1), set(1, "x", "b", "c2", 1), set(1, "x", "a", "c1", 1), set(1, "y", "z")].forEach((e, i) => r.learn(i + 1, e));
    const s = r.stateAt(5)!;
    expect([...s.data]).toEqual([["x", "b"], ["y", "z"]]);
    expect([...s.sessions]).toEqual([["c1", { firstUnanswered: 1, applied: [1] }], ["c2", { firstUnanswered: 1, applied: [1] }]]);
    expect(r.stateAt(6)).toBeNull();
    expect([...applyEntry(s, set(2, "x", "c", "c1", 2)).data.entries()]).toContainEqual(["x", "c"]);
  });

  it("finds a snapshot whose data, sessions or term differ from the committed log", () => {
    const r = new Reference();
    [noop(1), set(1, "x", "a", "c1", 1), set(2, "x", "b")].forEach((e, i) => r.learn(i + 1, e));
    expect(r.checkSnapshot(snap(3, 2, { x: "b" }, { c1: 1 }))).toBeNull();
    expect(r.checkSnapshot(snap(3, 2, { x: "a" }, { c1: 1 }))).toMatch(/data/);
    expect(r.checkSnapshot(snap(3, 2, { x: "b" }, {}))).toMatch(/sessions \[\] but the committed log gives \[\["c1",\{"firstUnanswered":1,"applied":\[1\]\}\]\]/);
    expect(r.checkSnapshot(snap(3, 1, { x: "b" }, { c1: 1 }))).toMatch(/lastTerm 1 but the committed entry 3 has term 2/);
    expect(r.checkSnapshot(snap(4, 2))).toBe("unknown");
  });
});

describe("harness: the monitor's snapshot and state machine checks", () => {
  const status = (over: Partial<NodeStatus>): NodeStatus => ({
    id: nodeId(1),
    role: "follower",
    term: term(2),
    votedFor: null,
    leaderId: null,
    commitIndex: logIndex(0),
    appliedIndex: logIndex(0),
    lastLogIndex: logIndex(6),
    firstLogIndex: logIndex(1),
    snapshotIndex: logIndex(0),
    leaseRemainingMs: 0,
    leaseReadable: false,
    members: [],
    transferringTo: null,
    ...over,
  });
  const view = (values: Record<string, string>) => ({ valueOf: (k: string) => values[k] ?? "" }) as unknown as NodeView;

  it("a node whose commit or applied index goes back within one boot, or whose state machine differs", () => {
    const m = new SafetyMonitor();
    const d = sixEntries();
    const disks = new Map([[nodeId(1), d]]);
    m.started(status({ commitIndex: logIndex(4), appliedIndex: logIndex(4) }), d, view({ k: "v3" }));
    expect(m.violations).toEqual([]);
    m.afterStep(status({}), 6, output({}), status({ commitIndex: logIndex(3), appliedIndex: logIndex(3) }), d, disks, view({ k: "v2" }));
    expect(m.violations.join("\n")).toMatch(/commit index went back: node 1 from 4 to 3/);
    expect(m.violations.join("\n")).toMatch(/state machine went back: node 1 applied index from 4 to 3/);
    m.afterStep(status({}), 6, output({}), status({ commitIndex: logIndex(4), appliedIndex: logIndex(4) }), d, disks, view({ k: "v9" }));
    expect(m.violations.join("\n")).toMatch(/state machine: node 1 \(applied through 4\) has data \[\["k","v9"\]\]/);
  });

  it("a snapshot saved with the wrong state, or beyond the applied index", () => {
    const m = new SafetyMonitor();
    const d = sixEntries();
    m.started(status({ commitIndex: logIndex(4), appliedIndex: logIndex(4) }), d);
    m.afterStep(status({}), 6, output({ saveSnapshot: snap(4, 1, { k: "v1" }) }), status({ commitIndex: logIndex(4), appliedIndex: logIndex(4) }), d, new Map());
    expect(m.violations.join("\n")).toMatch(/snapshot: node 1 saves a snapshot through 4 that differs from the committed state: data/);
    m.afterStep(status({}), 6, output({ saveSnapshot: snap(4, 1, { k: "v3" }) }), status({ commitIndex: logIndex(4), appliedIndex: logIndex(2) }), d, new Map());
    expect(m.violations.join("\n")).toMatch(/saves a snapshot through 4, beyond its applied index 2/);
  });
});

describe("harness: the world's background snapshot writes", () => {
  it("a save completes by itself (then the node compacts), or waits for the test; a crash loses one under way unless told otherwise", () => {
    const w = cluster({ every: 10, keep: 0 });
    writes(w, A, 12);
    w.run(20);
    expect([w.disk(A).snapshot?.lastIndex, w.view(A)!.firstLogIndex]).toEqual([10, 11]);
    w.holdSaves(B);
    writes(w, A, 10);
    w.run(20);
    expect(w.saves(B).map((s) => s.snapshot.lastIndex)).toEqual([20]);
    expect(w.disk(B).snapshot?.lastIndex).toBe(10);
    w.crash(B);
    expect(w.disk(B).snapshot?.lastIndex, "the write under way was lost").toBe(10);
    w.restart(B, 0);
    writes(w, A, 10);
    w.run(20);
    expect(w.saves(B).length).toBe(1);
    w.crash(B, { completeSaves: true });
    expect(w.disk(B).snapshot?.lastIndex).toBeGreaterThan(20);
    expect(w.problems()).toEqual([]);
  });
});

describe("harness: the stale-read rule with retried SETs", () => {
  it("a retry acknowledged after a newer write is not a new write; a genuinely newer write still makes a read stale", () => {
    const h = new ClientHistory();
    const op = (id: number, kind: "set" | "get", value: string | null, invoke: number, reply: number, result = value ?? "") => {
      h.invoked({ requestId: id as never, node: nodeId(0), kind, key: "k", value, invokeTrueMs: invoke, responseTrueMs: null, result: null });
      h.answered(id as never, { ok: true, value: kind === "get" ? result : "" }, reply);
    };
    op(1, "set", "a", 0, 1); // c1's SET
    op(2, "set", "b", 2, 3); // c2's SET, after it
    op(3, "set", "a", 4, 5); // c1's retry (not applied again)
    op(4, "get", null, 6, 6.5, "b");
    expect(h.staleReads()).toEqual([]);
    op(5, "set", "c", 7, 8);
    op(6, "get", null, 9, 9.5, "b");
    expect(h.staleReads()).toHaveLength(1);
  });
});
