// Simulated clients. Each is one session (client id + sequence) with at most one operation
// outstanding, and it runs the same client logic as raft-client: LeaderTracker, Session and
// Attempts from src/client/retry.ts. Every operation goes into the history with its invocation
// and completion in true time; one that never completes stays "unknown".
//
// A SET carries its session's first unanswered sequence, which for one operation at a time is the
// SET's own sequence. Clients whose id ends in an odd digit report it lazily instead, rounded down
// to 1, 5, 9, ... (a lower bound is always allowed): the state machines then remember up to four
// applied sequences of theirs, and a retry is recognised inside that window rather than by the
// bound alone, on the nodes and in the checker's own state machine alike.
//
// A client draws random SETs and GETs over a few keys (so they conflict), or follows a script of
// labelled operations that a scenario checks afterwards.

import { Attempts, DEFAULT_RETRY, LeaderTracker, Session, type Decision, type NodeAnswer, type RetryPolicy } from "../../../client/retry.js";
import type { ClientRequest, ClientResult, NodeId } from "../../../raft/index.js";
import type { HistoryRecorder, OpId, Outcome } from "../../../check/history.js";
import { TimerSlot } from "./heap.js";
import type { Rng } from "./prng.js";
import type { ClientWake } from "./sim-event.js";

export interface Workload {
  readonly count: number;
  readonly thinkMeanMs: number;
  readonly keyCount: number;
  readonly setRatio: number;
  readonly startMs: number;
  readonly stopMs: number;
  /** Windows [from, to) in which no client starts an operation (a lull in traffic). */
  readonly lulls?: readonly (readonly [number, number])[];
}

/**
 * The workload built as one object literal, with every field in one order. The plans build theirs
 * by spreading (with lulls or without, a rate applied over it or not), so runs met workloads of
 * several hidden classes, and the client's reads of one at every operation (keyCount, setRatio,
 * thinkMeanMs, stopMs, lulls) kept meeting a class their optimized code had not seen: V8 threw
 * that code away and compiled it again, still in the third and fourth rounds of the bench's seeds.
 */
function oneShapeWorkload(w: Workload): Workload {
  // Typed with every field required, so a field added to Workload and not copied here fails to compile.
  const copy: { [K in keyof Required<Workload>]: Workload[K] } = { count: w.count, thinkMeanMs: w.thinkMeanMs, keyCount: w.keyCount, setRatio: w.setRatio, startMs: w.startMs, stopMs: w.stopMs, lulls: w.lulls };
  return copy;
}

/** One operation of a scenario's script. "direct": a single attempt to the simulator's leader. */
export interface ScriptedOp {
  readonly atMs: number;
  readonly label: string;
  readonly kind: "set" | "get";
  readonly key: string;
  readonly value: string;
  readonly mode: "direct" | "retry";
}

export interface OpResult {
  readonly label: string;
  readonly kind: "set" | "get";
  readonly outcome: Outcome;
  readonly value: string;
  readonly invokeMs: number;
  readonly completeMs: number;
  /** The node whose answer ended the operation (null: none answered). */
  readonly node: NodeId | null;
  /** The node answered in the very step that received the request (no round to followers). */
  readonly immediate: boolean;
}

/** What a client needs from the simulator. */
export interface ClientHost {
  readonly recorder: HistoryRecorder;
  sendRequest(client: SimClient, target: NodeId, request: ClientRequest, attempt: number): void;
  wake(client: SimClient, atMs: number, token: number): void;
  currentLeader(): NodeId | null;
}

type Phase = "idle" | "backoff" | "awaiting" | "stopped";

const DIRECT_TIMEOUT_MS = 2_000;

/** What an attempt whose time ran out was told (answers are read, never changed: one serves all). */
const NO_ANSWER: NodeAnswer = { kind: "unreachable", message: "no answer in time" };

/**
 * Key i's name, one string for all its uses: a string built anew for every operation made every
 * map keyed by it (each node's state machine, the checkers') hash it once more and compare it
 * character by character with the one it holds.
 */
const KEY_NAMES: string[] = [];
function keyName(i: number): string {
  return (KEY_NAMES[i] ??= `k${i}`);
}

export class SimClient {
  readonly session: Session;
  readonly tracker: LeaderTracker;
  readonly results = new Map<string, OpResult>();
  private phase: Phase = "idle";
  /**
   * The operation under way, in fields of the client rather than an object per operation: its
   * request (null: none under way), its history id, its retry loop (null for a direct probe), its
   * label and when it began.
   */
  private request: ClientRequest | null = null;
  private opId = 0 as OpId;
  private attempts: Attempts | null = null;
  private label: string | null = null;
  private invokeMs = 0;
  private target: NodeId | null = null;
  private token = 0;
  private attemptNo = 0;
  private opCount = 0;
  private scriptAt = 0;
  /** Its random operations (null: it follows a script), in one shape (see oneShapeWorkload). */
  private readonly workload: Workload | null;
  /** Reports its first unanswered sequence rounded down (see the top of this file). */
  private readonly lazy: boolean;
  /**
   * This client's one timer in the simulator's queue, re-armed in place with the token of the
   * latest wake-up it asked for (the host's wake): held here, so that no lookup finds it.
   */
  readonly timer: TimerSlot<ClientWake>;

  constructor(
    readonly clientId: string,
    nodes: readonly NodeId[],
    private readonly host: ClientHost,
    private readonly rng: Rng,
    /** The stream its requests' and answers' network delays are drawn from (the wire's), so that its traffic draws nothing from the peers' stream. */
    readonly netRng: Rng,
    workload: Workload | null,
    private readonly script: readonly ScriptedOp[] = [],
    private readonly policy: RetryPolicy = DEFAULT_RETRY,
  ) {
    this.workload = workload === null ? null : oneShapeWorkload(workload);
    this.session = new Session(clientId);
    this.tracker = new LeaderTracker(nodes);
    this.lazy = /[13579]$/.test(clientId);
    this.timer = new TimerSlot<ClientWake>({ type: "client", client: this, token: 0 });
  }

  get pending(): boolean {
    return this.request !== null;
  }

  start(): void {
    const first = this.workload !== null ? this.workload.startMs + this.rng.exponential(this.workload.thinkMeanMs) : this.script[0]?.atMs;
    if (first === undefined) this.phase = "stopped";
    else this.sleepUntil(first);
  }

  /** A timer this client set went off. */
  onWake(token: number, nowMs: number): void {
    if (token !== this.token) return;
    switch (this.phase) {
      case "idle":
        return this.beginOp(nowMs);
      case "backoff":
        return this.sendAttempt(nowMs);
      case "awaiting":
        return this.onAnswer(this.attemptNo, this.target!, NO_ANSWER, nowMs, false);
      case "stopped":
        return;
    }
  }

  /** A node answered attempt `attempt` (or the connection to it failed). */
  onAnswer(attempt: number, from: NodeId, answer: NodeAnswer, nowMs: number, immediate: boolean): void {
    const request = this.request;
    if (this.phase !== "awaiting" || attempt !== this.attemptNo || request === null) return;
    if (this.attempts === null) return this.finishDirect(request, from, answer, nowMs, immediate);
    const decision = this.attempts.answer(from, answer, nowMs);
    this.follow(decision, from, nowMs, immediate);
  }

  private beginOp(nowMs: number): void {
    const lullEndMs = this.lullEndMs(nowMs);
    if (lullEndMs !== null) return this.sleepUntil(lullEndMs);
    const w = this.workload;
    if (w !== null) return nowMs >= w.stopMs ? this.stop() : this.beginRandomOp(w, nowMs);
    const s = this.script[this.scriptAt++];
    if (s === undefined) return this.stop();
    this.invoke(s.kind, s.key, s.value, s.label, s.mode === "direct", nowMs);
  }

  /** A SET or a GET of a random key (drawn in that order: key, then kind). */
  private beginRandomOp(w: Workload, nowMs: number): void {
    this.opCount += 1;
    const key = keyName(this.rng.int(0, w.keyCount - 1));
    if (this.rng.chance(w.setRatio)) this.invoke("set", key, `${this.clientId}.${this.opCount}`, null, false, nowMs);
    else this.invoke("get", key, "", null, false, nowMs);
  }

  /** Records the invocation and sends the first attempt (direct: to the simulator's leader, once). */
  private invoke(kind: "set" | "get", key: string, value: string, label: string | null, direct: boolean, nowMs: number): void {
    this.opId = this.host.recorder.invoke(kind === "set" ? { kind, clientId: this.clientId, key, value } : { kind, clientId: this.clientId, key }, nowMs);
    this.request = kind === "set" ? this.stampSet(key, value) : ({ kind, key } as const);
    const attempts = direct ? null : new Attempts(this.tracker, this.policy, this.rng.fn, nowMs);
    this.attempts = attempts;
    this.label = label;
    this.invokeMs = nowMs;
    if (attempts === null) {
      this.target = this.host.currentLeader() ?? this.tracker.target();
      this.sendAttempt(nowMs);
    } else {
      this.follow(attempts.start(), null, nowMs, false);
    }
  }

  private stop(): void {
    this.phase = "stopped";
  }

  /** The end of the lull nowMs falls in, if it falls in one (the first that holds it). */
  private lullEndMs(nowMs: number): number | null {
    const lulls = this.workload?.lulls;
    if (lulls === undefined) return null;
    for (let k = 0; k < lulls.length; k++) if (nowMs >= lulls[k]![0] && nowMs < lulls[k]![1]) return lulls[k]![1];
    return null;
  }

  /**
   * Built as one literal, with the fields in the order of the core's own SET command: requests and
   * commands then share a hidden class, and the core's reads of them (formatOperation takes both)
   * stay direct. Made by the session's spread, each request had a hidden class of its own; the
   * session's sequences are read as its stampSet reads them (the first unanswered, then the next).
   */
  private stampSet(key: string, value: string): ClientRequest {
    const f = this.session.firstUnanswered;
    const firstUnanswered = this.lazy ? f - ((f - 1) % 4) : f;
    return { kind: "set", key, value, clientId: this.session.clientId, sequence: this.session.next(), firstUnanswered };
  }

  private follow(d: Decision, from: NodeId | null, nowMs: number, immediate: boolean): void {
    switch (d.kind) {
      case "send":
        this.target = d.target;
        if (d.afterMs <= 0) return this.sendAttempt(nowMs);
        this.phase = "backoff";
        return this.sleepUntil(nowMs + d.afterMs);
      case "done":
        return this.finish("ok", d.value, from, nowMs, immediate);
      case "give-up":
        // The node may have applied a SET it never confirmed: its outcome stays unknown.
        return this.finish(this.request?.kind === "set" ? "unknown" : "fail", "", from, nowMs, false);
    }
  }

  private finishDirect(request: ClientRequest, from: NodeId, a: NodeAnswer, nowMs: number, immediate: boolean): void {
    if (a.kind === "ok") return this.finish("ok", a.value, from, nowMs, immediate);
    const definite = a.kind === "error" && a.code !== "stepped-down" && a.code !== "unknown";
    const outcome: Outcome = request.kind === "get" || definite ? "fail" : "unknown";
    this.finish(outcome, "", a.kind === "unreachable" ? null : from, nowMs, false);
  }

  private sendAttempt(nowMs: number): void {
    this.attemptNo += 1;
    this.phase = "awaiting";
    this.host.sendRequest(this, this.target!, this.request!, this.attemptNo);
    const timeoutMs = this.attempts === null ? DIRECT_TIMEOUT_MS : this.attempts.attemptTimeoutMs(nowMs);
    this.sleepUntil(nowMs + timeoutMs);
  }

  private finish(outcome: Outcome, value: string, from: NodeId | null, nowMs: number, immediate: boolean): void {
    const request = this.request!;
    if (request.kind === "set") this.session.done(request.sequence); // answered or given up: never sent again
    this.host.recorder.complete(this.opId, outcome, outcome === "ok" ? value : undefined, nowMs);
    const label = this.label;
    if (label !== null) this.results.set(label, { label, kind: request.kind, outcome, value, invokeMs: this.invokeMs, completeMs: nowMs, node: from, immediate });
    this.request = null;
    this.attempts = null;
    this.phase = "idle";
    this.attemptNo += 1; // late answers to the finished op are ignored
    const w = this.workload;
    const next = w !== null ? nowMs + this.rng.exponential(w.thinkMeanMs) : this.script[this.scriptAt]?.atMs;
    if (next === undefined || (w !== null && next >= w.stopMs)) this.phase = "stopped";
    else this.sleepUntil(Math.max(nowMs, next));
  }

  private sleepUntil(atMs: number): void {
    this.token += 1;
    this.host.wake(this, atMs, this.token);
  }
}

/** Every SET's answer, and a GET's of a key never set (answers are read, never changed: one serves all). */
const OK_EMPTY: NodeAnswer = { kind: "ok", value: "" };

/** A node's reply, in the client logic's transport-neutral form. */
export function toAnswer(result: ClientResult): NodeAnswer {
  if (result.ok) return result.value === "" ? OK_EMPTY : { kind: "ok", value: result.value };
  return { kind: "error", code: result.code, message: result.message, leaderHint: result.leaderHint };
}
