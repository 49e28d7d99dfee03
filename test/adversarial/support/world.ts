// The adversarial world: nodes driven only through RaftNode.start / step / status, each with its
// own clock and disk, one message pool, and true time that only the world sees.
//
// Every step: the node's output is persisted to its disk (step 1 of the output contract), the
// safety monitor checks the result, answers go to the client history, and messages go to the
// pool. Between steps the world records, in true time, when each node could serve lease reads.
// A `saveSnapshot` is written in the background (step 6): after `snapshotSaveMs` of true time the
// disk keeps it (never over a newer one) and the node is stepped a `snapshot-saved`; a crash
// before then loses it. A test may hold a node's saves and complete them itself.

import seedrandom from "seedrandom";
import {
  CONFIG_DEFAULTS,
  logIndex,
  makeConfig,
  nodeId,
  RaftNode,
  requestId,
  TIMING_FAST,
  type AdminRequest,
  type ClientRequest,
  type ClientResult,
  type RaftEvent,
  type FullOutput,
  type Input,
  type Message,
  type Mutation,
  type NodeId,
  type NodeStatus,
  type NodeView,
  type Snapshot,
  type RaftConfig,
  type Random,
  type RequestId,
  type TimingConfig,
} from "../../../src/raft/index.js";
import { NodeClock } from "./clock.js";
import { Disk } from "./disk.js";
import { ClientHistory } from "./history.js";
import { describeOverlap, LeaseRecord, readableSpan } from "./lease-record.js";
import { Network, type Delivery } from "./network.js";
import { MessagePool, type Envelope, type MessageId } from "./pool.js";
import { SafetyMonitor } from "./safety.js";

export interface WorldOptions {
  readonly size: number;
  readonly timing?: TimingConfig;
  readonly preVote?: boolean;
  /** Other public settings (batch sizes, ...) for every node. */
  readonly overrides?: Partial<Omit<RaftConfig, "id" | "members" | "timing" | "preVote" | "mutation">>;
  /** Settings for one node on top of `overrides` (a follower that snapshots less often, ...). */
  readonly overridesOf?: (id: NodeId) => Partial<Omit<RaftConfig, "id" | "members" | "timing" | "preVote" | "mutation">>;
  /** A deliberately broken variant for every node (negative controls). */
  readonly mutation?: Mutation | null;
  /** Clock rate per node (default 1). */
  readonly rates?: readonly number[];
  /** First clock reading per node (default 0). */
  readonly clockStartMs?: readonly number[];
  /** Election jitter per node and boot (default: seeded from `seed`). */
  readonly random?: (id: NodeId, boot: number) => Random;
  readonly seed?: string;
  /**
   * When the scheduler delivers each message, as delays in true ms from its send: [] loses it,
   * two or more duplicate it (default: one delivery after 1 ms).
   */
  readonly network?: Delivery;
  /** With leaderPersistsInParallel: how long a leader's write takes to become durable (default 2 ms). */
  readonly syncDelayMs?: () => number;
  /** How long a background snapshot write takes, in true ms (default 1 ms). */
  readonly snapshotSaveMs?: () => number;
  /**
   * Membership tests: the initial configuration's voters (default: every node). The other nodes
   * start with `join: true`. Every node gets the address `n<id>`. Snapshots are then not checked
   * against a fixed member list (the membership monitor checks them against the log).
   */
  readonly voters?: readonly number[];
  /**
   * With leaderPersistsInParallel: also report `persisted` after a leader's output that was
   * persisted before sending (not only after writes that complete in the background). Off: the
   * world reports only background writes, as it always did.
   */
  readonly reportSyncPersists?: boolean;
}

/** What an observer sees of each step (membership checks hook in here). */
export interface StepRecord {
  readonly id: NodeId;
  readonly trueMs: number;
  readonly input: Input;
  readonly before: NodeStatus;
  readonly out: FullOutput;
  readonly after: NodeStatus;
  readonly disk: Disk;
}

/** A snapshot write under way (step 6 of the output contract). */
export interface SnapshotSave {
  readonly snapshot: Snapshot;
  /** True time at which it becomes durable; Infinity while the test holds it. */
  dueTrueMs: number;
}

interface Slot {
  readonly id: NodeId;
  readonly config: RaftConfig;
  readonly clock: NodeClock;
  readonly disk: Disk;
  node: RaftNode | null;
  boot: number;
  paused: boolean;
  /** True time of the next tick the node asked for. */
  wakeTrueMs: number;
  /** The next step persists its output and crashes before sending anything. */
  crashBeforeNextSend: boolean;
  /** True time at which the write under way (leaderPersistsInParallel) becomes durable. */
  syncTrueMs: number;
  /** The next step persists only its installed snapshot, then the node crashes. */
  crashAfterSnapshotOfNextStep: boolean;
  /** Background snapshot writes under way. */
  saves: SnapshotSave[];
  /** New saves wait for the test (completeSave) instead of completing by themselves. */
  holdSaves: boolean;
}

export interface StepResult {
  readonly out: FullOutput;
  readonly sent: MessageId[];
}

const EVENTS_PER_RUN_MAX = 2_000_000;

export class World {
  trueMs = 0;
  readonly pool = new MessagePool();
  readonly leases = new LeaseRecord();
  readonly history = new ClientHistory();
  readonly safety: SafetyMonitor;
  readonly timing: TimingConfig;
  /** The messages the latest step sent. */
  lastSent: MessageId[] = [];
  /** Messages the scheduler dropped on cut links or at crashed nodes. */
  lostCount = 0;
  /** How often outputs did each snapshot thing: for tests that must show they exercised it. */
  readonly snapshotStats = { saved: 0, installed: 0, installedKeepingSuffix: 0, compacted: 0, sent: 0 };
  /** Every snapshot-request and snapshot-reply ever sent, for tests that replay them late. */
  readonly snapshotMessages: Message[] = [];
  private readonly slots = new Map<NodeId, Slot>();
  readonly net: Network;
  private nextRequest = 1;
  /** Answers to admin calls, by request id. */
  readonly adminResults = new Map<RequestId, ClientResult>();
  private readonly adminIds = new Set<RequestId>();
  /** Called after every step, once its output is persisted (before its messages leave). */
  readonly observers: ((r: StepRecord) => void)[] = [];
  /** Every event any node output, with the true time and node. */
  readonly events: { trueMs: number; node: NodeId; event: RaftEvent }[] = [];

  constructor(readonly opts: WorldOptions) {
    this.timing = opts.timing ?? TIMING_FAST;
    this.safety = new SafetyMonitor(
      opts.voters === undefined ? [...Array(opts.size).keys()].map(nodeId) : null,
      opts.overrides?.sessionCountMax ?? CONFIG_DEFAULTS.sessionCountMax,
    );
    this.net = new Network([...Array(opts.size).keys()].map(nodeId), opts.network ?? (() => [1]));
    const members = [...Array(opts.size).keys()].map(nodeId);
    const voters = opts.voters?.map(nodeId) ?? members;
    const addresses = opts.voters === undefined ? {} : Object.fromEntries(members.map((id) => [id, `n${id}`]));
    for (const id of members) {
      const config = makeConfig(id, voters, this.timing, {
        ...(opts.voters === undefined ? {} : { addresses, join: !voters.includes(id) }),
        ...opts.overrides,
        ...opts.overridesOf?.(id),
        preVote: opts.preVote ?? true,
        mutation: opts.mutation ?? null,
      });
      const clock = new NodeClock(opts.rates?.[id] ?? 1, 0, opts.clockStartMs?.[id] ?? 0);
      const slot: Slot = {
        id,
        config,
        clock,
        disk: new Disk(),
        node: null,
        boot: 0,
        paused: false,
        wakeTrueMs: 0,
        crashBeforeNextSend: false,
        syncTrueMs: Infinity,
        crashAfterSnapshotOfNextStep: false,
        saves: [],
        holdSaves: false,
      };
      this.slots.set(id, slot);
      this.boot(slot);
    }
  }

  get ids(): NodeId[] {
    return [...this.slots.keys()];
  }

  private slot(id: number): Slot {
    const s = this.slots.get(nodeId(id));
    if (s === undefined) throw new Error(`no node ${id} in a world of ${this.slots.size}`);
    return s;
  }

  private boot(s: Slot): void {
    const random = this.opts.random?.(s.id, s.boot) ?? seedrandom(`${this.opts.seed ?? "world"}/${s.id}/${s.boot}`);
    s.node = RaftNode.start(s.config, s.disk.persisted(), s.clock.readingAt(this.trueMs), random);
    s.wakeTrueMs = this.trueMs;
    this.safety.started(s.node.status(), s.disk, s.node.inspect());
  }

  // ---------------------------------------------------------------- looking

  clockMs(id: number): number {
    return this.slot(id).clock.readingAt(this.trueMs);
  }

  /** From now on node `id`'s clock runs at `rate`. */
  setClockRate(id: number, rate: number): void {
    this.slot(id).clock.setRate(this.trueMs, rate);
  }

  /** The node's status now, or null while it is down. */
  status(id: number): NodeStatus | null {
    const s = this.slot(id);
    return s.node === null ? null : s.node.status(s.clock.readingAt(this.trueMs));
  }

  disk(id: number): Disk {
    return this.slot(id).disk;
  }

  /** The node's read-only view (inspect()), or null while it is down. */
  view(id: number): NodeView | null {
    return this.slot(id).node?.inspect() ?? null;
  }

  /** Replaces a crashed node's disk by a hand-made one (a restart test's starting point). */
  setDisk(id: number, disk: Disk): void {
    const s = this.slot(id);
    if (s.node !== null) throw new Error(`node ${id} is up: crash it before replacing its disk`);
    (s as { disk: Disk }).disk = disk;
  }

  isPaused(id: number): boolean {
    return this.slot(id).paused;
  }

  isUp(id: number): boolean {
    return this.slot(id).node !== null;
  }

  /** Leaders now, by status. */
  leaders(): NodeStatus[] {
    return this.ids.map((id) => this.status(id)).filter((s): s is NodeStatus => s !== null && s.role === "leader");
  }

  /** Every problem found so far: safety violations, lease overlaps, stale reads. */
  problems(): string[] {
    return [...this.safety.violations, ...this.leases.overlaps().map(describeOverlap), ...this.history.staleReads()];
  }

  // ---------------------------------------------------------------- acting on nodes

  step(id: number, make: (nowMs: number) => Input): StepResult {
    const s = this.slot(id);
    const node = s.node;
    if (node === null) throw new Error(`node ${id} is down: restart it before stepping it`);
    if (s.paused) throw new Error(`node ${id} is paused: resume it before stepping it`);
    const nowMs = s.clock.readingAt(this.trueMs);
    const before = node.status(nowMs);
    const lastIndexBefore = s.disk.lastIndex;
    const hadUnsynced = s.disk.hasUnsynced;
    const input = make(nowMs);
    const out = node.step(input);
    if (s.crashAfterSnapshotOfNextStep) {
      s.crashAfterSnapshotOfNextStep = false;
      s.disk.persist(out, "snapshot");
      s.disk.sync();
      this.crash(id);
      this.lastSent = [];
      return { out, sent: [] };
    }
    s.disk.persist(out);
    const st = this.snapshotStats;
    if (out.saveSnapshot !== null) st.saved++;
    if (out.installSnapshot !== null) {
      st.installed++;
      if (s.disk.lastIndex > out.installSnapshot.lastIndex) st.installedKeepingSuffix++;
    } else if (out.compactTo !== null) st.compacted++;
    for (const m of out.messages) if (m.type === "snapshot-request") st.sent++;
    if (s.disk.hasUnsynced || hadUnsynced) {
      // A write under way completes later; one this step's sync completed is reported now.
      const atMs = s.disk.hasUnsynced ? this.trueMs + (this.opts.syncDelayMs?.() ?? 2) : this.trueMs;
      s.syncTrueMs = Math.min(s.syncTrueMs, atMs);
    }
    this.safety.afterStep(before, lastIndexBefore, out, node.status(nowMs), s.disk, this.disks(), node.inspect());
    if (this.opts.reportSyncPersists === true && !out.sendBeforePersist && out.appendFrom !== null && node.wantsPersistedReports()) {
      s.syncTrueMs = Math.min(s.syncTrueMs, this.trueMs);
    }
    for (const event of out.events) this.events.push({ trueMs: this.trueMs, node: s.id, event });
    if (this.observers.length > 0) {
      const r: StepRecord = { id: s.id, trueMs: this.trueMs, input, before, out, after: node.status(nowMs), disk: s.disk };
      for (const o of this.observers) o(r);
    }
    s.wakeTrueMs = Math.max(this.trueMs, s.clock.trueAt(out.wakeAtMs));
    if (out.saveSnapshot !== null) {
      s.saves.push({ snapshot: out.saveSnapshot, dueTrueMs: s.holdSaves ? Infinity : this.trueMs + (this.opts.snapshotSaveMs?.() ?? 1) });
    }
    if (s.crashBeforeNextSend) {
      s.crashBeforeNextSend = false;
      this.crash(id);
      this.lastSent = [];
      return { out, sent: [] };
    }
    const sent = out.messages.map((m) => this.send(m));
    for (const r of out.replies) {
      if (this.adminIds.has(r.requestId)) {
        if (this.adminResults.has(r.requestId)) throw new Error(`admin request ${r.requestId} answered twice`);
        this.adminResults.set(r.requestId, r.result);
      } else this.history.answered(r.requestId, r.result, this.trueMs);
    }
    this.lastSent = sent;
    return { out, sent };
  }

  private send(m: Message): MessageId {
    if (m.type === "snapshot-request") this.safety.snapshot(`node ${m.from} sends`, m.snapshot);
    if (m.type === "snapshot-request" || m.type === "snapshot-reply") this.snapshotMessages.push(m);
    const id = this.pool.put(m, this.trueMs, this.trueMs, false);
    const e = this.pool.envelope(id);
    const plan = this.net.plan(e);
    if (plan.held) {
      e.held = true;
      return id;
    }
    const delays = plan.delaysMs;
    if (delays.length === 0) {
      this.pool.drop(id);
      this.lostCount++;
      return id;
    }
    e.dueTrueMs = this.trueMs + delays[0]!;
    for (const d of delays.slice(1)) this.pool.copy(id, this.trueMs + d);
    return id;
  }

  private disks(): Map<NodeId, Disk> {
    return new Map([...this.slots].map(([id, s]) => [id, s.disk]));
  }

  tick(id: number): StepResult {
    return this.step(id, (nowMs) => ({ type: "tick", nowMs }));
  }

  /** Of the messages in `ids`, the one addressed to `to` (exactly one, or this throws). */
  lastSentTo(ids: readonly MessageId[], to: NodeId): MessageId {
    const found = ids.filter((id) => this.pool.envelope(id).to === to);
    if (found.length !== 1) throw new Error(`harness: ${found.length} of messages ${ids.join(", ")} go to node ${to}, expected one`);
    return found[0]!;
  }

  /** Delivers a pooled message now; `duplicate` leaves a copy in the pool for later. */
  deliver(msg: MessageId, opts: { duplicate?: boolean } = {}): StepResult | null {
    const e = this.pool.envelope(msg);
    const message = this.pool.take(msg, opts.duplicate === true);
    if (opts.duplicate === true) this.pool.hold(msg);
    if (!this.isUp(e.to)) return null;
    return this.step(e.to, (nowMs) => ({ type: "message", nowMs, message }));
  }

  drop(msg: MessageId): void {
    this.pool.drop(msg);
  }

  /** Puts a message in the pool as if `m.from` had sent it now, held for the test (a replay or a copy). */
  inject(m: Message): MessageId {
    const id = this.pool.put(m, this.trueMs, Infinity, true);
    return id;
  }

  // ---------------------------------------------------------------- snapshot writes

  /** From now on, node `id`'s snapshot writes wait for completeSave (or complete by themselves again). */
  holdSaves(id: number, hold = true): void {
    this.slot(id).holdSaves = hold;
  }

  /** The snapshot writes of node `id` under way. */
  saves(id: number): readonly SnapshotSave[] {
    return this.slot(id).saves;
  }

  /**
   * Completes node `id`'s write of the snapshot through `index` (the oldest under way by default):
   * the disk keeps it unless it holds a newer one, and the node is stepped `snapshot-saved`.
   */
  completeSave(id: number, index?: number): StepResult {
    const s = this.slot(id);
    const i = index === undefined ? 0 : s.saves.findIndex((v) => v.snapshot.lastIndex === index);
    const save = s.saves[i];
    if (save === undefined) throw new Error(`harness: node ${id} has no snapshot write under way${index === undefined ? "" : ` through ${index}`}`);
    s.saves.splice(i, 1);
    s.disk.saveSnapshot(save.snapshot);
    return this.step(id, (nowMs) => ({ type: "snapshot-saved", nowMs, index: save.snapshot.lastIndex }));
  }

  /** Client calls at node `id`; returns their request ids (the history records the answers). */
  client(id: number, requests: readonly ClientRequest[]): RequestId[] {
    const calls = requests.map((request) => ({ requestId: requestId(this.nextRequest++), request }));
    for (const c of calls) {
      const r = c.request;
      this.history.invoked({
        requestId: c.requestId,
        node: nodeId(id),
        kind: r.kind,
        key: r.key,
        value: r.kind === "set" ? r.value : null,
        invokeTrueMs: this.trueMs,
        responseTrueMs: null,
        result: null,
      });
    }
    this.step(id, (nowMs) => ({ type: "client", nowMs, calls }));
    return calls.map((c) => c.requestId);
  }

  /** An operator's call at node `id`; its answer lands in adminResults. */
  admin(id: number, request: AdminRequest): RequestId {
    const rid = requestId(this.nextRequest++);
    this.adminIds.add(rid);
    this.step(id, (nowMs) => ({ type: "admin", nowMs, call: { requestId: rid, request } }));
    return rid;
  }

  set(id: number, key: string, value: string): RequestId {
    return this.client(id, [{ kind: "set", key, value, clientId: "", sequence: 0, firstUnanswered: 0 }])[0]!;
  }

  get(id: number, key: string): RequestId {
    return this.client(id, [{ kind: "get", key }])[0]!;
  }

  /** The node loses everything not on its disk. */
  crash(id: number, opts: { loseLazyCommit?: boolean; completeSaves?: boolean } = {}): void {
    const s = this.slot(id);
    s.node = null;
    s.paused = false;
    s.crashBeforeNextSend = false;
    s.syncTrueMs = Infinity;
    s.crashAfterSnapshotOfNextStep = false;
    // A snapshot write the crash interrupted is lost (it is atomic); with completeSaves it made it.
    if (opts.completeSaves === true) for (const v of s.saves) s.disk.saveSnapshot(v.snapshot);
    s.saves = [];
    s.disk.crash(opts.loseLazyCommit === true);
  }

  /** The node's next step makes its installed snapshot durable, and the node crashes before the rest. */
  crashAfterSnapshotOfNextStep(id: number): void {
    this.slot(id).crashAfterSnapshotOfNextStep = true;
  }

  /** The node's next step persists its output, then the node crashes before sending or answering. */
  crashAtNextStep(id: number): void {
    this.slot(id).crashBeforeNextSend = true;
  }

  /** Starts a crashed node from its disk; its clock starts over at `clockMs`. */
  restart(id: number, clockMs: number): void {
    const s = this.slot(id);
    if (s.node !== null) throw new Error(`node ${id} is up: crash it before restarting it`);
    s.boot++;
    s.clock.reboot(this.trueMs, clockMs);
    this.boot(s);
  }

  pause(id: number): void {
    this.slot(id).paused = true;
  }

  resume(id: number): void {
    this.slot(id).paused = false;
  }

  // ---------------------------------------------------------------- time

  /** Moves true time forward, recording who could serve lease reads meanwhile. */
  advanceTo(trueMs: number): void {
    if (trueMs < this.trueMs) throw new Error(`true time cannot go back from ${this.trueMs} to ${trueMs}`);
    if (trueMs === this.trueMs) return;
    for (const s of this.slots.values()) {
      const node = s.node;
      if (node === null) continue;
      const c0 = s.clock.readingAt(this.trueMs);
      const c1 = s.clock.readingAt(trueMs);
      const span = readableSpan((c) => node.status(c), c0, c1);
      if (span !== null) this.leases.add(s.id, node.status(c0).term, s.clock.trueAt(span[0]), s.clock.trueAt(span[1]));
    }
    this.trueMs = trueMs;
  }

  /**
   * Runs the world for `durationMs` of true time: nodes tick when they asked to, in-flight
   * messages arrive when due (lost on cut links and at crashed nodes; held ones stay put;
   * those to a paused node wait). `onEvent` may act after every event.
   */
  run(durationMs: number, onEvent?: () => void): void {
    const endMs = this.trueMs + durationMs;
    for (let events = 0; ; events++) {
      if (events >= EVENTS_PER_RUN_MAX) throw new Error(`${EVENTS_PER_RUN_MAX} events in ${durationMs} ms: the cluster never goes quiet`);
      const next = this.nextEvent();
      if (next === null || next.atMs >= endMs) break;
      this.advanceTo(Math.max(this.trueMs, next.atMs));
      next.act();
      onEvent?.();
    }
    this.advanceTo(endMs);
  }

  /** Runs until `done()` holds (checked after every event), at most `maxMs`; throws if it never does. */
  runUntil(what: string, done: () => boolean, maxMs: number): void {
    const endMs = this.trueMs + maxMs;
    for (let events = 0; !done(); events++) {
      if (events >= EVENTS_PER_RUN_MAX) throw new Error(`harness: ${EVENTS_PER_RUN_MAX} events while waiting for ${what}: the cluster never goes quiet`);
      if (this.trueMs >= endMs) throw new Error(`harness: ${what} did not happen within ${maxMs} ms of true time`);
      const next = this.nextEvent();
      const atMs = next === null ? endMs : Math.min(endMs, Math.max(this.trueMs, next.atMs));
      this.advanceTo(atMs);
      if (next !== null && next.atMs <= atMs) next.act();
    }
  }

  /**
   * Runs `durationMs` with no new client input and returns how many messages the nodes sent;
   * stops counting early (and early in true time) once more than `stopAfter` were sent.
   */
  messagesSentOver(durationMs: number, stopAfter: number): number {
    const first = this.pool.sentCount;
    const endMs = this.trueMs + durationMs;
    this.runUntil("the quiet period's end", () => this.trueMs >= endMs || this.pool.sentCount - first > stopAfter, durationMs);
    return this.pool.sentCount - first;
  }

  private nextEvent(): { atMs: number; act: () => void } | null {
    let best: { atMs: number; act: () => void } | null = null;
    for (const s of this.slots.values()) {
      if (s.node === null || s.paused) continue;
      if (best === null || s.wakeTrueMs < best.atMs) best = { atMs: s.wakeTrueMs, act: () => this.tick(s.id) };
      if (s.syncTrueMs < best.atMs) best = { atMs: s.syncTrueMs, act: () => this.completeSync(s) };
      for (const v of s.saves) {
        if (v.dueTrueMs < best.atMs) best = { atMs: v.dueTrueMs, act: () => this.completeSave(s.id, v.snapshot.lastIndex) };
      }
    }
    let msg: Envelope | null = null;
    for (const e of this.pool.select((e) => !e.held && !this.slot(e.to).paused)) {
      if (msg === null || e.dueTrueMs < msg.dueTrueMs) msg = e;
    }
    if (msg !== null && (best === null || msg.dueTrueMs < best.atMs)) {
      const e = msg;
      best = { atMs: e.dueTrueMs, act: () => this.arrive(e) };
    }
    return best;
  }

  /** The write under way is durable; a leader is told how far its log now is. */
  private completeSync(s: Slot): void {
    s.syncTrueMs = Infinity;
    s.disk.sync();
    const last = s.disk.lastIndex;
    if (s.node === null || last === 0 || s.node.status(s.clock.readingAt(this.trueMs)).role !== "leader") return;
    const t = s.disk.termAt(last)!;
    this.step(s.id, (nowMs) => ({ type: "persisted", nowMs, index: logIndex(last), term: t }));
  }

  private arrive(e: Envelope): void {
    if (this.net.isCut(e.from, e.to) || !this.isUp(e.to)) {
      this.pool.drop(e.id);
      this.lostCount++;
      return;
    }
    this.deliver(e.id);
  }
}
