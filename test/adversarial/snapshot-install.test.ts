// InstallSnapshot's receiver rules (Raft paper §7, Figure 13), staged through the public API:
//  1. reply immediately if term < currentTerm;
//  6. if an existing log entry has the same index and term as the snapshot's last included entry,
//     retain the log entries following it;
//  7. otherwise discard the entire log, and reset the state machine from the snapshot.
// And what every implementation must add: a snapshot that arrives late (duplicated, reordered,
// older than what the follower has committed or already learnt by entries) undoes nothing:
// nothing acknowledged or applied is lost, the commit and applied indexes never go back.
//
// Every staging also runs under the harness's monitors (support/safety.ts: the state machine
// against the committed log after every step; support/disk.ts: the output contract against what
// the disk holds); each test ends by asserting they saw nothing.

import { describe, expect, it } from "vitest";
import type { Mutation, NodeId, SnapshotRequest } from "../../src/raft/index.js";
import { A, B, batch, C, cluster, diskEntries, facts, held, holdTo, requestFrom, snapshotOf, snapshotReply, writes } from "./support/snapshot-kit.js";
import type { World } from "./support/world.js";

/** The facts a late snapshot must leave alone. */
function unchanged(w: World, id: NodeId, before: ReturnType<typeof facts>): void {
  const after = facts(w, id);
  expect(after.commitIndex, "commit index").toBe(before.commitIndex);
  expect(after.appliedIndex, "applied index").toBe(before.appliedIndex);
  expect(after.lastLogIndex, "last log index").toBe(before.lastLogIndex);
  expect(after.snapshotIndex, "snapshot index").toBeGreaterThanOrEqual(before.snapshotIndex);
  expect(after.entriesFrom(before.commitIndex + 1), "entries after the commit index").toEqual(before.entriesFrom(before.commitIndex + 1));
  expect(after.values, "state machine").toEqual(before.values);
}

/**
 * A leads term 1 and compacts while C is down; C restarts and A's snapshot-request to it (term 1)
 * is held. A crashes; B leads term 2 and brings C up to date (C ahead) or only makes C vote
 * (C behind). Returns the held term-1 request.
 */
function olderTermStaging(cAhead: boolean): { w: World; old: number } {
  const w = cluster({ every: 10, keep: 0, jitter: { [A]: 0, [B]: 0.3, [C]: 0.9 } });
  writes(w, A, 5);
  w.run(50);
  w.crash(C);
  writes(w, A, 30);
  w.run(50);
  holdTo(w, C, ["snapshot-request"]);
  w.restart(C, 0);
  w.runUntil("A's term-1 snapshot for C", () => held(w, C, "snapshot-request").length > 0, 10_000);
  const old = held(w, C, "snapshot-request")[0]!;
  expect(w.pool.envelope(old).term).toBe(1);
  w.net.stopHolding();
  if (!cAhead) holdTo(w, C, ["append-request", "snapshot-request"]);
  w.crash(A);
  w.runUntil("B leading term 2", () => w.status(B)?.role === "leader" && w.status(B)?.term === 2, 10_000);
  if (cAhead) {
    writes(w, B, 25);
    w.runUntil("C caught up with B", () => w.status(C)?.commitIndex === w.status(B)?.commitIndex && w.status(C)!.commitIndex > snapshotOf(w, old).lastIndex, 10_000);
  } else {
    expect(w.status(C)?.term).toBe(2);
    expect(w.status(C)!.commitIndex).toBeLessThan(snapshotOf(w, old).lastIndex);
  }
  return { w, old };
}

describe("InstallSnapshot rule 1: a request of an older term is answered at once and changes nothing", () => {
  for (const cAhead of [true, false]) {
    it(`a term-1 snapshot reaching a term-2 follower that is ${cAhead ? "ahead of it" : "behind it"} is refused`, () => {
      const { w, old } = olderTermStaging(cAhead);
      const before = facts(w, C);
      const leaderBefore = w.status(C)!.leaderId;
      const r = w.deliver(old);
      expect(r!.out.installSnapshot, "installed a snapshot of an older term").toBeNull();
      expect(r!.out.truncateFrom).toBeNull();
      expect(r!.out.compactTo).toBeNull();
      const reply = snapshotReply(w, r);
      expect([reply.term, reply.requestTerm]).toEqual([2, 1]);
      unchanged(w, C, before);
      expect(w.status(C)!.leaderId, "the deposed leader became C's leader again").toBe(leaderBefore);
      expect(w.problems()).toEqual([]);
    });
  }
});

/** A and B compact every 10 entries; C snapshots rarely (every 1000), so its log holds what A compacted. */
const cKeepsItsLog = (id: number) => (id === C ? { snapshotEveryEntries: 1000 } : {});

describe("a snapshot of the current term older than what the follower has undoes nothing", () => {
  it("C holds the snapshot's last entry in its log, and has committed past it", () => {
    const w = cluster({ every: 10, keep: 0, overridesOf: cKeepsItsLog });
    writes(w, A, 9);
    w.run(30);
    const early = requestFrom(w, A, C);
    expect(early.snapshot.lastIndex).toBe(10);
    writes(w, A, 20);
    w.run(100);
    const before = facts(w, C);
    expect(before.commitIndex).toBeGreaterThan(20);
    expect(w.disk(C).firstIndex, "C kept its log").toBe(1);
    const r = w.deliver(w.inject(early));
    expect(r!.out.truncateFrom, "a late snapshot truncated entries it does not cover").toBeNull();
    unchanged(w, C, before);
    expect(snapshotReply(w, r).matchIndex).toBeGreaterThanOrEqual(10);
    w.run(300);
    expect(w.problems()).toEqual([]);
  });

  it("C compacted its own log past the snapshot's last entry (no entry left to compare with)", () => {
    const w = cluster({ every: 10, keep: 0 });
    writes(w, A, 9);
    w.run(30);
    const early = requestFrom(w, A, C);
    writes(w, A, 20);
    w.run(100);
    const before = facts(w, C);
    expect(w.disk(C).firstIndex, "C compacted past the early snapshot").toBeGreaterThan(early.snapshot.lastIndex + 1);
    const r = w.deliver(w.inject(early));
    expect(r!.out.installSnapshot, "installed a snapshot older than its own").toBeNull();
    expect(r!.out.truncateFrom).toBeNull();
    unchanged(w, C, before);
    w.run(300);
    expect(w.problems()).toEqual([]);
  });
});

/**
 * C is down while A compacts; C restarts and A's snapshot to it is held. The test delivers it
 * (keeping a copy), lets C catch up by entries past it, then delivers the copy.
 */
function duplicateAfterCatchUp(mutation: Mutation | null): World {
  const w = cluster({ every: 10, keep: 0, mutation });
  writes(w, A, 5);
  w.run(30);
  w.crash(C);
  writes(w, A, 25);
  w.run(50);
  holdTo(w, C, ["snapshot-request"]);
  w.restart(C, 0);
  w.runUntil("A's snapshot for C", () => held(w, C, "snapshot-request").length > 0, 10_000);
  const first = held(w, C, "snapshot-request")[0]!;
  const s = snapshotOf(w, first);
  w.net.stopHolding();
  w.deliver(first, { duplicate: true });
  expect(w.view(C)!.snapshotIndex).toBe(s.lastIndex);
  writes(w, A, 15);
  w.runUntil("C caught up by entries", () => w.status(C)?.commitIndex === w.status(A)?.commitIndex, 2000);
  expect(w.status(C)!.commitIndex).toBeGreaterThan(s.lastIndex + 10);
  const before = facts(w, C);
  w.deliver(first);
  unchanged(w, C, before);
  return w;
}

describe("a duplicated snapshot-request arriving after the follower caught up by entries", () => {
  it("changes nothing: the entries after the snapshot stay, nothing is re-applied", () => {
    const w = duplicateAfterCatchUp(null);
    w.run(300);
    expect(w.problems()).toEqual([]);
  });
});

/** A sends C its snapshot through 10 (delayed), then through 20 (delivered first). */
function reordered(mutation: Mutation | null): { w: World; older: SnapshotRequest; newerIndex: number } {
  const w = cluster({ every: 10, keep: 0, mutation });
  writes(w, A, 9);
  w.run(30);
  const older = requestFrom(w, A, C);
  expect(older.snapshot.lastIndex).toBe(10);
  writes(w, A, 10);
  w.run(30);
  const newer = requestFrom(w, A, C);
  expect(newer.snapshot.lastIndex).toBe(20);
  writes(w, A, 5);
  w.run(50);
  return { w, older, newerIndex: newer.snapshot.lastIndex };
}

describe("reordered snapshot-requests: an older snapshot after a newer one", () => {
  it("the older one changes nothing", () => {
    const { w, older, newerIndex } = reordered(null);
    expect(w.view(C)!.snapshotIndex).toBeGreaterThanOrEqual(newerIndex);
    const before = facts(w, C);
    const r = w.deliver(w.inject(older));
    expect(r!.out.installSnapshot).toBeNull();
    unchanged(w, C, before);
    expect(w.problems()).toEqual([]);
  });

  it("negative control: a follower that installs any snapshot (install-older-snapshot) is caught", () => {
    const { w, older } = reordered("install-older-snapshot");
    expect(() => w.deliver(w.inject(older))).toThrow(/output contract: installs a snapshot through 10 over the durable one through 20/);
  });

  it("negative control: the duplicate after catch-up, on a follower that installs any snapshot, is caught", () => {
    expect(() => duplicateAfterCatchUp("install-older-snapshot")).toThrow(/commit index|applied index|entries after the commit index|output contract/);
  });
});

/**
 * Rule 6, with a safety consequence: A and C are the majority (B is down) that committed entries
 * 22-31; C learnt them (not yet their commit) from appends sent before A's snapshot through 21
 * was taken, and then receives that snapshot late. If C dropped 22-31, a committed entry would be
 * on A alone; A crashes, and C leads with B.
 */
function retainStaging(): { w: World; late: SnapshotRequest } {
  const w = cluster({ every: 10, keep: 0, overrides: { batchCountMax: 10 }, overridesOf: cKeepsItsLog });
  w.run(50);
  holdTo(w, C, ["append-request"]);
  holdTo(w, B, ["append-request"]);
  batch(w, A, 30);
  const toB = held(w, B, "append-request");
  const toC = held(w, C, "append-request");
  expect(toC.length).toBe(3);
  w.net.stopHolding();
  // B takes entries 2-21 only: A commits 21 and snapshots it.
  w.deliver(toB[0]!);
  w.deliver(toB[1]!);
  w.drop(toB[2]!);
  w.run(5);
  expect(w.view(A)!.snapshotIndex).toBe(21);
  const late = requestFrom(w, A, C);
  w.crash(B);
  // C takes 2-31 (commit index 1 in each); its acknowledgement lets A commit 31 with C. Nothing
  // more from A reaches C (so C does not learn that commit) until the test says so.
  w.net.cut(A, C);
  for (const id of toC) w.deliver(id);
  expect(w.status(C)!.commitIndex).toBe(1);
  w.runUntil("A commits 31 with C", () => w.status(A)?.commitIndex === 31, 500);
  expect(w.status(C)!.commitIndex).toBe(1);
  return { w, late };
}

describe("InstallSnapshot rule 6: a follower holding the snapshot's last entry keeps what follows it", () => {
  it("C keeps entries 22-31 (acknowledged, committed with A) when the snapshot through 21 arrives late", () => {
    const { w, late } = retainStaging();
    expect(late.snapshot.lastIndex).toBe(21);
    const kept = diskEntries(w, C, 22, 31);
    const r = w.deliver(w.inject(late));
    w.net.healAll();
    expect(diskEntries(w, C, 22, 31), "the entries after the snapshot's last entry").toEqual(kept);
    expect(w.status(C)!.lastLogIndex).toBe(31);
    expect(w.status(C)!.commitIndex).toBeGreaterThanOrEqual(21);
    expect(snapshotReply(w, r).matchIndex).toBeLessThanOrEqual(31);
    // A, which holds the committed entries with C, crashes; C must lead with all of them.
    w.crash(A);
    w.restart(B, 0);
    w.runUntil("C leading", () => w.status(C)?.role === "leader", 10_000);
    w.run(500);
    expect(w.status(B)!.commitIndex).toBeGreaterThanOrEqual(31);
    expect(w.problems()).toEqual([]);
  });
});

describe("InstallSnapshot rule 7: otherwise the follower discards its whole log", () => {
  /**
   * A led term 1 and, cut off, appended 75 entries nobody else has (6-80). B leads term 2,
   * writes 65 entries and compacts through 70. A rejoins: its log conflicts with B's below the
   * compaction point (6-68) and above it (69-80), and B sends it a snapshot through 70, where A
   * holds an entry of term 1.
   */
  function conflicting(): { w: World; snap: number } {
    const w = cluster({ every: 10, keep: 2 });
    writes(w, A, 4);
    w.run(50);
    w.net.isolate(A);
    writes(w, A, 75, "stale");
    expect(w.disk(A).lastIndex).toBe(80);
    w.runUntil("B leads term 2", () => w.status(B)?.role === "leader", 5000);
    writes(w, B, 65);
    w.run(100);
    expect(w.disk(B).firstIndex).toBeGreaterThan(6);
    holdTo(w, A, ["snapshot-request"]);
    w.net.healAll();
    w.runUntil("B's snapshot for A", () => held(w, A, "snapshot-request").length > 0, 10_000);
    w.net.stopHolding();
    return { w, snap: held(w, A, "snapshot-request")[0]! };
  }

  it("A, whose entry at the snapshot's index has another term, keeps none of its stale entries", () => {
    const { w, snap } = conflicting();
    const s = snapshotOf(w, snap);
    expect(w.disk(A).termAt(s.lastIndex)).toBe(1);
    expect(s.lastTerm).toBe(2);
    w.deliver(snap);
    expect(w.view(A)!.snapshotIndex).toBe(s.lastIndex);
    expect(w.disk(A).snapshot?.lastIndex).toBe(s.lastIndex);
    const stale = w.disk(A).entries().filter((e) => e.term === 1);
    expect(stale, "entries of term 1 kept after a term-2 snapshot").toEqual([]);
    expect(w.status(A)!.lastLogIndex).toBe(s.lastIndex);
    expect(w.view(A)!.termAt(s.lastIndex)).toBe(2);
    w.run(1000);
    expect(w.status(A)!.commitIndex).toBe(w.status(B)!.commitIndex);
    expect(facts(w, A).values).toEqual(facts(w, B).values);
    expect(w.problems()).toEqual([]);
  });

  it("C, whose log is shorter than the snapshot, restarts its log right after it", () => {
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
    expect(w.disk(C).lastIndex).toBeLessThan(s.lastIndex);
    w.deliver(id);
    expect([w.view(C)!.firstLogIndex, w.status(C)!.lastLogIndex, w.status(C)!.commitIndex, w.status(C)!.appliedIndex]).toEqual([
      s.lastIndex + 1,
      s.lastIndex,
      s.lastIndex,
      s.lastIndex,
    ]);
    expect(w.view(C)!.termAt(s.lastIndex)).toBe(s.lastTerm);
    expect(facts(w, C).values).toEqual(Object.fromEntries([...w.safety.reference.keys].sort().map((k) => [k, s.data.get(k) ?? ""])));
    w.run(500);
    expect(w.problems()).toEqual([]);
  });
});
