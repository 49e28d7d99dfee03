// The output contract with snapshots (types.ts, `Output`), checked against what a disk that
// carries out each output to the letter holds (support/disk.ts checks every output of every test;
// these tests stage the cases that stress it and assert on the outputs themselves):
//  - installSnapshot, truncateFrom and compactTo in one output are consistent: the log restarts
//    right after the installed snapshot, and whatever it keeps follows an entry of the snapshot's
//    term;
//  - appends never fall inside the compacted prefix (a stale AppendEntries that reaches back into
//    it appends nothing, truncates nothing);
//  - a persisted commit index never exceeds the log's last index or the snapshot's;
//  - what a follower tells the leader it holds (matchIndex) is only what it knows matches;
//  - a leader that writes its own log in parallel with its sends may compact while that write is
//    under way, and a `persisted` for entries it has compacted since changes nothing.

import { describe, expect, it } from "vitest";
import { logIndex, term, type FullOutput, type Message } from "../../src/raft/index.js";
import { A, B, batch, C, cluster, facts, held, holdTo, requestFrom, sentOne, snapshotOf, snapshotReply, writes } from "./support/snapshot-kit.js";
import { World } from "./support/world.js";

/** The install output's own consistency, and the disk it left. */
function installConsistent(w: World, id: number, out: FullOutput): void {
  const s = out.installSnapshot!;
  expect(out.compactTo, "the log restarts right after the installed snapshot").toEqual({ prevIndex: s.lastIndex, prevTerm: s.lastTerm });
  if (out.truncateFrom !== null) expect(out.truncateFrom).toBeGreaterThan(0);
  expect(out.appendFrom, "an install appends nothing").toBeNull();
  if (out.hardState !== null) expect(out.hardState.commitIndex).toBeLessThanOrEqual(Math.max(s.lastIndex, w.disk(id).lastIndex));
  const d = w.disk(id);
  expect(d.firstIndex).toBe(s.lastIndex + 1);
  expect(d.termAt(s.lastIndex)).toBe(s.lastTerm);
  for (const e of d.entries()) expect(e.term, "an entry kept after the snapshot has an older term than the snapshot's").toBeGreaterThanOrEqual(s.lastTerm);
}

describe("installSnapshot, truncateFrom and compactTo in one output", () => {
  it("a follower behind the snapshot: the log restarts after it and holds nothing", () => {
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
    const r = w.deliver(held(w, C, "snapshot-request")[0]!);
    installConsistent(w, C, r!.out);
    expect(w.disk(C).entries()).toEqual([]);
    expect(w.problems()).toEqual([]);
  });

  it("a follower whose log conflicts at the snapshot's index: truncation and compaction together leave nothing stale", () => {
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
    expect(w.disk(A).termAt(snapshotOf(w, id).lastIndex)).toBe(1);
    const r = w.deliver(id);
    installConsistent(w, A, r!.out);
    expect(w.disk(A).entries()).toEqual([]);
    expect(w.problems()).toEqual([]);
  });

  it("a follower holding the snapshot's last entry: the entries after it stay, after an entry of the snapshot's term", () => {
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
    w.run(5);
    const late = requestFrom(w, A, C);
    w.net.cut(A, C);
    for (const id of toC) w.deliver(id);
    const r = w.deliver(w.inject(late));
    installConsistent(w, C, r!.out);
    expect(w.disk(C).lastIndex).toBe(31);
    w.net.healAll();
    w.run(300);
    expect(w.problems()).toEqual([]);
  });
});

describe("appends never fall inside the compacted prefix", () => {
  it("AppendEntries that reach back into a follower's compacted prefix (duplicates delivered late) append and truncate nothing", () => {
    const w = cluster({ every: 10, keep: 0, overrides: { batchCountMax: 4 } });
    holdTo(w, C, ["append-request"]);
    writes(w, A, 30);
    w.net.stopHolding();
    const old = held(w, C, "append-request");
    expect(old.length).toBeGreaterThan(5);
    for (const id of old) w.deliver(id, { duplicate: true });
    w.run(200);
    const first = w.view(C)!.firstLogIndex;
    expect(first).toBeGreaterThan(20);
    const before = facts(w, C);
    for (const id of old) {
      const m = w.pool.body(id) as Extract<Message, { type: "append-request" }>;
      expect(m.prevLogIndex + m.entries.length).toBeLessThan(first);
      const r = w.deliver(id);
      expect([r!.out.appendFrom, r!.out.truncateFrom], `the late append after ${m.prevLogIndex}`).toEqual([null, null]);
      const reply = sentOne(w, r, "append-reply");
      expect(reply.matchIndex, "what C claims to hold").toBeLessThanOrEqual(before.commitIndex);
    }
    expect(facts(w, C).entriesFrom(first)).toEqual(before.entriesFrom(first));
    expect(w.problems()).toEqual([]);
  });
});

describe("a follower claims to hold only what it knows matches the leader's log", () => {
  /**
   * C led term 2 for a moment and appended 31-35 (term 2) that nobody else has; A leads term 3.
   * A's snapshot through 30 (term 3's request) reaches C, which has committed 30: C must not
   * claim 31-35, which A holds with other entries.
   */
  it("the snapshot-reply of a follower with older-term entries above its commit index", () => {
    const w = cluster({ every: 10, keep: 0, jitter: { [A]: 0, [B]: 0.9, [C]: 0.5 } });
    writes(w, A, 29);
    w.run(100);
    expect(w.ids.map((id) => w.status(id)!.commitIndex)).toEqual([30, 30, 30]);
    w.net.isolate(A);
    holdTo(w, B, ["append-request"]);
    w.runUntil("C leads term 2", () => w.status(C)?.role === "leader", 5000);
    writes(w, C, 4, "c");
    w.net.isolate(C);
    w.net.stopHolding();
    for (const id of held(w, B, "append-request")) w.drop(id);
    expect([w.status(C)!.commitIndex, w.status(C)!.lastLogIndex]).toEqual([30, 35]);
    w.net.heal(A, B);
    w.runUntil("A leads term 3", () => w.status(A)?.role === "leader" && w.status(A)!.term >= 3, 10_000);
    writes(w, A, 4, "a");
    w.run(20);
    expect(w.disk(A).termAt(31)).not.toBe(w.disk(C).termAt(31));
    const request = requestFrom(w, A, C, w.view(A)!.snapshot!);
    expect(request.snapshot.lastIndex).toBe(30);
    const r = w.deliver(w.inject(request));
    const reply = snapshotReply(w, r);
    expect(reply.matchIndex, "C claims entries that conflict with A's").toBeLessThanOrEqual(30);
    w.deliver(w.inject(reply));
    expect(w.view(A)!.matchIndexOf(C)).toBeLessThanOrEqual(30);
    w.net.healAll();
    w.run(1000);
    expect(facts(w, C).values).toEqual(facts(w, A).values);
    expect(w.problems()).toEqual([]);
  });
});

describe("a leader writing its own log in parallel with its sends, and compaction", () => {
  function slowLeader(): { w: World; slow: (on: boolean) => void } {
    let slowSync = false;
    const w = new World({
      size: 3,
      overrides: { snapshotEveryEntries: 10, snapshotKeepEntries: 0, leaderPersistsInParallel: true },
      syncDelayMs: () => (slowSync ? 500 : 2),
      random: (id) => () => [0, 0.5, 0.9][id]!,
    });
    w.runUntil("A leading with its lease", () => w.status(A)?.leaseReadable === true, 5000);
    w.run(50);
    return { w, slow: (on) => (slowSync = on) };
  }

  it("compacts (its followers made the entries committed) while its own write is under way; a late persisted changes nothing", () => {
    const { w, slow } = slowLeader();
    slow(true);
    for (let i = 0; i < 12; i++) {
      w.set(A, "k", `v${i}`);
      w.run(1);
    }
    w.run(20);
    expect(w.disk(A).hasUnsynced, "A's own write still under way").toBe(true);
    expect(w.view(A)!.snapshotIndex).toBe(10);
    expect(w.view(A)!.firstLogIndex).toBe(11);
    const r = w.step(A, (nowMs) => ({ type: "persisted", nowMs, index: logIndex(5), term: term(1) }));
    expect([r.out.compactTo, r.out.truncateFrom, r.out.appendFrom]).toEqual([null, null, null]);
    slow(false);
    w.run(1000);
    expect(w.problems()).toEqual([]);
  });

  it("and crashes before that write is durable: it restarts from its snapshot, loses only its own unsynced tail", () => {
    const { w, slow } = slowLeader();
    slow(true);
    for (let i = 0; i < 12; i++) {
      w.set(A, "k", `v${i}`);
      w.run(1);
    }
    w.run(20);
    expect(w.view(A)!.snapshotIndex).toBe(10);
    w.crash(A);
    expect(w.disk(A).snapshot?.lastIndex).toBe(10);
    slow(false);
    w.restart(A, 0);
    expect(w.view(A)!.snapshotIndex).toBe(10);
    expect(w.status(A)!.commitIndex).toBeGreaterThanOrEqual(10);
    w.runUntil("a leader", () => w.leaders().length === 1, 5000);
    w.run(1000);
    expect(w.ids.map((id) => w.status(id)!.commitIndex)).toEqual(w.ids.map(() => w.status(w.leaders()[0]!.id)!.commitIndex));
    expect(w.problems()).toEqual([]);
  });
});
