import { describe, expect, it } from "vitest";
import { logIndex, nodeId, requestId, term, type AppendReply, type AppendRequest, type Message } from "../../src/raft/index.js";
import { get, persistedWith, set, startNode, TestCluster } from "./support/cluster.js";
import { appendReply, appendReq, noop, setEntry } from "./support/msg.js";

const appendReplies = (ms: readonly Message[]) => ms.filter((m): m is AppendReply => m.type === "append-reply");
const appendRequests = (ms: readonly Message[]) => ms.filter((m): m is AppendRequest => m.type === "append-request");

describe("log replication (Raft §5.3)", () => {
  it("AppendEntries from a stale term is rejected with the current term", () => {
    const n = startNode(0, 3, persistedWith([noop(1)], 3));
    const out = n.step({ type: "message", nowMs: 1, message: appendReq({ from: 1, to: 0, term: 2 }) });
    expect(appendReplies(out.messages)[0]).toMatchObject({ success: false, term: 3 });
    expect(out.events).toContainEqual({ kind: "append-rejected", nodeId: 0, leaderId: 1 });
    expect(n.leaderId).toBeNull();
  });

  it("log matching: a follower refuses entries whose previous entry it does not hold, hinting where to retry", () => {
    const n = startNode(0, 3, persistedWith([noop(1)], 1));
    const out = n.step({ type: "message", nowMs: 1, message: appendReq({ from: 1, to: 0, term: 2, prevLogIndex: logIndex(5), prevLogTerm: term(2), entries: [noop(2)] }) });
    expect(appendReplies(out.messages)[0]).toMatchObject({ success: false, conflictIndex: 2, conflictTerm: 0, rejectedPrevIndex: 5 });
    expect(n.inspect().lastLogIndex).toBe(1);
  });

  it("fast backup: a mismatch reports the conflicting term and the first index of that term", () => {
    const n = startNode(0, 3, persistedWith([noop(1), noop(2), setEntry(2, "a", "1"), setEntry(2, "b", "2")], 2));
    const out = n.step({ type: "message", nowMs: 1, message: appendReq({ from: 1, to: 0, term: 3, prevLogIndex: logIndex(4), prevLogTerm: term(3) }) });
    expect(appendReplies(out.messages)[0]).toMatchObject({ success: false, conflictIndex: 2, conflictTerm: 2 });
  });

  it("a conflicting suffix is truncated and replaced by the leader's entries", () => {
    const n = startNode(0, 3, persistedWith([noop(1), setEntry(1, "x", "old"), setEntry(1, "y", "old")], 1, 1));
    const out = n.step({
      type: "message",
      nowMs: 1,
      message: appendReq({ from: 1, to: 0, term: 2, prevLogIndex: logIndex(1), prevLogTerm: term(1), entries: [noop(2), setEntry(2, "x", "new")] }),
    });
    expect(out.truncateFrom).toBe(2);
    expect(out.appendFrom).toBe(2);
    expect(out.append).toEqual([noop(2), setEntry(2, "x", "new")]);
    expect(n.inspect().lastLogIndex).toBe(3);
    expect(n.inspect().entryAt(logIndex(3))).toEqual(setEntry(2, "x", "new"));
    expect(appendReplies(out.messages)[0]).toMatchObject({ success: true, matchIndex: 3 });
  });

  it("entries the follower already holds are not appended again", () => {
    const n = startNode(0, 3, persistedWith([noop(1), setEntry(1, "x", "1")], 1));
    const out = n.step({ type: "message", nowMs: 1, message: appendReq({ from: 1, to: 0, term: 1, entries: [noop(1), setEntry(1, "x", "1")] }) });
    expect(out.truncateFrom).toBeNull();
    expect(out.append).toEqual([]);
    expect(n.inspect().lastLogIndex).toBe(2);
  });

  it("a follower commits up to LeaderCommit but never past the entries this message proved to match", () => {
    const n = startNode(0, 3, persistedWith([noop(1), setEntry(1, "a", "stale")], 1));
    // The leader says commit is 5, but only index 1 is verified by this empty heartbeat.
    const out = n.step({ type: "message", nowMs: 1, message: appendReq({ from: 1, to: 0, term: 1, prevLogIndex: logIndex(1), prevLogTerm: term(1), leaderCommit: logIndex(5) }) });
    expect(n.inspect().commitIndex).toBe(1);
    expect(out.applied.map((a) => a.index)).toEqual([1]);
    expect(out.events).toContainEqual({ kind: "follower-committed", nodeId: 0, operation: { kind: "noop" } });
    expect(out.hardState?.commitIndex).toBe(1);
  });

  it("batching: one AppendEntries carries at most batchCountMax entries and about batchBytesMax bytes", () => {
    const c = new TestCluster(3, { overrides: { batchCountMax: 4, batchBytesMax: 200, inflightCountMax: 100 } });
    const leader = c.elect(0);
    c.deliverAll();
    c.queue.length = 0;
    for (let i = 0; i < 10; i++) c.client(0, set(`k${i}`, "v"));
    const sent = appendRequests(c.queue).filter((m) => m.to === 1);
    expect(sent.length).toBeGreaterThan(1);
    expect(sent.every((m) => m.entries.length <= 4)).toBe(true);
    const big = "x".repeat(150);
    c.queue.length = 0;
    c.client(0, set("a", big));
    c.client(0, set("b", big));
    expect(appendRequests(c.queue).filter((m) => m.to === 1).every((m) => m.entries.length === 1)).toBe(true);
    expect(leader.inspect().lastLogIndex).toBe(13);
  });

  it("pipelining: at most inflightCountMax AppendEntries with entries are in flight to one follower", () => {
    const c = new TestCluster(3, { overrides: { batchCountMax: 1, inflightCountMax: 3 } });
    c.elect(0);
    c.deliverAll();
    c.queue.length = 0;
    const calls = Array.from({ length: 10 }, (_, i) => ({ requestId: requestId(100 + i), request: set(`k${i}`, "v") }));
    c.record(nodeId(0), c.node(0).step({ type: "client", nowMs: c.nowMs, calls }));
    expect(appendRequests(c.queue).filter((m) => m.to === 1 && m.entries.length > 0)).toHaveLength(3);
    // Acknowledging one frees one slot.
    const first = appendRequests(c.queue).find((m) => m.to === 1)!;
    c.queue.length = 0;
    c.deliver(appendReply({ from: 1, to: 0, term: 1, matchIndex: logIndex(first.prevLogIndex + 1), leaderSendMs: first.leaderSendMs }));
    expect(appendRequests(c.queue).filter((m) => m.to === 1 && m.entries.length > 0)).toHaveLength(1);
  });

  it("a pipeline that made no progress between heartbeats is resent from the match point", () => {
    const c = new TestCluster(3, { overrides: { batchCountMax: 1, inflightCountMax: 2 } });
    const leader = c.elect(0);
    c.deliverAll();
    c.client(0, set("a", "1"));
    c.queue.length = 0; // lost
    c.nowMs = leader.inspect().nextHeartbeatAtMs!;
    c.tick(0); // first heartbeat notes no progress
    c.queue.length = 0;
    c.nowMs = leader.inspect().nextHeartbeatAtMs!;
    c.tick(0); // second heartbeat: resend from match + 1
    const toOne = appendRequests(c.queue).filter((m) => m.to === 1);
    expect(toOne.some((m) => m.entries.some((e) => e.command.kind === "set"))).toBe(true);
    c.deliverAll();
    expect(c.node(1).inspect().lastLogIndex).toBe(2);
  });

  it("fast backup on the leader: a rejection naming a term the leader lacks skips that whole term at once", () => {
    const leaderLog = [noop(1), noop(1), noop(3), noop(3), noop(3)];
    const divergent = [noop(1), noop(1), noop(2), noop(2), noop(2), noop(2)];
    const c = new TestCluster(3);
    c.nodes.set(nodeId(0), c.makeNode(nodeId(0), persistedWith(leaderLog, 3)));
    c.nodes.set(nodeId(1), c.makeNode(nodeId(1), persistedWith(divergent, 3)));
    c.nodes.set(nodeId(2), c.makeNode(nodeId(2), persistedWith(leaderLog, 3)));
    const leader = c.elect(0);
    expect(leader.inspect().role).toBe("leader");
    const rejections = c.outputs.flatMap((o) => appendReplies(o.output.messages)).filter((m) => m.from === 1 && !m.success);
    expect(rejections).toHaveLength(1);
    expect(rejections[0]).toMatchObject({ conflictTerm: 2, conflictIndex: 3 });
    expect(c.node(1).inspect().lastLogIndex).toBe(6);
    expect([1, 2, 3, 4, 5, 6].map((i) => c.node(1).inspect().termAt(logIndex(i)))).toEqual([1, 1, 3, 3, 3, 4]);
  });

  it("an append-reply with a higher term makes the leader step down", () => {
    const c = new TestCluster(3);
    const leader = c.elect(0);
    c.deliverAll();
    const out = c.deliver(appendReply({ from: 1, to: 0, term: 9, success: false }))!;
    expect(leader.inspect().role).toBe("follower");
    expect(leader.inspect().term).toBe(9);
    expect(out.events).toContainEqual({ kind: "stepping-down", nodeId: 0 });
  });
});

describe("commitment (Raft §5.4.2)", () => {
  it("a leader commits an entry of its term once a majority holds it", () => {
    const c = new TestCluster(5);
    const leader = c.elect(0, (m) => m.type === "append-request" && (m.to === 3 || m.to === 4)); // only 0, 1, 2
    expect(leader.inspect().commitIndex).toBe(1);
  });

  it("a leader does not commit with a minority", () => {
    const c = new TestCluster(5);
    const leader = c.elect(0, (m) => m.type === "append-request" && m.to !== 1); // only 0 and 1
    expect(leader.inspect().commitIndex).toBe(0);
  });

  it("a leader never commits an earlier-term entry by counting replicas (Figure 8)", () => {
    // Node 0 leads term 3 with an entry of term 2 that a majority holds, but its own NO-OP of term 3
    // has not reached a majority: index 2 must not be committed.
    const persisted = persistedWith([noop(1), setEntry(2, "x", "from-term-2")], 2);
    const c = new TestCluster(3);
    for (const id of [0, 1, 2]) c.nodes.set(nodeId(id), c.makeNode(nodeId(id), persisted));
    const leader = c.elect(0, (m) => m.type === "append-request"); // votes flow, appends lost
    expect(leader.inspect().role).toBe("leader");
    expect(leader.inspect().term).toBe(3);
    // Follower 1 acknowledges index 2 (it already holds it) but not the NO-OP at 3, answering a
    // request this leader sent when it was elected (now).
    c.deliver(appendReply({ from: 1, to: 0, term: 3, matchIndex: logIndex(2), leaderSendMs: c.nowMs }));
    expect(leader.inspect().commitIndex).toBe(0);
    // Once the term-3 NO-OP reaches a majority, index 2 commits with it.
    c.deliver(appendReply({ from: 1, to: 0, term: 3, matchIndex: logIndex(3), leaderSendMs: c.nowMs }));
    expect(leader.inspect().commitIndex).toBe(3);
  });

  it("the commit-old-term mutation does commit the earlier-term entry (the checkers' negative control)", () => {
    const persisted = persistedWith([noop(1), setEntry(2, "x", "from-term-2")], 2);
    const c = new TestCluster(3, { mutation: "commit-old-term" });
    for (const id of [0, 1, 2]) c.nodes.set(nodeId(id), c.makeNode(nodeId(id), persisted));
    const leader = c.elect(0, (m) => m.type === "append-request");
    c.deliver(appendReply({ from: 1, to: 0, term: 3, matchIndex: logIndex(2), leaderSendMs: c.nowMs }));
    expect(leader.inspect().commitIndex).toBe(2);
  });

  it("committed entries are applied in order and reported once, with the leader's dump events", () => {
    const c = new TestCluster(3);
    const leader = c.elect(0);
    c.deliverAll();
    const before = c.outputs.length;
    c.client(0, set("x", "6"));
    c.deliverAll();
    const applied = c.outputs.slice(before).filter((o) => o.from === 0).flatMap((o) => o.output.applied);
    expect(applied.map((a) => a.index)).toEqual([2]);
    const events = c.outputs.slice(before).filter((o) => o.from === 0).flatMap((o) => o.output.events);
    const setX6 = expect.objectContaining({ kind: "set", key: "x", value: "6" });
    expect(events).toContainEqual({ kind: "leader-received", nodeId: 0, operation: setX6 });
    expect(events).toContainEqual({ kind: "leader-committed", nodeId: 0, operation: setX6 });
    expect(leader.inspect().valueOf("x")).toBe("6");
  });
});

describe("leader writes its log in parallel with replication (Raft thesis §10.2.1)", () => {
  it("with leaderPersistsInParallel a leader counts its own copy only once a persisted input reports it durable", () => {
    const c = new TestCluster(3, { overrides: { leaderPersistsInParallel: true } });
    const leader = c.elect(0, (m) => m.type === "append-request" && m.to === 2);
    // Follower 1 holds the NO-OP, but the leader's own copy is not yet durable: no majority.
    expect(leader.inspect().commitIndex).toBe(0);
    const out = leader.step({ type: "persisted", nowMs: c.nowMs, index: logIndex(1), term: term(1) });
    expect(leader.inspect().commitIndex).toBe(1);
    expect(out.applied.map((a) => a.index)).toEqual([1]);
  });

  it("a persisted report for an entry that is not this leader's (another term) is ignored", () => {
    const c = new TestCluster(3, { overrides: { leaderPersistsInParallel: true } });
    const leader = c.elect(0, (m) => m.type === "append-request" && m.to === 2);
    leader.step({ type: "persisted", nowMs: c.nowMs, index: logIndex(1), term: term(0) });
    leader.step({ type: "persisted", nowMs: c.nowMs, index: logIndex(5), term: term(1) });
    expect(leader.inspect().commitIndex).toBe(0);
  });

  it("only a leader's outputs may be sent before they are durable; votes and follower appends never", () => {
    const c = new TestCluster(3, { overrides: { leaderPersistsInParallel: true } });
    c.elect(0);
    c.client(0, set("a", "1"));
    c.deliverAll();
    const early = c.outputs.filter((o) => o.output.sendBeforePersist);
    expect(early.length).toBeGreaterThan(0);
    for (const o of early) {
      expect(o.role, `node ${o.from} sent before persisting`).toBe("leader");
      expect(o.output.messages.filter((m) => m.type === "vote-request" || m.type === "vote-reply")).toEqual([]);
    }
    const notLeader = c.outputs.filter((o) => o.role !== "leader");
    expect(notLeader.some((o) => o.from === 0 && o.output.messages.some((m) => m.type === "vote-request"))).toBe(true); // node 0 as candidate
    expect(notLeader.some((o) => o.output.messages.some((m) => m.type === "append-reply"))).toBe(true); // the followers
    expect(notLeader.filter((o) => o.output.sendBeforePersist)).toEqual([]);
    const plain = new TestCluster(3);
    plain.elect(0);
    expect(plain.outputs.filter((o) => o.output.sendBeforePersist)).toEqual([]);
  });

});

describe("entryEvents: the per-request and per-applied-entry events, for runtimes that write no dump or trace", () => {
  /** Elects node 0 of 3, runs five SETs and a GET to the end; every step's output, with `entryEvents` as given (undefined: the default). */
  function run(entryEvents?: boolean): TestCluster {
    const c = new TestCluster(3, { overrides: entryEvents === undefined ? {} : { entryEvents } });
    c.elect(0);
    c.deliverAll();
    for (let i = 0; i < 5; i++) c.client(0, set(`k${i}`, `v${i}`));
    c.deliverAll();
    c.nowMs += 150; // a heartbeat carries the commit index to the followers
    c.tick(0);
    c.deliverAll();
    c.client(0, get("k4"));
    c.deliverAll();
    return c;
  }
  const kinds = (c: TestCluster) => c.outputs.flatMap((o) => o.output.events.map((e) => e.kind));
  const ENTRY_EVENTS = new Set(["leader-received", "follower-committed"]);

  it("on by default: the leader reports each request received and the followers each entry applied", () => {
    const k = kinds(run());
    expect(k.filter((x) => x === "leader-received")).toHaveLength(6);
    expect(k.filter((x) => x === "follower-committed").length).toBeGreaterThanOrEqual(2 * 6); // the NO-OP and five SETs, on two followers
  });

  it("off: exactly those two kinds are gone; messages, replies, applied entries and every other event are the same", () => {
    const on = run();
    const off = run(false);
    expect(kinds(off)).toEqual(kinds(on).filter((x) => !ENTRY_EVENTS.has(x)));
    expect(kinds(off)).toContain("leader-committed");
    const rest = (c: TestCluster) => c.outputs.map((o) => ({ ...o, output: { ...o.output, events: o.output.events.filter((e) => !ENTRY_EVENTS.has(e.kind)) } }));
    expect(rest(off)).toEqual(rest(on));
    expect(off.replies).toEqual(on.replies);
    expect(off.replyFor(6)?.result).toMatchObject({ ok: true });
  });
});
