// Restarts with snapshots, and the `snapshot-saved` input.
//
// What a node may find on its disk (the output contract's order: an installed snapshot is made
// durable first, then the log is truncated and compacted; a saved snapshot is written in the
// background and compaction follows its `snapshot-saved`):
//  - a snapshot and the log's tail after a compaction (the usual case);
//  - a snapshot newer than the log's compaction point (the write completed, the crash came before
//    `snapshot-saved` was stepped);
//  - a leader's snapshot installed, and the log not yet cut: a log that does not hold the
//    snapshot's last entry (shorter), or holds another term there (conflicting), or holds it
//    with entries after it.
// In every case the node must restart with the snapshot's state (never less), a log that
// continues the snapshot, and a commit index at least the snapshot's.
//
// `snapshot-saved` comes from the runtime; a node must not trust one it never asked for (it would
// compact entries no durable snapshot covers), and one that comes twice, or late, after a newer
// one, changes nothing.

import { describe, expect, it } from "vitest";
import { LOG_START_EMPTY, logIndex, makeConfig, RaftNode, term, type Entry, type NodeId } from "../../src/raft/index.js";
import { Disk } from "./support/disk.js";
import { A, B, batch, C, cluster, facts, held, holdTo, requestFrom, writes } from "./support/snapshot-kit.js";
import type { World } from "./support/world.js";

/** What a restarted node must show, given the disk it started from. */
function restartedFrom(w: World, id: NodeId, disk: { snapshotIndex: number; snapshotTerm: number; commitIndex: number }): void {
  const v = w.view(id)!;
  const s = w.status(id)!;
  expect(v.snapshotIndex, "snapshot index after the restart").toBe(disk.snapshotIndex);
  expect(v.termAt(logIndex(disk.snapshotIndex)), "term at the snapshot's last index").toBe(disk.snapshotTerm);
  expect(s.commitIndex, "commit index after the restart").toBeGreaterThanOrEqual(Math.max(disk.snapshotIndex, disk.commitIndex));
  expect(s.appliedIndex, "applied index after the restart").toBe(s.commitIndex);
  expect(s.lastLogIndex).toBeGreaterThanOrEqual(disk.snapshotIndex);
  expect(v.firstLogIndex).toBeLessThanOrEqual(disk.snapshotIndex + 1);
  // The log continues the snapshot: no entry after it has a lower term.
  for (let i = disk.snapshotIndex + 1; i <= s.lastLogIndex; i++) {
    expect(v.termAt(logIndex(i)), `term of entry ${i}, after a snapshot of term ${disk.snapshotTerm}`).toBeGreaterThanOrEqual(disk.snapshotTerm);
  }
}

describe("restart from a snapshot plus the log's tail", () => {
  for (const who of ["a follower", "the leader"] as const) {
    it(`${who} restarts with the snapshot's state, the tail replayed up to its commit index, and rejoins`, () => {
      const w = cluster({ every: 10, keep: 3 });
      writes(w, A, 36);
      w.run(100);
      const id = who === "the leader" ? A : B;
      const d = w.disk(id);
      expect(d.snapshot?.lastIndex).toBe(30);
      expect(d.firstIndex).toBe(28);
      const before = facts(w, id);
      w.crash(id);
      w.restart(id, 77);
      restartedFrom(w, id, { snapshotIndex: 30, snapshotTerm: 1, commitIndex: d.hardState.commitIndex });
      expect(w.view(id)!.firstLogIndex).toBe(28);
      expect(w.status(id)!.lastLogIndex).toBe(before.lastLogIndex);
      expect(facts(w, id).values).toEqual(before.values);
      w.runUntil("a leader", () => w.leaders().length === 1, 10_000);
      const leader = w.leaders()[0]!.id;
      writes(w, leader, 12);
      w.runUntil("every node caught up", () => w.ids.every((n) => w.status(n)!.commitIndex === w.status(leader)!.commitIndex), 10_000);
      expect(w.problems()).toEqual([]);
    });
  }

  it("a commit index lost with a lazy write falls back no lower than the snapshot", () => {
    const w = cluster({ every: 10, keep: 3 });
    writes(w, A, 36);
    w.run(100);
    w.crash(B, { loseLazyCommit: true });
    expect(w.disk(B).hardState.commitIndex).toBeLessThan(30);
    w.restart(B, 5);
    restartedFrom(w, B, { snapshotIndex: 30, snapshotTerm: 1, commitIndex: 0 });
    expect(w.problems()).toEqual([]);
  });

  it("a snapshot made durable just before a crash, before its snapshot-saved: the log was never compacted", () => {
    const w = cluster({ every: 10, keep: 0 });
    w.holdSaves(B);
    writes(w, A, 15);
    w.run(50);
    expect(w.saves(B).map((s) => s.snapshot.lastIndex)).toEqual([10]);
    expect(w.disk(B).firstIndex).toBe(1);
    w.crash(B, { completeSaves: true });
    expect(w.disk(B).snapshot?.lastIndex).toBe(10);
    w.holdSaves(B, false);
    w.restart(B, 9);
    restartedFrom(w, B, { snapshotIndex: 10, snapshotTerm: 1, commitIndex: w.disk(B).hardState.commitIndex });
    writes(w, A, 20);
    w.run(200);
    expect(w.view(B)!.firstLogIndex, "B compacts again after its restart").toBeGreaterThan(10);
    expect(w.problems()).toEqual([]);
  });
});

// A log that does not reach the snapshot's last entry, or holds another term there: see
// snapshot-defects.test.ts (the node restarts with the right state but its log and the disk's
// part ways).
describe("restart after a leader's snapshot was made durable and before the log was cut", () => {
  it("a log holding the snapshot's last entry and entries after it: the entries after it stay", () => {
    const w = cluster({ every: 10, keep: 0, overrides: { batchCountMax: 10 }, overridesOf: (id) => (id === C ? { snapshotEveryEntries: 1000 } : {}) });
    w.run(50);
    holdTo(w, C, ["append-request"]);
    holdTo(w, B, ["append-request"]);
    batch(w, A, 30);
    const toB = held(w, B, "append-request");
    const toC = held(w, C, "append-request");
    w.net.stopHolding();
    w.deliver(toB[0]!);
    w.deliver(toB[1]!);
    w.drop(toB[2]!);
    w.run(5);
    const late = requestFrom(w, A, C);
    expect(late.snapshot.lastIndex).toBe(21);
    w.net.cut(A, C);
    for (const id of toC) w.deliver(id);
    expect(w.disk(C).lastIndex).toBe(31);
    w.crashAfterSnapshotOfNextStep(C);
    w.deliver(w.inject(late));
    w.restart(C, 3);
    restartedFrom(w, C, { snapshotIndex: 21, snapshotTerm: 1, commitIndex: 0 });
    expect(w.status(C)!.lastLogIndex, "the entries after the snapshot (acknowledged) stay").toBe(31);
    w.net.healAll();
    w.run(500);
    expect(w.status(C)!.commitIndex).toBe(w.status(A)!.commitIndex);
    expect(w.problems()).toEqual([]);
  });
});

describe("a disk whose log starts beyond its snapshot", () => {
  const noop = (t: number): Entry => ({ term: term(t), command: { kind: "noop" } });
  const set = (t: number, v: string): Entry => ({ term: term(t), command: { kind: "set", key: "k", value: v, clientId: "", sequence: 0, firstUnanswered: 0 } });

  it("is refused at start (a hole between the snapshot and the log would be replayed as if it were not there)", () => {
    const config = makeConfig(A, [A, B, C], { heartbeatMs: 100, electionTimeoutMinMs: 1000, electionTimeoutMaxMs: 2000, leaseMs: 800, driftPpmMax: 1000 });
    const entries = [noop(1), set(1, "a"), set(1, "b")];
    const start = () =>
      RaftNode.start(
        config,
        { hardState: { currentTerm: term(1), votedFor: null, commitIndex: logIndex(23) }, snapshot: null, logStart: { prevIndex: logIndex(20), prevTerm: term(1) }, entries },
        0,
        () => 0.5,
      );
    expect(start).toThrow(/invariant broken: the log starts after 20 but there is no snapshot/);
    // The same log with no compaction is fine: the refusal is about the hole.
    expect(() =>
      RaftNode.start(config, { hardState: { currentTerm: term(1), votedFor: null, commitIndex: logIndex(3) }, logStart: LOG_START_EMPTY, entries }, 0, () => 0.5),
    ).not.toThrow();
  });

  it("an older snapshot than the log's start is refused too", () => {
    const w = cluster({ every: 10, keep: 0 });
    writes(w, A, 25);
    w.run(50);
    const early = w.disk(B).persisted();
    w.crash(B);
    const p = w.disk(B).persisted();
    expect(p.logStart!.prevIndex).toBe(20);
    const hole = Disk.holding({ ...p, snapshot: { ...p.snapshot!, lastIndex: logIndex(10) } });
    w.setDisk(B, hole);
    expect(() => w.restart(B, 0)).toThrow(/invariant broken: the log starts after 20, past the snapshot's last index 10/);
    expect(early.snapshot?.lastIndex).toBe(20);
  });
});

describe("snapshot-saved", () => {
  it("one the node never asked for compacts nothing and claims no snapshot", () => {
    const w = cluster({ every: 10, keep: 0 });
    w.holdSaves(B);
    writes(w, A, 8);
    w.run(50);
    expect(w.saves(B)).toEqual([]);
    const before = facts(w, B);
    // B has no snapshot and asked for none; it is told that one through its applied index, and one far ahead, are durable.
    for (const index of [before.appliedIndex, 5, 999]) {
      const r = w.step(B, (nowMs) => ({ type: "snapshot-saved", nowMs, index: logIndex(index) }));
      expect(r.out.compactTo, `compaction after a snapshot-saved through ${index} never asked for`).toBeNull();
      expect(w.view(B)!.snapshotIndex, "a snapshot the node does not have").toBe(0);
      expect(w.view(B)!.firstLogIndex).toBe(1);
    }
    w.crash(B);
    w.restart(B, 0);
    expect(facts(w, B).values).toEqual(before.values);
    expect(w.problems()).toEqual([]);
  });

  it("one for a snapshot older than the durable one changes nothing", () => {
    const w = cluster({ every: 10, keep: 0 });
    writes(w, A, 25);
    w.run(50);
    const before = { snapshot: w.view(B)!.snapshotIndex, first: w.view(B)!.firstLogIndex };
    expect(before.snapshot).toBe(20);
    const r = w.step(B, (nowMs) => ({ type: "snapshot-saved", nowMs, index: logIndex(10) }));
    expect(r.out.compactTo).toBeNull();
    expect({ snapshot: w.view(B)!.snapshotIndex, first: w.view(B)!.firstLogIndex }).toEqual(before);
    expect(w.problems()).toEqual([]);
  });

  it("twice for the same snapshot: the second changes nothing", () => {
    const w = cluster({ every: 10, keep: 2 });
    w.holdSaves(B);
    writes(w, A, 12);
    w.run(50);
    expect(w.saves(B).map((s) => s.snapshot.lastIndex)).toEqual([10]);
    w.completeSave(B);
    const after = { snapshot: w.view(B)!.snapshotIndex, first: w.view(B)!.firstLogIndex, last: w.status(B)!.lastLogIndex };
    expect(after.snapshot).toBe(10);
    expect(after.first).toBe(9);
    const r = w.step(B, (nowMs) => ({ type: "snapshot-saved", nowMs, index: logIndex(10) }));
    expect(r.out.compactTo === null || r.out.compactTo.prevIndex === 8).toBe(true);
    expect({ snapshot: w.view(B)!.snapshotIndex, first: w.view(B)!.firstLogIndex, last: w.status(B)!.lastLogIndex }).toEqual(after);
    expect(w.problems()).toEqual([]);
  });

  it("late: one for the previous snapshot, after the newer one's, changes nothing", () => {
    const w = cluster({ every: 10, keep: 0 });
    w.holdSaves(B);
    writes(w, A, 12);
    w.run(50);
    expect(w.saves(B).map((s) => s.snapshot.lastIndex)).toEqual([10]);
    w.completeSave(B);
    writes(w, A, 10);
    w.run(50);
    expect(w.saves(B).map((s) => s.snapshot.lastIndex)).toEqual([20]);
    w.completeSave(B);
    expect([w.view(B)!.snapshotIndex, w.view(B)!.firstLogIndex]).toEqual([20, 21]);
    const r = w.step(B, (nowMs) => ({ type: "snapshot-saved", nowMs, index: logIndex(10) }));
    expect(r.out.compactTo).toBeNull();
    expect(w.disk(B).snapshot?.lastIndex).toBe(20);
    expect([w.view(B)!.snapshotIndex, w.view(B)!.firstLogIndex]).toEqual([20, 21]);
    w.crash(B);
    w.restart(B, 0);
    restartedFrom(w, B, { snapshotIndex: 20, snapshotTerm: 1, commitIndex: 0 });
    expect(w.problems()).toEqual([]);
  });

  it("for the node's own snapshot, completed after it installed a leader's newer one: changes nothing", () => {
    const w = cluster({ every: 10, keep: 0 });
    w.holdSaves(C);
    writes(w, A, 12);
    w.run(20);
    expect(w.saves(C).map((s) => s.snapshot.lastIndex)).toEqual([10]);
    holdTo(w, C);
    writes(w, A, 30);
    w.run(50);
    w.net.stopHolding();
    const request = held(w, C, "snapshot-request");
    expect(request.length).toBe(1);
    w.deliver(request[0]!);
    const installed = { snapshot: w.view(C)!.snapshotIndex, first: w.view(C)!.firstLogIndex };
    expect(installed.snapshot).toBeGreaterThanOrEqual(30);
    const r = w.completeSave(C, 10);
    expect(r.out.compactTo).toBeNull();
    expect(w.disk(C).snapshot?.lastIndex).toBe(installed.snapshot);
    expect({ snapshot: w.view(C)!.snapshotIndex, first: w.view(C)!.firstLogIndex }).toEqual(installed);
    w.holdSaves(C, false);
    w.run(300);
    expect(w.problems()).toEqual([]);
  });

  it("while a snapshot write is under way the log is not compacted; once it is durable it is", () => {
    const w = cluster({ every: 10, keep: 0 });
    w.holdSaves(A);
    w.holdSaves(B);
    writes(w, A, 45);
    w.run(50);
    for (const id of [A, B]) {
      expect(w.view(id)!.firstLogIndex, `node ${id} compacted before its snapshot was durable`).toBe(1);
      expect(w.view(id)!.snapshotIndex).toBe(0);
      expect(w.saves(id).length).toBeGreaterThan(0);
    }
    const pending = w.saves(A)[0]!.snapshot.lastIndex;
    w.completeSave(A);
    expect(w.view(A)!.snapshotIndex).toBe(pending);
    expect(w.view(A)!.firstLogIndex).toBe(pending + 1);
    expect(w.problems()).toEqual([]);
  });
});
