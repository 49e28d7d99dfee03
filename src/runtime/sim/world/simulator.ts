// The deterministic simulator: whole clusters of the pure core in virtual time, from one seed.
//
// One event queue ordered by (true time, sequence) drives everything: message deliveries, node
// timers, client timers, faults and checks. Each node reads its own drifting clock; its disk
// keeps only what was synced; the network delays, drops, duplicates and reorders; the nemesis
// crashes, pauses, partitions and heals. The checkers run after every step, and again over the
// whole run at the end. Nothing here reads the wall clock or Math.random: the same options give
// the same run, byte for byte.

import { makeConfig, TIMING_PRESETS, quorumSize, type TimingConfig } from "../../../raft/index.js";
import { formatEvent } from "../../../raft/index.js";
import type { NodeView, RaftNode } from "../../../raft/index.js";
import type { FullOutput } from "../../../raft/index.js";
import { logIndex, nodeId, requestId, term, type ClientReply, type ClientRequest, type Input, type Message, type NodeId, type RaftEvent, type Role, type Snapshot } from "../../../raft/index.js";
import type { NodeAnswer } from "../../../client/retry.js";
import { SimClient, toAnswer } from "./client.js";
import { SimClock, drawRate, rebootReadingMs, type ClockMode } from "./clock.js";
import { TwoLaneQueue, type Lane } from "./heap.js";
import { HistoryRecorder } from "../../../check/history.js";
import { LeaseChecker, WindowSlot, leaseWindow } from "../checks/lease-check.js";
import { Deliveries, NET_CALM, Links, validateNetParams, type NetParams } from "./network.js";
import { Nemesis, type NemesisHost } from "../faults/nemesis.js";
import { replayCommand, type SimOptions } from "../options.js";

export type { RunResult, RunStats, ViolationReport } from "../reports/results.js";
import { livenessBounds, type NodeState, type NotableEvent, type RoleSpan, type ScenarioCheck, type ScenarioPlan, type SimView } from "../faults/plan.js";
import { Rng } from "./prng.js";
import { SafetyChecker } from "../checks/safety.js";
import { buildPlan } from "../faults/scenarios.js";
import { INBOX_MAX, SimNode, type Inbound } from "./sim-node.js";
import { TimelineRecorder } from "../reports/timeline-data.js";
import { buildResult, type RunResult, type RunStats, type ViolationReport } from "../reports/results.js";
import { PropertyViolation, violated } from "../checks/violation.js";
import { checkAckedWrites, checkCatchUp, checkLinearizability, checkOpLiveness } from "../checks/final-checks.js";
import type { CrashPoint, Fault } from "../faults/faults.js";

const STRIKE_TEXT = { send: "sends", append: "grows its log", commit: "commits as leader", elected: "makes it leader" } as const;

function crashStrikes(on: Exclude<CrashPoint, "now">, out: FullOutput, sends: boolean): boolean {
  switch (on) {
    case "send":
      return sends;
    case "append":
      return out.appendFrom !== null;
    case "commit":
      return out.applied.length > 0 && out.events.some((e) => e.kind === "leader-committed");
    case "elected":
      return out.events.some((e) => e.kind === "became-leader");
  }
}

/** What the queue holds; a peer message on the wire is queued as it is (it names its node: `to`). */
type SimEvent =
  | Message
  | { readonly type: "start"; readonly node: number }
  | { readonly type: "tick"; readonly node: number; readonly gen: number }
  | { readonly type: "fsync"; readonly node: number; readonly incarnation: number }
  /** A background snapshot write finishes (lost if the node died meanwhile). */
  | { readonly type: "snapshot-saved"; readonly node: number; readonly incarnation: number; readonly snapshot: Snapshot }
  | { readonly type: "request"; readonly node: number; readonly client: SimClient; readonly attempt: number; readonly request: ClientRequest }
  | { readonly type: "answer"; readonly client: SimClient; readonly attempt: number; readonly from: NodeId; readonly answer: NodeAnswer; readonly immediate: boolean }
  | { readonly type: "client"; readonly client: SimClient; readonly token: number }
  /** A late (ghost) copy of a peer message: dropped if the network calmed down since it was sent. */
  | { readonly type: "late"; readonly message: Message; readonly calmEpoch: number }
  | { readonly type: "fault"; readonly fault: Fault }
  | { readonly type: "check"; readonly check: ScenarioCheck }
  | { readonly type: "liveness" }
  | { readonly type: "catch-up-window" };

/** The news that a node's disk sync finished (it carries nothing, so one object serves all). */
const PERSISTED: Inbound = { kind: "persisted" };

/** A bound on the events of one run; hitting it is an error, not a hang. */
export const EVENTS_MAX = 50_000_000;
const TICK_MIN_STEP_MS = 1e-3;

export function runSimulation(options: SimOptions): RunResult {
  return new Simulation(options).run();
}

export class Simulation implements NemesisHost {
  readonly timing: TimingConfig;
  readonly plan: ScenarioPlan;
  readonly nodeCount: number;
  readonly links: Links;
  readonly nodes: SimNode[] = [];
  readonly recorder = new HistoryRecorder();
  readonly safety = new SafetyChecker();
  readonly lease: LeaseChecker;
  readonly roleSpans: RoleSpan[] = [];
  readonly notable: NotableEvent[] = [];
  readonly stats: RunStats = {
    events: 0, steps: 0, messagesSent: 0, messagesLost: 0, elections: 0, crashes: 0, restarts: 0, pauses: 0, faults: 0,
    readsServed: 0, opsInvoked: 0, opsOk: 0, opsFailed: 0, opsUnknown: 0,
  };
  readonly checks: Record<string, number> = {};
  nowMs = 0;
  private readonly endMs: number;
  /** Client timers, faults and checks wait long: they go to the slow lane (see TwoLaneQueue). */
  private readonly queue = new TwoLaneQueue<SimEvent>();
  private net: NetParams;
  /** Counts calmNet calls: a late copy sent before the latest one is dropped on arrival. */
  private calmEpoch = 0;
  /** Scratch for the deliveries of the message being sent (read at once, never kept). */
  private readonly deliveries = new Deliveries();
  /** Scratch for the lease window of the node just stepped (the checker copies what it keeps). */
  private readonly windowSlot = new WindowSlot();
  private readonly netRng: Rng;
  private readonly faultRng: Rng;
  private readonly diskRng: Rng;
  private readonly nemesis: Nemesis;
  private readonly clients: SimClient[] = [];
  private readonly clientNet = new Map<SimClient, Rng>();
  private readonly timelineRec: TimelineRecorder | null;
  private readonly roleSpanOf: (RoleSpan | null)[];
  private nextRequestId = 1;
  /** The clients have stopped from here on: every node must catch up (or be catching up). */
  private readonly catchUpFromMs: number;
  private readonly commitAtCatchUp = new Map<number, number>();
  private violation: ViolationReport | null = null;
  private readonly trace: ((line: string) => void) | null;

  constructor(readonly options: SimOptions) {
    this.timing = TIMING_PRESETS[options.timing];
    this.nodeCount = options.nodes;
    this.endMs = options.durationMs;
    this.catchUpFromMs = this.endMs - livenessBounds(TIMING_PRESETS[options.timing]).catchupMs;
    this.plan = buildPlan(options, this.timing);
    this.links = new Links(this.nodeCount);
    this.lease = new LeaseChecker(this.nodeCount);
    this.net = this.plan.net;
    validateNetParams(this.net);
    this.netRng = new Rng(options.seed, "net");
    this.faultRng = new Rng(options.seed, "faults");
    this.diskRng = new Rng(options.seed, "disk");
    this.nemesis = new Nemesis(this, this.faultRng);
    this.trace = options.trace;
    this.timelineRec = options.timeline ? new TimelineRecorder() : null;
    this.roleSpanOf = new Array<RoleSpan | null>(this.nodeCount).fill(null);
    this.makeNodes();
    this.makeClients();
  }

  // ---------------------------------------------------------------- setup

  private makeNodes(): void {
    const members = [...Array(this.nodeCount).keys()].map(nodeId);
    const clockRng = new Rng(this.options.seed, "clocks");
    const mode: ClockMode = this.options.clockBeyondBound ? "beyond-bound" : this.plan.clockMode;
    for (const id of members) {
      const config = makeConfig(id, members, this.timing, {
        mutation: this.options.mutation,
        preVote: this.plan.preVote,
        leaderPersistsInParallel: this.plan.leaderPersistsInParallel,
        batchCountMax: this.plan.batchCountMax,
        inflightCountMax: this.plan.inflightCountMax,
        snapshotEveryEntries: this.plan.snapshotEveryEntries,
        snapshotKeepEntries: this.plan.snapshotKeepEntries,
      });
      const clock = new SimClock(clockRng.int(0, 1_000_000), drawRate(mode, this.timing.driftPpmMax, clockRng.fn));
      this.nodes.push(new SimNode(id, clock, config, this.options.seed));
      if (!this.plan.down.includes(id)) this.schedule(clockRng.between(0, 50), { type: "start", node: id });
    }
  }

  private makeClients(): void {
    const members = [...Array(this.nodeCount).keys()].map(nodeId);
    const w = this.plan.workload;
    const add = (client: SimClient): void => {
      this.clients.push(client);
      this.clientNet.set(client, new Rng(this.options.seed, "client-net", client.clientId));
    };
    for (let i = 0; w !== null && i < w.count; i++) add(new SimClient(`c${i}`, members, this, new Rng(this.options.seed, "client", i), w));
    if (this.plan.script.length > 0) {
      add(new SimClient("script", members, this, new Rng(this.options.seed, "client", "script"), null, this.plan.script));
    }
  }

  private scheduleFaultsAndChecks(): void {
    for (const f of this.plan.faults) if (f.atMs <= this.endMs) this.schedule(f.atMs, { type: "fault", fault: f }, "slow");
    for (const c of this.plan.checks) this.schedule(Math.min(c.atMs, this.endMs), { type: "check", check: c }, "slow");
    const q = this.plan.quietFromMs;
    if (q !== null) {
      this.schedule(q, { type: "fault", fault: { atMs: q, action: { kind: "quiet" } } }, "slow");
      const dueMs = q + livenessBounds(this.timing).leaderMs;
      if (dueMs <= this.endMs) this.schedule(dueMs, { type: "liveness" }, "slow");
      this.schedule(this.catchUpFromMs, { type: "catch-up-window" }, "slow");
    }
    for (const c of this.clients) c.start();
  }

  // ---------------------------------------------------------------- the loop

  run(): RunResult {
    try {
      this.scheduleFaultsAndChecks();
      this.loop();
      this.nowMs = this.endMs;
      this.finalChecks();
    } catch (e) {
      if (!(e instanceof PropertyViolation)) throw e;
      const atMs = e.atMs ?? this.nowMs;
      this.violation = { property: e.property, atMs, message: e.message, replay: replayCommand(this.options) };
      this.traceLine(this.nowMs, "VIOLATION", `${e.property}: ${e.message}`);
    }
    return this.result();
  }

  private loop(): void {
    for (;;) {
      const atMs = this.queue.nextAtMs;
      if (atMs > this.endMs) return; // also when the queue is empty (Infinity)
      const ev = this.queue.pop()!;
      this.nowMs = atMs;
      this.stats.events += 1;
      if (this.stats.events > EVENTS_MAX) throw new Error(`raft-sim: more than ${EVENTS_MAX} events in one run; shorten --duration`);
      this.dispatch(ev);
    }
  }

  private schedule(atMs: number, event: SimEvent, lane: Lane = "fast"): void {
    this.queue.push(lane, atMs, event);
  }

  private dispatch(ev: SimEvent): void {
    switch (ev.type) {
      case "vote-request":
      case "vote-reply":
      case "append-request":
      case "append-reply":
      case "snapshot-request":
      case "snapshot-reply":
        return this.onPeer(this.nodes[ev.to]!, ev);
      case "start":
        return this.boot(this.nodes[ev.node]!);
      case "tick":
        return this.onTick(ev.node, ev.gen);
      case "fsync":
        return this.onFsync(this.nodes[ev.node]!, ev.incarnation);
      case "snapshot-saved":
        return this.onSnapshotSaved(this.nodes[ev.node]!, ev.incarnation, ev.snapshot);
      case "request":
        return this.onInbound(this.nodes[ev.node]!, { kind: "request", client: ev.client, attempt: ev.attempt, request: ev.request });
      case "answer":
        return ev.client.onAnswer(ev.attempt, ev.from, ev.answer, this.nowMs, ev.immediate);
      case "client":
        return ev.client.onWake(ev.token, this.nowMs);
      case "late":
        if (ev.calmEpoch === this.calmEpoch) return this.onPeer(this.nodes[ev.message.to]!, ev.message);
        this.stats.messagesLost += 1;
        return;
      case "fault":
        return this.onFault(ev.fault);
      case "check":
        return this.onCheck(ev.check);
      case "liveness":
        return this.checkLeaderElected();
      case "catch-up-window":
        for (const sn of this.nodes) if (sn.core !== null) this.commitAtCatchUp.set(sn.id, sn.core.inspect().commitIndex);
        return;
    }
  }

  // ---------------------------------------------------------------- node steps

  private onTick(id: number, gen: number): void {
    const sn = this.nodes[id]!;
    if (gen !== sn.tickGen) return;
    sn.tickAtMs = Infinity;
    if (sn.state !== "up") return; // a paused node ticks when it resumes
    if (sn.tickWantMs > this.nowMs) {
      if (sn.tickWantMs !== Infinity) this.queueTick(sn, sn.tickWantMs);
      return;
    }
    this.step(sn, { type: "tick", nowMs: this.local(sn) });
  }

  /** The common case, without wrapping the message: a peer message to a running node. */
  private onPeer(sn: SimNode, message: Message): void {
    if (sn.state === "up") this.step(sn, { type: "message", nowMs: this.local(sn), message });
    else this.onInbound(sn, { kind: "peer", message });
  }

  private onInbound(sn: SimNode, input: Inbound): void {
    switch (sn.state) {
      case "crashed":
        if (input.kind === "request") this.answer(input.client, input.attempt, sn.id, { kind: "unreachable", message: "connection refused" }, false);
        return;
      case "paused":
        if (sn.inbox.length < INBOX_MAX) sn.inbox.push(input);
        return;
      case "up":
        return this.deliver(sn, input);
    }
  }

  private deliver(sn: SimNode, input: Inbound): void {
    if (input.kind === "peer") return this.step(sn, { type: "message", nowMs: this.local(sn), message: input.message });
    if (input.kind === "persisted") return this.notePersisted(sn);
    if (input.kind === "snapshot-saved") return this.step(sn, { type: "snapshot-saved", nowMs: this.local(sn), index: input.index });
    const rid = requestId(this.nextRequestId++);
    sn.pendingCalls.set(rid, { client: input.client, attempt: input.attempt, kind: input.request.kind, receivedStep: this.stats.steps + 1 });
    this.step(sn, { type: "client", nowMs: this.local(sn), calls: [{ requestId: rid, request: input.request }] });
  }

  private step(sn: SimNode, input: Input): void {
    const core = sn.core!;
    this.stats.steps += 1;
    let out: FullOutput;
    try {
      out = core.step(input);
    } catch (e) {
      return this.coreFailure(sn, e);
    }
    this.afterStep(sn, core, out);
  }

  private coreFailure(sn: SimNode, e: unknown): never {
    if (e instanceof PropertyViolation) throw e;
    const message = e instanceof Error ? e.message : String(e);
    return violated("core invariant", `node ${sn.id} threw: ${message}`);
  }

  /** The output contract: checks see the new state; persist, then send, then answer clients. */
  private afterStep(sn: SimNode, core: RaftNode, out: FullOutput): void {
    this.safety.afterStep(sn.id, core.inspect(), out);
    sn.disk.write(out);
    if (sn.killOnAppend && out.appendFrom !== null && out.append.length > 0) {
      sn.killOnAppend = false;
      return this.crashNow(sn, "(process killed) at a step that grows its log, after its disk write, before its sync", true);
    }
    const sends = out.messages.length > 0 || out.replies.length > 0;
    // Durable before anything leaves, and before the node relies on its own copy to commit; a
    // leader writing in parallel syncs on its own time and is told when it is done.
    if (out.sendBeforePersist) {
      if (sn.disk.hasUnsynced) this.syncLater(sn);
    } else if (sends || out.applied.length > 0) {
      this.sync(sn);
    }
    if (out.saveSnapshot !== null) this.saveSnapshotLater(sn, out.saveSnapshot);
    this.updateLease(sn, core);
    this.noteRole(sn, core, out.events);
    if (sn.crashOn !== null && crashStrikes(sn.crashOn, out, sends)) {
      this.sync(sn);
      return this.crashNow(sn, `at a step that ${STRIKE_TEXT[sn.crashOn]}, after its disk write, before its sends`);
    }
    // Indexed loops: for-of over the output's lists (frozen empty ones or filled ones) was
    // measured to allocate an iterator per step here.
    for (let k = 0; k < out.messages.length; k++) this.sendPeer(sn.id, out.messages[k]!);
    for (let k = 0; k < out.replies.length; k++) this.reply(sn, out.replies[k]!);
    this.armTick(sn, out.wakeAtMs);
  }

  private sync(sn: SimNode): void {
    const had = sn.disk.hasUnsynced;
    try {
      sn.disk.sync();
    } catch (e) {
      violated("output contract", `node ${sn.id}: ${e instanceof Error ? e.message : String(e)}`);
    }
    // A leader writing in parallel counts itself only once told its log is durable.
    if (had && sn.core?.wantsPersistedReports() === true) this.schedule(this.nowMs, { type: "fsync", node: sn.id, incarnation: sn.incarnation });
  }

  /** The leader's own write goes to disk while its messages are already out (thesis §10.2.1). */
  private syncLater(sn: SimNode): void {
    if (sn.syncPending) return;
    sn.syncPending = true;
    const latencyMs = this.diskRng.chance(0.05) ? this.diskRng.between(10, 50) : this.diskRng.between(0.1, 3);
    this.schedule(this.nowMs + latencyMs, { type: "fsync", node: sn.id, incarnation: sn.incarnation });
  }

  private onFsync(sn: SimNode, incarnation: number): void {
    if (incarnation !== sn.incarnation || !sn.live) return;
    sn.syncPending = false;
    if (sn.disk.hasUnsynced) {
      try {
        sn.disk.sync();
      } catch (e) {
        violated("output contract", `node ${sn.id}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    this.onInbound(sn, PERSISTED);
  }

  /** A node's own snapshot goes to disk in the background; a crash before it is done loses it. */
  private saveSnapshotLater(sn: SimNode, snapshot: Snapshot): void {
    const latencyMs = this.diskRng.chance(0.1) ? this.diskRng.between(50, 500) : this.diskRng.between(1, 20);
    this.schedule(this.nowMs + latencyMs, { type: "snapshot-saved", node: sn.id, incarnation: sn.incarnation, snapshot });
  }

  private onSnapshotSaved(sn: SimNode, incarnation: number, snapshot: Snapshot): void {
    if (incarnation !== sn.incarnation || !sn.live) return;
    sn.disk.saveSnapshot(snapshot);
    this.onInbound(sn, { kind: "snapshot-saved", index: snapshot.lastIndex });
  }

  /** Tells the core how far its log is durable (only a leader of the same term cares). */
  private notePersisted(sn: SimNode): void {
    const last = sn.disk.durableLastIndex;
    const t = sn.disk.durableLastTerm;
    if (last === 0 || sn.core === null || !sn.core.wantsPersistedReports()) return;
    this.step(sn, { type: "persisted", nowMs: this.local(sn), index: logIndex(last), term: term(t) });
  }

  /**
   * Sets the node's timer to its wake time. A timer is only ever moved earlier in the queue: when
   * the wake time moves later (a follower hearing a heartbeat), the queued timer stays, and when
   * it fires early it is set again for the wanted time, with no step. The queue stays small.
   */
  private armTick(sn: SimNode, wake: number): void {
    const t = wake === Infinity ? Infinity : Math.max(sn.clock.trueAt(wake, this.nowMs), this.nowMs + TICK_MIN_STEP_MS);
    sn.tickWantMs = t;
    if (t >= sn.tickAtMs || t === Infinity) return;
    this.queueTick(sn, t);
  }

  private queueTick(sn: SimNode, t: number): void {
    sn.tickAtMs = t;
    sn.tickGen += 1;
    this.schedule(t, { type: "tick", node: sn.id, gen: sn.tickGen });
  }

  private local(sn: SimNode): number {
    return sn.clock.localAt(this.nowMs);
  }

  // ---------------------------------------------------------------- lease, roles, trace

  /** Hands the lease checker when this node may serve lease reads from now on, in true time. */
  private updateLease(sn: SimNode, core: RaftNode): void {
    if (core.inspect().role !== "leader" && this.lease.idle(sn.id)) return; // no window before or after: nothing changes
    const w = leaseWindow(core, sn.clock, this.nowMs, this.windowSlot);
    if (this.nodeCount > 1) this.lease.update(sn.id, this.nowMs, w);
  }

  private noteRole(sn: SimNode, core: RaftNode, events: readonly RaftEvent[]): void {
    const v = core.inspect();
    if (v.role !== sn.lastRole || v.term !== sn.lastTerm) this.openRoleSpan(sn, v.role, v.term);
    for (let k = 0; k < events.length; k++) {
      const e = events[k]!;
      if (this.trace !== null) this.traceLine(this.nowMs, `n${sn.id}`, formatEvent(e));
      if (e.kind === "became-leader") this.stats.elections += 1;
      if (e.kind === "became-leader" || e.kind === "stepping-down" || e.kind === "lease-renewal-failed" || e.kind === "waiting-old-lease") {
        this.notable.push({ atMs: this.nowMs, nodeId: sn.id, kind: e.kind, term: v.term });
      }
    }
  }

  private openRoleSpan(sn: SimNode, role: Role | null, term: number): void {
    const open = this.roleSpanOf[sn.id];
    if (open !== null && open !== undefined) open.toMs = this.nowMs;
    sn.lastRole = role ?? "down";
    sn.lastTerm = role === null ? -1 : term;
    if (role === null) {
      this.roleSpanOf[sn.id] = null;
      return;
    }
    const span: RoleSpan = { nodeId: sn.id, role, term, fromMs: this.nowMs, toMs: null };
    this.roleSpans.push(span);
    this.roleSpanOf[sn.id] = span;
  }

  private traceLine(t: number, who: string, text: string): void {
    this.trace?.(`${t.toFixed(3).padStart(11)} ms  ${who.padEnd(7)} ${text}`);
  }

  // ---------------------------------------------------------------- network

  private sendPeer(from: number, m: Message): void {
    this.stats.messagesSent += 1;
    if (!this.links.canSend(from, m.to)) {
      this.stats.messagesLost += 1;
      if (this.trace !== null) this.traceLine(this.nowMs, `n${from}`, formatEvent({ kind: "rpc-error", followerId: m.to }));
      return;
    }
    const n = this.deliveries.draw(this.net, this.netRng);
    if (n === 0) this.stats.messagesLost += 1;
    const extraMs = this.links.extraDelayMs(from, m.to);
    const d = this.deliveries;
    for (let k = 0; k < n; k++) {
      const atMs = this.nowMs + d.delaysMs[k]! + extraMs;
      if (k === d.lateSlot) this.schedule(atMs, { type: "late", message: m, calmEpoch: this.calmEpoch });
      else this.schedule(atMs, m);
    }
  }

  private reply(sn: SimNode, r: ClientReply): void {
    const call = sn.pendingCalls.get(r.requestId);
    if (call === undefined) return;
    sn.pendingCalls.delete(r.requestId);
    if (r.result.ok && call.kind === "get") {
      this.stats.readsServed += 1;
      if (this.nodeCount > 1) this.lease.readServed(sn.id, this.nowMs);
    }
    this.answer(call.client, call.attempt, sn.id, toAnswer(r.result), call.receivedStep === this.stats.steps);
  }

  private answer(client: SimClient, attempt: number, from: NodeId, answer: NodeAnswer, immediate: boolean): void {
    const n = this.deliveries.draw(this.net, this.clientNet.get(client)!);
    for (let k = 0; k < n; k++) this.schedule(this.nowMs + this.deliveries.delaysMs[k]!, { type: "answer", client, attempt, from, answer, immediate });
  }

  // ---------------------------------------------------------------- ClientHost

  sendRequest(client: SimClient, target: NodeId, request: ClientRequest, attempt: number): void {
    const n = this.deliveries.draw(this.net, this.clientNet.get(client)!);
    for (let k = 0; k < n; k++) this.schedule(this.nowMs + this.deliveries.delaysMs[k]!, { type: "request", node: target, client, attempt, request });
  }

  wake(client: SimClient, atMs: number, token: number): void {
    this.schedule(atMs, { type: "client", client, token }, "slow");
  }

  currentLeader(): NodeId | null {
    return this.leader();
  }

  // ---------------------------------------------------------------- NemesisHost

  state(id: number): NodeState {
    return this.nodes[id]!.state;
  }

  leader(): NodeId | null {
    let best: NodeView | null = null;
    for (const sn of this.nodes) {
      const c = sn.core?.inspect() ?? null;
      if (c !== null && c.role === "leader" && (best === null || c.term > best.term)) best = c;
    }
    return best === null ? null : best.id;
  }

  crash(id: number, when: CrashPoint): void {
    const sn = this.nodes[id]!;
    if (when !== "now") sn.crashOn = when; // armed, even while down: it strikes after a restart
    else if (sn.live) this.crashNow(sn, "");
  }

  /** The machine loses power (or, with `keepPageCache`, only the process dies). */
  private crashNow(sn: SimNode, how: string, keepPageCache = false): void {
    this.stats.crashes += 1;
    if (how !== "") this.traceLine(this.nowMs, `n${sn.id}`, `crashed ${how}`);
    if (this.nodeCount > 1) this.lease.update(sn.id, this.nowMs, null);
    sn.kill(keepPageCache);
    this.openRoleSpan(sn, null, -1);
    this.timelineRec?.nodeState(sn.id, this.nowMs, "crashed");
  }

  kill(id: number, when: "now" | "append"): void {
    const sn = this.nodes[id]!;
    if (when === "append") sn.killOnAppend = true; // armed, even while down: it strikes after a restart
    else if (sn.live) this.crashNow(sn, "(process killed)", true);
  }

  powerOff(id: number): void {
    const sn = this.nodes[id]!;
    if (sn.live) return this.crashNow(sn, "(power off)");
    const lost = sn.disk.pageCacheWriteCount;
    sn.disk.powerLoss();
    if (lost > 0) this.traceLine(this.nowMs, `n${sn.id}`, `power off: ${lost} unsynced writes in the page cache lost`);
  }

  restart(id: number): void {
    const sn = this.nodes[id]!;
    if (sn.state !== "crashed") return;
    this.stats.restarts += 1;
    if (this.faultRng.chance(this.plan.rebootP)) sn.clock.reboot(rebootReadingMs(this.faultRng) - this.nowMs * sn.clock.rate);
    this.boot(sn);
  }

  private boot(sn: SimNode): void {
    this.safety.afterRestart(sn.id, sn.disk.read());
    let core: RaftNode;
    try {
      core = sn.boot(this.nowMs);
    } catch (e) {
      return this.coreFailure(sn, e);
    }
    this.timelineRec?.nodeState(sn.id, this.nowMs, "up");
    this.openRoleSpan(sn, core.inspect().role, core.inspect().term);
    this.armTick(sn, core.wakeAtMs());
  }

  pause(id: number): void {
    const sn = this.nodes[id]!;
    if (sn.state !== "up") return;
    this.stats.pauses += 1;
    sn.state = "paused";
    this.timelineRec?.nodeState(id, this.nowMs, "paused");
  }

  resume(id: number): void {
    const sn = this.nodes[id]!;
    if (sn.state !== "paused") return;
    sn.state = "up";
    this.timelineRec?.nodeState(id, this.nowMs, "up");
    const waiting = sn.inbox.splice(0);
    for (const input of waiting) {
      if (sn.state !== "up") return;
      this.deliver(sn, input);
    }
    if (sn.state === "up") this.step(sn, { type: "tick", nowMs: this.local(sn) });
  }

  setNet(params: Partial<NetParams>): void {
    const next = { ...this.net, ...params };
    validateNetParams(next);
    this.net = next;
  }

  /** A calm network: ghost copies still on their way are gone too, so liveness can be judged. */
  calmNet(): void {
    this.net = NET_CALM;
    this.calmEpoch += 1;
  }

  disarm(): void {
    for (const sn of this.nodes) {
      sn.crashOn = null;
      sn.killOnAppend = false;
    }
  }

  jump(id: number, deltaMs: number): void {
    const sn = this.nodes[id]!;
    sn.clock.jump(deltaMs);
    if (sn.core === null) return;
    this.updateLease(sn, sn.core);
    if (sn.state === "up") this.armTick(sn, sn.core.wakeAtMs());
  }

  private onFault(f: Fault): void {
    this.stats.faults += 1;
    const text = this.nemesis.run(f.action);
    this.traceLine(this.nowMs, "nemesis", text);
    this.timelineRec?.fault(this.nowMs, text);
    this.timelineRec?.linksChanged(this.nowMs, this.links.describe());
  }

  // ---------------------------------------------------------------- checks

  private onCheck(c: ScenarioCheck): void {
    const problem = c.check(this.view());
    this.count(`scenario: ${c.name}`, 1);
    if (problem !== null) violated("scenario", `${c.name}: ${problem}`);
  }

  private checkLeaderElected(): void {
    const live = this.nodes.filter((sn) => sn.state === "up").length;
    if (live < quorumSize(this.nodeCount)) return;
    this.count("liveness: leader elected", 1);
    if (this.leader() === null) {
      const b = livenessBounds(this.timing);
      violated("liveness", `no leader ${b.leaderMs} ms after the faults stopped at ${this.plan.quietFromMs} ms, with a majority up and connected`);
    }
  }

  private finalChecks(): void {
    if (this.nodeCount > 1) this.lease.finish(this.endMs);
    const history = this.recorder.history();
    const leaderId = this.leader();
    const leader = leaderId === null ? null : (this.nodes[leaderId]!.core?.inspect() ?? null);
    this.count("acknowledged writes", checkAckedWrites(history, this.safety.committed, leader));
    this.count("linearizability (ops)", checkLinearizability(history, this.endMs));
    const q = this.plan.quietFromMs;
    if (q !== null) {
      const b = livenessBounds(this.timing);
      this.count("liveness: ops", checkOpLiveness(history, { quietFromMs: q, leaderMs: b.leaderMs, opMs: b.opMs, endMs: this.endMs }));
      const cores = this.nodes.map((sn) => sn.core?.inspect() ?? null);
      if (leader !== null) this.count("liveness: catch-up", checkCatchUp(cores, leader, this.commitAtCatchUp, this.catchUpFromMs));
    }
  }

  private count(name: string, n: number): void {
    this.checks[name] = (this.checks[name] ?? 0) + n;
  }

  view(): SimView {
    return {
      nowMs: this.nowMs,
      nodeCount: this.nodeCount,
      timing: this.timing,
      state: (id) => this.nodes[id]!.state,
      core: (id) => this.nodes[id]!.core?.inspect() ?? null,
      leader: () => this.leader(),
      result: (label) => {
        for (const c of this.clients) {
          const r = c.results.get(label);
          if (r !== undefined) return r;
        }
        return undefined;
      },
      history: () => this.recorder.history(),
      roleSpans: this.roleSpans,
      notable: this.notable,
    };
  }

  // ---------------------------------------------------------------- result

  private result(): RunResult {
    const v = this.violation;
    return buildResult({
      options: this.options,
      plan: this.plan,
      violation: v,
      endMs: v === null ? this.endMs : Math.min(this.endMs, Math.max(v.atMs, this.nowMs)),
      stats: this.stats,
      checks: this.checks,
      history: this.recorder.history(),
      safety: this.safety,
      lease: this.lease,
      roleSpans: this.roleSpans,
      timeline: this.timelineRec,
    });
  }
}
