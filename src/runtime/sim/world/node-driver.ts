// Steps the simulated nodes as raft-node's driver steps a real one: an input goes to the core,
// then the output is carried out in the contract's order (persist, then send, then answer
// clients), the disk synced when the contract asks, the node's timer armed again, and the
// checkers shown every new state. Crashes the nemesis armed strike here, between a step's disk
// write and its sends. Booting and crashing a node happen here too, since they start and end
// what the steps rely on (the core, its timer, its lease window).

import { logIndex, requestId, term, type ClientCall, type ClientReply, type FullOutput, type Input, type Message, type RaftEvent, type RaftNode, type RequestId, type Snapshot } from "../../../raft/index.js";
import { WindowSlot, leaseWindow, type LeaseChecker } from "../checks/lease-check.js";
import type { MembershipChecker } from "../checks/membership-check.js";
import type { SafetyChecker } from "../checks/safety.js";
import { PropertyViolation, violated } from "../checks/violation.js";
import type { CrashPoint } from "../faults/faults.js";
import type { RunLog } from "../reports/run-log.js";
import type { RunStats } from "../reports/results.js";
import { toAnswer } from "./client.js";
import type { Rng } from "./prng.js";
import type { Scheduler } from "./sim-event.js";
import { PendingCalls, type PendingCall } from "./pending-calls.js";
import { INBOX_MAX, type Inbound, type SimNode } from "./sim-node.js";
import type { Wire } from "./wire.js";

const STRIKE_TEXT = { send: "sends", append: "grows its log", commit: "commits as leader", elected: "makes it leader" } as const;

function crashStrikes(on: Exclude<CrashPoint, "now">, out: FullOutput, sends: boolean): boolean {
  switch (on) {
    case "send":
      return sends;
    case "append":
      return out.appendFrom !== null;
    case "commit":
      return out.applied.length > 0 && hasEvent(out, "leader-committed");
    case "elected":
      return hasEvent(out, "became-leader");
  }
}

function hasEvent(out: FullOutput, kind: RaftEvent["kind"]): boolean {
  for (let k = 0; k < out.events.length; k++) if (out.events[k]!.kind === kind) return true;
  return false;
}

/** The news that a node's disk sync finished (it carries nothing, so one object serves all). */
const PERSISTED: Inbound = { kind: "persisted" };

const TICK_MIN_STEP_MS = 1e-3;

/**
 * No tick wanted. A module constant, not the global Infinity, in the per-step timer code: a read
 * of the global in a branch V8 had not seen taken compiles to a generic lookup, and a time that
 * meets it (armTick's) was then boxed as a heap number at every step (see heap.ts).
 */
const NEVER_MS = Infinity;

/** What the reused client input holds between steps (nothing to keep alive). */
const NO_CALL: ClientCall = { requestId: requestId(0), request: { kind: "get", key: "" } };

/** An input filled in place for each step of its kind (see NodeDriver.messageInput). */
interface ReusedInput<T extends "message" | "tick" | "client"> {
  readonly type: T;
  nowMs: number;
  message: Message | null;
  readonly calls: ClientCall[];
}

/**
 * The reused inputs are built alike, with every field any of them needs, so that they share one
 * hidden class: the core's first reads of an input (its time, its type) then meet four shapes
 * (these, persisted, snapshot-saved, admin) and stay direct, where six made them generic lookups.
 */
function reusedInput<T extends "message" | "tick" | "client">(type: T, calls: ClientCall[]): ReusedInput<T> {
  return { type, nowMs: 0, message: null, calls };
}

export class NodeDriver {
  /** Scratch for the lease window of the node just stepped (the checker copies what it keeps). */
  private readonly windowSlot = new WindowSlot();
  private nextRequestId = 1;
  /** The client calls the nodes hold, by the request ids above. */
  private readonly calls = new PendingCalls();
  /**
   * The inputs of the commonest steps, filled in place: the core reads an input during its step
   * and keeps nothing of it (it keeps the message, never the wrapper).
   */
  private readonly messageInput = reusedInput("message", []);
  private readonly tickInput = reusedInput("tick", []);
  /** A client's request, one call at a time (the core keeps the call, never the list or the wrapper). */
  private readonly clientInput = reusedInput("client", [NO_CALL]);

  constructor(
    private readonly loop: Scheduler,
    private readonly nodeCount: number,
    private readonly wire: Wire,
    private readonly log: RunLog,
    private readonly stats: RunStats,
    private readonly safety: SafetyChecker,
    private readonly lease: LeaseChecker,
    private readonly diskRng: Rng,
    private readonly configs: MembershipChecker,
  ) {}

  // ---------------------------------------------------------------- inputs

  onTick(sn: SimNode, gen: number): void {
    if (gen !== sn.tickGen) return;
    sn.tickAtMs = NEVER_MS;
    if (sn.state !== "up") return; // a paused node ticks when it resumes
    if (sn.tickWantMs > this.loop.nowMs) {
      if (sn.tickWantMs !== NEVER_MS) this.queueTick(sn, sn.tickWantMs);
      return;
    }
    this.stepTick(sn);
  }

  /** The common case, without wrapping the message: a peer message to a running node. */
  onPeer(sn: SimNode, message: Message): void {
    if (sn.state === "up") this.stepMessage(sn, message);
    else this.onInbound(sn, { kind: "peer", message });
  }

  /** A client's request; to a running node, without wrapping it. */
  onRequest(sn: SimNode, call: PendingCall): void {
    if (sn.state === "up") this.stepRequest(sn, requestId(this.nextRequestId++), call);
    else this.onInbound(sn, { kind: "request", call });
  }

  onInbound(sn: SimNode, input: Inbound): void {
    switch (sn.state) {
      case "crashed":
        if (input.kind === "request") this.wire.toClient(input.call.client, input.call.attempt, sn.id, { kind: "unreachable", message: "connection refused" }, false);
        if (input.kind === "admin") input.answer({ kind: "unreachable", message: "connection refused" });
        return;
      case "paused":
        if (sn.inbox.length < INBOX_MAX) sn.inbox.push(input);
        return;
      case "up":
        return this.deliver(sn, input);
    }
  }

  onFsync(sn: SimNode, incarnation: number): void {
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

  private deliver(sn: SimNode, input: Inbound): void {
    if (input.kind === "peer") return this.stepMessage(sn, input.message);
    if (input.kind === "persisted") return this.notePersisted(sn);
    if (input.kind === "snapshot-saved") return this.step(sn, { type: "snapshot-saved", nowMs: this.local(sn), index: input.index });
    const rid = requestId(this.nextRequestId++);
    if (input.kind === "admin") {
      sn.pendingAdmin.set(rid, input.answer);
      return this.step(sn, { type: "admin", nowMs: this.local(sn), call: { requestId: rid, request: input.request } });
    }
    this.stepRequest(sn, rid, input.call);
  }

  /** A client's request to a running node: it is stepped with the request's own id, its answer awaited by the call. */
  private stepRequest(sn: SimNode, rid: RequestId, call: PendingCall): void {
    this.calls.add(rid, call, this.stats.steps + 1, sn.incarnation);
    const input = this.clientInput;
    input.nowMs = this.local(sn);
    input.calls[0] = { requestId: rid, request: call.request }; // a new call each time: a leader may hold it (a GET waiting for its lease)
    this.step(sn, input);
    input.calls[0] = NO_CALL;
  }

  /**
   * Tells the core how far its log is durable (only a leader of the same term cares), when that
   * moved since the last report: a sync that made only a hard state durable (a commit index) has
   * no news, as the gRPC runtime reports only writes that appended.
   */
  private notePersisted(sn: SimNode): void {
    const last = sn.disk.durableLastIndex;
    const t = sn.disk.durableLastTerm;
    if (last === 0 || sn.core === null || !sn.core.wantsPersistedReports()) return;
    if (last === sn.reportedIndex && t === sn.reportedTerm) return;
    sn.reportedIndex = last;
    sn.reportedTerm = t;
    this.step(sn, { type: "persisted", nowMs: this.local(sn), index: logIndex(last), term: term(t) });
  }

  // ---------------------------------------------------------------- a step and its output

  private stepMessage(sn: SimNode, message: Message): void {
    const input = this.messageInput;
    input.nowMs = this.local(sn);
    input.message = message;
    this.step(sn, input as Input);
    input.message = null; // the queue, not this slot, holds messages
  }

  private stepTick(sn: SimNode): void {
    this.tickInput.nowMs = this.local(sn);
    this.step(sn, this.tickInput);
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
    this.configs.afterStep(sn.id, core, out);
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
    this.log.afterStep(sn, core.inspect(), out.events);
    if (sn.crashOn !== null && crashStrikes(sn.crashOn, out, sends)) {
      this.sync(sn);
      return this.crashNow(sn, `at a step that ${STRIKE_TEXT[sn.crashOn]}, after its disk write, before its sends`);
    }
    // Indexed loops: for-of over the output's lists (frozen empty ones or filled ones) was
    // measured to allocate an iterator per step here.
    for (let k = 0; k < out.messages.length; k++) this.wire.sendPeer(sn.id, out.messages[k]!);
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
    if (had && sn.core?.wantsPersistedReports() === true) this.loop.schedule(this.loop.nowMs, sn.fsyncEvent);
  }

  /** The leader's own write goes to disk while its messages are already out (thesis §10.2.1). */
  private syncLater(sn: SimNode): void {
    if (sn.syncPending) return;
    sn.syncPending = true;
    const latencyMs = this.diskRng.chance(0.05) ? this.diskRng.between(10, 50) : this.diskRng.between(0.1, 3);
    this.loop.schedule(this.loop.nowMs + latencyMs, sn.fsyncEvent);
  }

  /** A node's own snapshot goes to disk in the background; a crash before it is done loses it. */
  private saveSnapshotLater(sn: SimNode, snapshot: Snapshot): void {
    const latencyMs = this.diskRng.chance(0.1) ? this.diskRng.between(50, 500) : this.diskRng.between(1, 20);
    this.loop.schedule(this.loop.nowMs + latencyMs, { type: "snapshot-saved", node: sn.id, incarnation: sn.incarnation, snapshot });
  }

  onSnapshotSaved(sn: SimNode, incarnation: number, snapshot: Snapshot): void {
    if (incarnation !== sn.incarnation || !sn.live) return;
    sn.disk.saveSnapshot(snapshot);
    this.onInbound(sn, { kind: "snapshot-saved", index: snapshot.lastIndex });
  }

  private reply(sn: SimNode, r: ClientReply): void {
    const call = this.calls.take(r.requestId, sn.id, sn.incarnation);
    if (call === undefined) return this.adminReply(sn, r);
    if (r.result.ok && call.request.kind === "get") {
      this.stats.readsServed += 1;
      if (this.nodeCount > 1) this.lease.readServed(sn.id, this.loop.nowMs);
    }
    this.wire.toClient(call.client, call.attempt, sn.id, toAnswer(r.result), call.receivedStep === this.stats.steps);
  }

  private adminReply(sn: SimNode, r: ClientReply): void {
    const answer = sn.pendingAdmin.get(r.requestId);
    if (answer === undefined) return;
    sn.pendingAdmin.delete(r.requestId);
    answer(toAnswer(r.result));
  }

  /** Hands the lease checker when this node may serve lease reads from now on, in true time. */
  private updateLease(sn: SimNode, core: RaftNode): void {
    if (core.inspect().role !== "leader" && this.lease.idle(sn.id)) return; // no window before or after: nothing changes
    const w = leaseWindow(core, sn.clock, this.loop.nowMs, this.windowSlot);
    if (this.nodeCount > 1) this.lease.update(sn.id, this.loop.nowMs, w);
  }

  // ---------------------------------------------------------------- the node's timer

  /**
   * Sets the node's timer to its wake time. A timer is only ever moved earlier in the queue: when
   * the wake time moves later (a follower hearing a heartbeat), the queued timer stays, and when
   * it fires early it is set again for the wanted time, with no step. The queue stays small.
   */
  private armTick(sn: SimNode, wake: number): void {
    const nowMs = this.loop.nowMs;
    const t = wake === NEVER_MS ? NEVER_MS : Math.max(sn.clock.trueAt(wake, nowMs), nowMs + TICK_MIN_STEP_MS);
    sn.tickWantMs = t;
    if (t >= sn.tickAtMs || t === NEVER_MS) return;
    this.queueTick(sn, t);
  }

  private queueTick(sn: SimNode, t: number): void {
    sn.tickAtMs = t;
    sn.tickGen += 1;
    this.loop.schedule(t, { type: "tick", node: sn.id, gen: sn.tickGen });
  }

  private local(sn: SimNode): number {
    return sn.clock.localAt(this.loop.nowMs);
  }

  // ---------------------------------------------------------------- start, stop, resume

  /** Starts the node's process from its disk (the checker first learns what survived). */
  boot(sn: SimNode): void {
    const nowMs = this.loop.nowMs;
    const persisted = sn.disk.read();
    this.safety.afterRestart(sn.id, persisted);
    let core: RaftNode;
    try {
      core = sn.boot(nowMs);
    } catch (e) {
      return this.coreFailure(sn, e);
    }
    this.configs.afterBoot(sn.id, persisted, core);
    this.log.timeline?.nodeState(sn.id, nowMs, "up");
    this.log.roleChanged(sn, core.inspect().role, core.inspect().term);
    this.armTick(sn, core.wakeAtMs());
  }

  /** The machine loses power (or, with `keepPageCache`, only the process dies). */
  crashNow(sn: SimNode, how: string, keepPageCache = false): void {
    const nowMs = this.loop.nowMs;
    this.stats.crashes += 1;
    if (how !== "") this.log.line(nowMs, `n${sn.id}`, `crashed ${how}`);
    if (this.nodeCount > 1) this.lease.update(sn.id, nowMs, null);
    sn.kill(keepPageCache);
    this.log.roleChanged(sn, null, -1);
    this.log.timeline?.nodeState(sn.id, nowMs, "crashed");
  }

  /** A paused node runs again: what reached it meanwhile is stepped in order, then a tick. */
  resume(sn: SimNode): void {
    sn.state = "up";
    this.log.timeline?.nodeState(sn.id, this.loop.nowMs, "up");
    const waiting = sn.inbox.splice(0);
    for (const input of waiting) {
      if (sn.state !== "up") return;
      this.deliver(sn, input);
    }
    if (sn.state === "up") this.stepTick(sn);
  }

  /** The node's clock jumped: its lease window and its timer, in true time, move with it. */
  clockJumped(sn: SimNode): void {
    if (sn.core === null) return;
    this.updateLease(sn, sn.core);
    if (sn.state === "up") this.armTick(sn, sn.core.wakeAtMs());
  }
}
