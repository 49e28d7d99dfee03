// Raft's safety rules (Figures 2 and 3 of the Raft paper, §5.4.2, and PreVote from the thesis
// §9.6), each staged through the public API with a negative control: the same staging on a
// deliberately broken variant must break the rule.

import { describe, expect, it } from "vitest";
import { nodeId, type Mutation } from "../../src/raft/index.js";
import { jitter } from "./support/jitter.js";
import { World } from "./support/world.js";

const S1 = nodeId(0);
const S2 = nodeId(1);
const S3 = nodeId(2);
const S4 = nodeId(3);
const S5 = nodeId(4);

const leads = (w: World, id: number, t: number) => () => w.status(id)?.role === "leader" && w.status(id)?.term === t;

/**
 * Figure 8 of the Raft paper, with each leader's NO-OP. Returns the world after (d), and the
 * commit index S1 reached in (c) while its own-term entry was on no majority.
 */
function figure8(mutation: Mutation | null): { w: World; commitInC: number } {
  // One entry per AppendEntries, so an entry of an earlier term can travel without the NO-OP after it.
  const w = new World({ size: 5, mutation, overrides: { batchCountMax: 1 }, random: jitter({ [S1]: 0, [S2]: 0.99, [S3]: 0.99, [S4]: 0.99, [S5]: 0.3 }) });
  // (a) S1 leads term 1; its entry at index 2 (term 1) reaches S2 only.
  w.net.isolate(S5);
  w.runUntil("S1 leading term 1", leads(w, S1, 1), 3000);
  w.net.healAll();
  w.runUntil("the NO-OP committed everywhere", () => w.ids.every((id) => w.status(id)?.commitIndex === 1), 1000);
  w.net.isolate(S1);
  w.net.heal(S1, S2);
  w.set(S1, "x", "a");
  w.run(5);
  expect(w.disk(S2).length).toBe(2);
  expect(w.disk(S3).length).toBe(1);
  // (b) S1 crashes; S5 wins term 2 with S3 and S4 and appends its NO-OP at index 2, which nobody gets.
  w.crash(S1);
  w.net.healAll();
  w.net.isolate(S2);
  w.runUntil("S5 leading term 2", leads(w, S5, 2), 5000);
  w.net.isolate(S5);
  w.run(5);
  w.crash(S5);
  expect(w.disk(S5).entry(2)?.term).toBe(2);
  // (c) S1 restarts and wins term 3 with S3 and S4; its entry at index 2 (term 1) reaches S3 and
  // S4, its NO-OP at index 3 (term 3) nobody. Every append of S1 waits for the test.
  w.restart(S1, 0);
  w.net.healAll();
  w.net.isolate(S2);
  w.net.holdNext((e) => e.type === "append-request" && e.from === S1, 1_000_000);
  w.runUntil("S1 leading term 3", leads(w, S1, 3), 5000);
  for (const follower of [S3, S4]) {
    for (let round = 0; round < 4 && w.disk(follower).length < 2; round++) {
      const [request] = w.pool.select((e) => e.held && e.from === S1 && e.to === follower);
      if (request === undefined) throw new Error(`harness: S1 sent nothing to ${follower}`);
      const reply = w.deliver(request.id);
      for (const id of reply?.sent ?? []) w.deliver(id);
    }
    expect(w.disk(follower).entries().map((e) => e.term)).toEqual([1, 1]);
  }
  const commitInC = w.status(S1)!.commitIndex;
  // (d) S1 crashes; S5 restarts and wins term 4 with S2, S3 and S4 (its last term, 2, is newer),
  // and replicates its index 2 over theirs.
  w.crash(S1);
  w.net.stopHolding();
  w.net.healAll();
  for (const [a, b] of [[S2, S3], [S2, S4], [S3, S4]] as const) {
    w.net.cut(a, b);
    w.net.cut(b, a);
  }
  w.restart(S5, 0);
  w.runUntil("S5 leading term 4", leads(w, S5, 4), 5000);
  w.run(300);
  return { w, commitInC };
}

describe("Raft safety rules, staged", () => {
  it("a leader commits an earlier term's entry only by committing one of its own (Figure 8)", () => {
    const { w, commitInC } = figure8(null);
    expect(commitInC, "S1 committed index 2 (term 1) by counting replicas").toBe(1);
    expect(w.problems()).toEqual([]);
  });

  it("negative control: a leader that commits earlier-term entries by counting loses a committed entry", () => {
    const { w, commitInC } = figure8("commit-old-term");
    expect(commitInC).toBe(2);
    expect(w.problems().join("\n")).toMatch(/leader completeness: leader 4 of term 4 lacks entry 2|state machine safety/);
  });

  /** A and C both stand in term 1; B votes for A, crashes (before or after its reply left), restarts, and hears C. */
  function voteAcrossCrash(mutation: Mutation | null, crashBeforeReply: boolean): World {
    const [A, B, C] = [S1, S2, S3];
    const w = new World({ size: 3, mutation, random: jitter({ [A]: 0, [B]: 0.99, [C]: 0.001 }) });
    w.net.holdNext((e) => e.type === "vote-request", 1_000_000);
    w.runUntil("pre-vote requests from A and C", () => w.pool.select((e) => e.held && e.to === B).length === 2, 3000);
    const preVote = (from: number) => w.pool.select((e) => e.held && e.from === from && e.to === B)[0]!;
    for (const candidate of [A, C]) {
      const out = w.deliver(preVote(candidate).id);
      w.deliver(out!.sent[0]!); // B's grant starts the candidate's real election
      expect(w.status(candidate)?.role).toBe("candidate");
      expect(w.status(candidate)?.term).toBe(1);
    }
    const realVote = (from: number) => w.pool.select((e) => e.held && e.from === from && e.to === B && e.term === 1)[0]!;
    const requestFromC = realVote(C).id;
    if (crashBeforeReply) w.crashAtNextStep(B);
    const grant = w.deliver(realVote(A).id);
    expect(w.disk(B).hardState.votedFor).toBe(A);
    if (!crashBeforeReply) {
      w.deliver(grant!.sent[0]!);
      expect(w.status(A)?.role).toBe("leader");
      w.crash(B);
    }
    expect(w.isUp(B)).toBe(false);
    w.restart(B, 7);
    const answer = w.deliver(requestFromC);
    for (const id of answer?.sent ?? []) w.deliver(id);
    return w;
  }

  for (const crashBeforeReply of [false, true]) {
    const when = crashBeforeReply ? "before its reply left" : "after its reply left";
    it(`a node votes at most once per term, across a crash ${when}`, () => {
      const w = voteAcrossCrash(null, crashBeforeReply);
      expect(w.status(S3)?.role).not.toBe("leader");
      expect(w.problems()).toEqual([]);
    });
  }

  it("negative control: a node that votes twice in a term lets two leaders share it", () => {
    const w = voteAcrossCrash("vote-twice", false);
    expect(w.status(S3)?.role).toBe("leader");
    expect(w.problems().join("\n")).toMatch(/election safety: nodes 0 and 2 both led term 1/);
  });

  /** A leads; C is cut off for 5 s (its timer fires again and again), then rejoins. */
  function rejoin(preVote: boolean): { w: World; termBefore: number } {
    const [A, , C] = [S1, S2, S3];
    const w = new World({ size: 3, preVote, random: jitter({ [A]: 0, [S2]: 0.5, [C]: 0.2 }) });
    w.runUntil("A leading", () => w.status(A)?.role === "leader", 3000);
    w.run(500);
    const termBefore = w.status(A)!.term;
    w.net.isolate(C);
    w.run(5000);
    w.net.healAll();
    w.run(3000);
    return { w, termBefore };
  }

  it("PreVote: a node rejoining from a partition does not depose a healthy leader", () => {
    const { w, termBefore } = rejoin(true);
    expect(w.status(S1)?.role).toBe("leader");
    expect(w.ids.map((id) => w.status(id)?.term)).toEqual([termBefore, termBefore, termBefore]);
    expect(w.problems()).toEqual([]);
  });

  it("negative control: without PreVote the rejoining node deposes the leader", () => {
    const { w, termBefore } = rejoin(false);
    expect(w.status(S1)!.term).toBeGreaterThan(termBefore);
  });
});
