// Defects found by these tests, each left failing on purpose (see the report on branch advsnap).
//
// A follower installs a leader's snapshot: the output says installSnapshot (made durable first),
// then truncateFrom / compactTo to cut the log. The runtime writes the snapshot, then rewrites
// the log; a crash between the two leaves on disk the new snapshot and the old log. When that
// old log does not hold the snapshot's last entry (it is shorter, or holds another term there),
// the restarted node drops it in memory (its view says the log restarts right after the
// snapshot) but no output ever tells the runtime to drop it on disk. Its next append is placed
// as if the disk's log ended at the snapshot: the disk's log and the node's part ways (a hole, or
// entries the node no longer has, in front of the ones it appends).
//
// The harness's disk (support/disk.ts) carries out each output exactly as the contract says and
// throws "output contract: ..." when an append would not follow the log it holds.

import { describe, expect, it } from "vitest";
import { A, B, C, cluster, facts, held, holdTo, snapshotOf, writes } from "./support/snapshot-kit.js";
import type { World } from "./support/world.js";

/** Runs the world and reports an output-contract failure as a value, so the assertion names it. */
function runCatching(w: World, ms: number): string | null {
  try {
    w.run(ms);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

describe("defect: a restart between an installed snapshot and the log's cut leaves the disk's log behind", () => {
  it("a log on disk shorter than the snapshot: the node's appends must follow the log the disk holds", () => {
    const w = cluster({ every: 10, keep: 0 });
    writes(w, A, 3);
    w.run(30);
    w.crash(C);
    writes(w, A, 30);
    w.run(50);
    holdTo(w, C, ["snapshot-request"]);
    w.restart(C, 0);
    w.runUntil("A's snapshot for C", () => held(w, C, "snapshot-request").length > 0, 10_000);
    w.net.stopHolding();
    const id = held(w, C, "snapshot-request")[0]!;
    const s = snapshotOf(w, id);
    expect(s.lastIndex).toBe(30);
    // C installs it; the snapshot is durable, the crash comes before the log is cut.
    w.crashAfterSnapshotOfNextStep(C);
    w.deliver(id);
    expect(w.disk(C).snapshot?.lastIndex).toBe(30);
    expect([w.disk(C).firstIndex, w.disk(C).lastIndex]).toEqual([1, 4]);
    w.restart(C, 3);
    // The node restarts right after the snapshot (this much is right)...
    expect([w.view(C)!.firstLogIndex, w.status(C)!.lastLogIndex, w.status(C)!.commitIndex]).toEqual([31, 30, 30]);
    // ...but nothing it outputs drops entries 1-4 from the disk, and its first append (31) does
    // not follow them.
    expect(runCatching(w, 1000), "the first append after the restart").toBeNull();
    expect(w.disk(C).lastIndex).toBe(w.status(C)!.lastLogIndex);
    expect(w.problems()).toEqual([]);
  });

  it("a log on disk holding another term at the snapshot's index: its stale tail must not stay on disk in front of new entries", () => {
    const w = cluster({ every: 10, keep: 2 });
    writes(w, A, 4);
    w.run(50);
    w.net.isolate(A);
    writes(w, A, 75, "stale");
    w.runUntil("B leads term 2", () => w.status(B)?.role === "leader", 5000);
    writes(w, B, 65);
    w.run(100);
    holdTo(w, A, ["snapshot-request"]);
    w.net.healAll();
    w.runUntil("B's snapshot for A", () => held(w, A, "snapshot-request").length > 0, 10_000);
    w.net.stopHolding();
    const id = held(w, A, "snapshot-request")[0]!;
    const s = snapshotOf(w, id);
    expect([s.lastIndex, s.lastTerm, w.disk(A).termAt(s.lastIndex), w.disk(A).lastIndex]).toEqual([70, 2, 1, 80]);
    w.crashAfterSnapshotOfNextStep(A);
    w.deliver(id);
    expect(w.disk(A).snapshot?.lastIndex).toBe(70);
    w.restart(A, 3);
    // The node drops the stale entries 71-80 (term 1) in memory...
    expect([w.status(A)!.lastLogIndex, w.status(A)!.commitIndex]).toEqual([70, 70]);
    // ...but not on disk, and appends 71 on after them.
    expect(runCatching(w, 1500), "the first append after the restart").toBeNull();
    expect(w.disk(A).entries().filter((e) => e.term === 1), "stale term-1 entries left on disk").toEqual([]);
    expect(facts(w, A).values).toEqual(facts(w, B).values);
    expect(w.problems()).toEqual([]);
  });
});
