// The harness's own checks, each with the negative control that proves it catches what it is for.

import { describe, expect, it } from "vitest";
import { logIndex, nodeId, term, type Entry, type FullOutput, type NodeStatus } from "../../src/raft/index.js";
import { NodeClock, rateWithin } from "./support/clock.js";
import { Disk } from "./support/disk.js";
import { ClientHistory } from "./support/history.js";
import { LeaseRecord, readableSpan } from "./support/lease-record.js";
import { logMatchingBreak, SafetyMonitor } from "./support/safety.js";
import { World } from "./support/world.js";

const noop = (t: number): Entry => ({ term: term(t), command: { kind: "noop" } });
const set = (t: number, value: string): Entry => ({ term: term(t), command: { kind: "set", key: "k", value, clientId: "", sequence: 0, firstUnanswered: 0 } });

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

function status(id: number, over: Partial<NodeStatus>): NodeStatus {
  return {
    id: nodeId(id),
    role: "follower",
    term: term(1),
    votedFor: null,
    leaderId: null,
    commitIndex: logIndex(0),
    appliedIndex: logIndex(0),
    lastLogIndex: logIndex(0),
    firstLogIndex: logIndex(1),
    snapshotIndex: logIndex(0),
    leaseRemainingMs: 0,
    leaseReadable: false,
    members: [],
    transferringTo: null,
    ...over,
  };
}

function diskWith(entries: Entry[], commit = 0): Disk {
  const d = new Disk();
  d.persist(output({ appendFrom: logIndex(1), append: entries, hardState: { currentTerm: term(9), votedFor: null, commitIndex: logIndex(commit) } }));
  return d;
}

describe("harness: clocks", () => {
  it("a clock runs at its rate and starts over at an arbitrary reading when rebooted", () => {
    const c = new NodeClock(rateWithin(1000, 1), 0, 100_000);
    expect(c.readingAt(1000)).toBeCloseTo(101_001, 6);
    expect(c.readingAt(c.trueAt(100_500))).toBeGreaterThanOrEqual(100_500);
    c.reboot(2000, 7);
    expect(c.readingAt(2500)).toBeCloseTo(7 + 500 * 1.001, 6);
    expect(() => c.readingAt(1999)).toThrow(/before its boot/);
    expect(() => rateWithin(1000, 1.5)).toThrow(/exceed the bound/);
  });
});

describe("harness: disks keep what the output contract made durable", () => {
  it("truncates, appends, keeps the hard state, and refuses a log with a hole", () => {
    const d = diskWith([noop(1), set(1, "a"), set(1, "b")], 1);
    d.persist(output({ truncateFrom: logIndex(2), appendFrom: logIndex(2), append: [noop(2)] }));
    expect(d.entries()).toEqual([noop(1), noop(2)]);
    expect(() => d.persist(output({ appendFrom: logIndex(5), append: [noop(2)] }))).toThrow(/hole/);
  });

  it("a write that goes out before it is durable is lost by a crash until synced", () => {
    const d = diskWith([noop(1)], 1);
    d.persist(output({ appendFrom: logIndex(2), append: [set(1, "a")], sendBeforePersist: true }));
    expect(d.hasUnsynced).toBe(true);
    d.crash(false);
    expect(d.entries()).toEqual([noop(1)]);
    d.persist(output({ appendFrom: logIndex(2), append: [set(1, "b")], sendBeforePersist: true }));
    d.sync();
    d.crash(false);
    expect(d.entries()).toEqual([noop(1), set(1, "b")]);
  });

  it("a crash may lose a commit index written lazily, never a term or vote", () => {
    const d = diskWith([noop(1), set(1, "a")], 0);
    d.persist(output({ hardState: { currentTerm: term(2), votedFor: nodeId(1), commitIndex: logIndex(1) }, hardStateMustSync: true }));
    d.persist(output({ hardState: { currentTerm: term(2), votedFor: nodeId(1), commitIndex: logIndex(2) } }));
    d.crash(true);
    expect(d.hardState).toEqual({ currentTerm: 2, votedFor: 1, commitIndex: 1 });
  });
});

describe("harness: the lease record", () => {
  it("finds the readable interval between two steps to within rounding", () => {
    const fake = (c: number) => status(0, { role: "leader", leaseReadable: c >= 10.3 && c < 30, leaseRemainingMs: c >= 10.3 && c < 30 ? 30 - c : 0 });
    const span = readableSpan(fake, 0, 100)!;
    expect(span[0]).toBeCloseTo(10.3, 6);
    expect(span[1]).toBeCloseTo(30, 9);
    expect(readableSpan(fake, 40, 100)).toBeNull();
  });

  it("reports two nodes whose intervals overlap, and not one node's consecutive intervals", () => {
    const r = new LeaseRecord();
    r.add(nodeId(0), term(1), 0, 100);
    r.add(nodeId(0), term(2), 100, 200);
    expect(r.overlaps()).toEqual([]);
    r.add(nodeId(1), term(3), 200, 300);
    expect(r.overlaps()).toEqual([]);
    r.add(nodeId(2), term(4), 250, 260);
    expect(r.overlaps().map((o) => [o.a.node, o.b.node, o.fromTrueMs, o.toTrueMs])).toEqual([[1, 2, 250, 260]]);
  });
});

describe("harness: the stale-read rule", () => {
  const op = (h: ClientHistory, id: number, kind: "set" | "get", value: string | null, invoke: number, reply: number, result = value ?? "") => {
    h.invoked({ requestId: id as never, node: nodeId(0), kind, key: "k", value, invokeTrueMs: invoke, responseTrueMs: null, result: null });
    h.answered(id as never, { ok: true, value: kind === "get" ? result : "" }, reply);
  };

  it("flags a read of a value a later acknowledged write replaced, and only that", () => {
    const h = new ClientHistory();
    op(h, 1, "set", "old", 0, 1);
    op(h, 2, "set", "new", 2, 3);
    op(h, 3, "get", null, 2.5, 2.6, "old"); // concurrent with the second write: fine
    expect(h.staleReads()).toEqual([]);
    op(h, 4, "get", null, 4, 5, "old");
    expect(h.staleReads()).toHaveLength(1);
    expect(h.staleReads()[0]).toMatch(/stale read/);
  });
});

describe("harness: the safety monitor", () => {
  it("log matching: equal (index, term) with different earlier entries is caught", () => {
    expect(logMatchingBreak([noop(1), set(1, "a"), noop(2)], [noop(1), set(1, "a")])).toBeNull();
    expect(logMatchingBreak([noop(1), set(1, "a"), noop(2)], [noop(1), set(1, "b"), noop(2)])).toBe(2);
  });

  it("election safety, one vote per term, leader completeness and state machine safety are each caught", () => {
    const m = new SafetyMonitor();
    const d0 = diskWith([noop(1), set(1, "a")]);
    const d1 = diskWith([noop(1), set(1, "b")]);
    const disks = new Map([[nodeId(0), d0], [nodeId(1), d1]]);
    m.started(status(0, { role: "leader", term: term(1), votedFor: nodeId(0) }), d0);
    m.started(status(1, { role: "leader", term: term(1), votedFor: nodeId(1) }), d1);
    expect(m.violations.join("\n")).toMatch(/election safety: nodes 0 and 1 both led term 1/);
    m.started(status(1, { term: term(1), votedFor: nodeId(0) }), d1);
    expect(m.violations.join("\n")).toMatch(/one vote per term: node 1/);
    m.started(status(0, { term: term(1), commitIndex: logIndex(2) }), d0);
    m.started(status(1, { role: "leader", term: term(2), votedFor: nodeId(1) }), d1);
    expect(m.violations.join("\n")).toMatch(/leader completeness: leader 1 of term 2 lacks entry 2/);
    const applied = (d: Disk) => output({ applied: [{ index: logIndex(2), entry: d.entry(2)! }] });
    m.afterStep(status(0, {}), d0.lastIndex, applied(d0), status(0, {}), d0, disks);
    m.afterStep(status(1, {}), d1.lastIndex, applied(d1), status(1, {}), d1, disks);
    expect(m.violations.join("\n")).toMatch(/state machine safety: index 2 applied/);
  });

  it("leader append-only: a leader that rewrites its own log is caught", () => {
    const m = new SafetyMonitor();
    const d = diskWith([noop(1), set(1, "a")]);
    const leader = status(0, { role: "leader", term: term(1), votedFor: nodeId(0) });
    m.afterStep(leader, d.lastIndex, output({ truncateFrom: logIndex(2) }), leader, d, new Map([[nodeId(0), d]]));
    expect(m.violations).toEqual(["leader append-only: leader 0 of term 1 rewrote its log from index 2"]);
  });
});

describe("harness: the world", () => {
  it("a message is delivered only when the scheduler or the test says so, and a held one waits", () => {
    const w = new World({ size: 3 });
    w.net.holdNext((e) => e.type === "vote-request", 100);
    w.run(5000);
    const held = w.pool.select((e) => e.held);
    expect(held.length).toBeGreaterThan(0);
    expect(w.leaders()).toEqual([]);
    w.net.stopHolding();
    for (const e of held) if (w.pool.has(e.id)) w.deliver(e.id);
    w.run(3000);
    expect(w.leaders()).toHaveLength(1);
  });

  it("a duplicated message reaches its node twice: once now, once when the test releases the copy", () => {
    const w = new World({ size: 3 });
    w.runUntil("a leader", () => w.leaders().length === 1, 5000);
    const leader = w.leaders()[0]!.id;
    const follower = w.ids.find((id) => id !== leader)!;
    w.net.holdNext((e) => e.type === "append-request" && e.to === follower);
    w.runUntil("a held heartbeat", () => w.pool.select((e) => e.held).length === 1, 500);
    const [heartbeat] = w.pool.select((e) => e.held);
    const first = w.deliver(heartbeat!.id, { duplicate: true });
    expect(w.pool.has(heartbeat!.id)).toBe(true);
    const second = w.deliver(heartbeat!.id);
    expect(w.pool.has(heartbeat!.id)).toBe(false);
    expect([first?.sent.length, second?.sent.length]).toEqual([1, 1]);
    expect(w.problems()).toEqual([]);
  });

  it("a restarted node finds on its disk what its outputs made durable", () => {
    const w = new World({ size: 3 });
    w.runUntil("a leader", () => w.leaders().length === 1, 5000);
    const leader = w.leaders()[0]!.id;
    const before = w.status(leader)!;
    w.crash(leader);
    w.restart(leader, 42);
    const after = w.status(leader)!;
    expect([after.role, after.term, after.votedFor, after.lastLogIndex]).toEqual(["follower", before.term, before.votedFor, before.lastLogIndex]);
    expect(w.clockMs(leader)).toBe(42);
  });
});
