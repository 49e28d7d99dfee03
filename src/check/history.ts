// Client histories: what each simulated client asked for, when, and what it was told.
//
// Times are true simulator time in ms (not a node's drifting clock). A history is plain data;
// the linearizability checker (linearizability.ts) reads it, the recorder below writes it.

export type OpId = number & { readonly __brand: "OpId" };
export const opId = (n: number): OpId => n as OpId;

export type OpKind = "set" | "get";

/**
 * - "ok": completed and the result is known.
 * - "fail": the system said the operation was definitely not applied (meaningful for SET; a
 *   failed GET carries no information and the checker drops it).
 * - "unknown": never completed or timed out. A SET may or may not take effect, at any time
 *   after its invocation; an unknown GET is dropped.
 */
export type Outcome = "ok" | "fail" | "unknown";

interface OpCommon {
  readonly id: OpId;
  readonly clientId: string;
  readonly key: string;
  readonly invokeMs: number;
  /**
   * When the client got its answer or gave up; null if it never completed.
   * Invariant: outcome "ok" or "fail" => completeMs !== null && completeMs >= invokeMs.
   */
  readonly completeMs: number | null;
  readonly outcome: Outcome;
}

export interface SetOp extends OpCommon {
  readonly kind: "set";
  /** The value written. */
  readonly value: string;
}

export interface GetOp extends OpCommon {
  readonly kind: "get";
  /** The value returned when outcome is "ok" ("" for a never-set key); "" otherwise. */
  readonly value: string;
}

export type Op = SetOp | GetOp;
export type History = readonly Op[];

/** What a client asks for, before it knows the answer. */
export type Invocation =
  | { readonly kind: "set"; readonly clientId: string; readonly key: string; readonly value: string }
  | { readonly kind: "get"; readonly clientId: string; readonly key: string };

export const HISTORY_OPS_MAX = 10_000_000;

/**
 * Records a history as the simulator runs. Operations still pending when history() is called
 * are reported as "unknown" with completeMs null.
 */
export class HistoryRecorder {
  private readonly ops: Op[] = [];

  constructor(private readonly opsMax: number = HISTORY_OPS_MAX) {}

  invoke(call: Invocation, nowMs: number): OpId {
    if (this.ops.length >= this.opsMax) {
      throw new Error(`history recorder: ${this.opsMax} operations recorded, the bound; shorten the run or raise opsMax`);
    }
    const id = opId(this.ops.length);
    this.ops.push(recordOp(id, call.kind, call.clientId, call.key, call.kind === "set" ? call.value : "", nowMs, null, "unknown"));
    return id;
  }

  /** value: for an "ok" GET, the value returned; ignored otherwise. */
  complete(id: OpId, outcome: Outcome, value: string | undefined, nowMs: number): void {
    const op = this.ops[id];
    // An op is pending exactly while its completeMs is null: complete() is what sets it.
    if (op === undefined || op.completeMs !== null) {
      throw new Error(`history recorder: operation #${id} is not pending (unknown id or completed twice); complete each invoke exactly once`);
    }
    if (nowMs < op.invokeMs) {
      throw new Error(`history recorder: operation #${id} completes at ${nowMs} ms, before its invocation at ${op.invokeMs} ms; pass true simulator time`);
    }
    this.ops[id] = recordOp(op.id, op.kind, op.clientId, op.key, completedValue(op, outcome, value), op.invokeMs, nowMs, outcome);
  }

  history(): History {
    return this.ops.slice();
  }
}

/**
 * An op record, built in one place so that every op, pending or completed, has one hidden class
 * (a spread of the pending op made a second one, and every reader of the history met both).
 */
function recordOp(id: OpId, kind: OpKind, clientId: string, key: string, value: string, invokeMs: number, completeMs: number | null, outcome: Outcome): Op {
  return { id, kind, clientId, key, value, invokeMs, completeMs, outcome } as Op;
}

function completedValue(op: Op, outcome: Outcome, value: string | undefined): string {
  if (op.kind === "set") return op.value;
  if (outcome !== "ok") return "";
  if (value === undefined) throw new Error(`history recorder: GET #${op.id} completed ok without a value; pass the value returned`);
  return value;
}
