// Client logic shared by raft-client, the RaftClient library and the simulator's clients:
// leader tracking, retries with backoff until a deadline, and sessions (client id + sequence).
//
// It is transport-free and clock-free: callers pass nowMs and a seeded random function, and act
// on the returned decision (send to a node, wait, or give up). The same seed gives the same
// retries, which the simulator relies on.

import { assertNever, SESSION_WINDOW_MAX, type ClientErrorCode, type NodeId, type SetCommand } from "../raft/index.js";

export interface RetryPolicy {
  /** Give up this long after the operation began. */
  readonly timeoutMs: number;
  /** First backoff; doubles per failed attempt up to backoffMaxMs, with jitter. */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** Attempts per operation, at most (a bound on every retry loop). */
  readonly attemptsMax: number;
  /**
   * Leadership on the move (a transfer, an election): two nodes that name each other as leader
   * are retried after one short backoff (backoffBaseMs, with jitter), not at once and not counted
   * toward the exponential growth, which counts only answers that name no leader (unreachable,
   * overloaded, no leader known; the last grows to 4 x backoffBaseMs at most). Off: every attempt counts, and a named leader is tried at once
   * (the simulator's clients, whose seeds replay the rule as it was).
   */
  readonly settleOnHints?: boolean;
}

export const DEFAULT_RETRY: RetryPolicy = { timeoutMs: 10_000, backoffBaseMs: 20, backoffMaxMs: 500, attemptsMax: 1_000 };

/** What a node answered, in transport-neutral form. */
export type NodeAnswer =
  | { readonly kind: "ok"; readonly value: string }
  | { readonly kind: "error"; readonly code: ClientErrorCode | "unknown"; readonly message: string; readonly leaderHint: NodeId | null }
  | { readonly kind: "unreachable"; readonly message: string };

export type Decision =
  | { readonly kind: "send"; readonly target: NodeId; readonly afterMs: number }
  | { readonly kind: "done"; readonly value: string }
  | { readonly kind: "give-up"; readonly message: string };

/** Tracks the last leader heard of; otherwise walks the node list round-robin. */
export class LeaderTracker {
  private leader: NodeId | null = null;
  private cursor = 0;

  constructor(readonly nodes: readonly NodeId[]) {
    if (nodes.length === 0) throw new Error("the client needs at least one node address");
  }

  get knownLeader(): NodeId | null {
    return this.leader;
  }

  target(): NodeId {
    if (this.leader !== null) return this.leader;
    return this.nodes[this.cursor % this.nodes.length]!;
  }

  heardLeader(id: NodeId | null): void {
    this.leader = id !== null && this.nodes.includes(id) ? id : null;
  }

  /** `id` failed us without naming a leader: try the next node. */
  moveOn(id: NodeId): void {
    if (this.leader === id) this.leader = null;
    const i = this.nodes.indexOf(id);
    this.cursor = i < 0 ? this.cursor + 1 : i + 1;
  }
}

/**
 * A client identity for exactly-once SETs: sequences 1, 2, 3, ... one per SET, any number of them
 * outstanding within SESSION_WINDOW_MAX. Each SET also carries the first unanswered sequence: the
 * lowest one not yet `done`, below which the state machine may forget (kv.ts). Call `done` once a
 * SET is answered or given up on, never to be sent again; a client that did not would fill the
 * window (`full`) and see its SETs refused.
 */
export class Session {
  private nextSequence = 1;
  /** The lowest sequence not done (or nextSequence when none is outstanding). */
  private low = 1;
  /** Sequences above `low` that are done. */
  private readonly doneAbove = new Set<number>();

  constructor(readonly clientId: string) {}

  /** The lowest sequence still outstanding, or the next one when none is. */
  get firstUnanswered(): number {
    return this.low;
  }

  /** True when one more SET would stretch the window past SESSION_WINDOW_MAX: wait for `done`. */
  get full(): boolean {
    return this.nextSequence - this.low >= SESSION_WINDOW_MAX;
  }

  /** `request` stamped with this session, the next sequence and the first unanswered one. */
  stampSet(request: SetCommand): SetCommand {
    const firstUnanswered = this.low;
    return { ...request, clientId: this.clientId, sequence: this.next(), firstUnanswered };
  }

  /** Takes the next sequence for a SET (stampSet, for callers that build their own request). */
  next(): number {
    return this.nextSequence++;
  }

  /** `sequence` was answered or given up on: it will never be sent again. */
  done(sequence: number): void {
    if (sequence < this.low || sequence >= this.nextSequence) return;
    if (sequence !== this.low) {
      this.doneAbove.add(sequence);
      return;
    }
    this.low += 1;
    while (this.doneAbove.delete(this.low)) this.low += 1;
  }
}

/** settleOnHints: while nodes answer "not-leader" naming no leader, the backoff stays under this many backoffBaseMs. */
const NO_LEADER_BACKOFF_BASES = 4;

/** One operation's retry loop: call `start`, then `answer` after each attempt. */
export class Attempts {
  private attempts = 0;
  /** Answers that named no leader (settleOnHints: what the backoff grows with). */
  private failures = 0;
  /** The node asked before the last one, to see two nodes naming each other. */
  private previousFrom: NodeId | null = null;
  private readonly deadlineMs: number;
  /** The last failed answer, as its node and message: the text is built only if the operation gives up. */
  private lastErrorFrom: NodeId | null = null;
  private lastErrorMessage = "";

  constructor(
    private readonly tracker: LeaderTracker,
    private readonly policy: RetryPolicy,
    private readonly random: () => number,
    startMs: number,
  ) {
    this.deadlineMs = startMs + policy.timeoutMs;
  }

  start(): Decision {
    this.attempts = 1;
    return { kind: "send", target: this.tracker.target(), afterMs: 0 };
  }

  /** The node `from` answered (or could not be reached) at nowMs. */
  answer(from: NodeId, a: NodeAnswer, nowMs: number): Decision {
    switch (a.kind) {
      case "ok":
        this.tracker.heardLeader(from);
        return { kind: "done", value: a.value };
      case "error": {
        this.lastErrorFrom = from;
        this.lastErrorMessage = a.message;
        if (a.code === "invalid") return { kind: "give-up", message: a.message };
        const hinted = a.leaderHint !== null && a.leaderHint !== from;
        if (hinted) this.tracker.heardLeader(a.leaderHint);
        else this.tracker.moveOn(from);
        const named = a.code === "not-leader" && hinted;
        if (this.policy.settleOnHints === true) return this.settle(from, named ? a.leaderHint : null, nowMs, a.code === "not-leader");
        // A named leader is worth trying at once; anything else waits a little.
        return this.retry(nowMs, named);
      }
      case "unreachable":
        this.lastErrorFrom = from;
        this.lastErrorMessage = a.message;
        this.tracker.moveOn(from);
        if (this.policy.settleOnHints === true) return this.settle(from, null, nowMs, false);
        return this.retry(nowMs, false);
      default:
        return assertNever(a);
    }
  }

  /**
   * settleOnHints: a named leader at once, unless it is the node that sent us here (a short wait);
   * else back off, by at most NO_LEADER_BACKOFF_BASES x backoffBaseMs while nodes answer that they
   * know no leader (an election is on: the leader comes within an election, so look often).
   */
  private settle(from: NodeId, named: NodeId | null, nowMs: number, notLeader: boolean): Decision {
    const bounced = named !== null && named === this.previousFrom;
    this.previousFrom = from;
    if (named === null) this.failures += 1;
    if (named !== null && !bounced) return this.retry(nowMs, true);
    const base = this.policy.backoffBaseMs;
    if (bounced) return this.retry(nowMs, false, Math.floor(base / 2 + (this.random() * base) / 2));
    const backoffMs = this.backoffMs(this.failures);
    return this.retry(nowMs, false, notLeader ? Math.min(backoffMs, NO_LEADER_BACKOFF_BASES * base) : backoffMs);
  }

  private retry(nowMs: number, immediately: boolean, backoffMs?: number): Decision {
    const afterMs = immediately ? 0 : (backoffMs ?? this.backoffMs(this.attempts));
    if (nowMs + afterMs >= this.deadlineMs || this.attempts >= this.policy.attemptsMax) {
      const lastError = this.lastErrorFrom === null ? "no answer yet" : `node ${this.lastErrorFrom}: ${this.lastErrorMessage}`;
      const why = `gave up after ${this.attempts} attempts in ${this.policy.timeoutMs} ms; last error: ${lastError}`;
      return { kind: "give-up", message: `${why}. Check that a majority of nodes is up, or raise --timeout` };
    }
    this.attempts += 1;
    return { kind: "send", target: this.tracker.target(), afterMs };
  }

  private backoffMs(count: number): number {
    const exp = Math.min(this.policy.backoffMaxMs, this.policy.backoffBaseMs * 2 ** Math.min(count, 16));
    return Math.floor(exp / 2 + (this.random() * exp) / 2);
  }

  /** How long the caller should wait for one attempt's answer before calling it unreachable. */
  attemptTimeoutMs(nowMs: number): number {
    return Math.max(1, Math.min(this.deadlineMs - nowMs, 2_000));
  }
}
