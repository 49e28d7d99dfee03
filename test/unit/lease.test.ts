import { describe, expect, it } from "vitest";
import {
  candidateWaitMs,
  followerLeaseMs,
  leaderLeaseMs,
  logIndex,
  TIMING_FAST,
  type AppendRequest,
  type Message,
  type TimingConfig,
  type VoteReply,
} from "../../src/raft/index.js";
import { get, set, startNode, TestCluster } from "./support/cluster.js";
import { appendReply, appendReq, voteReq } from "./support/msg.js";

const L = TIMING_FAST.leaseMs;
const rho = TIMING_FAST.driftPpmMax / 1e6;
const votesIn = (ms: readonly Message[]) => ms.filter((m): m is VoteReply => m.type === "vote-reply");

/** A 3-node cluster with node 0 leading, its lease established, and the old-lease wait over. */
function establishedLeader(opts = {}) {
  const c = new TestCluster(3, opts);
  const leader = c.elect(0);
  c.nowMs = Math.max(c.nowMs, leader.inspect().oldLeaseWaitUntilMs!);
  c.tick(0);
  c.deliverAll();
  return { c, leader };
}

describe("leader lease, made safe (docs/lease.md)", () => {
  it("the drift bound shrinks what the leader may assume and stretches what followers and candidates wait", () => {
    const timing: TimingConfig = { ...TIMING_FAST, driftPpmMax: 50_000 };
    expect(leaderLeaseMs(timing)).toBeCloseTo(800 * 0.95, 9);
    expect(followerLeaseMs(timing)).toBeCloseTo(800 * 1.05, 9);
    expect(candidateWaitMs(timing, 100)).toBeCloseTo((100 * 1.05) / 0.95, 9);
    expect(leaderLeaseMs({ ...timing, driftPpmMax: 0 })).toBe(800);
  });

  it("the lease is counted from when the acknowledged heartbeat was sent, not when the ack arrived", () => {
    const { c, leader } = establishedLeader();
    const sentAt = c.nowMs;
    c.nowMs = leader.inspect().nextHeartbeatAtMs!;
    c.tick(0);
    const heartbeats = c.queue.filter((m): m is AppendRequest => m.type === "append-request");
    c.queue.length = 0;
    const hbSent = c.nowMs;
    c.nowMs += 300; // the acks take 300 ms to come back
    for (const hb of heartbeats) c.deliver(appendReply({ from: hb.to, to: 0, term: 1, matchIndex: logIndex(1), leaderSendMs: hb.leaderSendMs }));
    expect(hbSent).toBeGreaterThan(sentAt);
    expect(leader.status().leaseRemainingMs).toBeCloseTo(hbSent + L * (1 - rho) - c.nowMs, 6);
  });

  it("the lease-from-receive mutation counts from the ack's arrival (the checkers' negative control)", () => {
    const { c, leader } = establishedLeader({ mutation: "lease-from-receive" });
    c.nowMs = leader.inspect().nextHeartbeatAtMs!;
    c.tick(0);
    const heartbeats = c.queue.filter((m): m is AppendRequest => m.type === "append-request");
    c.queue.length = 0;
    c.nowMs += 300;
    for (const hb of heartbeats) c.deliver(appendReply({ from: hb.to, to: 0, term: 1, matchIndex: logIndex(1), leaderSendMs: hb.leaderSendMs }));
    expect(leader.status().leaseRemainingMs).toBeCloseTo(L * (1 - rho), 6);
  });

  it("a leader that no majority acknowledges within the lease steps down", () => {
    const { c, leader } = establishedLeader();
    const events: string[] = [];
    for (let i = 0; i < 50 && leader.inspect().role === "leader"; i++) {
      c.nowMs = leader.wakeAtMs();
      events.push(...c.tick(0).events.map((e) => e.kind));
      c.queue.length = 0; // every heartbeat is lost
    }
    expect(leader.inspect().role).toBe("follower");
    expect(events).toContain("lease-renewal-failed");
    expect(events).toContain("stepping-down");
    expect(events.indexOf("lease-renewal-failed")).toBeLessThan(events.indexOf("stepping-down"));
  });

  it("followers remember the lease they last heard of, and a vote reply carries what remains of it", () => {
    const n = startNode(1, 3, undefined, 0, { mutation: "restart-forgets-lease" });
    n.step({ type: "message", nowMs: 100, message: appendReq({ from: 0, to: 1, term: 1 }) });
    const out = n.step({ type: "message", nowMs: 300, message: voteReq({ from: 2, to: 1, term: 2 }) });
    expect(votesIn(out.messages)[0]!.granted).toBe(true);
    expect(votesIn(out.messages)[0]!.leaseRemainingMs).toBeCloseTo(100 + 800 * (1 + rho) - 300, 6);
  });

  it("a restarted node has forgotten the lease it knew and assumes a full one may be running", () => {
    const n = startNode(1, 3, undefined, 5_000);
    const out = n.step({ type: "message", nowMs: 5_000, message: voteReq({ from: 2, to: 1, term: 1 }) });
    expect(votesIn(out.messages)[0]!.leaseRemainingMs).toBeCloseTo(L * (1 + rho), 6);
    const forgetful = startNode(1, 3, undefined, 5_000, { mutation: "restart-forgets-lease" });
    const out2 = forgetful.step({ type: "message", nowMs: 5_000, message: voteReq({ from: 2, to: 1, term: 1 }) });
    expect(votesIn(out2.messages)[0]!.leaseRemainingMs).toBe(0);
  });

  /**
   * Leader 0 keeps renewing its lease through node 2 while node 1 hears nothing; when node 1's own
   * timer runs out (at most a heartbeat after the last renewal), it wins an election (PreVote off).
   */
  function leaderChangeDuringLease() {
    const { c, leader } = establishedLeader({ preVote: false });
    const next = c.node(1);
    const deadline = next.inspect().electionDeadlineMs;
    let renewedAt = c.nowMs;
    while (leader.inspect().nextHeartbeatAtMs! < deadline) {
      c.nowMs = leader.inspect().nextHeartbeatAtMs!;
      c.tick(0);
      c.deliverAll((m) => m.to === 1 || m.from === 1);
      renewedAt = c.nowMs;
    }
    expect(leader.status(deadline).leaseReadable, "leader 0 still holds its lease when node 1's timer runs out").toBe(true);
    c.nowMs = deadline;
    c.tick(1);
    c.deliverAll((m) => m.to === 0 || m.from === 0);
    expect(next.inspect().role).toBe("leader");
    return { c, next, renewedAt };
  }

  it("a new leader waits for the longest old lease from its votes and its own memory", () => {
    const { c, next, renewedAt } = leaderChangeDuringLease();
    const wait = next.inspect().oldLeaseWaitUntilMs!;
    expect(wait).toBeGreaterThanOrEqual(renewedAt + L * (1 + rho));
    expect(wait).toBeGreaterThan(c.nowMs);
    expect(c.events(1)).toContain("waiting-old-lease");
  });

  it("a new leader replicates writes while it waits but acknowledges them and serves reads only after the old lease", () => {
    const { c, next } = leaderChangeDuringLease();
    const waitUntil = next.inspect().oldLeaseWaitUntilMs!;
    const w = c.client(1, set("a", "1"));
    const r = c.client(1, get("a"));
    c.deliverAll((m) => m.to === 0 || m.from === 0);
    expect(next.inspect().commitIndex).toBe(3); // committed...
    expect(c.replyFor(w)).toBeUndefined(); // ...but not acknowledged
    expect(c.replyFor(r)).toBeUndefined();
    c.nowMs = waitUntil - 1;
    c.tick(1);
    c.deliverAll((m) => m.to === 0 || m.from === 0);
    expect(c.replyFor(w)).toBeUndefined();
    expect(next.wakeAtMs()).toBeLessThanOrEqual(waitUntil);
    c.nowMs = waitUntil;
    c.tick(1);
    expect(c.replyFor(w)?.result).toEqual({ ok: true, value: "" });
    expect(c.replyFor(r)?.result).toEqual({ ok: true, value: "1" });
  });

  it("the no-lease-wait mutation acknowledges before the old lease ends (the checkers' negative control)", () => {
    const c = new TestCluster(3, { mutation: "no-lease-wait" });
    const leader = c.elect(0);
    expect(leader.inspect().oldLeaseWaitUntilMs!).toBe(c.nowMs);
  });

  it("a GET is answered from a valid lease at once, with no message sent", () => {
    const { c } = establishedLeader();
    c.client(0, set("k", "v"));
    c.deliverAll();
    const before = c.outputs.length;
    const r = c.client(0, get("k"));
    const out = c.outputs[before]!.output;
    expect(c.replyFor(r)?.result).toEqual({ ok: true, value: "v" });
    expect(out.messages).toEqual([]);
  });

  it("no lease read without a lease: a follower refuses and names the leader", () => {
    const { c } = establishedLeader();
    const r = c.client(1, get("k"));
    expect(c.replyFor(r)?.result).toMatchObject({ ok: false, code: "not-leader", leaderHint: 0 });
  });

  it("no lease read without a lease: a leader whose lease lapsed holds the GET, then fails it when it steps down", () => {
    const { c, leader } = establishedLeader();
    c.nowMs += L; // no acknowledgement for a whole lease
    const r = c.client(0, get("k"));
    expect(leader.inspect().role).toBe("leader");
    expect(c.replyFor(r)).toBeUndefined();
    c.queue.length = 0;
    for (let i = 0; i < 20 && leader.inspect().role === "leader"; i++) {
      c.nowMs = Math.max(c.nowMs, leader.wakeAtMs());
      c.tick(0);
      c.queue.length = 0;
    }
    expect(c.replyFor(r)?.result).toMatchObject({ ok: false, code: "not-leader" });
  });

  it("a lease read needs an entry of the leader's own term committed", () => {
    const c = new TestCluster(3, { mutation: "no-lease-wait" }); // isolate the NO-OP rule from the wait
    const leader = c.elect(0, (m) => m.type === "append-request");
    expect(leader.inspect().role).toBe("leader");
    const r = c.client(0, get("k"));
    expect(c.replyFor(r)).toBeUndefined();
    expect(leader.leaseReadable()).toBe(false);
    c.nowMs = leader.inspect().nextHeartbeatAtMs!;
    c.tick(0);
    c.deliverAll();
    expect(leader.inspect().commitIndex).toBe(1);
    expect(c.replyFor(r)?.result).toEqual({ ok: true, value: "" });
  });
});
