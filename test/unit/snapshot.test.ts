// Snapshots and log compaction in the core: taking, compacting, sending, installing, restarting.

import { describe, expect, it } from "vitest";
import { logIndex, nodeId, term, type FullOutput, type Message, type PersistedState, type Snapshot } from "../../src/raft/index.js";
import { persistedWith, set, TestCluster, type TestNodeOptions } from "./support/cluster.js";

const EVERY = 10;
const KEEP = 3;
const opts: TestNodeOptions = { overrides: { snapshotEveryEntries: EVERY, snapshotKeepEntries: KEEP } };

/** Steps `snapshot-saved` for every snapshot node `id` was asked to save and has not been told of. */
function saveAll(c: TestCluster, id: number): FullOutput[] {
  const asked = c.outputs.filter((o) => o.from === id && o.output.saveSnapshot !== null).map((o) => o.output.saveSnapshot!);
  return asked.map((s) => c.record(nodeId(id), c.node(id).step({ type: "snapshot-saved", nowMs: c.nowMs, index: s.lastIndex })));
}

function writeKeys(c: TestCluster, leader: number, count: number, drop: (m: Message) => boolean = () => false, prefix = "k"): void {
  for (let i = 0; i < count; i++) {
    c.client(leader, set(`${prefix}${i}`, `v${i}`, "client-a", c.outputs.length + 1));
    c.deliverAll(drop);
  }
}

const toNode = (id: number) => (m: Message): boolean => m.to === id;

describe("snapshots and log compaction", () => {
  it("a node asks for a snapshot every N applied entries, and compacts only once it is saved, keeping a tail", () => {
    const c = new TestCluster(3, opts);
    c.elect(0);
    writeKeys(c, 0, 12);
    const leader = c.node(0).inspect();
    const asked = c.outputs.filter((o) => o.from === 0 && o.output.saveSnapshot !== null);
    expect(asked).toHaveLength(1);
    const s = asked[0]!.output.saveSnapshot!;
    expect(s.lastIndex).toBe(EVERY);
    expect(s.data.get("k0")).toBe("v0");
    expect(leader.firstLogIndex).toBe(1); // nothing goes before the save is durable
    const [out] = saveAll(c, 0);
    expect(out!.compactTo).toEqual({ prevIndex: EVERY - KEEP, prevTerm: leader.termAt(logIndex(EVERY - KEEP)) });
    expect(out!.events.map((e) => e.kind)).toContain("log-compacted");
    expect(leader.firstLogIndex).toBe(EVERY - KEEP + 1);
    expect(leader.snapshotIndex).toBe(EVERY);
    expect(() => leader.entryAt(logIndex(EVERY - KEEP))).toThrow(/no log entry/);
    expect(leader.valueOf("k11")).toBe("v11");
  });

  it("a snapshot image does not change when the state machine moves on", () => {
    const c = new TestCluster(3, opts);
    c.elect(0);
    writeKeys(c, 0, 9);
    const s = c.outputs.find((o) => o.output.saveSnapshot !== null)!.output.saveSnapshot!;
    const before = s.data.get("k5");
    c.client(0, set("k5", "changed"));
    c.deliverAll();
    expect(s.data.get("k5")).toBe(before);
    expect(c.node(0).inspect().valueOf("k5")).toBe("changed");
  });

  it("a follower behind the compacted log gets the snapshot, installs it and catches up with entries", () => {
    const c = new TestCluster(3, opts);
    c.elect(0);
    writeKeys(c, 0, 25, toNode(2));
    for (const id of [0, 1]) saveAll(c, id);
    expect(c.node(0).inspect().firstLogIndex).toBeGreaterThan(1);
    c.nowMs = c.node(0).wakeAtMs();
    c.tick(0); // heartbeat: node 2 is now reachable
    c.deliverAll();
    const sent = c.events(0).filter((k) => k === "snapshot-sent");
    expect(sent).toHaveLength(1);
    const installed = c.outputs.filter((o) => o.from === 2 && o.output.installSnapshot !== null);
    expect(installed).toHaveLength(1);
    expect(installed[0]!.output.compactTo!.prevIndex).toBe(installed[0]!.output.installSnapshot!.lastIndex);
    const f = c.node(2).inspect();
    const l = c.node(0).inspect();
    expect(f.commitIndex).toBe(l.commitIndex);
    expect(f.lastLogIndex).toBe(l.lastLogIndex);
    for (let i = 0; i < 25; i++) expect(f.valueOf(`k${i}`)).toBe(`v${i}`);
    writeKeys(c, 0, 2, () => false, "after");
    // A follower learns a commit with the next message: the first of the two is committed there.
    expect(c.node(2).inspect().valueOf("after0")).toBe("v0");
    expect(l.matchIndexOf(nodeId(2))).toBe(l.lastLogIndex);
  });

  it("a snapshot no newer than the follower's commit index changes nothing and is answered with what it holds", () => {
    const c = new TestCluster(3, opts);
    c.elect(0);
    writeKeys(c, 0, 12);
    saveAll(c, 0);
    const s = c.node(0).inspect().snapshot!;
    const f = c.node(1).inspect();
    const commitBefore = f.commitIndex;
    const out = c.deliver({ type: "snapshot-request", from: nodeId(0), to: nodeId(1), term: c.node(0).inspect().term, snapshot: s, lease: { leaseMs: 800, driftPpmMax: 1000 }, leaderSendMs: c.nowMs })!;
    expect(out.installSnapshot).toBeNull();
    expect(out.truncateFrom).toBeNull();
    expect(f.commitIndex).toBe(commitBefore);
    const reply = out.messages[0]!;
    expect(reply).toMatchObject({ type: "snapshot-reply", matchIndex: commitBefore, snapshotIndex: s.lastIndex });
  });

  it("a follower keeps the entries after the snapshot when its log holds the snapshot's last entry (it may have acknowledged them)", () => {
    const c = new TestCluster(3, opts);
    c.elect(0);
    writeKeys(c, 0, 12);
    const t = c.node(0).inspect().term;
    // Node 1 holds 1..13 (all appended), but suppose it learned commit only through 5.
    const entries = Array.from({ length: 13 }, (_, i) => c.node(1).inspect().entryAt(logIndex(i + 1)));
    const restarted = c.makeNode(nodeId(1), persistedWith(entries, t, 5));
    c.nodes.set(nodeId(1), restarted);
    const s = c.outputs.find((o) => o.from === 0 && o.output.saveSnapshot !== null)!.output.saveSnapshot!;
    const out = c.deliver({ type: "snapshot-request", from: nodeId(0), to: nodeId(1), term: t, snapshot: s, lease: { leaseMs: 800, driftPpmMax: 1000 }, leaderSendMs: c.nowMs })!;
    expect(out.installSnapshot).toBe(s);
    expect(out.truncateFrom).toBeNull();
    const v = restarted.inspect();
    expect(v.lastLogIndex).toBe(13);
    expect(v.firstLogIndex).toBe(s.lastIndex + 1);
    expect(v.commitIndex).toBe(s.lastIndex);
  });

  it("a follower whose entry at the snapshot's index has another term drops its log after it", () => {
    const c = new TestCluster(3, opts);
    const noop = { kind: "noop" as const };
    const data = new Map([["k3", "v3"]]);
    const s: Snapshot = { lastIndex: logIndex(10), lastTerm: term(2), members: [0, 1, 2].map((i) => ({ id: nodeId(i), address: "", role: "voter" as const })), data, sessions: new Map() };
    const f = c.makeNode(nodeId(1), persistedWith(Array.from({ length: 15 }, () => ({ term: term(1), command: noop })), 1, 4));
    c.nodes.set(nodeId(1), f);
    const out = c.deliver({ type: "snapshot-request", from: nodeId(0), to: nodeId(1), term: term(2), snapshot: s, lease: { leaseMs: 800, driftPpmMax: 1000 }, leaderSendMs: c.nowMs })!;
    expect(out.truncateFrom).toBe(11);
    expect(out.compactTo).toEqual({ prevIndex: 10, prevTerm: 2 });
    expect(f.inspect().lastLogIndex).toBe(10);
    expect(f.inspect().valueOf("k3")).toBe("v3");
    expect(out.messages[0]).toMatchObject({ type: "snapshot-reply", matchIndex: 10 });
  });

  it("a restart from a snapshot and the log's tail gives the same state; a log that lacks the snapshot's entry is dropped", () => {
    const c = new TestCluster(3, opts);
    c.elect(0);
    writeKeys(c, 0, 14);
    saveAll(c, 1);
    const v = c.node(1).inspect();
    const s: Snapshot = v.snapshot!;
    const tail = [];
    for (let i = v.firstLogIndex; i <= v.lastLogIndex; i++) tail.push(v.entryAt(logIndex(i)));
    const persisted: PersistedState = {
      ...persistedWith(tail, v.term, v.commitIndex),
      snapshot: s,
      logStart: { prevIndex: logIndex(v.firstLogIndex - 1), prevTerm: v.termAt(logIndex(v.firstLogIndex - 1))! },
    };
    const again = c.makeNode(nodeId(1), persisted).inspect();
    for (let i = 0; i < 14; i++) expect(again.valueOf(`k${i}`)).toBe(v.valueOf(`k${i}`));
    expect(again.valueOf("k12")).toBe("v12");
    expect(again.commitIndex).toBe(v.commitIndex);
    expect(again.lastLogIndex).toBe(v.lastLogIndex);
    // A crash between installing a snapshot and rewriting the log: the old log ends before it.
    const short = c.makeNode(nodeId(1), { ...persistedWith(tail.slice(0, 0), 1, 0), snapshot: s }).inspect();
    expect(short.lastLogIndex).toBe(s.lastIndex);
    expect(short.commitIndex).toBe(s.lastIndex);
    expect(short.valueOf("k5")).toBe("v5");
  });

  it("sessions travel in the snapshot: a retried SET is not applied again by a node restored from it", () => {
    const c = new TestCluster(3, opts);
    c.elect(0);
    writeKeys(c, 0, 5);
    c.client(0, set("dup", "first", "client-b", 7));
    c.deliverAll();
    c.client(0, set("dup", "second"));
    c.deliverAll();
    writeKeys(c, 0, 5);
    saveAll(c, 0);
    const snap = c.outputs.filter((o) => o.from === 0 && o.output.saveSnapshot !== null).at(-1)!.output.saveSnapshot!;
    expect(snap.sessions.get("client-b")).toEqual({ firstUnanswered: 7, applied: [7] });
    const restored = c.makeNode(nodeId(0), { ...persistedWith([], c.node(0).inspect().term, 0), snapshot: snap });
    expect(restored.inspect().valueOf("dup")).toBe("second");
    // The retry of sequence 7 is a duplicate there: applying it would turn "second" back into "first".
    c.nodes.set(nodeId(0), restored);
    const mutated = new TestCluster(3, { overrides: { ...opts.overrides, mutation: "snapshot-forgets-sessions" } });
    mutated.elect(0);
    writeKeys(mutated, 0, 5);
    mutated.client(0, set("dup", "first", "client-b", 7));
    mutated.deliverAll();
    writeKeys(mutated, 0, 5);
    const forgot = mutated.outputs.find((o) => o.output.saveSnapshot !== null)!.output.saveSnapshot!;
    expect(forgot.sessions.size).toBe(0);
  });
});
