// The simulated operator: it asks the cluster for membership changes and leadership transfers,
// one request at a time and in the order the fault schedule gives them, as a person with
// `raft-client member add` would. Each request goes to the node the operator believes leads and
// is retried on not-leader, overloaded and silence with the client's own logic (LeaderTracker and
// Attempts from src/client/retry.ts); "invalid" (already a member, not a member, no other voter)
// ends it. What happened goes to the trace.

import { Attempts, LeaderTracker, type Decision, type NodeAnswer, type RetryPolicy } from "../../../client/retry.js";
import type { AdminRequest, NodeId } from "../../../raft/index.js";
import type { Rng } from "./prng.js";

export interface OperatorHost {
  readonly nowMs: number;
  /** Sends `request` to node `to` over the network; `answer` gets its reply (or a refused connection). */
  sendAdmin(to: NodeId, request: AdminRequest, answer: (a: NodeAnswer) => void): void;
  /** Runs `f` at true time atMs. */
  at(atMs: number, f: () => void): void;
  note(text: string): void;
}

/** An operator waits longer than a client: a change waits for the previous one and the promotion after it. */
export const OPERATOR_RETRY: RetryPolicy = { timeoutMs: 20_000, backoffBaseMs: 20, backoffMaxMs: 500, attemptsMax: 1_000 };

export function describeAdmin(r: AdminRequest): string {
  switch (r.kind) {
    case "add-member":
      return `add node ${r.id}`;
    case "remove-member":
      return `remove node ${r.id}`;
    case "transfer-leader":
      return r.to === null ? "transfer leadership" : `transfer leadership to node ${r.to}`;
  }
}

interface Current {
  readonly request: AdminRequest;
  readonly attempts: Attempts;
  /** An attempt is on its way (its answer or its timeout is awaited). */
  awaiting: boolean;
}

export class SimOperator {
  private readonly queue: AdminRequest[] = [];
  private current: Current | null = null;
  private readonly tracker: LeaderTracker;
  private attemptNo = 0;
  private stopped = false;

  constructor(
    private readonly host: OperatorHost,
    ids: readonly NodeId[],
    private readonly rng: Rng,
  ) {
    this.tracker = new LeaderTracker(ids);
  }

  get busy(): boolean {
    return this.current !== null || this.queue.length > 0;
  }

  request(r: AdminRequest): void {
    if (this.stopped) return;
    this.queue.push(r);
    if (this.current === null) this.next();
  }

  /** Faults stop: what is queued is dropped, and the request under way is no longer retried. */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    if (this.current !== null) this.host.note(`operator: ${describeAdmin(this.current.request)}: abandoned, faults stop`);
    this.current = null;
    this.attemptNo += 1;
  }

  private next(): void {
    const request = this.queue.shift();
    if (request === undefined) return;
    const attempts = new Attempts(this.tracker, OPERATOR_RETRY, this.rng.fn, this.host.nowMs);
    this.current = { request, attempts, awaiting: false };
    this.follow(attempts.start(), null);
  }

  private follow(d: Decision, from: NodeId | null): void {
    const cur = this.current!;
    switch (d.kind) {
      case "send":
        if (d.afterMs <= 0) return this.send(d.target);
        {
          const n = this.attemptNo;
          this.host.at(this.host.nowMs + d.afterMs, () => {
            if (this.current === cur && n === this.attemptNo) this.send(d.target);
          });
        }
        return;
      case "done":
        return this.finish(`done by node ${from}${d.value === "" ? "" : ` (${d.value})`}`);
      case "give-up":
        return this.finish(`given up: ${d.message}`);
    }
  }

  private send(target: NodeId): void {
    const cur = this.current!;
    const n = ++this.attemptNo;
    cur.awaiting = true;
    this.host.sendAdmin(target, cur.request, (a) => this.onAnswer(n, target, a));
    this.host.at(this.host.nowMs + cur.attempts.attemptTimeoutMs(this.host.nowMs), () => this.onAnswer(n, target, { kind: "unreachable", message: "no answer in time" }));
  }

  private onAnswer(n: number, from: NodeId, a: NodeAnswer): void {
    const cur = this.current;
    if (cur === null || !cur.awaiting || n !== this.attemptNo) return;
    cur.awaiting = false;
    this.follow(cur.attempts.answer(from, a, this.host.nowMs), from);
  }

  private finish(what: string): void {
    this.host.note(`operator: ${describeAdmin(this.current!.request)}: ${what}`);
    this.current = null;
    this.next();
  }
}
