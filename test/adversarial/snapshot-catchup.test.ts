// A leader that compacted its log must still bring every follower up to date: one that was down
// while many snapshots were taken, one whose log conflicts with the leader's below and above the
// compaction point, one whose snapshot-requests and replies are lost, one whose leader changes
// in the middle, one that rejoins with a higher term. And one only a little behind (within
// snapshotKeepEntries) needs no snapshot at all.
//
// A lost snapshot-request is sent again only after a retry period (about 4 s with the fast
// preset, measured: it is not documented); the bounds below allow for two of them.

import { describe, expect, it } from "vitest";
import type { NodeId } from "../../src/raft/index.js";
import { A, B, C, cluster, facts, writes } from "./support/snapshot-kit.js";
import { World } from "./support/world.js";

const CATCH_UP_MS = 12_000;

/**
 * Writes one value every 20 ms at whoever leads for `writeMs`, then no more; then runs until
 * `done()`, at most `maxMs` from the start; throws if it never holds.
 */
function writeUntil(w: World, what: string, done: () => boolean, maxMs: number, writeMs = 1500): void {
  const startMs = w.trueMs;
  for (let i = 0; w.trueMs < startMs + writeMs; i++) {
    const leader = w.leaders()[0]?.id;
    if (leader !== undefined) w.set(leader, `k${i % 3}`, `during${w.trueMs.toFixed(3)}`);
    w.run(20);
  }
  w.runUntil(what, done, Math.max(1, startMs + maxMs - w.trueMs));
}

/** Every node up has the leader's commit index and state machine. */
function caughtUp(w: World): boolean {
  const leader = w.leaders()[0]?.id;
  if (leader === undefined) return false;
  const commit = w.status(leader)!.commitIndex;
  return w.ids.every((id) => !w.isUp(id) || w.status(id)!.commitIndex === commit);
}

function sameState(w: World, ids: readonly NodeId[]): void {
  const [first, ...rest] = ids.map((id) => facts(w, id));
  for (const f of rest) expect(f.values).toEqual(first!.values);
}

function snapshotsInstalledBy(w: World, id: NodeId): () => number {
  let count = 0;
  const step = w.step.bind(w);
  w.step = (node, make) => {
    const r = step(node, make);
    if (node === id && r.out.installSnapshot !== null) count++;
    return r;
  };
  return () => count;
}

describe("a leader that compacted brings every follower up to date", () => {
  it("a follower down while twenty snapshots were taken catches up while writes go on", () => {
    const w = cluster({ every: 10, keep: 3 });
    writes(w, A, 5);
    w.run(30);
    w.crash(C);
    writes(w, A, 200);
    w.run(50);
    expect(w.view(A)!.snapshotIndex).toBeGreaterThanOrEqual(200);
    const installs = snapshotsInstalledBy(w, C);
    w.restart(C, 0);
    writeUntil(w, "C caught up", () => caughtUp(w) && w.status(C)!.commitIndex > 210, CATCH_UP_MS);
    expect(installs()).toBeGreaterThanOrEqual(1);
    w.run(200);
    sameState(w, [A, B, C]);
    expect(w.problems()).toEqual([]);
  });

  it("a deposed leader whose log conflicts with the new leader's below and above its compaction point", () => {
    const w = cluster({ every: 10, keep: 2 });
    writes(w, A, 4);
    w.run(50);
    w.net.isolate(A);
    writes(w, A, 75, "stale");
    w.runUntil("B leads term 2", () => w.status(B)?.role === "leader", 5000);
    writes(w, B, 65);
    w.run(100);
    const compactedThrough = w.view(B)!.firstLogIndex - 1;
    expect(compactedThrough).toBeGreaterThan(6);
    expect(w.disk(A).lastIndex, "A's stale log reaches past B's compaction point").toBeGreaterThan(compactedThrough);
    w.net.healAll();
    writeUntil(w, "A caught up", () => caughtUp(w) && w.status(A)!.commitIndex > 75, CATCH_UP_MS);
    w.run(200);
    expect(w.disk(A).entries().filter((e) => e.term === 1 && e.command.kind === "set" && e.command.value.startsWith("stale"))).toEqual([]);
    sameState(w, [A, B, C]);
    expect(w.problems()).toEqual([]);
  });

  it("snapshot-requests and snapshot-replies lost several times over", () => {
    const w = cluster({ every: 10, keep: 0 });
    w.crash(C);
    writes(w, A, 40);
    w.run(50);
    let lostRequests = 0;
    let lostReplies = 0;
    w.net.setDelivery((e) => {
      if (e.type === "snapshot-request" && lostRequests < 2) return (lostRequests++, []);
      if (e.type === "snapshot-reply" && lostReplies < 1) return (lostReplies++, []);
      return [1];
    });
    w.restart(C, 0);
    writeUntil(w, "C caught up", () => caughtUp(w) && w.status(C)!.commitIndex > 40, 3 * CATCH_UP_MS);
    expect([lostRequests, lostReplies]).toEqual([2, 1]);
    sameState(w, [A, B, C]);
    expect(w.problems()).toEqual([]);
  });

  it("the leader changes while the follower waits for its snapshot: the new leader sends its own", () => {
    const w = cluster({ every: 10, keep: 0, jitter: { [A]: 0, [B]: 0.2, [C]: 0.9 } });
    w.crash(C);
    writes(w, A, 40);
    w.run(50);
    // A's snapshot-requests to C never arrive; A crashes; B leads term 2 and writes more.
    w.net.setDelivery((e) => (e.type === "snapshot-request" && e.from === A ? [] : [1]));
    w.restart(C, 0);
    w.run(300);
    expect(w.status(C)!.commitIndex).toBeLessThan(40);
    w.crash(A);
    w.runUntil("B leading", () => w.status(B)?.role === "leader", 10_000);
    writes(w, B, 25);
    writeUntil(w, "C caught up with B", () => caughtUp(w) && w.status(C)!.commitIndex > 60, CATCH_UP_MS);
    w.restart(A, 0);
    writeUntil(w, "A caught up too", () => caughtUp(w) && w.status(A)!.commitIndex === w.status(B)!.commitIndex, CATCH_UP_MS);
    sameState(w, [A, B, C]);
    expect(w.problems()).toEqual([]);
  });

  it("a follower cut off without PreVote rejoins with a higher term: it cannot lead, and is caught up by the next leader", () => {
    const w = cluster({ every: 10, keep: 0, preVote: false });
    w.net.isolate(C);
    writes(w, A, 60);
    w.run(4000);
    expect(w.status(C)!.term).toBeGreaterThan(w.status(A)!.term);
    w.net.healAll();
    writeUntil(w, "C caught up", () => caughtUp(w) && w.status(C)!.commitIndex > 60, 2 * CATCH_UP_MS);
    expect(w.leaders().map((l) => l.id)).not.toContain(C);
    sameState(w, [A, B, C]);
    expect(w.problems()).toEqual([]);
  });

  it("a five-node cluster: two followers down across many snapshots come back at different times", () => {
    const w = new World({
      size: 5,
      overrides: { snapshotEveryEntries: 15, snapshotKeepEntries: 4 },
      seed: "five",
    });
    w.runUntil("a leader with its lease", () => w.leaders().some((l) => l.leaseReadable), 10_000);
    const leader = w.leaders()[0]!.id;
    const [d1, d2] = w.ids.filter((id) => id !== leader);
    w.crash(d1!);
    writes(w, leader, 40);
    w.crash(d2!);
    writes(w, leader, 80);
    w.run(50);
    w.restart(d2!, 0);
    writeUntil(w, "the second one back", () => caughtUp(w), CATCH_UP_MS);
    writes(w, leader, 40);
    w.restart(d1!, 0);
    writeUntil(w, "both back", () => caughtUp(w) && w.status(d1!)!.commitIndex > 160, CATCH_UP_MS);
    sameState(w, w.ids);
    expect(w.problems()).toEqual([]);
  });
});

describe("a follower only a little behind needs no snapshot", () => {
  it("entries kept below the snapshot (snapshotKeepEntries) bring it up to date by AppendEntries", () => {
    const w = cluster({ every: 10, keep: 20 });
    writes(w, A, 4);
    w.run(30);
    const behindAt = w.status(C)!.lastLogIndex;
    w.crash(C);
    writes(w, A, 20);
    w.run(50);
    expect(w.view(A)!.snapshotIndex).toBeGreaterThan(behindAt);
    expect(w.view(A)!.firstLogIndex).toBeLessThanOrEqual(behindAt + 1);
    let snapshotsToC = 0;
    w.net.setDelivery((e) => {
      if (e.type === "snapshot-request" && e.to === C) snapshotsToC++;
      return [1];
    });
    w.restart(C, 0);
    w.runUntil("C caught up", () => caughtUp(w), 2000);
    expect(snapshotsToC).toBe(0);
    expect(w.problems()).toEqual([]);
  });
});
