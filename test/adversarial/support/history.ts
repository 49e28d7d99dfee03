// The record of client operations in true time, and the stale-read rule.
//
// A read may return the value of a write w1 only if no other write w2 both followed w1 in real
// time (w1 answered before w2 was asked) and was acknowledged before the read was asked: that is
// the part of linearizability a lease read can break. Tests give every write a unique value (a
// SET retried with its client session keeps its value: the attempts count as one write, which
// may have taken effect at any of them, since a retry whose session was evicted applies again).

import type { ClientResult, NodeId, RequestId } from "../../../src/raft/index.js";

export interface ClientOp {
  readonly requestId: RequestId;
  readonly node: NodeId;
  readonly kind: "set" | "get";
  readonly key: string;
  /** The value a SET writes; for a GET, filled in from the answer. */
  value: string | null;
  readonly invokeTrueMs: number;
  responseTrueMs: number | null;
  result: ClientResult | null;
}

export class ClientHistory {
  readonly ops: ClientOp[] = [];
  private readonly byRequest = new Map<RequestId, ClientOp>();

  invoked(op: ClientOp): void {
    if (this.byRequest.has(op.requestId)) throw new Error(`request id ${op.requestId} used twice`);
    this.ops.push(op);
    this.byRequest.set(op.requestId, op);
  }

  answered(requestId: RequestId, result: ClientResult, trueMs: number): void {
    const op = this.byRequest.get(requestId);
    if (op === undefined) throw new Error(`an answer to request ${requestId}, which nobody asked`);
    if (op.result !== null) throw new Error(`request ${requestId} answered twice: ${JSON.stringify(op.result)} then ${JSON.stringify(result)}`);
    op.result = result;
    op.responseTrueMs = trueMs;
    if (op.kind === "get" && result.ok) op.value = result.value;
  }

  op(requestId: RequestId): ClientOp {
    const op = this.byRequest.get(requestId);
    if (op === undefined) throw new Error(`no request ${requestId}`);
    return op;
  }

  /** Every successful read that returned a value a later acknowledged write had replaced. */
  staleReads(): string[] {
    const problems: string[] = [];
    const okWrites = this.ops.filter((o) => o.kind === "set" && o.result?.ok === true);
    for (const r of this.ops) {
      if (r.kind !== "get" || r.result?.ok !== true) continue;
      // A SET retried with its session is one write asked several times: its value is unique.
      const sources = this.ops.filter((w) => w.kind === "set" && w.key === r.key && w.value === r.value);
      if (r.value !== "" && sources.length === 0) {
        problems.push(`read ${r.requestId} of "${r.key}" at node ${r.node} returned "${r.value}", never written`);
        continue;
      }
      // Any attempt may be the one that applied (a retry whose session was evicted applies again):
      // the write is surely over only once its last attempt was answered.
      const w1AnsweredMs = sources.length === 0 ? -Infinity : Math.max(...sources.map((s) => s.responseTrueMs ?? Infinity));
      if (sources.length > 0 && Math.min(...sources.map((s) => s.invokeTrueMs)) > r.responseTrueMs!) {
        problems.push(`read ${r.requestId} returned "${r.value}" before anyone asked to write it`);
      }
      for (const w2 of okWrites) {
        if (sources.includes(w2) || w2.key !== r.key) continue;
        // A retry of w2 may have been applied at w2's first attempt.
        const w2InvokedMs = Math.min(...this.ops.filter((o) => o.kind === "set" && o.key === w2.key && o.value === w2.value).map((o) => o.invokeTrueMs));
        if (w1AnsweredMs < w2InvokedMs && w2.responseTrueMs! < r.invokeTrueMs) {
          problems.push(
            `stale read: node ${r.node} answered GET ${r.key} (asked at ${r.invokeTrueMs.toFixed(3)} ms) with "${r.value}", ` +
              `but SET ${r.key}="${w2.value}" was acknowledged by node ${w2.node} at ${w2.responseTrueMs!.toFixed(3)} ms`,
          );
        }
      }
    }
    return problems;
  }
}
