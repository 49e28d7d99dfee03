// A leader's pending writes, state machine images (VersionedMap) and snapshots, and the request
// size limits: driven by hand through the public API (src/raft/index.ts), from the README
// ("Limits and failure behaviour", "Exactly-once SETs"), docs/file-formats.md ("Client sessions"),
// types.ts (the output contract, ClientErrorCode) and the Raft paper (§5.3, §5.4, §7).
//
// Followers are imaginary: the test answers the leader's AppendEntries itself, in any order.
// ADV_RUNS=<n> runs more schedules; ADV_SEED=<seed> replays one.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CLIENT_ID_BYTES_MAX,
  KEY_BYTES_MAX,
  logIndex,
  makeConfig,
  nodeId,
  RaftNode,
  requestId,
  term,
  TIMING_FAST,
  VALUE_BYTES_MAX,
  VersionedMap,
} from "../../src/raft/index.js";
import type {
  AppendReply,
  AppendRequest,
  ClientReply,
  ClientRequest,
  Entry,
  FullOutput,
  Input,
  MapImage,
  Message,
  Mutation,
  PersistedState,
  RaftConfig,
  SetCommand,
  Snapshot,
  VoteReply,
} from "../../src/raft/index.js";
import { type MachineState, stateDiff } from "./support/reference.js";

/**
 * The state machine of docs/file-formats.md ("Client sessions"), applied in place: a SET of a
 * session is a duplicate when its sequence is below the bound or among the applied ones; else it
 * applies, joins them, and the bound rises to its firstUnanswered (lower ones are forgotten).
 */
class Model {
  readonly data = new Map<string, string>();
  readonly sessions = new Map<string, { firstUnanswered: number; applied: number[] }>();
  apply(e: Entry): void {
    const c = e.command;
    if (c.kind !== "set") return;
    const w = c.clientId === "" ? undefined : this.sessions.get(c.clientId);
    if (w !== undefined && (c.sequence < w.firstUnanswered || w.applied.includes(c.sequence))) return;
    this.data.set(c.key, c.value);
    if (c.clientId === "") return;
    const bound = Math.max(w?.firstUnanswered ?? 0, c.firstUnanswered);
    this.sessions.delete(c.clientId);
    this.sessions.set(c.clientId, { firstUnanswered: bound, applied: [...(w?.applied ?? []), c.sequence].filter((q) => q >= bound).sort((a, b) => a - b) });
  }
  copy(): MachineState {
    return { data: new Map(this.data), sessions: new Map([...this.sessions].map(([k, w]) => [k, { firstUnanswered: w.firstUnanswered, applied: [...w.applied] }])) };
  }
}

type Overrides = Partial<Omit<RaftConfig, "id" | "members" | "timing">>;
const EMPTY: PersistedState = { hardState: { currentTerm: term(0), votedFor: null, commitIndex: logIndex(0) }, entries: [] };
const ERROR_CODES = ["not-leader", "stepped-down", "overloaded", "invalid"];

const set = (key: string, value: string, clientId = "", sequence = 0, firstUnanswered = sequence): SetCommand => ({ kind: "set", key, value, clientId, sequence, firstUnanswered });

/**
 * One node driven by hand, and the books of every client call it was given: every reply is
 * checked as it comes (one per request id, for a request id that was asked, ok only once the
 * SET's entry was applied), and every applied entry is checked against the log it came from.
 */
class Driver {
  readonly node: RaftNode;
  now = 0;
  steps = 0;
  readonly sent: AppendRequest[] = [];
  nextRid = 1;
  /** request id -> the request. */
  readonly asked = new Map<number, ClientRequest>();
  /** request id -> its one reply, with the step it came at. */
  readonly replies = new Map<number, { reply: ClientReply; step: number }>();
  /** index -> the entry applied there (each index applied once, in order). */
  readonly applied = new Map<number, Entry>();
  lastApplied = 0;
  /** "clientId/sequence" or the request id of a sessionless SET -> the step its first copy was applied. */
  readonly appliedAt = new Map<string, number>();
  readonly state = new Model();
  readonly snapshots: Snapshot[] = [];

  constructor(id: number, ids: number[], overrides: Overrides = {}, persisted: PersistedState = EMPTY) {
    const config = makeConfig(nodeId(id), ids.map(nodeId), TIMING_FAST, { preVote: false, ...overrides });
    this.node = RaftNode.start(config, persisted, 0, () => 0);
  }

  step(input: Input): FullOutput {
    this.now = Math.max(this.now, input.nowMs);
    const out = this.node.step({ ...input, nowMs: this.now } as Input);
    this.steps++;
    for (const m of out.messages) if (m.type === "append-request") this.sent.push(m);
    for (const a of out.applied) {
      expect(a.index, "applied entries come in order, each once").toBe(this.lastApplied + 1);
      this.lastApplied = a.index;
      this.applied.set(a.index, a.entry);
      this.state.apply(a.entry);
      const c = a.entry.command;
      if (c.kind === "set") {
        const id = c.clientId === "" ? `v:${c.value}` : `${c.clientId}/${c.sequence}`;
        if (!this.appliedAt.has(id)) this.appliedAt.set(id, this.steps);
      }
    }
    if (out.saveSnapshot !== null) this.snapshots.push(out.saveSnapshot);
    for (const r of out.replies) this.record(r);
    return out;
  }

  private record(r: ClientReply): void {
    const req = this.asked.get(r.requestId);
    expect(req, `a reply for request ${r.requestId}, which no client asked`).toBeDefined();
    expect(this.replies.has(r.requestId), `a second reply for request ${r.requestId}: ${JSON.stringify(r.result)}`).toBe(false);
    this.replies.set(r.requestId, { reply: r, step: this.steps });
    if (r.result.ok) {
      if (req!.kind === "set") {
        expect(r.result.value, "a SET answers the empty string").toBe("");
        const id = req!.clientId === "" ? `v:${req!.value}` : `${req!.clientId}/${req!.sequence}`;
        expect(this.appliedAt.get(id), `request ${r.requestId} (${id}) answered ok before any copy of it was applied`).toBeDefined();
        expect(this.appliedAt.get(id)!).toBeLessThanOrEqual(this.steps);
      }
    } else {
      expect(ERROR_CODES, `request ${r.requestId}'s error code`).toContain(r.result.code);
      expect(r.result.message.length).toBeGreaterThan(0);
    }
  }

  client(requests: readonly ClientRequest[], nowMs = this.now): { rids: number[]; out: FullOutput } {
    const calls = requests.map((request) => {
      const rid = this.nextRid++;
      this.asked.set(rid, request);
      return { requestId: requestId(rid), request };
    });
    const out = this.step({ type: "client", nowMs, calls });
    return { rids: calls.map((c) => c.requestId as number), out };
  }

  tick = (nowMs: number): FullOutput => this.step({ type: "tick", nowMs });
  deliver = (nowMs: number, message: Message): FullOutput => this.step({ type: "message", nowMs, message });
  ack = (nowMs: number, req: AppendRequest): FullOutput => this.deliver(nowMs, ackOf(req));
  get role(): string { return this.node.status(this.now).role; } // prettier-ignore
  result(rid: number) { return this.replies.get(rid)?.reply.result; } // prettier-ignore

  /** Stands for election and is granted every vote (no old lease reported); returns when it leads. */
  elect(leaseRemainingMs = 0): void {
    const at = Math.max(this.now + 1, this.node.inspect().electionDeadlineMs);
    for (const v of this.tick(at).messages) {
      if (v.type !== "vote-request" || this.role === "leader") continue;
      const reply: VoteReply = { type: "vote-reply", from: v.to, to: v.from, term: v.term, requestTerm: v.term, granted: true, preVote: false, leaseRemainingMs, leaseTerm: term(0) };
      this.deliver(this.now, reply);
    }
    expect(this.role).toBe("leader");
  }

  /** Every follower answers the newest request sent to it, again and again, until nothing is pending. */
  settle(peers: number[], rounds = 200): void {
    for (let i = 0; i < rounds && this.role === "leader"; i++) {
      const v = this.node.inspect();
      if (v.pendingWriteCount === 0 && v.commitIndex === v.lastLogIndex && this.lastApplied === v.commitIndex) return;
      for (const p of peers) {
        const last = this.sent.filter((m) => m.to === p && m.term === v.term).at(-1);
        if (last !== undefined) this.ack(this.now + 1, last);
      }
      this.tick(Math.max(this.now + 1, Math.min(this.node.wakeAtMs(), this.now + 50)));
    }
  }

  /** Every request asked has exactly one reply. */
  expectAllAnswered(): void {
    const missing = [...this.asked.keys()].filter((rid) => !this.replies.has(rid));
    expect(missing, "requests never answered").toEqual([]);
  }

  /** The node's state machine is the replay of what it applied (each SET of a session once). */
  expectStateIsReplay(): void {
    const v = this.node.inspect();
    for (const [k, value] of this.state.data) expect(v.valueOf(k), `key ${k}`).toBe(value);
  }
}

const ackOf = (req: AppendRequest): AppendReply => ({
  type: "append-reply", from: req.to, to: req.from, term: req.term, requestTerm: req.term, success: true,
  matchIndex: logIndex(req.prevLogIndex + req.entries.length), conflictIndex: logIndex(0), conflictTerm: term(0), rejectedPrevIndex: logIndex(0), leaderSendMs: req.leaderSendMs,
});

/** Node 0 of `ids`, leading, its old-lease wait over and its NO-OP committed. */
function leader(ids: number[], overrides: Overrides = {}): Driver {
  const d = new Driver(0, ids, overrides);
  d.elect();
  d.settle(ids.slice(1));
  for (let i = 0; i < 50 && !d.node.leaseReadable(d.now); i++) {
    for (const p of ids.slice(1)) {
      const last = d.sent.filter((m) => m.to === p).at(-1);
      if (last) d.ack(d.now, last);
    }
    d.tick(Math.max(d.now + 1, Math.min(d.node.wakeAtMs(), d.now + 100)));
  }
  expect(d.node.leaseReadable(d.now), "the leader holds its lease").toBe(true);
  return d;
}

/** An AppendEntries from node `from` leading `t`, holding node 0's log through `prev` and then `entries`. */
function appendFrom(d: Driver, from: number, t: number, prev: number, entries: Entry[], leaderCommit: number): AppendRequest {
  const prevTerm = d.node.inspect().termAt(logIndex(prev));
  expect(prevTerm).toBeDefined();
  return {
    type: "append-request", from: nodeId(from), to: nodeId(0), term: term(t), prevLogIndex: logIndex(prev), prevLogTerm: prevTerm!, entries,
    leaderCommit: logIndex(leaderCommit), lease: { leaseMs: TIMING_FAST.leaseMs, driftPpmMax: TIMING_FAST.driftPpmMax }, leaderSendMs: d.now,
  };
}

// ================================================================ 1. a leader's pending writes

describe("a leader's pending writes: one right reply each", () => {
  it("300 SETs from 30 clients in one call, acks out of order: all ok, each once, none before its commit", () => {
    const d = leader([0, 1, 2, 3, 4]);
    const reqs = Array.from({ length: 300 }, (_, i) => set(`k${i % 17}`, `one-${i}`, `c${i % 30}`, Math.floor(i / 30) + 1, 1));
    const { rids, out } = d.client(reqs);
    expect(out.replies, "no SET is answered before a majority holds it").toEqual([]);
    // acks in reverse order of sending, a different follower each time: the commit index only rises
    const toAck = [...d.sent].filter((m) => m.entries.length > 0).reverse();
    let commit = d.node.inspect().commitIndex as number;
    for (const m of toAck) {
      d.ack(d.now + 1, m);
      const c = d.node.inspect().commitIndex as number;
      expect(c).toBeGreaterThanOrEqual(commit);
      commit = c;
    }
    d.settle([1, 2, 3, 4]);
    for (const rid of rids) expect(d.result(rid)?.ok, `request ${rid}`).toBe(true);
    d.expectAllAnswered();
    d.expectStateIsReplay();
    for (let k = 0; k < 17; k++) {
      const last = Math.max(...[...Array(300).keys()].filter((i) => i % 17 === k));
      expect(d.node.inspect().valueOf(`k${k}`)).toBe(`one-${last}`);
    }
  });

  it("SETs over many steps, each follower acking a different subset: a reply comes exactly when a majority holds the entry", () => {
    const d = leader([0, 1, 2, 3, 4]);
    const rids: number[] = [];
    const sentBefore = d.sent.length;
    for (let s = 0; s < 20; s++) rids.push(...d.client([set(`a${s}`, `x${s}`), set(`b${s}`, `y${s}`, `s${s % 3}`, s + 1)], d.now + 3).rids);
    const base = d.node.inspect().commitIndex as number;
    const byPeer = (p: number) => d.sent.slice(sentBefore).filter((m) => m.to === p && m.entries.length > 0);
    // node 1 acks everything, node 2 only its oldest request: nothing past node 2's match commits
    for (const m of byPeer(1)) d.ack(d.now + 1, m);
    const m2 = byPeer(2)[0]!;
    d.ack(d.now + 1, m2);
    const match2 = m2.prevLogIndex + m2.entries.length;
    expect(d.node.inspect().commitIndex).toBe(match2);
    for (const rid of rids) {
      const idx = [...d.applied.entries()].find(([, e]) => e.command.kind === "set" && e.command.value === (d.asked.get(rid) as SetCommand).value)?.[0];
      if (d.result(rid)?.ok) expect(idx).toBeLessThanOrEqual(match2);
      else expect(d.replies.has(rid), `request ${rid} answered though uncommitted`).toBe(false);
    }
    expect(match2).toBeGreaterThan(base);
    d.settle([1, 2, 3, 4]);
    d.expectAllAnswered();
    for (const rid of rids) expect(d.result(rid)?.ok).toBe(true);
  });

  it("a higher-term AppendEntries truncating the pending writes: every one answered stepped-down, once, and never again", () => {
    const d = leader([0, 1, 2]);
    const committed = d.node.inspect().commitIndex as number;
    const { rids } = d.client(Array.from({ length: 12 }, (_, i) => set("x", `p${i}`, `c${i % 4}`, Math.floor(i / 4) + 1, 1)));
    expect(d.replies.size).toBe(0);
    const t = (d.node.status(d.now).term as number) + 1;
    const newer: Entry[] = [{ term: term(t), command: { kind: "noop" } }, { term: term(t), command: set("x", "from-node-1") }];
    const out = d.deliver(d.now + 1, appendFrom(d, 1, t, committed, newer, committed + 2));
    expect(d.role).toBe("follower");
    expect(out.truncateFrom, "the uncommitted entries are cut").toBe(committed + 1);
    for (const rid of rids) expect(d.result(rid), `request ${rid}`).toMatchObject({ ok: false, code: "stepped-down" });
    d.expectAllAnswered();
    // old acks of the writes arrive now: nothing more is answered, the new leader's x stands
    for (const m of [...d.sent]) d.ack(d.now + 1, m);
    d.tick(d.now + 500);
    expect(d.node.inspect().valueOf("x")).toBe("from-node-1");
    expect([...d.applied.values()].some((e) => e.command.kind === "set" && e.command.value.startsWith("p"))).toBe(false);
  });

  it("a higher-term leader that keeps the writes and commits them: answered stepped-down (may have applied), applied once", () => {
    const d = leader([0, 1, 2]);
    const { rids } = d.client([set("y", "kept", "k", 1), set("z", "kept-too")]);
    const last = d.node.inspect().lastLogIndex as number;
    const t = (d.node.status(d.now).term as number) + 1;
    d.deliver(d.now + 1, appendFrom(d, 2, t, last, [{ term: term(t), command: { kind: "noop" } }], last + 1));
    expect(d.role).toBe("follower");
    for (const rid of rids) expect(d.result(rid)).toMatchObject({ ok: false, code: "stepped-down" });
    expect(d.node.inspect().valueOf("y")).toBe("kept");
    expect(d.node.inspect().valueOf("z")).toBe("kept-too");
    d.expectAllAnswered();
  });

  it("a vote request of a higher term with writes pending: stepped-down; a SET to the follower then: not-leader at once", () => {
    const d = leader([0, 1, 2]);
    const { rids } = d.client([set("a", "1"), set("b", "2", "cl", 7, 5)]);
    const v = d.node.inspect();
    d.deliver(d.now + 1, { type: "vote-request", from: nodeId(2), to: nodeId(0), term: term((v.term as number) + 1), lastLogIndex: logIndex(99), lastLogTerm: term(v.term as number), preVote: false, lease: { leaseMs: TIMING_FAST.leaseMs, driftPpmMax: TIMING_FAST.driftPpmMax } });
    expect(d.role).not.toBe("leader");
    for (const rid of rids) expect(d.result(rid)).toMatchObject({ ok: false, code: "stepped-down" });
    const late = d.client([set("c", "3")]);
    expect(late.out.replies.map((r) => r.requestId)).toEqual(late.rids);
    expect(d.result(late.rids[0]!)).toMatchObject({ ok: false, code: "not-leader" });
    d.expectAllAnswered();
  });

  it("a leader no majority acknowledges steps down with its writes pending: each answered stepped-down once", () => {
    const d = leader([0, 1, 2]);
    const { rids } = d.client(Array.from({ length: 5 }, (_, i) => set(`k${i}`, `v${i}`)));
    for (let i = 0; i < 100 && d.role === "leader"; i++) d.tick(Math.max(d.now + 1, d.node.wakeAtMs()));
    expect(d.role).toBe("follower");
    for (const rid of rids) expect(d.result(rid)).toMatchObject({ ok: false, code: "stepped-down" });
    d.tick(d.now + 5000);
    d.expectAllAnswered();
  });

  it("writes committed while a new leader waits out an old lease: answered ok once the wait ends, once", () => {
    const d = new Driver(0, [0, 1, 2]);
    d.elect(500); // a voter still knows of 500 ms of an older leader's lease
    const wait = d.node.inspect().oldLeaseWaitUntilMs!;
    expect(wait).toBeGreaterThan(d.now + 400);
    const { rids } = d.client([set("a", "1"), set("b", "2", "c", 1), set("a", "3")]);
    for (let i = 0; i < 4; i++) {
      for (const m of [...d.sent]) d.ack(d.now + 1, m);
      d.tick(Math.min(d.node.wakeAtMs(), wait - 2, d.now + 100));
    }
    expect(d.now).toBeLessThan(wait - 1);
    expect(d.node.inspect().commitIndex, "the writes commit during the wait").toBe(d.node.inspect().lastLogIndex);
    expect(d.replies.size, "no write is acknowledged before the old lease ends").toBe(0);
    d.tick(wait - 1);
    expect(d.replies.size).toBe(0);
    for (let t = wait; t < wait + 1000; t += 50) {
      d.tick(t);
      for (const p of [1, 2]) { const last = d.sent.filter((m) => m.to === p).at(-1); if (last) d.ack(d.now, last); } // prettier-ignore
    }
    for (const rid of rids) expect(d.result(rid)?.ok, `request ${rid}`).toBe(true);
    expect(d.replies.get(rids[0]!)!.step, "answered at the first step past the wait").toBeLessThanOrEqual(d.replies.get(rids[2]!)!.step);
    d.client([set("z", "after")]);
    d.settle([1, 2]);
    d.expectAllAnswered();
    expect(d.node.inspect().valueOf("a")).toBe("3");
  });

  it("duplicates (same client id and sequence) in one call, across calls and after commit: applied once, each answered ok", () => {
    const d = leader([0, 1, 2]);
    const a = d.client([set("x", "first", "c1", 1), set("x", "first", "c1", 1), set("y", "y1", "c2", 1)]);
    d.settle([1, 2]);
    const b = d.client([set("x", "other", "c3", 1)]);
    d.settle([1, 2]);
    const c = d.client([set("x", "first", "c1", 1), set("y", "y1", "c2", 1)]); // retries after c3's write
    d.settle([1, 2]);
    for (const rid of [...a.rids, ...b.rids, ...c.rids]) expect(d.result(rid)?.ok, `request ${rid}`).toBe(true);
    expect(d.node.inspect().valueOf("x"), "c1's retried SET did not apply again over c3's").toBe("other");
    const applications = [...d.applied.values()].filter((e) => e.command.kind === "set" && e.command.clientId === "c1");
    // each copy may be in the log, but the state machine took it once
    expect(applications.length).toBeGreaterThanOrEqual(1);
    d.expectAllAnswered();
    d.expectStateIsReplay();
  });

  it("a window of one session arriving out of order and twice: each sequence applied once", () => {
    const d = leader([0, 1, 2]);
    const rids: number[] = [];
    for (const q of [3, 1, 2, 3, 5, 4, 1, 5]) rids.push(...d.client([set(`w${q}`, `q${q}-${rids.length}`, "win", q, 1)]).rids);
    d.settle([1, 2]);
    for (const rid of rids) expect(d.result(rid)?.ok).toBe(true);
    for (const q of [1, 2, 3, 4, 5]) expect(d.node.inspect().valueOf(`w${q}`), `sequence ${q}`).toMatch(new RegExp(`^q${q}-`));
    // the first copy of each sequence in the log is the one applied
    expect(d.node.inspect().valueOf("w3")).toBe("q3-0");
    expect(d.node.inspect().valueOf("w1")).toBe("q1-1");
    expect(d.node.inspect().valueOf("w5")).toBe("q5-4");
    d.expectAllAnswered();
  });

  it("beyond pendingCountMax: the excess answered overloaded at once, the rest ok, each once", () => {
    const d = leader([0, 1, 2], { pendingCountMax: 4 });
    const { rids, out } = d.client(Array.from({ length: 7 }, (_, i) => set(`o${i}`, `v${i}`)));
    const overloaded = out.replies.filter((r) => !r.result.ok && r.result.code === "overloaded").map((r) => r.requestId as number);
    expect(overloaded.length).toBe(3);
    d.settle([1, 2]);
    d.expectAllAnswered();
    expect(rids.filter((r) => d.result(r)?.ok).length).toBe(4);
    for (const r of overloaded) expect(d.node.inspect().valueOf(`o${rids.indexOf(r)}`), "an overloaded SET is not applied").toBe("");
  });

  it("property: random schedules (batches, duplicates, reordered acks, step-downs, truncations, re-elections)", () => {
    const seed = Number(process.env.ADV_SEED ?? 20261130);
    const runs = Number(process.env.ADV_RUNS ?? 60);
    const action = fc.oneof(
      { weight: 5, arbitrary: fc.record({ k: fc.constant("sets" as const), n: fc.integer({ min: 1, max: 6 }), client: fc.nat(4), key: fc.nat(5) }) },
      { weight: 2, arbitrary: fc.record({ k: fc.constant("dup" as const), pick: fc.nat() }) },
      { weight: 6, arbitrary: fc.record({ k: fc.constant("ack" as const), pick: fc.nat(), gap: fc.integer({ min: 0, max: 60 }) }) },
      { weight: 2, arbitrary: fc.record({ k: fc.constant("tick" as const), gap: fc.integer({ min: 1, max: 400 }) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant("usurp" as const), keep: fc.nat(), add: fc.nat(3), commit: fc.nat(3) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant("elect" as const), lease: fc.constantFrom(0, 0, 300, 700) }) },
    );
    fc.assert(
      fc.property(fc.array(action, { minLength: 1, maxLength: 60 }), (actions) => {
        const d = leader([0, 1, 2]);
        const seq = new Map<number, number>();
        let values = 0;
        const sets: SetCommand[] = [];
        for (const a of actions) {
          switch (a.k) {
            case "sets": {
              const reqs = Array.from({ length: a.n }, (_, i) => {
                const c = (a.client + i) % 5;
                if (c === 4) return set(`k${(a.key + i) % 6}`, `v${++values}`);
                const q = (seq.get(c) ?? 0) + 1;
                seq.set(c, q);
                return set(`k${(a.key + i) % 6}`, `v${++values}`, `c${c}`, q, Math.max(1, q - 3));
              });
              sets.push(...reqs.filter((r) => r.clientId !== ""));
              d.client(reqs);
              break;
            }
            case "dup":
              if (sets.length > 0) d.client([sets[a.pick % sets.length]!]);
              break;
            case "ack": {
              const mine = d.sent.filter((m) => m.term === d.node.status(d.now).term);
              if (mine.length > 0) d.ack(d.now + a.gap, mine[a.pick % mine.length]!);
              break;
            }
            case "tick":
              d.tick(d.now + a.gap);
              break;
            case "usurp": {
              const v = d.node.inspect();
              const span = (v.lastLogIndex as number) - (v.commitIndex as number);
              const prev = (v.commitIndex as number) + (a.keep % (span + 1));
              const t = (v.term as number) + 1;
              const entries = Array.from({ length: a.add }, (_, i): Entry => ({ term: term(t), command: set(`k${i}`, `usurper-${t}-${i}`) }));
              d.deliver(d.now + 1, appendFrom(d, 1 + (a.add % 2), t, prev, entries, prev + Math.min(a.commit, a.add)));
              expect(d.role).toBe("follower");
              expect(d.node.inspect().pendingWriteCount).toBe(0);
              break;
            }
            case "elect":
              if (d.role !== "leader") d.elect(a.lease);
              break;
          }
          if (d.role !== "leader") {
            // whatever was asked of a follower is answered already
            d.expectAllAnswered();
          }
        }
        if (d.role !== "leader") d.elect();
        d.settle([1, 2], 400);
        d.expectAllAnswered();
        d.expectStateIsReplay();
        // an ok reply's SET is in the committed log for good: the node's log still holds it
        const v = d.node.inspect();
        for (const [rid, { reply }] of d.replies) {
          const req = d.asked.get(rid)!;
          if (!reply.result.ok || req.kind !== "set") continue;
          const found = [...d.applied.entries()].some(([i, e]) => {
            const c = e.command;
            if (c.kind !== "set" || i > (v.commitIndex as number)) return false;
            if (!(v.entryAt(logIndex(i)).command.kind === "set" && JSON.stringify(v.entryAt(logIndex(i))) === JSON.stringify(e))) return false;
            return req.clientId === "" ? c.value === req.value && c.clientId === "" : c.clientId === req.clientId && c.sequence === req.sequence;
          });
          expect(found, `request ${rid} answered ok, but no committed entry of the log holds it`).toBe(true);
        }
      }),
      { numRuns: runs, seed, endOnFailure: true, reporter: (r) => { if (r.failed) throw new Error(`seed ${seed} (replay: ADV_SEED=${seed}); counterexample ${JSON.stringify(r.counterexample)}\n${r.errorInstance}`); } }, // prettier-ignore
    );
  });
});

// ================================================================ 2. images and snapshots

/** Checks that an image holds exactly `want`, through every read of a ReadonlyMap. */
function expectImage(img: ReadonlyMap<string, string>, want: ReadonlyMap<string, string>, what: string, probe: Iterable<string> = []): void {
  // keys written after the image (or never): absent from it
  for (const k of probe) if (img.get(k) !== want.get(k) || img.has(k) !== want.has(k)) expect([k, img.get(k), img.has(k)], `${what}: get/has(${k})`).toEqual([k, want.get(k), want.has(k)]);
  expect(img.size, `${what}: size`).toBe(want.size);
  const entries = [...img.entries()];
  expect(entries.length, `${what}: entries()`).toBe(want.size);
  expect(new Set(entries.map(([k]) => k)).size, `${what}: a key listed twice`).toBe(want.size);
  for (const [k, v] of entries) if (want.get(k) !== v) expect(want.get(k), `${what}: entries() gives ${k}=${v}`).toBe(v);
  for (const [k, v] of want) {
    if (img.get(k) !== v || !img.has(k)) expect(img.get(k), `${what}: get(${k})`).toBe(v);
  }
  expect([...img.keys()].length).toBe(want.size);
  expect([...img.values()].sort()).toEqual([...want.values()].sort());
  expect([...img].length).toBe(want.size);
  let n = 0;
  img.forEach((v, k) => { n++; if (want.get(k) !== v) expect(`${k}=${v}`, `${what}: forEach`).toBe(`${k}=${want.get(k)}`); }); // prettier-ignore
  expect(n).toBe(want.size);
  expect(img.has(`absent-${want.size}`)).toBe(false);
  expect(img.get(`absent-${want.size}`)).toBeUndefined();
}

describe("VersionedMap images hold the content of their moment", () => {
  for (const n of [1, 10, 999, 1000, 1001, 5000]) {
    it(`${n} keys: overwrites of the same keys, new keys, and more images after it change none`, () => {
      const m = new VersionedMap();
      const plain = new Map<string, string>();
      const held: [MapImage, Map<string, string>, string][] = [];
      const w = (k: string, v: string) => { m.set(k, v); plain.set(k, v); }; // prettier-ignore
      for (let i = 0; i < n; i++) w(`k${i}`, `a${i}`);
      held.push([m.image(), new Map(plain), "after the fill"]);
      // overwrite one key fewer than n, then all of them, then each twice more: past any
      // "more records than keys" bound in both directions
      for (let i = 0; i < n - 1; i++) w(`k${i}`, `b${i}`);
      held.push([m.image(), new Map(plain), "after n-1 overwrites"]);
      for (let i = 0; i < n; i++) w(`k${i}`, `c${i}`);
      for (let r = 0; r < 2; r++) for (let i = 0; i < n; i++) w(`k${(i * 7) % n}`, `d${r}-${i}`);
      held.push([m.image(), new Map(plain), "after the overwrites"]);
      for (let i = 0; i < n; i++) w(`new${i}`, `e${i}`);
      w("k0", "last");
      for (const [img, want, what] of held) expectImage(img, want, `${n} keys, image ${what}`, plain.keys());
      expectImage(m.image(), plain, `${n} keys, the live content`);
      expect(m.size).toBe(plain.size);
      for (const [k, v] of plain) if (m.get(k) !== v) expect(m.get(k)).toBe(v);
    });
  }

  it("images detached or dropped in every order: the others keep their content", () => {
    const orders = [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]];
    for (const order of orders) {
      const m = new VersionedMap();
      const plain = new Map<string, string>();
      const held: { img: MapImage | null; want: Map<string, string> }[] = [];
      for (let s = 0; s < 4; s++) {
        for (let i = 0; i < 300; i++) { const k = `k${(i * (s + 3)) % (200 + 100 * s)}`, v = `s${s}-${i}`; m.set(k, v); plain.set(k, v); } // prettier-ignore
        held.push({ img: m.image(), want: new Map(plain) });
      }
      for (const j of order) {
        if (j % 2 === 0) held[j]!.img!.detach();
        else held[j]!.img = null; // let go
        for (let i = 0; i < 500; i++) { m.set(`k${i}`, `after-${j}-${i}`); plain.set(`k${i}`, `after-${j}-${i}`); } // prettier-ignore
        for (const [x, h] of held.entries()) if (h.img !== null) expectImage(h.img, h.want, `order ${order}, image ${x} after releasing ${j}`, plain.keys());
      }
      expectImage(m.image(), plain, "live");
    }
  });

  it("reset replaces the content; images from before it keep theirs", () => {
    const m = new VersionedMap();
    for (let i = 0; i < 1500; i++) m.set(`k${i}`, `v${i}`);
    const before = m.image();
    const want = new Map([...Array(1500).keys()].map((i) => [`k${i}`, `v${i}`]));
    m.reset([["k0", "r0"], ["z", "zz"]]);
    const afterReset = m.image();
    for (let i = 0; i < 1500; i++) m.set(`k${i}`, `w${i}`);
    expectImage(before, want, "image before the reset", ["z", "k1499"]);
    expectImage(afterReset, new Map([["k0", "r0"], ["z", "zz"]]), "image just after the reset", ["k1", "k1499"]);
    expect(m.size).toBe(1501);
  });

  it("property: any sequence of sets, images, detaches, releases and resets, against plain Maps copied at each image", () => {
    const seed = Number(process.env.ADV_SEED ?? 424242);
    const op = fc.oneof(
      { weight: 12, arbitrary: fc.record({ k: fc.constant("set" as const), key: fc.nat(40), n: fc.integer({ min: 1, max: 80 }), stride: fc.integer({ min: 1, max: 7 }) }) },
      { weight: 3, arbitrary: fc.record({ k: fc.constant("image" as const) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant("detach" as const), pick: fc.nat() }) },
      { weight: 2, arbitrary: fc.record({ k: fc.constant("drop" as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant("reset" as const), n: fc.nat(30) }) },
      { weight: 2, arbitrary: fc.record({ k: fc.constant("check" as const) }) },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const m = new VersionedMap();
        let plain = new Map<string, string>();
        let held: [MapImage, Map<string, string>][] = [];
        let v = 0;
        const every = Array.from({ length: 97 }, (_, i) => `k${i}`);
        const checkAll = (what: string) => { for (const [i, [img, want]] of held.entries()) expectImage(img, want, `${what}: image ${i}`, every); }; // prettier-ignore
        for (const o of ops) {
          switch (o.k) {
            case "set":
              for (let i = 0; i < o.n; i++) { const key = `k${(o.key + i * o.stride) % 97}`, val = `v${++v}`; m.set(key, val); plain.set(key, val); } // prettier-ignore
              break;
            case "image": held.push([m.image(), new Map(plain)]); break; // prettier-ignore
            case "detach": if (held.length > 0) held[o.pick % held.length]![0].detach(); break; // prettier-ignore
            case "drop": if (held.length > 0) held = held.filter((_, i) => i !== o.pick % held.length); break; // prettier-ignore
            case "reset": {
              const entries = Array.from({ length: o.n }, (_, i): [string, string] => [`k${i * 3}`, `r${++v}`]);
              m.reset(entries);
              plain = new Map(entries);
              break;
            }
            case "check": checkAll("mid-run"); break; // prettier-ignore
          }
        }
        checkAll("at the end");
        expectImage(m.image(), plain, "live");
        expect(m.size).toBe(plain.size);
      }),
      { numRuns: Number(process.env.ADV_RUNS ?? 60), seed, endOnFailure: true, reporter: (r) => { if (r.failed) throw new Error(`seed ${seed} (replay: ADV_SEED=${seed}); counterexample ${JSON.stringify(r.counterexample)}\n${r.errorInstance}`); } }, // prettier-ignore
    );
  });
});

describe("snapshots a node asks to save hold the state after their last included entry", () => {
  /** A single-voter leader snapshotting every `every` entries; SETs of `rounds` calls, overwriting the same keys. */
  function run(every: number, rounds: number, perCall: number, keys: number, mutation: Mutation | null, saveLate: boolean): Driver {
    const d = leader([0], { snapshotEveryEntries: every, snapshotKeepEntries: 0, mutation });
    let q = 0;
    for (let r = 0; r < rounds; r++) {
      const reqs = Array.from({ length: perCall }, (_, i) => {
        const c = (r + i) % 4;
        return c === 3 ? set(`k${(r * perCall + i) % keys}`, `r${r}-${i}`) : set(`k${(r * 7 + i) % keys}`, `r${r}-${i}`, `c${c}`, ++q, q);
      });
      if (r % 5 === 4) reqs.push(reqs[0]!); // a retry in the same call
      d.client(reqs, d.now + 2);
      // late: the saves of three rounds are reported together (the node goes on meanwhile)
      if (!saveLate || r % 3 === 2) for (const s of d.snapshots.splice(0)) { saved.push(s); d.step({ type: "snapshot-saved", nowMs: d.now, index: s.lastIndex }); } // prettier-ignore
    }
    return d;
  }
  let saved: Snapshot[] = [];

  function check(d: Driver): void {
    // replay the applied (committed) entries from index 1 to each snapshot's last included entry
    const states = new Map<number, MachineState>();
    const wanted = new Set(saved.map((s) => s.lastIndex as number));
    const model = new Model();
    for (let i = 1; i <= d.lastApplied; i++) {
      model.apply(d.applied.get(i)!);
      if (wanted.has(i)) states.set(i, model.copy());
    }
    expect(saved.length).toBeGreaterThan(1);
    for (const s of saved) {
      expect(s.lastIndex).toBeLessThanOrEqual(d.lastApplied);
      expect(s.lastTerm).toBe(d.applied.get(s.lastIndex)!.term);
      expect(stateDiff(s, states.get(s.lastIndex)!), `snapshot through ${s.lastIndex}`).toBeNull();
    }
    d.expectAllAnswered();
  }

  for (const [every, rounds, perCall, keys, late] of [[7, 40, 3, 5, false], [7, 40, 3, 5, true], [999, 6, 400, 1001, true]] as const) {
    {
      it(`every ${every} entries, ${rounds}×${perCall} SETs over ${keys} keys${late ? ", saves reported late" : ""}: each snapshot is the replay to its index, held unchanged`, () => {
        saved = [];
        const d = run(every, rounds, perCall, keys, null, late);
        check(d);
      });
    }
  }

  it("negative control: snapshot-forgets-sessions is caught by the replay comparison", () => {
    saved = [];
    const d = run(7, 40, 3, 5, "snapshot-forgets-sessions", false);
    expect(() => check(d)).toThrow(/sessions/);
  });
});

// ================================================================ 3. request size limits

describe("request size limits: at, one under and one over, in bytes of UTF-8", () => {
  const E2 = "é", E3 = "€", E4 = "😀"; // 2, 3 and 4 bytes of UTF-8; UTF-16 lengths 1, 1, 2
  const bytes = (s: string) => Buffer.byteLength(s, "utf8");
  /** Strings of exactly `n` bytes of UTF-8, built from each width (ASCII padding where the width does not divide n). */
  const ofBytes = (n: number): Record<string, string> => {
    const fill = (ch: string, w: number) => ch.repeat(Math.floor(n / w)) + "a".repeat(n % w);
    const out = { ascii: "a".repeat(n), two: fill(E2, 2), three: fill(E3, 3), four: fill(E4, 4), mixed: "" };
    const parts: string[] = [];
    let used = 0;
    for (const ch of [E4, E3, E2, "b"].flatMap((c) => Array(Math.ceil(n / 10)).fill(c))) if (used + bytes(ch) <= n) { parts.push(ch); used += bytes(ch); } // prettier-ignore
    out.mixed = parts.join("") + "a".repeat(n - used);
    for (const s of Object.values(out)) expect(bytes(s)).toBe(n);
    return out;
  };

  function tryAll(d: Driver, reqs: ClientRequest[]): { ok: boolean; code?: string; message?: string }[] {
    const { rids } = d.client(reqs);
    d.settle([]);
    d.expectAllAnswered();
    return rids.map((rid) => { const r = d.result(rid)!; return r.ok ? { ok: true } : { ok: false, code: r.code, message: r.message }; }); // prettier-ignore
  }

  let valueKeys = 0;
  const cases: [string, number, RegExp, (s: string) => SetCommand][] = [
    ["key", KEY_BYTES_MAX, /1024/, (s) => set(s, "v")],
    ["value", VALUE_BYTES_MAX, /65536/, (s) => set(`val${++valueKeys}`, s)],
    ["client id", CLIENT_ID_BYTES_MAX, /256/, (s) => set("k", "v", s, 1)],
  ];
  it("the documented limits are 1024, 65,536 and 256 bytes", () => {
    expect([KEY_BYTES_MAX, VALUE_BYTES_MAX, CLIENT_ID_BYTES_MAX]).toEqual([1024, 65536, 256]);
  });

  for (const [what, max, mentions, mk] of cases) {
    it(`${what}: ${max - 1} and ${max} bytes accepted and applied, ${max + 1} refused as invalid, in every width of UTF-8; UTF-16 length is not the measure`, () => {
      const d = leader([0]);
      for (const n of [max - 1, max, max + 1]) {
        const strings = ofBytes(n);
        const results = tryAll(d, Object.values(strings).map(mk));
        for (const [i, [width, s]] of Object.entries(strings).entries()) {
          const r = results[i]!;
          if (n <= max) {
            expect(r, `${what} of ${n} bytes (${width}, UTF-16 length ${s.length})`).toEqual({ ok: true });
            if (what === "key") expect(d.node.inspect().valueOf(s)).toBe("v");
            if (what === "value") {
              const key = [...d.state.data].find(([, v]) => v === s)?.[0];
              expect(key !== undefined && d.node.inspect().valueOf(key) === s, `the value of ${n} bytes (${width}) applied`).toBe(true);
            }
          } else {
            expect(r.ok, `${what} of ${n} bytes (${width}, UTF-16 length ${s.length}) accepted`).toBe(false);
            expect(r.code).toBe("invalid");
            expect(r.message).toMatch(mentions);
          }
        }
      }
      // UTF-16 length under the limit but UTF-8 over it: refused
      const under16 = [E3.repeat(Math.floor(max / 3) + 1), E2.repeat(max / 2 + 1), E4.repeat(max / 4 + 1), E4.repeat(max / 4 - 1) + "aaaaa"];
      for (const s of under16) expect(s.length).toBeLessThan(max);
      for (const s of under16) expect(bytes(s)).toBeGreaterThan(max);
      for (const r of tryAll(d, under16.map(mk))) expect(r).toMatchObject({ ok: false, code: "invalid" });
      // 4-byte characters: UTF-16 length is twice the count of characters, UTF-8 at the limit
      const at = [E4.repeat(max / 4), E4.repeat(max / 4 - 1) + E3 + "a", E4 + "a".repeat(max - 4)];
      for (const s of at) expect(bytes(s)).toBe(max);
      for (const r of tryAll(d, at.map(mk))) expect(r).toEqual({ ok: true });
      d.expectStateIsReplay();
    });
  }

  it("GET: keys of 1024 bytes read, 1025 refused invalid; an empty key and a lone surrogate refused", () => {
    const d = leader([0]);
    tryAll(d, [set(E4.repeat(256), "four")]);
    const gets = [E4.repeat(256), E4.repeat(256) + "a", "a".repeat(1025), "", "a\ud800"].map((key): ClientRequest => ({ kind: "get", key }));
    const r = tryAll(d, gets);
    expect(r[0]).toEqual({ ok: true });
    expect(d.result(d.nextRid - 5)).toEqual({ ok: true, value: "four" });
    for (const x of r.slice(1)) expect(x).toMatchObject({ ok: false, code: "invalid" });
  });

  it("empty key, lone surrogates, a client id without a sequence: invalid; an empty value and a 4096-wide window at its edge: fine", () => {
    const d = leader([0]);
    const bad = [set("", "v"), set("k\udc00", "v"), set("k", "\ud83d"), set("k", "v", "\ud83dx", 1), set("k", "v", "c", 0, 0), set("k", "v", "", 3, 3), set("k", "v", "w", 4097, 1), set("k", "v", "w", 3, 4)];
    for (const [i, r] of tryAll(d, bad).entries()) expect(r, `bad request #${i}`).toMatchObject({ ok: false, code: "invalid" });
    const good = [set("e", ""), set("w", "edge", "w", 4096, 1), set("w2", "one", "w2", 1, 1), set(E4, E4, E4, 1)];
    for (const [i, r] of tryAll(d, good).entries()) expect(r, `good request #${i}`).toEqual({ ok: true });
    expect(d.node.inspect().valueOf("w")).toBe("edge");
    expect(d.node.inspect().valueOf(E4)).toBe(E4);
    for (const k of ["k", "\ud83dx"]) expect(d.node.inspect().valueOf(k)).toBe("");
  });
});
