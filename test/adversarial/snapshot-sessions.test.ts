// Exactly-once SETs across snapshots: a SET retried with the same client id and sequence is
// applied once, also when the node that gets the retry learnt the first attempt only from a
// snapshot (installed from a leader, or restored at a restart) and never saw its log entry.
//
// Staging: client c1 writes x=first (sequence 1), client c2 then writes x=second; enough other
// writes follow that every log compacts past both. c1, which never heard its answer, retries
// x=first with sequence 1. The retry must leave x=second. The negative control
// (snapshot-forgets-sessions) shows the staging catches a snapshot without its session table.

import { describe, expect, it } from "vitest";
import type { Mutation, NodeId, RequestId, SetCommand } from "../../src/raft/index.js";
import { A, B, C, cluster, held, holdTo, writes } from "./support/snapshot-kit.js";
import type { World } from "./support/world.js";

const first: SetCommand = { kind: "set", key: "x", value: "first", clientId: "c1", sequence: 1, firstUnanswered: 1 };
const second: SetCommand = { kind: "set", key: "x", value: "second", clientId: "c2", sequence: 1, firstUnanswered: 1 };

function answered(w: World, id: RequestId, what: string): void {
  w.runUntil(what, () => w.history.op(id).result !== null, 3000);
  expect(w.history.op(id).result?.ok, what).toBe(true);
}

/** The index at which `leader`'s log (or snapshot) holds c1's SET: found through the reference. */
function indexOfFirst(w: World): number {
  for (let i = 1; ; i++) {
    const e = w.safety.reference.entry(i);
    if (e === undefined) throw new Error("harness: c1's SET is not committed");
    if (e.command.kind === "set" && e.command.clientId === "c1") return i;
  }
}

/** The two SETs, committed and then compacted away on A (and B), while C is down. */
function writeThenCompact(w: World, leader: NodeId): number {
  answered(w, w.client(leader, [first])[0]!, "c1's SET");
  answered(w, w.client(leader, [second])[0]!, "c2's SET");
  writes(w, leader, 25);
  w.run(50);
  const at = indexOfFirst(w);
  expect(w.view(leader)!.firstLogIndex, "the leader compacted c1's SET away").toBeGreaterThan(at);
  return at;
}

/** C learns c1's SET only from A's snapshot, then leads (A crashed); c1 retries at C. */
function retryAtFollowerTurnedLeader(mutation: Mutation | null): World {
  const w = cluster({ every: 10, keep: 0, mutation, jitter: { [A]: 0, [B]: 0.9, [C]: 0.4 } });
  w.crash(C);
  const at = writeThenCompact(w, A);
  holdTo(w, C, ["snapshot-request"]);
  w.restart(C, 0);
  w.runUntil("A's snapshot for C", () => held(w, C, "snapshot-request").length > 0, 10_000);
  w.net.stopHolding();
  w.deliver(held(w, C, "snapshot-request")[0]!);
  expect(w.view(C)!.snapshotIndex).toBeGreaterThanOrEqual(at);
  expect(w.view(C)!.firstLogIndex, "C holds c1's SET only in its snapshot").toBeGreaterThan(at);
  w.runUntil("C caught up", () => w.status(C)?.commitIndex === w.status(A)?.commitIndex, 2000);
  w.crash(A);
  w.runUntil("C leading with its lease", () => w.status(C)?.role === "leader" && w.status(C)?.leaseReadable === true, 10_000);
  answered(w, w.client(C, [first])[0]!, "c1's retry at C");
  w.run(300);
  return w;
}

describe("sessions survive a snapshot installed from the leader", () => {
  it("a retried SET is not applied again by a follower that installed the snapshot and then leads", () => {
    const w = retryAtFollowerTurnedLeader(null);
    expect(w.view(C)!.valueOf("x"), "x after c1's retry, at C").toBe("second");
    expect(w.view(B)!.valueOf("x"), "x after c1's retry, at B").toBe("second");
    expect(w.problems()).toEqual([]);
  });

  it("negative control: a snapshot without its session table (snapshot-forgets-sessions) applies the retry twice", () => {
    const w = retryAtFollowerTurnedLeader("snapshot-forgets-sessions");
    expect(w.view(C)!.valueOf("x")).toBe("first");
    expect(w.problems().join("\n")).toMatch(/snapshot: .* sessions \[\] but the committed log gives/);
  });
});

/** Every node crashes and restarts from its snapshot and log tail; c1 retries at the new leader. */
function retryAfterRestartOfAll(mutation: Mutation | null, keep: number): World {
  const w = cluster({ every: 10, keep, mutation });
  const at = writeThenCompact(w, A);
  for (const id of [A, B, C]) {
    expect(w.disk(id).snapshot?.lastIndex ?? 0, `node ${id}'s durable snapshot covers c1's SET`).toBeGreaterThanOrEqual(at);
    if (keep === 0) expect(w.disk(id).firstIndex, `node ${id}'s log no longer holds c1's SET`).toBeGreaterThan(at);
    w.crash(id);
  }
  for (const id of [A, B, C]) w.restart(id, 1000 * (id + 1));
  for (const id of [A, B, C]) expect(w.view(id)!.valueOf("x"), `x at node ${id} after its restart`).toBe("second");
  w.runUntil("a leader with its lease", () => w.leaders().some((l) => l.leaseReadable), 10_000);
  const leader = w.leaders()[0]!.id;
  answered(w, w.client(leader, [first])[0]!, "c1's retry after the restart");
  w.run(300);
  return w;
}

describe("sessions survive a restart from a snapshot", () => {
  for (const keep of [0, 3]) {
    it(`a retried SET is not applied again after every node restarted from its snapshot (keeping ${keep} entries below it)`, () => {
      const w = retryAfterRestartOfAll(null, keep);
      for (const id of [A, B, C]) expect(w.view(id)!.valueOf("x"), `x at node ${id}`).toBe("second");
      expect(w.problems()).toEqual([]);
    });
  }

  it("negative control: with snapshot-forgets-sessions the retry after the restart is applied twice", () => {
    const w = retryAfterRestartOfAll("snapshot-forgets-sessions", 0);
    expect(w.leaders().map((l) => w.view(l.id)!.valueOf("x"))).toEqual(["first"]);
  });
});

describe("sessions: a retry whose first attempt lies in the compacted prefix, at the same leader", () => {
  it("the leader that compacted the entry away still recognises the retry", () => {
    const w = cluster({ every: 10, keep: 0 });
    writeThenCompact(w, A);
    answered(w, w.client(A, [first])[0]!, "c1's retry at A");
    w.run(200);
    for (const id of [A, B, C]) expect(w.view(id)!.valueOf("x"), `x at node ${id}`).toBe("second");
    expect(w.problems()).toEqual([]);
  });
});

/**
 * The session table is bounded (sessionCountMax, least recently used first out, "on every node
 * alike, since every node applies the same log"). A node that restores it from a snapshot must
 * restore its order too, or its later evictions differ from the others' and a retried SET is
 * applied on some nodes and not on others.
 */
describe("sessions: the eviction order survives a snapshot", () => {
  const cmd = (clientId: string, sequence: number, value: string): SetCommand => ({ kind: "set", key: "x", value, clientId, sequence, firstUnanswered: sequence });

  it("a follower that installed the snapshot evicts the same sessions as the others, so retries land alike everywhere", () => {
    const w = cluster({ every: 10, keep: 0, overrides: { sessionCountMax: 3 } });
    w.crash(C);
    // Sessions, least recently used first: c2, c3, c1; then c4 evicts c2: c3, c1, c4.
    for (const c of [cmd("c1", 1, "c1-1"), cmd("c2", 1, "c2-1"), cmd("c3", 1, "c3-1"), cmd("c1", 2, "c1-2"), cmd("c4", 1, "c4-1")]) {
      answered(w, w.client(A, [c])[0]!, `${c.clientId}'s SET ${c.sequence}`);
    }
    writes(w, A, 20);
    w.run(50);
    const atA = w.view(A)!.snapshot!;
    expect([...atA.sessions.keys()], "A's snapshot, least recently used first").toEqual(["c3", "c1", "c4"]);
    holdTo(w, C, ["snapshot-request"]);
    w.restart(C, 0);
    w.runUntil("A's snapshot for C", () => held(w, C, "snapshot-request").length > 0, 10_000);
    w.net.stopHolding();
    w.deliver(held(w, C, "snapshot-request")[0]!);
    expect(w.view(C)!.firstLogIndex, "C knows the sessions from the snapshot only").toBeGreaterThan(8);
    w.runUntil("C caught up", () => w.status(C)?.commitIndex === w.status(A)?.commitIndex, 2000);
    expect([...w.view(C)!.snapshot!.sessions.keys()], "C's installed snapshot, least recently used first").toEqual(["c3", "c1", "c4"]);
    // c5 evicts the least recently used session (c3) on every node; c3 then retries its SET: it
    // is applied again everywhere (the documented cost of an eviction), or nowhere.
    answered(w, w.client(A, [cmd("c5", 1, "c5-1")])[0]!, "c5's SET");
    answered(w, w.client(A, [cmd("c3", 1, "c3-1")])[0]!, "c3's retry (its session was evicted)");
    w.run(200);
    expect([A, B, C].map((id) => w.view(id)!.valueOf("x")), "x on A, B and C").toEqual(["c3-1", "c3-1", "c3-1"]);
    // c3's retry evicted c1 (sessions now c4, c5, c3); a retry of c5, whose session is kept, is
    // not applied again, anywhere.
    answered(w, w.client(A, [cmd("c5", 1, "c5-1")])[0]!, "c5's retry (its session is kept)");
    w.run(200);
    expect([A, B, C].map((id) => w.view(id)!.valueOf("x")), "x on A, B and C").toEqual(["c3-1", "c3-1", "c3-1"]);
    expect(w.problems()).toEqual([]);
  });
});
