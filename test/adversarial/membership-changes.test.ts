// Membership changes, one server at a time (Raft thesis, chapter 4), through the public API only:
// admin inputs, status(), the disks and the messages. Every world here also runs the membership
// monitor (support/membership.ts) after every step, the safety monitor and the lease record.

import { describe, expect, it } from "vitest";
import {
  LOG_START_EMPTY,
  logIndex,
  makeConfig,
  nodeId,
  RaftNode,
  term,
  TIMING_FAST,
  type Entry,
  type Member,
  type Mutation,
  type PersistedState,
} from "../../src/raft/index.js";
import { configOnDisk, membersText } from "./support/membership.js";
import { addVoter, adminDone, cluster, JITTER, mworld, N, problems, roleOf, setOk, settledLeader, waitConfigCommitted, type MWorld } from "./support/mworld.js";

const configEntries = (m: MWorld, id: number): number => {
  const d = m.w.disk(id);
  let n = 0;
  for (let i = d.firstIndex; i <= d.lastIndex; i++) if (d.entry(i)?.command.kind === "config") n++;
  return n;
};

describe("one change at a time", () => {
  it("a leader refuses a second change (add, remove) while the first is uncommitted, and takes it once the first commits", () => {
    const m = cluster();
    const { w, leader } = m;
    expect(leader).toBe(0);
    // The followers hear the leader but their answers are lost: nothing new commits.
    w.net.cut(1, 0);
    w.net.cut(2, 0);
    const first = w.admin(0, { kind: "add-member", id: N(3), address: "n3" });
    w.run(20);
    expect(w.adminResults.get(first)).toBeUndefined();
    const second = w.admin(0, { kind: "add-member", id: N(4), address: "n4" });
    const third = w.admin(0, { kind: "remove-member", id: N(1) });
    for (const r of [second, third]) expect(w.adminResults.get(r), `call ${r}`).toMatchObject({ ok: false, code: "overloaded" });
    expect(configEntries(m, 0)).toBe(1);
    w.net.healAll();
    w.runUntil("the first change answered", () => w.adminResults.has(first), 2000);
    expect(w.adminResults.get(first)).toEqual({ ok: true, value: "" });
    w.runUntil("3 promoted", () => roleOf(w.status(0)!.members, 3) === "voter", 3000);
    // The promotion is a change too: until it commits, another is refused.
    expect(adminDone(w, 0, { kind: "add-member", id: N(4), address: "n4" })).toMatchObject({ ok: false, code: "overloaded" });
    waitConfigCommitted(m, 0);
    expect(adminDone(w, 0, { kind: "add-member", id: N(4), address: "n4" })).toEqual({ ok: true, value: "" });
    expect(problems(m)).toEqual([]);
  });

  it("a leader refuses a change until its own NO-OP is committed", () => {
    const m = mworld({ size: 4, voters: [0, 1, 2], random: JITTER });
    const { w } = m;
    w.runUntil("0 leads", () => w.status(0)?.role === "leader", 3000);
    // Its NO-OP is out but no acknowledgement comes back.
    w.net.cut(1, 0);
    w.net.cut(2, 0);
    expect(w.status(0)!.commitIndex).toBeLessThan(w.status(0)!.lastLogIndex);
    const r = w.admin(0, { kind: "add-member", id: N(3), address: "n3" });
    w.run(5);
    expect(w.adminResults.get(r)).toMatchObject({ ok: false });
    expect(configEntries(m, 0)).toBe(0);
    w.net.healAll();
    w.runUntil("the NO-OP commits", () => w.status(0)!.commitIndex === w.status(0)!.lastLogIndex, 1000);
    expect(adminDone(w, 0, { kind: "add-member", id: N(3), address: "n3" })).toEqual({ ok: true, value: "" });
    expect(problems(m)).toEqual([]);
  });

  it("requests that make no sense are invalid: removing a non-member, adding a member again, transferring to a learner, a non-member or a joining node", () => {
    const m = cluster();
    const { w } = m;
    expect(adminDone(w, 0, { kind: "remove-member", id: N(4) })).toMatchObject({ ok: false, code: "invalid" });
    expect(adminDone(w, 0, { kind: "add-member", id: N(1), address: "n1" })).toMatchObject({ ok: false, code: "invalid" });
    expect(adminDone(w, 0, { kind: "transfer-leader", to: N(4) })).toMatchObject({ ok: false, code: "invalid" });
    // 3 as a learner that cannot catch up (cut off): it stays a learner.
    w.net.isolate(3);
    expect(adminDone(w, 0, { kind: "add-member", id: N(3), address: "n3" })).toEqual({ ok: true, value: "" });
    expect(roleOf(w.status(0)!.members, 3)).toBe("learner");
    expect(adminDone(w, 0, { kind: "transfer-leader", to: N(3) })).toMatchObject({ ok: false, code: "invalid" });
    expect(w.status(0)!.transferringTo).toBeNull();
    expect(problems(m)).toEqual([]);
  });

  it("the last voter cannot be removed; a learner can, and that changes no majority", () => {
    const m = cluster({ size: 3, voters: [0] });
    const { w } = m;
    expect(adminDone(w, 0, { kind: "remove-member", id: N(0) })).toMatchObject({ ok: false, code: "invalid" });
    w.net.isolate(1);
    expect(adminDone(w, 0, { kind: "add-member", id: N(1), address: "n1" })).toEqual({ ok: true, value: "" });
    expect(adminDone(w, 0, { kind: "remove-member", id: N(1) })).toEqual({ ok: true, value: "" });
    expect(membersText(w.status(0)!.members)).toBe("0@n0");
    setOk(m, 0, "k", "v");
    expect(problems(m)).toEqual([]);
  });

  it("a follower answers admin calls with not-leader and a hint", () => {
    const m = cluster();
    expect(adminDone(m.w, 1, { kind: "add-member", id: N(3), address: "n3" })).toMatchObject({ ok: false, code: "not-leader", leaderHint: 0 });
    expect(adminDone(m.w, 2, { kind: "transfer-leader", to: null })).toMatchObject({ ok: false, code: "not-leader", leaderHint: 0 });
  });
});

describe("majorities use the configuration in use and count voters only", () => {
  it("a removal is in use as soon as it is appended: with the remaining voter cut off it does not commit, though the removed node acknowledges it", () => {
    const m = cluster();
    const { w } = m;
    w.net.cut(0, 1);
    w.net.cut(1, 0);
    const r = w.admin(0, { kind: "remove-member", id: N(2) });
    // Under the old configuration {0,1,2}, 0 and 2 would be a majority; under {0,1} they are not.
    w.run(400);
    expect(w.adminResults.get(r)).toBeUndefined();
    expect(membersText(w.status(0)!.members)).toBe("0@n0,1@n1");
    expect(membersText(w.status(2)!.members)).toBe("0@n0,1@n1");
    const entryIndex = configOnDisk(w.disk(0), []).index;
    expect(w.status(0)!.commitIndex).toBeLessThan(entryIndex);
    w.net.healAll();
    w.runUntil("the removal answered", () => w.adminResults.has(r), 2000);
    expect(w.adminResults.get(r)).toMatchObject({ ok: true });
    expect(problems(m)).toEqual([]);
  });

  /** Voters 0, 1, 2 and learners 3, 4 that cannot be promoted (slow to catch up: cut from 0 after the add). */
  function withLearners(mutation: Mutation | null): MWorld {
    const m = cluster({ mutation });
    const { w } = m;
    for (const id of [3, 4]) {
      w.net.isolate(id);
      expect(adminDone(w, 0, { kind: "add-member", id: N(id), address: `n${id}` })).toEqual({ ok: true, value: "" });
    }
    // The learners now hear the leader, but voters 1 and 2 crash.
    w.net.healAll();
    w.run(30);
    w.crash(1);
    w.crash(2);
    return m;
  }

  it("learners never count: with the other voters down a leader with two learners commits nothing, loses its lease and steps down", () => {
    const m = withLearners(null);
    const { w } = m;
    const roles = w.ids.map((id) => roleOf(w.status(0)!.members, id));
    const before = w.status(0)!.commitIndex;
    const set = w.set(0, "k", "v");
    w.run(3000);
    expect(roles.slice(3)).toEqual(["learner", "learner"]);
    expect(w.history.op(set).result?.ok).not.toBe(true);
    expect(w.status(0)!.commitIndex).toBe(before);
    expect(w.status(0)!.role).not.toBe("leader");
    expect(w.leaders()).toEqual([]);
    expect(problems(m)).toEqual([]);
  });

  it("negative control (learner-in-quorum): a leader that counts learners commits and keeps leading", () => {
    const m = withLearners("learner-in-quorum");
    const { w } = m;
    const set = w.set(0, "k", "v");
    w.run(3000);
    expect(w.history.op(set).result?.ok === true || w.status(0)!.role === "leader").toBe(true);
    expect(m.mon.violations.join("\n")).toMatch(/commit: leader 0 .* not a majority/);
  });

  it("learners never count toward a lease: a leader cut off with its learners gives up its lease before the voters' new leader serves (and the mutation is caught)", () => {
    const run = (mutation: Mutation | null) => {
      const m = cluster({ mutation });
      const { w } = m;
      for (const id of [3, 4]) {
        w.net.isolate(id);
        expect(adminDone(w, 0, { kind: "add-member", id: N(id), address: `n${id}` })).toEqual({ ok: true, value: "" });
      }
      w.net.healAll();
      w.run(30);
      // 0, 3, 4 on one side; voters 1, 2 on the other.
      for (const a of [0, 3, 4]) for (const b of [1, 2]) {
        w.net.cut(a, b);
        w.net.cut(b, a);
      }
      w.runUntil("a leader on the voters' side", () => w.leaders().some((s) => s.id !== 0 && s.leaseReadable), 5000);
      for (let i = 0; i < 20; i++) {
        w.get(0, "k");
        w.run(20);
      }
      return m;
    };
    expect(problems(run(null))).toEqual([]);
    expect(run("learner-in-quorum").w.leases.overlaps().length).toBeGreaterThan(0);
  });

  it("a promoted voter counts: with four voters, two of them cannot commit", () => {
    const m = cluster();
    const { w } = m;
    addVoter(m, 0, 3);
    expect(w.status(0)!.members.filter((x) => x.role === "voter").length).toBe(4);
    w.crash(1);
    w.crash(2);
    const set = w.set(0, "k", "v");
    w.run(2500);
    expect(w.history.op(set).result?.ok).not.toBe(true);
    expect(w.leaders()).toEqual([]);
    expect(problems(m)).toEqual([]);
  });
});

describe("a configuration entry that is truncated", () => {
  it("reverts the node to the previous configuration (and says so in output.membership)", () => {
    const m = cluster();
    const { w } = m;
    // 0 appends a change nobody else receives, then is cut off.
    w.net.isolate(0);
    const r = w.admin(0, { kind: "add-member", id: N(3), address: "n3" });
    expect(roleOf(w.status(0)!.members, 3)).toBe("learner");
    w.runUntil("a new leader among 1, 2", () => w.leaders().some((s) => s.id !== 0 && s.leaseReadable), 5000);
    const other = w.leaders().find((s) => s.id !== 0)!.id;
    setOk(m, other, "a", "1");
    const changes: (readonly Member[])[] = [];
    w.observers.push((s) => {
      if (s.id === 0 && s.out.membership !== null) changes.push(s.out.membership);
    });
    w.net.healAll();
    w.runUntil("0 follows the new leader", () => w.status(0)!.leaderId === other && w.status(0)!.commitIndex === w.status(other)!.commitIndex, 3000);
    expect(roleOf(w.status(0)!.members, 3)).toBe("absent");
    expect(changes.map(membersText)).toContain("0@n0,1@n1,2@n2");
    expect(w.adminResults.get(r)?.ok).not.toBe(true);
    expect(w.events.some((e) => e.node === 0 && e.event.kind === "config-changed")).toBe(true);
    expect(problems(m)).toEqual([]);
  });

  it("a node whose own removal was truncated is a voter again, and may stand again", () => {
    const m = cluster({ voters: [0, 1, 2, 3, 4] });
    const { w } = m;
    // 0 appends "remove 4", which reaches only 4 (the old configuration's members still hear the leader until it commits); nobody answers.
    for (const b of [1, 2, 3]) w.net.cut(0, b);
    w.net.cut(4, 0);
    w.admin(0, { kind: "remove-member", id: N(4) });
    w.runUntil("4 holds its removal", () => roleOf(w.status(4)!.members, 4) === "absent", 500);
    // 0 is cut off for good; 1, 2, 3 elect a leader without the entry, and it overwrites 4's.
    w.net.isolate(0);
    w.net.heal(4, 0);
    w.runUntil("a new leader", () => w.leaders().some((s) => s.id !== 0 && s.leaseReadable), 5000);
    const l = w.leaders().find((s) => s.id !== 0)!.id;
    setOk(m, l, "a", "1");
    w.runUntil("4 reverted", () => roleOf(w.status(4)!.members, 4) === "voter", 1000);
    expect(membersText(w.status(4)!.members)).toBe("0@n0,1@n1,2@n2,3@n3,4@n4");
    // Now 4 is needed: with 1 and 2 down, 3 and 4 and the new leader (or 3 and 4 alone after a new election) go on.
    w.crash(l === 1 ? 2 : 1);
    setOk(m, l, "b", "2");
    expect(problems(m)).toEqual([]);
  });
});

describe("learners", () => {
  it("never stand: a learner and a joining node cut off from the leader for seconds never ask for votes", () => {
    const m = cluster();
    const { w } = m;
    w.net.isolate(3);
    expect(adminDone(w, 0, { kind: "add-member", id: N(3), address: "n3" })).toEqual({ ok: true, value: "" });
    w.net.heal(0, 3);
    w.runUntil("3 knows it is a learner", () => roleOf(w.status(3)!.members, 3) === "learner", 1000);
    w.net.isolate(3);
    w.net.isolate(4);
    w.run(8000);
    const asks = w.pool.sentCount;
    expect(w.status(3)!.role).toBe("follower");
    expect(w.status(4)!.role).toBe("follower");
    expect(w.status(4)!.members).toEqual([]);
    expect(w.events.filter((e) => (e.node === 3 || e.node === 4) && e.event.kind === "election-timeout")).toEqual([]);
    expect(asks).toBeGreaterThan(0);
    expect(problems(m)).toEqual([]);
  });

  it("are promoted only once caught up: a learner behind by hundreds of entries over a slow link stays a learner until it holds the commit index", () => {
    const m = mworld({
      size: 4,
      voters: [0, 1, 2],
      random: JITTER,
      overrides: { batchCountMax: 4, inflightCountMax: 1 },
      network: (e) => [e.to === 3 || e.from === 3 ? 15 : 1],
    });
    const { w } = m;
    settledLeader(w);
    for (let i = 0; i < 300; i++) w.set(0, `k${i % 10}`, `v${i}`);
    w.run(300);
    const roles: string[] = [];
    w.observers.push((s) => {
      if (s.id === 0) roles.push(roleOf(s.after.members, 3));
    });
    expect(adminDone(w, 0, { kind: "add-member", id: N(3), address: "n3" }, 5000)).toEqual({ ok: true, value: "" });
    w.runUntil("3 promoted", () => roleOf(w.status(0)!.members, 3) === "voter", 20_000);
    expect(roles).toContain("learner");
    expect(m.mon.stats.promotions).toBe(1);
    expect(problems(m)).toEqual([]);
  });

  it("a learner that cannot be reached is never promoted; once reachable it is", () => {
    const m = cluster();
    const { w } = m;
    w.net.isolate(3);
    expect(adminDone(w, 0, { kind: "add-member", id: N(3), address: "n3" })).toEqual({ ok: true, value: "" });
    w.run(3000);
    expect(roleOf(w.status(0)!.members, 3)).toBe("learner");
    w.net.healAll();
    w.runUntil("3 promoted", () => roleOf(w.status(0)!.members, 3) === "voter", 3000);
    expect(problems(m)).toEqual([]);
  });
});

describe("removal", () => {
  // The removed node never learns that its removal committed (the leader stops replicating to it),
  // so it may still stand (thesis 4.2.2: it may be needed until then); it must never lead nor disturb.
  it("of a follower: the answer comes at commit, the cluster goes on with the rest, and the removed node never leads", () => {
    const m = cluster();
    const { w } = m;
    setOk(m, 0, "a", "1");
    expect(adminDone(w, 0, { kind: "remove-member", id: N(2) })).toEqual({ ok: true, value: "" });
    const t = w.status(0)!.term;
    w.crash(1);
    w.restart(1, 5);
    w.run(4000);
    setOk(m, w.leaders()[0]!.id, "b", "2", 3000);
    expect(w.leaders().map((s) => s.id)).not.toContain(2);
    expect(w.status(2)!.role).not.toBe("leader");
    expect(w.ids.filter((id) => w.status(id)!.term > t + 2)).toEqual([]);
    expect(problems(m)).toEqual([]);
  });

  it("a removed node that never heard of its removal does not disrupt the cluster when it comes back", () => {
    const m = cluster();
    const { w } = m;
    w.net.isolate(2);
    expect(adminDone(w, 0, { kind: "remove-member", id: N(2) })).toEqual({ ok: true, value: "" });
    setOk(m, 0, "a", "1");
    w.run(5000); // 2's timer runs out, again and again
    const t = w.status(0)!.term;
    w.net.healAll();
    w.run(8000);
    expect(w.status(0)!.role).toBe("leader");
    expect(w.status(0)!.term).toBe(t);
    expect(w.status(1)!.term).toBe(t);
    setOk(m, 0, "b", "2");
    expect(problems(m)).toEqual([]);
  });

  /** Leader 0 removes itself; returns the true times of interest. */
  function leaderRemovesItself(m: MWorld) {
    const { w } = m;
    setOk(m, 0, "a", "1");
    const t = w.status(0)!.term;
    const rid = w.admin(0, { kind: "remove-member", id: N(0) });
    const entry = configOnDisk(w.disk(0), []).index;
    // Still the leader until the entry commits.
    let leaderAfterCommit = false;
    w.observers.push((s) => {
      if (s.id === 0 && s.after.role === "leader" && s.before.commitIndex >= entry && s.before.role === "leader" && s.after.term === t) {
        // A step that begins with the removal committed and ends still leading: allowed only while it hands over.
        if (s.input.type === "tick" && s.after.transferringTo === null) leaderAfterCommit = true;
      }
    });
    w.runUntil("the removal answered", () => w.adminResults.has(rid), 2000);
    expect(w.adminResults.get(rid)).toEqual({ ok: true, value: "" });
    w.runUntil("a new leader with a lease", () => w.leaders().some((s) => s.id !== 0 && s.leaseReadable), 3000);
    w.run(50);
    return { t, entry, leaderAfterCommit: () => leaderAfterCommit };
  }

  it("of the leader: it leads until the removal commits, hands over with TimeoutNow and steps down, with no lease overlap and no gap longer than a few message delays", () => {
    const m = cluster();
    const { w } = m;
    const { t, leaderAfterCommit } = leaderRemovesItself(m);
    expect(w.status(0)!.role).toBe("follower");
    expect(w.events.some((e) => e.node === 0 && e.event.kind === "timeout-now-sent")).toBe(true);
    expect(w.events.some((e) => e.node === 0 && e.event.kind === "removed-from-cluster")).toBe(true);
    const next = w.leaders().find((s) => s.id !== 0)!;
    expect(next.term).toBe(t + 1);
    expect(w.events.some((e) => e.node === next.id && e.event.kind === "timeout-now-received")).toBe(true);
    const oldEnd = w.leases.endOf(N(0), term(t));
    const newStart = w.leases.startOf(next.id, next.term);
    expect(newStart).toBeGreaterThanOrEqual(oldEnd);
    // The handover: the new leader needs no wait for 0's lease (800 ms); a few ms of messages at most.
    expect(newStart - oldEnd, `gap between leases: 0's ends at ${oldEnd}, ${next.id}'s starts at ${newStart}`).toBeLessThan(50);
    expect(leaderAfterCommit()).toBe(false);
    // The removed leader never stands again and the cluster stays put.
    w.run(6000);
    expect(w.status(next.id)!.term).toBe(t + 1);
    expect(w.status(0)!.role).toBe("follower");
    setOk(m, next.id, "b", "2");
    const g = w.get(next.id, "a");
    w.run(10);
    expect(w.history.op(g).result).toMatchObject({ ok: true, value: "1" });
    expect(problems(m)).toEqual([]);
  });

  it("of the leader, with its TimeoutNow lost: an ordinary election follows, with no lease overlap", () => {
    const m = cluster();
    const { w } = m;
    w.net.holdNext((e) => e.type === "timeout-now", 10);
    setOk(m, 0, "a", "1");
    const rid = w.admin(0, { kind: "remove-member", id: N(0) });
    w.runUntil("the removal answered", () => w.adminResults.has(rid), 2000);
    for (const e of w.pool.select((e) => e.held && e.type === "timeout-now")) w.drop(e.id);
    for (let i = 0; i < 60; i++) {
      w.get(0, "a");
      w.run(25);
    }
    w.runUntil("a new leader with a lease", () => w.leaders().some((s) => s.id !== 0 && s.leaseReadable), 5000);
    expect(problems(m)).toEqual([]);
  });
});

describe("a leader that removes itself does not count itself", () => {
  it("toward the removal's commit: with 2 cut off, 0 and 1 are not a majority of {1, 2}", () => {
    const m = cluster();
    const { w } = m;
    w.net.cut(0, 2);
    w.net.cut(2, 0);
    const rid = w.admin(0, { kind: "remove-member", id: N(0) });
    expect(membersText(w.status(0)!.members)).toBe("1@n1,2@n2");
    w.run(600);
    expect(w.adminResults.get(rid)?.ok).not.toBe(true);
    const entry = configOnDisk(w.disk(0), []).index;
    expect(w.status(0)!.commitIndex).toBeLessThan(entry);
    expect(problems(m)).toEqual([]);
  });

  it("toward its lease: cut off from 2, it loses its lease although 1 still acknowledges it, and 2 and 1's next leader never overlap it", () => {
    const m = cluster();
    const { w } = m;
    w.net.cut(0, 2);
    w.net.cut(2, 0);
    w.admin(0, { kind: "remove-member", id: N(0) });
    const t = w.status(0)!.term;
    w.run(1000);
    // {1, 2} is the configuration in use at 0: 1 alone is not a majority of it, so 0 cannot renew.
    expect(w.leases.endOf(N(0), term(t))).toBeLessThan(w.trueMs - 100);
    w.net.healAll();
    w.run(3000);
    expect(problems(m)).toEqual([]);
  });
});

describe("a leader that removes itself while writes stream in and one voter lags", () => {
  it("no lease overlap, no stale read, no acknowledged write lost", () => {
    const m = cluster({ network: (e) => [e.to === 2 || e.from === 2 ? 30 : 1] });
    const { w } = m;
    setOk(m, 0, "w0", "0");
    const rid = w.admin(0, { kind: "remove-member", id: N(0) });
    for (let i = 1; i < 60; i++) {
      for (const s of w.leaders()) {
        w.set(s.id, `w${i}`, `${i}`);
        w.get(s.id, `w${i - 1}`);
      }
      w.run(7);
    }
    w.runUntil("the removal answered", () => w.adminResults.has(rid), 3000);
    w.runUntil("a new leader with a lease", () => w.leaders().some((s) => s.id !== 0 && s.leaseReadable), 5000);
    w.run(500);
    const l = w.leaders().find((s) => s.id !== 0)!.id;
    for (const op of w.history.ops) {
      if (op.kind === "set" && op.result?.ok === true) expect(w.view(l)!.valueOf(op.key), `acknowledged ${op.key}=${op.value}`).toBe(op.value);
    }
    expect(w.history.ops.filter((o) => o.kind === "set" && o.result?.ok === true).length).toBeGreaterThan(1);
    expect(problems(m)).toEqual([]);
  });
});

describe("down to one voter and back", () => {
  it("a one-voter cluster grows to two, the first removes itself, the second leads alone; no lease overlap, no lost write", () => {
    const m = cluster({ size: 3, voters: [0] });
    const { w } = m;
    setOk(m, 0, "a", "1");
    addVoter(m, 0, 1);
    setOk(m, 0, "b", "2");
    expect(adminDone(w, 0, { kind: "remove-member", id: N(0) })).toEqual({ ok: true, value: "" });
    w.runUntil("1 leads with a lease", () => w.status(1)!.role === "leader" && w.status(1)!.leaseReadable, 3000);
    expect(membersText(w.status(1)!.members)).toBe("1@n1");
    setOk(m, 1, "c", "3");
    for (const [k, v] of [["a", "1"], ["b", "2"], ["c", "3"]]) expect(w.view(1)!.valueOf(k!)).toBe(v);
    // And 1 alone commits with 0 gone.
    w.crash(0);
    setOk(m, 1, "d", "4");
    w.run(3000);
    expect(w.status(1)!.role).toBe("leader");
    expect(problems(m)).toEqual([]);
  });
});

describe("configurations survive restarts; the stored one wins over the initial members", () => {
  it("a whole cluster restarted after adds and a removal uses the configuration of its logs", () => {
    const m = cluster();
    const { w } = m;
    addVoter(m, 0, 3);
    expect(adminDone(w, 0, { kind: "remove-member", id: N(1) })).toEqual({ ok: true, value: "" });
    w.run(300);
    const want = membersText(w.status(0)!.members);
    expect(want).toBe("0@n0,2@n2,3@n3");
    for (const id of w.ids) w.crash(id);
    for (const id of w.ids) w.restart(id, 1000 * id + 3);
    for (const id of [0, 2, 3]) expect(membersText(w.status(id)!.members), `node ${id}`).toBe(want);
    // 1 learned the removal (committed, heartbeats carried the commit): it never stands.
    w.run(4000);
    expect(w.leaders().map((s) => s.id)).not.toContain(1);
    expect(w.leaders().length).toBe(1);
    setOk(m, w.leaders()[0]!.id, "x", "y");
    expect(problems(m)).toEqual([]);
  });

  const timing = TIMING_FAST;
  const cfg = (id: number, members: number[], join = false) => makeConfig(nodeId(id), members.map(nodeId), timing, { join, addresses: { 0: "a0", 1: "a1", 2: "a2" } });
  const rnd = () => 0.5;
  const config = (members: Member[]): Entry => ({ term: term(1), command: { kind: "config", members } });
  const mem = (id: number, role: "voter" | "learner" = "voter"): Member => ({ id: nodeId(id), address: `x${id}`, role });
  const noop: Entry = { term: term(1), command: { kind: "noop" } };

  it("a configuration entry in the log (even uncommitted) wins over RaftConfig.members", () => {
    const p: PersistedState = { hardState: { currentTerm: term(1), votedFor: null, commitIndex: logIndex(1) }, entries: [noop, config([mem(0), mem(1), mem(5, "learner")])] };
    const n = RaftNode.start(cfg(0, [0, 1, 2]), p, 0, rnd);
    expect(membersText(n.status(0).members)).toBe("0@x0,1@x1,5/L@x5");
  });

  it("without a configuration entry, the snapshot's members win; with none at all, the initial members and addresses", () => {
    const snap = { lastIndex: logIndex(4), lastTerm: term(1), members: [mem(0), mem(3)], data: new Map([["k", "v"]]), sessions: new Map() };
    const p: PersistedState = {
      hardState: { currentTerm: term(1), votedFor: null, commitIndex: logIndex(4) },
      snapshot: snap,
      logStart: { prevIndex: logIndex(4), prevTerm: term(1) },
      entries: [noop],
    };
    expect(membersText(RaftNode.start(cfg(0, [0, 1, 2]), p, 0, rnd).status(0).members)).toBe("0@x0,3@x3");
    const empty: PersistedState = { hardState: { currentTerm: term(0), votedFor: null, commitIndex: logIndex(0) }, logStart: LOG_START_EMPTY, entries: [] };
    expect(membersText(RaftNode.start(cfg(1, [0, 1, 2]), empty, 0, rnd).status(0).members)).toBe("0@a0,1@a1,2@a2");
  });

  it("a joining node starts with no configuration, never stands, and after a restart uses the stored one (and may stand)", () => {
    const empty: PersistedState = { hardState: { currentTerm: term(0), votedFor: null, commitIndex: logIndex(0) }, entries: [] };
    const j = RaftNode.start(cfg(7, [0, 1, 2], true), empty, 0, rnd);
    expect(j.status(0).members).toEqual([]);
    const out = j.step({ type: "tick", nowMs: 60_000 });
    expect(out.messages.filter((x) => x.type === "vote-request")).toEqual([]);
    expect(j.status(60_000).role).toBe("follower");
    // Stored: 7 is the only voter.
    const p: PersistedState = { hardState: { currentTerm: term(1), votedFor: null, commitIndex: logIndex(2) }, entries: [noop, config([mem(7)])] };
    const k = RaftNode.start(cfg(7, [0, 1, 2], true), p, 0, rnd);
    expect(membersText(k.status(0).members)).toBe("7@x7");
    let now = 0;
    for (let i = 0; i < 20 && k.status(now).role !== "leader"; i++) {
      now = Math.max(now + 1, k.wakeAtMs());
      k.step({ type: "tick", nowMs: now });
    }
    expect(k.status(now).role).toBe("leader");
  });

  it("a node whose snapshot's configuration leaves it out never stands, whatever RaftConfig.members says", () => {
    const snap = { lastIndex: logIndex(3), lastTerm: term(1), members: [mem(0), mem(1)], data: new Map<string, string>(), sessions: new Map() };
    const p: PersistedState = { hardState: { currentTerm: term(1), votedFor: null, commitIndex: logIndex(3) }, snapshot: snap, logStart: { prevIndex: logIndex(3), prevTerm: term(1) }, entries: [] };
    const n = RaftNode.start(cfg(2, [0, 1, 2]), p, 0, rnd);
    expectNeverStands(n);
  });

  it("a node listed in RaftConfig.members but removed by its stored configuration never stands", () => {
    const p: PersistedState = { hardState: { currentTerm: term(1), votedFor: null, commitIndex: logIndex(2) }, entries: [noop, config([mem(0), mem(1)])] };
    const n = RaftNode.start(cfg(2, [0, 1, 2]), p, 0, rnd);
    expectNeverStands(n);
  });
});

describe("snapshots carry the configuration as of their index", () => {
  it("every snapshot names the committed configuration at its lastIndex; a follower that installs one adopts it", () => {
    const m = cluster({ overrides: { snapshotEveryEntries: 5, snapshotKeepEntries: 2 } });
    const { w } = m;
    w.net.isolate(2);
    addVoter(m, 0, 3);
    for (let i = 0; i < 40; i++) setOk(m, 0, `k${i}`, `v${i}`);
    w.run(100);
    expect(w.disk(0).entries().filter((e) => e.command.kind === "config")).toEqual([]);
    expect(roleOf(w.status(2)!.members, 3)).toBe("absent");
    w.net.healAll();
    // (A snapshot lost while 2 was cut off is sent again only after a few seconds.)
    w.runUntil("2 catches up", () => w.status(2)!.commitIndex >= w.status(0)!.commitIndex, 12_000);
    expect(w.snapshotStats.installed).toBeGreaterThan(0);
    expect(membersText(w.status(2)!.members)).toBe("0@n0,1@n1,2@n2,3@n3");
    // And after a restart, from the snapshot alone.
    w.crash(2);
    w.restart(2, 77);
    expect(membersText(w.status(2)!.members)).toBe("0@n0,1@n1,2@n2,3@n3");
    expect(m.mon.stats.snapshotsChecked).toBeGreaterThan(0);
    expect(problems(m)).toEqual([]);
  });

  it("a snapshot taken between two changes names the first, not the newer uncommitted one", () => {
    const m = cluster({ overrides: { snapshotEveryEntries: 3, snapshotKeepEntries: 0 } });
    const { w } = m;
    addVoter(m, 0, 3);
    w.net.cut(1, 0);
    w.net.cut(2, 0);
    w.net.cut(3, 0);
    w.admin(0, { kind: "remove-member", id: N(1) });
    w.net.healAll();
    for (let i = 0; i < 12; i++) setOk(m, 0, `k${i}`, `v${i}`);
    w.run(200);
    expect(m.mon.stats.snapshotsChecked).toBeGreaterThan(0);
    expect(problems(m)).toEqual([]);
  });
});

/** Ticks `n` through 20 of its wake times: it asks for no vote, pre or real, and stays a follower. */
function expectNeverStands(n: RaftNode): void {
  let now = 0;
  for (let i = 0; i < 20; i++) {
    now = Math.max(now + 1, n.wakeAtMs());
    const out = n.step({ type: "tick", nowMs: now });
    expect(out.messages.filter((x) => x.type === "vote-request")).toEqual([]);
  }
  expect(n.status(now).role).toBe("follower");
}
