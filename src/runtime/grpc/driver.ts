// The driver: owns one RaftNode and feeds it inputs one at a time — ticks from a timer set to
// the core's wakeAtMs, peer messages, and client calls gathered into batches — then carries out
// each output under the output contract:
//
//   1. persist (storage.persist writes and fsyncs; concurrent calls share one write);
//   2. only then send its messages and answer its clients ("release" the output);
//   3. record its events (at once: they describe what the core decided).
//
// Ordering. Outputs are released in step order: output k+1 is released after output k, even if
// k+1 needs no disk write, so a message never overtakes one the core produced before it. An output
// waits for its own persist when it carries log entries, a truncation, or a term/vote change
// (`hardStateMustSync`). While a persist is on the disk the core keeps stepping; the storage groups
// the writes queued meanwhile into one write and one fdatasync.
//
// Every hard state goes to storage; when a change of the commit index alone reaches metadata.txt,
// and how far, is storage's rule (storage.ts).
//
// Bounds: client calls per batch, client calls pending (beyond it: "overloaded"), and a timeout
// after which a pending call is answered "timeout" — every call gets exactly one answer.

import { RaftNode } from "../../raft/index.js";
import type { FullOutput } from "../../raft/index.js";
import { logIndex, requestId, type AdminRequest, type ClientCall, type ClientRequest, type Input, type Message, type NodeId, type NodeStatus, type RequestId, type Snapshot, type TimeoutNow } from "../../raft/index.js";
import { latencyTraceOn, markLatency } from "./latency-trace.js";
import type { AnsweredRequest, CallErrorCode, CallResult, DriverOptions, PeerReply, PeerRequest, PersistRequest, QueueSizes } from "./driver-options.js";

export type { AnsweredRequest, CallErrorCode, CallResult, DriverLimits, DriverOptions, DriverStorage, PeerReply, PeerRequest, PersistRequest, QueueSizes } from "./driver-options.js";
export { defaultDriverLimits } from "./driver-options.js";

interface PendingCall {
  readonly deadlineMs: number;
  readonly resolve: (r: CallResult) => void;
}

/** An incoming RPC waiting for the core's reply message to its request. */
interface RpcWaiter {
  readonly from: NodeId;
  readonly replyType: PeerReply["type"];
  readonly respond: (m: PeerReply | null) => void;
}

const SWEEP_INTERVAL_MS = 100;

export class NodeDriver {
  private readonly node: RaftNode;
  private readonly pending = new Map<RequestId, PendingCall>();
  private batch: ClientCall[] = [];
  private batchScheduled: NodeJS.Immediate | null = null;
  private nextRequestId = 1;
  private timer: NodeJS.Timeout | null = null;
  private timerAtMs = Infinity;
  private sweeper: NodeJS.Timeout | null = null;
  // releasesQueued counts outputs waiting in the release chain (ending at releaseTail). An output
  // may be released at once, skipping the chain, only when it needs no disk wait and the count is 0.
  private releaseTail: Promise<void> = Promise.resolve();
  private releasesQueued = 0;
  private stopping = false;
  private failed = false;
  private reportedLeader: NodeId | null = null;

  constructor(private readonly opts: DriverOptions) {
    this.node = RaftNode.start(opts.config, opts.storage.recovered, opts.clock.nowMs(), opts.random);
  }

  get id(): NodeId {
    return this.node.id;
  }

  start(): void {
    this.sweeper = setInterval(() => this.sweepTimeouts(), SWEEP_INTERVAL_MS);
    this.scheduleWake(this.node.wakeAtMs());
  }

  status(): NodeStatus {
    return this.node.status(this.opts.clock.nowMs());
  }

  /** The leader this node believes in, or null. */
  get leaderId(): NodeId | null {
    return this.node.leaderId;
  }

  queueSizes(): QueueSizes {
    const v = this.node.inspect();
    return { pendingCalls: this.pending.size, pendingWrites: v.pendingWriteCount, pendingReads: v.pendingReadCount };
  }

  /** Leader only: each follower's match index (what it is known to hold); null on other roles. */
  followerMatchIndexes(): ReadonlyMap<NodeId, number> | null {
    const v = this.node.inspect();
    if (v.role !== "leader") return null;
    const out = new Map<NodeId, number>();
    for (const { id } of this.node.status(this.opts.clock.nowMs()).members) {
      if (id === this.node.id) continue;
      const match = v.matchIndexOf(id);
      if (match !== null) out.set(id, match);
    }
    return out;
  }

  // ---------------------------------------------------------------- inputs

  /** A client request; resolves with its one answer. */
  submit(request: ClientRequest): Promise<CallResult> {
    return this.track((id) => {
      this.batch.push({ requestId: id, request });
      // Calls arriving in this event-loop turn join one input (group commit); a full batch goes now.
      if (this.batch.length >= this.opts.limits.clientBatchCountMax) this.flushBatch();
      else this.batchScheduled ??= setImmediate(() => this.flushBatch());
    });
  }

  /** Registers a call under a new request id (bounded, with a deadline), then hands it to `go`. */
  private track(go: (id: RequestId) => void): Promise<CallResult> {
    if (this.stopping || this.failed) return Promise.resolve(this.failure("not-leader", "this node is shutting down; ask another node"));
    if (this.pending.size >= this.opts.limits.pendingCallCountMax) {
      return Promise.resolve(this.failure("overloaded", `${this.pending.size} requests are pending on this node; retry later`));
    }
    const id = requestId(this.nextRequestId++);
    const deadlineMs = this.opts.clock.nowMs() + this.opts.limits.callTimeoutMs;
    return new Promise<CallResult>((resolve) => {
      this.pending.set(id, { deadlineMs, resolve });
      go(id);
    });
  }

  /** An operator's request (add or remove a member, transfer leadership); resolves with its one answer. */
  admin(request: AdminRequest): Promise<CallResult> {
    return this.track((id) => this.step({ type: "admin", nowMs: this.opts.clock.nowMs(), call: { requestId: id, request } }, null));
  }

  /** A peer's one-way message (TimeoutNow): stepped at once, nothing to answer. */
  deliverOneWay(m: TimeoutNow): void {
    if (this.stopping || this.failed) return;
    this.step({ type: "message", nowMs: this.opts.clock.nowMs(), message: m }, null);
  }

  /** A peer's RPC request; resolves with the core's reply, once the output is released. */
  deliverRequest(m: AnsweredRequest): Promise<PeerReply | null> {
    if (this.stopping || this.failed) return Promise.reject(new Error("the node is shutting down"));
    return new Promise((respond) => {
      const replyType = REPLY_TYPE[m.type];
      this.step({ type: "message", nowMs: this.opts.clock.nowMs(), message: m }, { from: m.from, replyType, respond });
    });
  }

  /** The answer to one of our own RPCs. */
  deliverReply(m: PeerReply): void {
    if (this.stopping || this.failed) return;
    this.step({ type: "message", nowMs: this.opts.clock.nowMs(), message: m }, null);
  }

  /** Stops taking inputs, answers every pending call, and waits for queued writes and sends. */
  async stop(): Promise<void> {
    if (this.stopping) return this.releaseTail.catch(() => undefined);
    this.stopping = true;
    this.clearTimers();
    const lost = this.failure("stepped-down", "this node shut down before answering; a SET may or may not have been applied, retry");
    for (const call of this.pending.values()) call.resolve(lost);
    this.pending.clear();
    this.batch = [];
    await this.releaseTail.catch(() => undefined);
  }

  // ---------------------------------------------------------------- stepping

  private flushBatch(): void {
    if (this.batchScheduled !== null) clearImmediate(this.batchScheduled);
    this.batchScheduled = null;
    if (this.batch.length === 0 || this.stopping || this.failed) return;
    const calls = this.batch;
    this.batch = [];
    this.step({ type: "client", nowMs: this.opts.clock.nowMs(), calls }, null);
  }

  private step(input: Input, waiter: RpcWaiter | null): void {
    if (this.failed) return;
    let out: FullOutput;
    try {
      out = this.node.step(input);
    } catch (err) {
      waiter?.respond(null);
      this.fail(err);
      return;
    }
    if (latencyTraceOn) this.markSteps(out);
    if (out.membership !== null) this.opts.onMembership?.(out.membership, membershipIndex(out));
    this.carryOut(out, waiter);
    if (out.saveSnapshot !== null) this.saveSnapshot(out.saveSnapshot);
    this.scheduleWake(out.wakeAtMs);
    if (this.node.leaderId !== this.reportedLeader) {
      this.reportedLeader = this.node.leaderId;
      this.opts.onLeaderChange?.(this.reportedLeader, this.node.inspect().term);
    }
  }

  /** Persist, then release: in step order, waiting for the disk only when the contract says so. */
  private carryOut(out: FullOutput, waiter: RpcWaiter | null): void {
    const request = this.persistRequest(out);
    const needsDisk = out.hardStateMustSync || out.installSnapshot !== null || out.truncateFrom !== null || out.append.length > 0;
    // A leader's own appends may travel while they reach its disk (it counts itself only later).
    const mustWait = needsDisk && !out.sendBeforePersist;
    const durable = request === null ? null : this.opts.storage.persist(request, mustWait ? "thread" : "pool");
    durable?.catch((err: unknown) => this.fail(err)); // a failed write stops the node, waited for or not
    if (latencyTraceOn && durable !== null && out.appendFrom !== null) {
      const last = out.appendFrom + out.append.length - 1;
      durable.then(() => markLatency("durable", last), () => undefined);
    }
    if (durable !== null) this.reportDurable(out, durable);
    if (this.releasesQueued === 0 && !mustWait) {
      this.release(out, waiter);
      return;
    }
    this.releasesQueued++;
    const gate = mustWait ? durable : null;
    this.releaseTail = this.releaseTail
      .then(() => gate)
      .then(
        () => {
          this.releasesQueued--;
          if (!this.failed) this.release(out, waiter);
        },
        (err: unknown) => {
          this.releasesQueued--;
          this.fail(err);
        },
      );
  }

  /**
   * With leaderPersistsInParallel, tells a leader when its appended entries are on the disk (it
   * counts itself toward a majority only then). Followers never need it, so they are not told.
   */
  private reportDurable(out: FullOutput, durable: Promise<void>): void {
    const last = out.append[out.append.length - 1];
    if (!this.node.wantsPersistedReports() || last === undefined || out.appendFrom === null) return;
    const index = logIndex(out.appendFrom + out.append.length - 1);
    durable.then(
      () => {
        if (!this.stopping && !this.failed) this.step({ type: "persisted", nowMs: this.opts.clock.nowMs(), index, term: last.term }, null);
      },
      () => undefined, // the failure itself is handled where the write was started
    );
  }

  /** With the latency trace on: what a step did to entries (appended by a leader, committed). */
  private markSteps(out: FullOutput): void {
    const leader = this.node.inspect().role === "leader";
    const last = out.appendFrom === null ? 0 : out.appendFrom + out.append.length - 1;
    if (leader && last > 0 && out.append.at(-1)?.command.kind === "set") markLatency("appended", last);
    if (leader) for (const a of out.applied) if (a.entry.command.kind === "set") markLatency("committed", a.index);
  }

  /** Writes a snapshot off the step's path, then tells the core (which compacts its log then). */
  private saveSnapshot(snapshot: Snapshot): void {
    this.opts.storage.saveSnapshot(snapshot).then(
      () => {
        if (!this.stopping && !this.failed) this.step({ type: "snapshot-saved", nowMs: this.opts.clock.nowMs(), index: snapshot.lastIndex }, null);
      },
      (err: unknown) => this.fail(err),
    );
  }

  /** The part of `out` for storage, or null when it has none. */
  private persistRequest(out: FullOutput): PersistRequest | null {
    if (out.hardState === null && out.installSnapshot === null && out.truncateFrom === null && out.compactTo === null && out.append.length === 0) return null;
    const { hardState, installSnapshot, truncateFrom, compactTo, appendFrom, append } = out;
    return { hardState, installSnapshot, truncateFrom, compactTo, appendFrom, append };
  }

  /** Sends the output's messages (its reply to `waiter` goes back on that RPC) and answers clients. */
  private release(out: FullOutput, waiter: RpcWaiter | null): void {
    // Events are recorded once the step is durable (as its messages leave), never before: no
    // "Vote granted" for a vote that a crash could still undo.
    for (const e of out.events) this.opts.onEvent(e);
    let answered = false;
    for (const m of out.messages) {
      if (waiter !== null && !answered && m.to === waiter.from && m.type === waiter.replyType) {
        waiter.respond(m);
        answered = true;
        if (latencyTraceOn && m.type === "append-reply" && m.success) markLatency("reply-sent", m.matchIndex);
      } else if (isPeerRequest(m)) {
        this.opts.send(m);
      }
      // A reply with no RPC to carry it has no way to travel (RPCs are request/response); the
      // peer treats it as lost and retries.
    }
    if (waiter !== null && !answered) waiter.respond(null);
    for (const r of out.replies) this.answer(r.requestId, r.result);
  }

  private answer(id: RequestId, result: CallResult): void {
    const call = this.pending.get(id);
    if (call === undefined) return; // already answered "timeout" or at shutdown
    this.pending.delete(id);
    call.resolve(result);
  }

  private failure(code: CallErrorCode, message: string): CallResult {
    const leader = this.node.leaderId;
    return { ok: false, code, message, leaderHint: leader === this.node.id ? null : leader };
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.clearTimers();
    const error = err instanceof Error ? err : new Error(String(err));
    const lost = this.failure("stepped-down", `this node failed (${error.message}); a SET may or may not have been applied, retry`);
    for (const call of this.pending.values()) call.resolve(lost);
    this.pending.clear();
    this.opts.onFatal(error);
  }

  // ---------------------------------------------------------------- timers

  private scheduleWake(wakeAtMs: number): void {
    if (this.stopping || this.failed) return;
    const now = this.opts.clock.nowMs();
    const atMs = Math.min(wakeAtMs, now + this.opts.limits.tickIntervalMaxMs);
    if (this.timer !== null && this.timerAtMs <= atMs) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAtMs = atMs;
    this.timer = setTimeout(() => this.onTimer(), Math.max(1, Math.ceil(atMs - now)));
  }

  private onTimer(): void {
    this.timer = null;
    this.timerAtMs = Infinity;
    if (this.stopping || this.failed) return;
    this.step({ type: "tick", nowMs: this.opts.clock.nowMs() }, null);
  }

  /** Answers "timeout" to calls pending past their deadline (deadlines grow with insertion order). */
  private sweepTimeouts(): void {
    const now = this.opts.clock.nowMs();
    for (const [id, call] of this.pending) {
      if (call.deadlineMs > now) break;
      this.pending.delete(id);
      call.resolve(this.failure("timeout", `no answer within ${this.opts.limits.callTimeoutMs} ms; the request may or may not have been applied, retry`));
    }
  }

  private clearTimers(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.sweeper !== null) clearInterval(this.sweeper);
    if (this.batchScheduled !== null) clearImmediate(this.batchScheduled);
    this.timer = null;
    this.sweeper = null;
    this.batchScheduled = null;
  }
}

/** Narrowing helper for callers: the request types a peer can send. */
export function isPeerRequest(m: Message): m is PeerRequest {
  return m.type === "vote-request" || m.type === "append-request" || m.type === "snapshot-request" || m.type === "timeout-now";
}

/** The index of the configuration an output switched to (its config-changed event says). */
function membershipIndex(out: FullOutput): number {
  for (const e of out.events) if (e.kind === "config-changed") return e.index;
  return 0;
}

const REPLY_TYPE = { "vote-request": "vote-reply", "append-request": "append-reply", "snapshot-request": "snapshot-reply" } as const satisfies Record<AnsweredRequest["type"], PeerReply["type"]>;
