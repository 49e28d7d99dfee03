// Snapshots and the lease (docs/lease.md):
//  - rule 2, followers stretch: a snapshot-request is the leader's message like an AppendEntries;
//    the follower that receives it must remember that the leader's lease may run until
//    receipt + L(1+ρ), and report that in its votes, exactly as after a heartbeat. Otherwise a
//    node that just installed a leader's snapshot (and acknowledged it) could vote a new leader
//    in at once while the old leader still serves reads on that acknowledgement;
//  - rule 7, acknowledgements name their leadership: a snapshot-reply renews a leader's lease only
//    if it answers a request of its current leadership (its requestTerm is the leader's term and
//    its echoed send time lies in this leadership); an answer to a request of an earlier term,
//    sent before the leader's reboot, never does.

import { describe, expect, it } from "vitest";
import { followerLeaseMs, logIndex, type Message, type VoteReply, type VoteRequest } from "../../src/raft/index.js";
import { A, B, C, cluster, held, holdTo, requestFrom, sentOne, snapshotOf, writes } from "./support/snapshot-kit.js";
import type { World } from "./support/world.js";

const params = (w: World) => ({ leaseMs: w.timing.leaseMs, driftPpmMax: w.timing.driftPpmMax });

/** A vote request C could send B now: the next term, a log at least as up to date as B's. */
function voteRequestFromC(w: World, preVote: boolean): VoteRequest {
  const b = w.status(B)!;
  return {
    type: "vote-request",
    from: C,
    to: B,
    term: (b.term + 1) as VoteRequest["term"],
    lastLogIndex: logIndex(b.lastLogIndex + 100),
    lastLogTerm: b.term,
    preVote,
    lease: params(w),
  };
}

type Contact = "snapshot-request" | "heartbeat" | "nothing";

/**
 * A leads with a compacted log. Nothing from A reaches B for 900 ms (B's memory of A's lease,
 * 800.8 ms, runs out; its election timer, 1500 ms, does not). Then B gets `contact` from A, and
 * 100 ms later C's vote request. Returns B's answer.
 */
function voteAfter(contact: Contact, preVote: boolean): { w: World; reply: VoteReply } {
  const w = cluster({ every: 10, keep: 0 });
  writes(w, A, 25);
  w.run(50);
  expect(w.view(A)!.snapshotIndex).toBe(20);
  holdTo(w, B);
  w.run(900);
  w.net.stopHolding();
  const heartbeats = held(w, B, "append-request");
  expect(heartbeats.length).toBeGreaterThan(5);
  for (const id of w.pool.select((e) => e.held && e.to === B).map((e) => e.id)) if (id !== heartbeats[heartbeats.length - 1]) w.drop(id);
  if (contact === "snapshot-request") {
    w.drop(heartbeats[heartbeats.length - 1]!);
    w.deliver(w.inject(requestFrom(w, A, B)));
  } else if (contact === "heartbeat") {
    const hb = w.pool.body(heartbeats[heartbeats.length - 1]!) as Extract<Message, { type: "append-request" }>;
    expect(hb.entries.length).toBe(0);
    w.drop(heartbeats[heartbeats.length - 1]!);
    w.deliver(w.inject({ ...hb, leaderSendMs: w.clockMs(A) }));
  } else {
    w.drop(heartbeats[heartbeats.length - 1]!);
  }
  holdTo(w, B);
  w.run(100);
  const r = w.deliver(w.inject(voteRequestFromC(w, preVote)));
  return { w, reply: sentOne(w, r, "vote-reply") };
}

describe("lease rule 2: a snapshot-request renews a follower's memory of the lease like an AppendEntries", () => {
  for (const preVote of [false, true]) {
    const kind = preVote ? "pre-vote" : "vote";
    it(`a follower that just got the leader's snapshot answers a ${kind} request exactly as after a heartbeat`, () => {
      const afterHeartbeat = voteAfter("heartbeat", preVote).reply;
      const { w, reply: afterSnapshot } = voteAfter("snapshot-request", preVote);
      expect({ granted: afterSnapshot.granted, leaseRemainingMs: afterSnapshot.leaseRemainingMs }).toEqual({
        granted: afterHeartbeat.granted,
        leaseRemainingMs: afterHeartbeat.leaseRemainingMs,
      });
      if (afterSnapshot.granted) {
        expect(afterSnapshot.leaseRemainingMs, "the lease B must report, 100 ms after the snapshot").toBeGreaterThanOrEqual(followerLeaseMs(w.timing) - 100 - 1e-6);
      }
      expect(w.problems()).toEqual([]);
    });
  }

  it("control: with no message from the leader for 1 s, the same vote is granted with no lease to wait for", () => {
    const { reply } = voteAfter("nothing", false);
    expect([reply.granted, reply.leaseRemainingMs]).toEqual([true, 0]);
  });
});

/**
 * The whole story in a running cluster, checked by the lease record (no two nodes may serve
 * lease reads at the same instant of true time) and the stale-read rule.
 *
 * From t0 on, B hears nothing from A: it misses A's writes and A compacts past it. At t0 + 200,
 * C is cut off from A (C's own memory of A's lease ends at about t0 + 1000). At ts = t0 + 800, B
 * gets A's snapshot (a request A sends then) and installs it: its answer renews A's lease until
 * about ts + 800 = t0 + 1600. Nothing else from A reaches B. C's timer fires at about t0 + 1500
 * and C asks B for its vote: B must report the lease it learnt from the snapshot (about 100 ms
 * left), or refuse; had it only its memory of A's last heartbeat (from before t0, run out), C
 * would lead and serve reads while A still may.
 */
function leaseOnSnapshotAlone(preVote: boolean, bForgets = false): { w: World; renewedBy: number } {
  const w = cluster({ every: 10, keep: 0, preVote, jitter: { [A]: 0, [B]: 0.95, [C]: 0.3 } });
  const s = w.set(A, "x", "old");
  w.runUntil("SET x=old acknowledged", () => w.history.op(s).result?.ok === true, 200);
  w.run(95);
  const t0 = w.trueMs;
  w.net.setDelivery((e) => (e.from === A && e.to === B ? [] : [1]));
  writes(w, A, 25);
  w.run(200 - (w.trueMs - t0));
  w.net.cut(A, C);
  w.net.cut(C, A);
  w.run(800 - (w.trueMs - t0));
  expect(w.status(B)!.lastLogIndex).toBeLessThan(w.view(A)!.snapshotIndex);
  const before = w.status(A)!.leaseRemainingMs;
  const request = requestFrom(w, A, B);
  if (bForgets) {
    // The control: A gets the answer B would send, but B never saw the request (so it
    // remembers nothing of it): what a follower that does not renew its memory would do.
    w.run(1);
    w.deliver(
      w.inject({ type: "snapshot-reply", from: B, to: A, term: request.term, requestTerm: request.term, matchIndex: request.snapshot.lastIndex, snapshotIndex: request.snapshot.lastIndex, leaderSendMs: request.leaderSendMs }),
    );
  } else {
    const r = w.deliver(w.inject(request));
    expect(r!.out.installSnapshot?.lastIndex, "B installs A's snapshot").toBe(w.view(A)!.snapshotIndex);
  }
  w.run(2);
  const renewedBy = w.status(A)!.leaseRemainingMs - before;
  w.set(A, "x", "during");
  for (let i = 0; i < 100; i++) {
    w.run(20);
    if (w.status(A)?.role === "leader") w.get(A, "x");
    if (w.status(C)?.role === "leader") {
      w.set(C, "x", `new${i}`);
      w.get(C, "x");
    }
  }
  return { w, renewedBy };
}

describe("lease: a node that just installed a leader's snapshot never lets a new leader overlap the old lease", () => {
  for (const preVote of [false, true]) {
    it(`no two lease holders, and no stale read (PreVote ${preVote ? "on" : "off"})`, () => {
      const { w, renewedBy } = leaseOnSnapshotAlone(preVote);
      expect(renewedBy, "B's snapshot-reply renewed A's lease (the staging's premise)").toBeGreaterThan(400);
      expect(w.leaders().map((l) => l.id), "C leads in the end").toEqual([C]);
      expect(w.problems()).toEqual([]);
    });
  }

  it("control: had B acknowledged the snapshot without remembering the lease, the staging finds the overlap", () => {
    const { w, renewedBy } = leaseOnSnapshotAlone(false, true);
    expect(renewedBy).toBeGreaterThan(400);
    expect(w.problems().join("\n")).toMatch(/node 0 \(term 1\) and node 2 \(term \d+\) could both serve lease reads/);
  });
});

/**
 * A leads term 1 with a clock that starts at 50,000. B, cut off, is behind A's compacted log:
 * A's term-1 snapshot-request to B is held. A crashes and reboots with its clock at 45,000, so
 * the old request's send time falls inside its new leadership; A leads term 2 with C. B learns
 * term 2 from one early heartbeat. Later C is cut off from A (A's lease now ends L after C's last
 * acknowledgement), and after that instant of A's new clock has passed, the old term-1 request
 * reaches B, which answers it (term 2, requestTerm 1). Returns A's lease before and after that
 * answer arrives, at the same instant; `asIf: "this leadership"` delivers it naming term 2 (the
 * control: what a renewal would look like).
 */
function staleSnapshotReply(asIf: "as sent" | "this leadership"): { before: number; after: number; w: World } {
  const w = cluster({ every: 10, keep: 0, clockStartMs: [50_000, 7_000, 3_000], jitter: { [A]: 0, [B]: 0.95, [C]: 0.5 } });
  w.net.isolate(B);
  writes(w, A, 25);
  w.run(50);
  holdTo(w, B, ["snapshot-request"]);
  w.net.healAll();
  w.runUntil("A's term-1 snapshot for B", () => held(w, B, "snapshot-request").length > 0, 10_000);
  w.net.stopHolding();
  const old = held(w, B, "snapshot-request")[0]!;
  const oldSentMs = (w.pool.body(old) as Extract<Message, { type: "snapshot-request" }>).leaderSendMs;
  expect(w.pool.envelope(old).term).toBe(1);
  expect(snapshotOf(w, old).lastIndex).toBe(20);
  w.net.isolate(B);
  w.crash(A);
  w.restart(A, 45_000);
  holdTo(w, B);
  w.runUntil("A leading term 2", () => w.status(A)?.role === "leader" && w.status(A)?.term === 2, 10_000);
  const becameLeaderMs = w.clockMs(A);
  expect(becameLeaderMs, "the old send time falls inside A's new leadership").toBeLessThan(oldSentMs - 500);
  // B learns term 2 from A's first term-2 heartbeat (its answer is a real, early acknowledgement).
  const firstHeartbeat = held(w, B, "append-request")[0]!;
  expect(w.pool.envelope(firstHeartbeat).term).toBe(2);
  w.net.stopHolding();
  for (const id of held(w, B, "append-request")) if (id !== firstHeartbeat) w.drop(id);
  const answer = w.deliver(firstHeartbeat);
  expect(w.status(B)!.term).toBe(2);
  w.deliver(answer!.sent[0]!);
  // A leads on with C until its clock nears the old send time; then C is cut off.
  w.runUntil("A's clock near the old send time", () => w.clockMs(A) >= oldSentMs - 300, 10_000);
  expect(w.status(A)?.role).toBe("leader");
  w.net.isolate(A);
  w.runUntil("A's clock past the old send time", () => w.clockMs(A) >= oldSentMs + 100, 1000);
  expect(w.status(A)?.role).toBe("leader");
  const r = w.deliver(old);
  const reply = sentOne(w, r, "snapshot-reply");
  expect([reply.term, reply.requestTerm, reply.leaderSendMs]).toEqual([2, 1, oldSentMs]);
  const before = w.status(A)!.leaseRemainingMs;
  w.deliver(w.inject(asIf === "this leadership" ? { ...reply, requestTerm: w.status(A)!.term } : reply));
  const after = w.status(A)!.leaseRemainingMs;
  return { before, after, w };
}

describe("lease rule 7: only answers to requests of this leadership renew a leader's lease (snapshot-replies included)", () => {
  it("an answer to a snapshot-request of an earlier term, sent before the leader rebooted, renews nothing", () => {
    const { before, after, w } = staleSnapshotReply("as sent");
    expect(before).toBeGreaterThan(0);
    expect(after, "A's lease after the stale snapshot-reply").toBeLessThanOrEqual(before);
    w.run(2000);
    expect(w.problems()).toEqual([]);
  });

  it("control: the same answer, had it named this leadership, would renew the lease (snapshot-replies do count)", () => {
    const { before, after } = staleSnapshotReply("this leadership");
    expect(after).toBeGreaterThan(before + 300);
  });
});
