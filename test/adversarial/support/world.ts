// The adversarial world: nodes driven only through RaftNode.start / step / status, each with its
// own clock and disk, one message pool, and true time that only the world sees.
//
// Every step: the node's output is persisted to its disk (step 1 of the output contract), the
// safety monitor checks the result, answers go to the client history, and messages go to the
// pool. Between steps the world records, in true time, when each node could serve lease reads.

import seedrandom from "seedrandom";
import {
  logIndex,
  makeConfig,
  nodeId,
  RaftNode,
  requestId,
  TIMING_FAST,
  type ClientRequest,
  type FullOutput,
  type Input,
  type Message,
  type Mutation,
  type NodeId,
  type NodeStatus,
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
  readonly safety = new SafetyMonitor();
  readonly timing: TimingConfig;
  /** The messages the latest step sent. */
  lastSent: MessageId[] = [];
  /** Messages the scheduler dropped on cut links or at crashed nodes. */
  lostCount = 0;
  private readonly slots = new Map<NodeId, Slot>();
  readonly net: Network;
  private nextRequest = 1;

  constructor(readonly opts: WorldOptions) {
    this.timing = opts.timing ?? TIMING_FAST;
    this.net = new Network([...Array(opts.size).keys()].map(nodeId), opts.network ?? (() => [1]));
    const members = [...Array(opts.size).keys()].map(nodeId);
    for (const id of members) {
      const config = makeConfig(id, members, this.timing, {
        ...opts.overrides,
        preVote: opts.preVote ?? true,
        mutation: opts.mutation ?? null,
      });
      const clock = new NodeClock(opts.rates?.[id] ?? 1, 0, opts.clockStartMs?.[id] ?? 0);
      const slot: Slot = { id, config, clock, disk: new Disk(), node: null, boot: 0, paused: false, wakeTrueMs: 0, crashBeforeNextSend: false, syncTrueMs: Infinity };
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
    this.safety.started(s.node.status(), s.disk);
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
    const diskBefore = [...s.disk.entries()];
    const hadUnsynced = s.disk.hasUnsynced;
    const out = node.step(make(nowMs));
    s.disk.persist(out);
    if (s.disk.hasUnsynced || hadUnsynced) {
      // A write under way completes later; one this step's sync completed is reported now.
      const atMs = s.disk.hasUnsynced ? this.trueMs + (this.opts.syncDelayMs?.() ?? 2) : this.trueMs;
      s.syncTrueMs = Math.min(s.syncTrueMs, atMs);
    }
    this.safety.afterStep(before, diskBefore, out, node.status(nowMs), s.disk, this.disks());
    s.wakeTrueMs = Math.max(this.trueMs, s.clock.trueAt(out.wakeAtMs));
    if (s.crashBeforeNextSend) {
      s.crashBeforeNextSend = false;
      this.crash(id);
      this.lastSent = [];
      return { out, sent: [] };
    }
    const sent = out.messages.map((m) => this.send(m));
    for (const r of out.replies) this.history.answered(r.requestId, r.result, this.trueMs);
    this.lastSent = sent;
    return { out, sent };
  }

  private send(m: Message): MessageId {
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

  set(id: number, key: string, value: string): RequestId {
    return this.client(id, [{ kind: "set", key, value, clientId: "", sequence: 0, firstUnanswered: 0 }])[0]!;
  }

  get(id: number, key: string): RequestId {
    return this.client(id, [{ kind: "get", key }])[0]!;
  }

  /** The node loses everything not on its disk. */
  crash(id: number, opts: { loseLazyCommit?: boolean } = {}): void {
    const s = this.slot(id);
    s.node = null;
    s.paused = false;
    s.crashBeforeNextSend = false;
    s.syncTrueMs = Infinity;
    s.disk.crash(opts.loseLazyCommit === true);
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
    const last = s.disk.length;
    if (s.node === null || last === 0 || s.node.status(s.clock.readingAt(this.trueMs)).role !== "leader") return;
    const t = s.disk.entry(last)!.term;
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
