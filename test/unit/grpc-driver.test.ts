// The driver's output contract, with a storage whose writes the test holds and releases.
import seedrandom from "seedrandom";
import { afterEach, describe, expect, it } from "vitest";
import { makeConfig, type RaftConfig, type TimingConfig } from "../../src/raft/index.js";
import { logIndex, nodeId, term, type AppendRequest, type Message, type PersistedState, type RaftEvent, type VoteRequest } from "../../src/raft/index.js";
import { MonotonicClock } from "../../src/runtime/grpc/clock.js";
import { defaultDriverLimits, NodeDriver, type CallResult, type DriverLimits, type DriverStorage, type PersistRequest } from "../../src/runtime/grpc/driver.js";
import type { SyncOn } from "../../src/runtime/grpc/file-layer.js";

const TIMING: TimingConfig = { heartbeatMs: 10, electionTimeoutMinMs: 40, electionTimeoutMaxMs: 50, leaseMs: 30, driftPpmMax: 1000 };
const EMPTY: PersistedState = { hardState: { currentTerm: term(0), votedFor: null, commitIndex: logIndex(0) }, entries: [] };

/** Storage whose writes complete only when the test says so (or at once when not holding). */
class HeldStorage implements DriverStorage {
  readonly recovered = EMPTY;
  readonly writes: PersistRequest[] = [];
  /** Where each write's sync may wait, as the driver asked (index for index with writes). */
  readonly syncOns: SyncOn[] = [];
  holding = false;
  private held: (() => void)[] = [];
  private rejects: ((e: Error) => void)[] = [];
  private failure: Error | null = null;

  saveSnapshot(): Promise<void> {
    return Promise.resolve();
  }

  persist(request: PersistRequest, syncOn: SyncOn): Promise<void> {
    this.writes.push(request);
    this.syncOns.push(syncOn);
    if (this.failure !== null) return Promise.reject(this.failure);
    if (!this.holding) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.held.push(resolve);
      this.rejects.push(reject);
    });
  }

  /** True once a write that appends an entry with this key has been asked for. */
  wroteKey(key: string): boolean {
    return this.writes.some((w) => w.append.some((e) => e.command.kind === "set" && e.command.key === key));
  }

  releaseAll(): void {
    this.holding = false;
    for (const resolve of this.held.splice(0)) resolve();
  }

  /** The disk fails: every held write and every later one rejects with `error`. */
  failAll(error: Error): void {
    this.failure = error;
    this.holding = false;
    for (const reject of this.rejects.splice(0)) reject(error);
  }
}

/** Every driver a test starts, with the fatal errors it reported; afterEach stops it and checks. */
interface Started {
  readonly driver: NodeDriver;
  readonly fatal: Error[];
}
const started: Started[] = [];
afterEach(async () => {
  const all = started.splice(0);
  for (const { driver } of all) await driver.stop();
  for (const { fatal } of all) expect(fatal.map((e) => e.message), "a driver failed unexpectedly").toEqual([]);
});

function makeDriver(members: number[], storage: DriverStorage, sent: Message[], limits: Partial<DriverLimits> = {}, fatal: Error[] = [], events: RaftEvent[] = [], overrides: Partial<RaftConfig> = {}): NodeDriver {
  const config = makeConfig(nodeId(0), members.map(nodeId), TIMING, overrides);
  const driver = new NodeDriver({
    config,
    storage,
    clock: new MonotonicClock(),
    random: seedrandom("driver-test"),
    limits: { ...defaultDriverLimits(config), ...limits },
    send: (m) => sent.push(m),
    onEvent: (e) => events.push(e),
    onFatal: (err) => fatal.push(err),
  });
  started.push({ driver, fatal });
  driver.start();
  return driver;
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** A one-node cluster elects itself; waits until it serves. */
async function soloLeader(storage: DriverStorage, limits: Partial<DriverLimits> = {}, fatal: Error[] = []): Promise<NodeDriver> {
  const driver = makeDriver([0], storage, [], limits, fatal);
  await waitFor("a leader holding its lease", () => driver.status().leaseReadable);
  return driver;
}

describe("driver output contract", () => {
  it("vote requests leave only after the term and vote they carry are durable", async () => {
    const storage = new HeldStorage();
    const sent: Message[] = [];
    const driver = makeDriver([0, 1, 2], storage, sent);
    await waitFor("a pre-vote request", () => sent.some((m) => m.type === "vote-request" && m.preVote));
    storage.holding = true;
    driver.deliverReply({ type: "vote-reply", from: nodeId(1), to: nodeId(0), term: term(0), requestTerm: term(1), granted: true, preVote: true, leaseRemainingMs: 0, leaseTerm: term(0) });
    expect(storage.writes.at(-1)?.hardState).toMatchObject({ currentTerm: 1, votedFor: 0 });
    await turn();
    const realVotes = () => sent.filter((m): m is VoteRequest => m.type === "vote-request" && !m.preVote);
    expect(realVotes()).toEqual([]);
    storage.releaseAll();
    await waitFor("real vote requests", () => realVotes().length === 2);
    expect(realVotes().map((m) => m.term)).toEqual([1, 1]);
  });

  it("an event is recorded only once its step is durable: no vote event for a vote a crash could undo", async () => {
    const storage = new HeldStorage();
    const events: RaftEvent[] = [];
    const driver = makeDriver([0, 1, 2], storage, [], {}, [], events);
    storage.holding = true;
    const reply = driver.deliverRequest({ type: "vote-request", from: nodeId(1), to: nodeId(0), term: term(5), lastLogIndex: logIndex(0), lastLogTerm: term(0), preVote: false, lease: { leaseMs: TIMING.leaseMs, driftPpmMax: TIMING.driftPpmMax } });
    await turn();
    expect(storage.writes.at(-1)?.hardState).toMatchObject({ currentTerm: 5 }); // the step ran and wrote its term (and vote, if granted)
    const voteEvents = () => events.filter((e) => e.kind === "vote-granted" || e.kind === "vote-denied");
    const beforeDurable = voteEvents();
    storage.releaseAll();
    expect(beforeDurable).toEqual([]);
    await reply;
    expect(voteEvents()).toHaveLength(1);
  });

  it("a client's SET is answered only after its entry is durable", async () => {
    const storage = new HeldStorage();
    const driver = await soloLeader(storage);
    storage.holding = true;
    let answer: CallResult | null = null;
    void driver.submit({ kind: "set", key: "k", value: "v", clientId: "", sequence: 0, firstUnanswered: 0 }).then((r) => (answer = r));
    // The driver has stepped the SET and asked for its write; everything it does before the
    // write completes has happened once the event loop has turned.
    await waitFor("the SET's write to be asked for", () => storage.wroteKey("k"));
    await turn();
    expect(answer).toBeNull();
    storage.releaseAll();
    await waitFor("the answer", () => answer !== null);
    expect(answer).toEqual({ ok: true, value: "" });
  });

  it("client calls arriving in one event-loop turn are stepped as one input and written once", async () => {
    const storage = new HeldStorage();
    const driver = await soloLeader(storage);
    const before = storage.writes.length;
    const answers = await Promise.all([1, 2, 3, 4, 5].map((i) => driver.submit({ kind: "set", key: `k${i}`, value: "v", clientId: "", sequence: 0, firstUnanswered: 0 })));
    expect(answers.every((a) => a.ok)).toBe(true);
    const appends = storage.writes.slice(before).filter((w) => w.append.length > 0);
    expect(appends.map((w) => w.append.length)).toEqual([5]);
  });

  it("later outputs are released after earlier ones even when they need no write", async () => {
    const storage = new HeldStorage();
    const sent: Message[] = [];
    const driver = makeDriver([0, 1, 2], storage, sent);
    await waitFor("a pre-vote request", () => sent.some((m) => m.type === "vote-request"));
    storage.holding = true;
    driver.deliverReply({ type: "vote-reply", from: nodeId(1), to: nodeId(0), term: term(0), requestTerm: term(1), granted: true, preVote: true, leaseRemainingMs: 0, leaseTerm: term(0) });
    driver.deliverReply({ type: "vote-reply", from: nodeId(1), to: nodeId(0), term: term(1), requestTerm: term(1), granted: true, preVote: false, leaseRemainingMs: 0, leaseTerm: term(0) });
    await turn();
    // Elected while the vote is still on its way to the disk: nothing may leave yet, heartbeats included.
    expect(sent.filter((m): m is AppendRequest => m.type === "append-request")).toEqual([]);
    storage.releaseAll();
    await waitFor("the first AppendEntries", () => sent.some((m) => m.type === "append-request"));
    const firstAppend = sent.findIndex((m) => m.type === "append-request");
    const lastVote = Math.max(...sent.map((m, i) => (m.type === "vote-request" && !m.preVote ? i : -1)));
    expect(lastVote).toBeLessThan(firstAppend);
  });
});

describe("where a write's sync waits", () => {
  /** How the driver asked for the first write appending an entry of this kind. */
  function syncOnOfAppend(storage: HeldStorage, kind: "noop" | "set"): SyncOn | undefined {
    return storage.syncOns[storage.writes.findIndex((w) => w.append.some((e) => e.command.kind === kind))];
  }

  it("a follower's append, which its reply waits for, may block the thread", async () => {
    const storage = new HeldStorage();
    const driver = makeDriver([0, 1, 2], storage, []);
    const entries = [{ term: term(1), command: { kind: "noop" as const } }];
    const lease = { leaseMs: TIMING.leaseMs, driftPpmMax: TIMING.driftPpmMax };
    const reply = await driver.deliverRequest({ type: "append-request", from: nodeId(1), to: nodeId(0), term: term(1), prevLogIndex: logIndex(0), prevLogTerm: term(0), entries, leaderCommit: logIndex(0), lease, leaderSendMs: 0 });
    expect(reply).toMatchObject({ type: "append-reply", success: true, matchIndex: 1 });
    expect(syncOnOfAppend(storage, "noop")).toBe("thread");
  });

  it("a leader's own append, sent before it is durable, syncs in the pool", async () => {
    const storage = new HeldStorage();
    const sent: Message[] = [];
    const driver = makeDriver([0, 1, 2], storage, sent, {}, [], [], { leaderPersistsInParallel: true });
    await waitFor("a pre-vote request", () => sent.some((m) => m.type === "vote-request"));
    driver.deliverReply({ type: "vote-reply", from: nodeId(1), to: nodeId(0), term: term(0), requestTerm: term(1), granted: true, preVote: true, leaseRemainingMs: 0, leaseTerm: term(0) });
    driver.deliverReply({ type: "vote-reply", from: nodeId(1), to: nodeId(0), term: term(1), requestTerm: term(1), granted: true, preVote: false, leaseRemainingMs: 0, leaseTerm: term(0) });
    await waitFor("the leader's NO-OP written", () => syncOnOfAppend(storage, "noop") !== undefined);
    expect(syncOnOfAppend(storage, "noop")).toBe("pool");
  });
});

describe("commit index persistence", () => {
  it("every hard state goes to storage, the commit index's too: when metadata.txt gets it is storage's rule", async () => {
    const storage = new HeldStorage();
    const driver = await soloLeader(storage);
    for (const key of ["a", "b", "c"]) expect(await driver.submit({ kind: "set", key, value: "v", clientId: "", sequence: 0, firstUnanswered: 0 })).toEqual({ ok: true, value: "" });
    const hardStates = storage.writes.flatMap((w) => (w.hardState === null ? [] : [w.hardState]));
    expect(hardStates.at(-1)?.commitIndex).toBe(driver.status().commitIndex);
    expect(new Set(hardStates.map((h) => h.commitIndex)).size).toBeGreaterThanOrEqual(4); // 0, the NO-OP, a, b, c: each handed over
  });

  it("a term or vote change goes to storage with the step that made it", async () => {
    const storage = new HeldStorage();
    await soloLeader(storage);
    expect(storage.writes.some((w) => w.hardState?.currentTerm === 1 && w.hardState.votedFor === 0)).toBe(true);
  });
});

describe("disk failure", () => {
  it("a failed write stops the node: pending calls are answered stepped-down and onFatal gets the error", async () => {
    const storage = new HeldStorage();
    const fatal: Error[] = [];
    const driver = await soloLeader(storage, {}, fatal);
    storage.holding = true;
    const pending = driver.submit({ kind: "set", key: "k", value: "v", clientId: "", sequence: 0, firstUnanswered: 0 });
    await waitFor("the SET's write to be asked for", () => storage.wroteKey("k"));
    storage.failAll(new Error("EIO: disk gone"));
    expect(await pending).toMatchObject({ ok: false, code: "stepped-down" });
    expect(fatal.map((e) => e.message)).toEqual(["EIO: disk gone"]);
    fatal.length = 0; // expected: the afterEach check is for failures nobody asked for
  });
});

describe("driver bounds", () => {
  it("every pending call gets an answer: timeout when the node cannot finish in time", async () => {
    const storage = new HeldStorage();
    const driver = await soloLeader(storage, { callTimeoutMs: 50 });
    storage.holding = true;
    const answer = await driver.submit({ kind: "set", key: "k", value: "v", clientId: "", sequence: 0, firstUnanswered: 0 });
    expect(answer).toMatchObject({ ok: false, code: "timeout" });
    storage.releaseAll();
  });

  it("beyond the pending bound a call is answered overloaded at once", async () => {
    const storage = new HeldStorage();
    const driver = await soloLeader(storage, { pendingCallCountMax: 2 });
    storage.holding = true;
    const set = (key: string) => driver.submit({ kind: "set", key, value: "v", clientId: "", sequence: 0, firstUnanswered: 0 });
    void set("a");
    void set("b");
    expect(await set("c")).toMatchObject({ ok: false, code: "overloaded" });
    storage.releaseAll();
  });

  it("stopping answers every pending call and then finishes the writes in progress", async () => {
    const storage = new HeldStorage();
    const driver = await soloLeader(storage);
    storage.holding = true;
    const pending = driver.submit({ kind: "set", key: "k", value: "v", clientId: "", sequence: 0, firstUnanswered: 0 });
    await turn();
    let stopped = false;
    const stopping = driver.stop().then(() => (stopped = true));
    expect(await pending).toMatchObject({ ok: false, code: "stepped-down" });
    await turn();
    expect(stopped).toBe(false); // a write is still on its way to the disk
    storage.releaseAll();
    await stopping;
    expect(await driver.submit({ kind: "get", key: "k" })).toMatchObject({ ok: false, code: "not-leader" });
  });
});
