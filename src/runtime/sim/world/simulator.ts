// The deterministic simulator: whole clusters of the pure core in virtual time, from one seed.
//
// One event queue ordered by (true time, sequence) drives everything: message deliveries, node
// timers, client timers, faults and checks. Each node reads its own drifting clock; its disk
// keeps only what was synced; the network delays, drops, duplicates and reorders; the nemesis
// crashes, pauses, partitions and heals. The checkers run after every step, and again over the
// whole run at the end. Nothing here reads the wall clock or Math.random: the same options give
// the same run, byte for byte.

import { assertNever, makeConfig, nodeId, TIMING_PRESETS, type AdminRequest, type ClientRequest, type NodeId, type NodeView, type TimingConfig } from "../../../raft/index.js";
import type { NodeAnswer } from "../../../client/retry.js";
import { HistoryRecorder } from "../../../check/history.js";
import { LeaseChecker } from "../checks/lease-check.js";
import { MembershipChecker } from "../checks/membership-check.js";
import { RunChecks } from "../checks/run-checks.js";
import { SafetyChecker } from "../checks/safety.js";
import { PropertyViolation } from "../checks/violation.js";
import type { CrashPoint, Fault } from "../faults/faults.js";
import { idsNeeded } from "../faults/membership-faults.js";
import { Nemesis, type NemesisHost } from "../faults/nemesis.js";
import { livenessBounds, type NodeState, type ScenarioPlan, type SimView } from "../faults/plan.js";
import { buildPlan } from "../faults/scenarios.js";
import { replayCommand, type SimOptions } from "../options.js";
import { buildResult, type RunResult, type RunStats, type ViolationReport } from "../reports/results.js";
import { RunLog } from "../reports/run-log.js";
import { TimelineRecorder } from "../reports/timeline-data.js";
import { SimClient } from "./client.js";
import { SimClock, drawRate, rebootReadingMs, type ClockMode } from "./clock.js";
import { TwoLaneQueue, type Lane } from "./heap.js";
import { Churn, type ChurnHost } from "./membership-world.js";
import { Links, type NetParams } from "./network.js";
import { NodeDriver } from "./node-driver.js";
import { Rng } from "./prng.js";
import type { Scheduler, SimEvent } from "./sim-event.js";
import { SimNode } from "./sim-node.js";
import { Wire } from "./wire.js";

export type { RunResult, RunStats, ViolationReport } from "../reports/results.js";

/** A bound on the events of one run; hitting it is an error, not a hang. */
export const EVENTS_MAX = 50_000_000;

export function runSimulation(options: SimOptions): RunResult {
  return new Simulation(options).run();
}

export class Simulation implements NemesisHost, Scheduler, ChurnHost {
  readonly timing: TimingConfig;
  readonly plan: ScenarioPlan;
  readonly nodeCount: number;
  /** Node ids 0..idCount-1: the initial nodes and those the faults add (membership-world.ts). */
  readonly idCount: number;
  readonly links: Links;
  readonly nodes: SimNode[] = [];
  readonly recorder = new HistoryRecorder();
  readonly safety = new SafetyChecker();
  readonly lease: LeaseChecker;
  readonly configs: MembershipChecker;
  readonly stats: RunStats = {
    events: 0, steps: 0, messagesSent: 0, messagesLost: 0, elections: 0, crashes: 0, restarts: 0, pauses: 0, faults: 0,
    readsServed: 0, opsInvoked: 0, opsOk: 0, opsFailed: 0, opsUnknown: 0,
  };
  nowMs = 0;
  private readonly endMs: number;
  /** Faults and checks wait long: they go to the slow lane; client timers are slots (see TwoLaneQueue). */
  private readonly queue = new TwoLaneQueue<SimEvent>();
  private readonly log: RunLog;
  private readonly wire: Wire;
  private readonly driver: NodeDriver;
  private readonly checks: RunChecks;
  private readonly faultRng: Rng;
  private readonly nemesis: Nemesis;
  private readonly clients: SimClient[] = [];
  private readonly churn: Churn;
  private violation: ViolationReport | null = null;

  constructor(readonly options: SimOptions) {
    this.timing = TIMING_PRESETS[options.timing];
    this.nodeCount = options.nodes;
    this.endMs = options.durationMs;
    this.plan = buildPlan(options, this.timing);
    this.idCount = idsNeeded(this.plan.faults, this.nodeCount);
    this.checks = new RunChecks(this.timing, this.plan.quietFromMs, this.endMs);
    this.links = new Links(this.idCount);
    this.lease = new LeaseChecker(this.idCount);
    this.configs = new MembershipChecker([...Array(this.nodeCount).keys()].map(nodeId), this.safety.committed, (id) => id >= this.nodeCount);
    this.log = new RunLog(this, this.idCount, this.stats, options.trace, options.timeline ? new TimelineRecorder() : null);
    this.wire = new Wire(this, this.links, this.plan.net, new Rng(options.seed, "net"), this.stats, this.log);
    this.faultRng = new Rng(options.seed, "faults");
    this.driver = new NodeDriver(this, this.idCount, this.wire, this.log, this.stats, this.safety, this.lease, new Rng(options.seed, "disk"), this.configs);
    this.nemesis = new Nemesis(this, this.faultRng);
    this.churn = new Churn(this, this.nodeCount, this.idCount, options.seed);
    this.makeNodes();
    this.makeClients();
  }

  // ---------------------------------------------------------------- setup

  private makeNodes(): void {
    const members = [...Array(this.nodeCount).keys()].map(nodeId);
    const clockRng = new Rng(this.options.seed, "clocks");
    const mode: ClockMode = this.options.clockBeyondBound ? "beyond-bound" : this.plan.clockMode;
    const joinClocks = new Rng(this.options.seed, "clocks", "joined");
    for (let id = 0; id < this.idCount; id++) {
      const joins = id >= this.nodeCount;
      const config = makeConfig(nodeId(id), members, this.timing, {
        join: joins,
        mutation: this.options.mutation,
        preVote: this.plan.preVote,
        leaderPersistsInParallel: this.plan.leaderPersistsInParallel,
        entryEvents: this.options.trace !== null, // only a trace shows them
        batchCountMax: this.plan.batchCountMax,
        inflightCountMax: this.plan.inflightCountMax,
        snapshotEveryEntries: this.plan.snapshotEveryEntries,
        snapshotKeepEntries: this.plan.snapshotKeepEntries,
      });
      const rng = joins ? joinClocks : clockRng;
      const clock = new SimClock(rng.int(0, 1_000_000), drawRate(mode, this.timing.driftPpmMax, rng.fn));
      this.nodes.push(new SimNode(nodeId(id), clock, config, this.options.seed));
      if (!joins && !this.plan.down.includes(id)) this.schedule(clockRng.between(0, 50), { type: "start", node: id });
    }
  }

  private makeClients(): void {
    const members = [...Array(this.idCount).keys()].map(nodeId); // nodes that join may lead
    const w = this.plan.workload;
    const netRng = (clientId: string): Rng => new Rng(this.options.seed, "client-net", clientId);
    for (let i = 0; w !== null && i < w.count; i++) this.clients.push(new SimClient(`c${i}`, members, this, new Rng(this.options.seed, "client", i), netRng(`c${i}`), w));
    if (this.plan.script.length > 0) {
      this.clients.push(new SimClient("script", members, this, new Rng(this.options.seed, "client", "script"), netRng("script"), null, this.plan.script));
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
      this.schedule(this.checks.catchUpFromMs, { type: "catch-up-window" }, "slow");
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
      this.log.line(this.nowMs, "VIOLATION", `${e.property}: ${e.message}`);
    }
    return this.result();
  }

  private loop(): void {
    const queue = this.queue;
    for (;;) {
      const ev = queue.popUntil(this.endMs);
      if (ev === undefined) return; // the next event is past the end, or the queue is empty
      this.nowMs = queue.poppedAtMs;
      this.stats.events += 1;
      if (this.stats.events > EVENTS_MAX) throw new Error(`raft-sim: more than ${EVENTS_MAX} events in one run; shorten --duration`);
      this.dispatch(ev);
    }
  }

  schedule(atMs: number, event: SimEvent, lane: Lane = "fast"): void {
    this.queue.push(lane, atMs, event);
  }

  private dispatch(ev: SimEvent): void {
    switch (ev.type) {
      case "append-request":
      case "append-reply":
      case "vote-request":
      case "vote-reply":
      case "snapshot-request":
      case "snapshot-reply":
      case "timeout-now":
        return this.driver.onPeer(this.nodes[ev.to]!, ev);
      case "start":
        return this.driver.boot(this.nodes[ev.node]!);
      case "tick":
        return this.driver.onTick(this.nodes[ev.node]!, ev.gen);
      case "fsync":
        return this.driver.onFsync(this.nodes[ev.node]!, ev.incarnation);
      case "snapshot-saved":
        return this.driver.onSnapshotSaved(this.nodes[ev.node]!, ev.incarnation, ev.snapshot);
      case "request":
        return this.driver.onRequest(this.nodes[ev.node]!, ev);
      case "answer":
        return ev.client.onAnswer(ev.attempt, ev.from, ev.answer, this.nowMs, ev.immediate);
      case "client":
        return ev.client.onWake(ev.token, this.nowMs);
      case "late":
        if (this.wire.lateArrives(ev.calmEpoch)) this.driver.onPeer(this.nodes[ev.message.to]!, ev.message);
        return;
      case "fault":
        return this.onFault(ev.fault);
      case "check":
        return this.checks.scenario(ev.check, this.view());
      case "liveness":
        return this.checks.leaderElected(this.view());
      case "catch-up-window":
        return this.checks.catchUpWindow(this.view());
      case "call":
        return ev.run();
      default:
        return assertNever(ev);
    }
  }

  // ---------------------------------------------------------------- ClientHost

  sendRequest(client: SimClient, target: NodeId, request: ClientRequest, attempt: number): void {
    this.wire.toNode(client, target, request, attempt);
  }

  /** The client's one timer: a wake-up set anew replaces the one before (no stale event). */
  wake(client: SimClient, atMs: number, token: number): void {
    client.timer.item.token = token;
    this.queue.arm(client.timer, atMs);
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
    else if (sn.live) this.driver.crashNow(sn, "");
  }

  kill(id: number, when: "now" | "append"): void {
    const sn = this.nodes[id]!;
    if (when === "append") sn.killOnAppend = true; // armed, even while down: it strikes after a restart
    else if (sn.live) this.driver.crashNow(sn, "(process killed)", true);
  }

  powerOff(id: number): void {
    const sn = this.nodes[id]!;
    if (sn.live) return this.driver.crashNow(sn, "(power off)");
    const lost = sn.disk.pageCacheWriteCount;
    sn.disk.powerLoss();
    if (lost > 0) this.log.line(this.nowMs, `n${sn.id}`, `power off: ${lost} unsynced writes in the page cache lost`);
  }

  restart(id: number): void {
    const sn = this.nodes[id]!;
    if (sn.state !== "crashed") return;
    this.stats.restarts += 1;
    if (this.faultRng.chance(this.plan.rebootP)) sn.clock.reboot(rebootReadingMs(this.faultRng) - this.nowMs * sn.clock.rate);
    this.driver.boot(sn);
  }

  pause(id: number): void {
    const sn = this.nodes[id]!;
    if (sn.state !== "up") return;
    this.stats.pauses += 1;
    sn.state = "paused";
    this.log.timeline?.nodeState(id, this.nowMs, "paused");
  }

  resume(id: number): void {
    const sn = this.nodes[id]!;
    if (sn.state === "paused") this.driver.resume(sn);
  }

  ids(): readonly number[] {
    return this.churn.ids;
  }

  addMember(id: number): void {
    this.churn.addMember(id);
  }

  removeMember(id: number): void {
    this.churn.removeMember(id);
  }

  transferLeader(to: number | null): void {
    this.churn.transferLeader(to);
  }

  sigterm(id: number, restartAfterMs: number | null): void {
    this.churn.sigterm(id, restartAfterMs);
  }

  stopOperator(): void {
    this.churn.stop();
  }

  // ---------------------------------------------------------------- ChurnHost

  node(id: number): SimNode {
    return this.nodes[id]!;
  }

  boot(id: number): void {
    this.driver.boot(this.nodes[id]!);
  }

  deliverAdmin(to: NodeId, request: AdminRequest, answer: (a: NodeAnswer) => void): void {
    this.driver.onInbound(this.nodes[to]!, { kind: "admin", request, answer });
  }

  carry(rng: Rng, deliver: () => void): void {
    this.wire.carry(rng, deliver);
  }

  note(text: string): void {
    this.log.line(this.nowMs, "operator", text);
  }

  setNet(params: Partial<NetParams>): void {
    this.wire.setNet(params);
  }

  calmNet(): void {
    this.wire.calm();
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
    this.driver.clockJumped(sn);
  }

  private onFault(f: Fault): void {
    this.stats.faults += 1;
    const text = this.nemesis.run(f.action);
    this.log.line(this.nowMs, "nemesis", text);
    this.log.timeline?.fault(this.nowMs, text);
    this.log.timeline?.linksChanged(this.nowMs, this.links.describe());
  }

  // ---------------------------------------------------------------- checks and result

  private finalChecks(): void {
    if (this.idCount > 1) this.lease.finish(this.endMs);
    this.checks.final(this.view(), this.safety.committed);
  }

  view(): SimView {
    return {
      nowMs: this.nowMs,
      nodeCount: this.idCount,
      timing: this.timing,
      voters: () => this.configs.inForce().filter((m) => m.role === "voter").map((m) => m.id),
      membersOf: (id) => this.nodes[id]!.core?.status().members.map((m) => m.id) ?? null,
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
      roleSpans: this.log.roleSpans,
      notable: this.log.notable,
    };
  }

  /** Shown only in runs whose configuration changed, so other runs' summaries stay as they were. */
  private membershipCounts(): Record<string, number> {
    const m = this.configs.passed;
    return m.changes === 0 ? {} : { "membership: one voter at a time": m.changes, "membership: agreement": m.agreement };
  }

  private result(): RunResult {
    const v = this.violation;
    return buildResult({
      idCount: this.idCount,
      options: this.options,
      plan: this.plan,
      violation: v,
      endMs: v === null ? this.endMs : Math.min(this.endMs, Math.max(v.atMs, this.nowMs)),
      stats: this.stats,
      checks: { ...this.checks.counts, ...this.membershipCounts() },
      history: this.recorder.history(),
      safety: this.safety,
      lease: this.lease,
      roleSpans: this.log.roleSpans,
      timeline: this.log.timeline,
    });
  }
}
