// Preparing one key's ops for the search: which ops it must place, may place or can ignore, in
// what interval each may take effect, and small ids for the register values (the reductions in
// linearizability.ts's header).

import type { Op } from "../history.js";
import { atDouble, atInt, compareNumbers } from "./arrays.js";
import { INITIAL_VALUE_ID, UNREAD_VALUE_ID, valueTable, wasRead, type ValueTable } from "./values.js";

/** One op as the search sees it. */
export interface SearchOp {
  readonly op: Op;
  readonly isGet: boolean;
  readonly valueId: number; // see values.ts
  readonly required: boolean;
  readonly callMs: number;
  readonly returnMs: number;
}

export interface PreparedKey {
  readonly searchOps: readonly SearchOp[]; // in call order
  readonly readCounts: Int32Array; // per value id: GETs that returned it
  /**
   * Per value id, 1 if the register can hold the value during one stretch only: one SET
   * writes it, or it is the initial "" and no SET writes "". Once such a value is overwritten
   * it never returns, so it must not be overwritten while a GET of it is unplaced, and once
   * all its GETs are placed it is as good as an unread value.
   */
  readonly heldOnce: Uint8Array;
}

export function prepareKey(ops: readonly Op[], values: ValueTable = valueTable(ops)): PreparedKey {
  const searchOps: SearchOp[] = [];
  for (let k = 0; k < ops.length; k++) {
    const s = searchOp(ops[k]!, atInt(values.idOfOp, k), values);
    if (s !== null) searchOps.push(s);
  }
  // Stable: ties keep history order. A recorded history is in call order already, so it is
  // sorted only when it is not (the sort called its comparator once or more per op regardless).
  if (!inCallOrder(searchOps)) searchOps.sort((a, b) => compareNumbers(a.callMs, b.callMs));
  const readCounts = new Int32Array(values.count);
  const sourceCounts = new Int32Array(values.count);
  sourceCounts[INITIAL_VALUE_ID] = 1;
  for (const s of searchOps) {
    const counts = s.isGet ? readCounts : sourceCounts;
    counts[s.valueId] = atInt(counts, s.valueId) + 1;
  }
  // A loop into the bytes: map with an arrow, then a copy into bytes, called a closure per value.
  const heldOnce = new Uint8Array(values.count);
  for (let valueId = 0; valueId < values.count; valueId++) if (valueId !== UNREAD_VALUE_ID && atInt(sourceCounts, valueId) === 1) heldOnce[valueId] = 1;
  return { searchOps, readCounts, heldOnce };
}

function inCallOrder(searchOps: readonly SearchOp[]): boolean {
  for (let k = 1; k < searchOps.length; k++) if (searchOps[k - 1]!.callMs > searchOps[k]!.callMs) return false;
  return true;
}

/** The op as the search sees it: where it may be linearized; null if the search can ignore it. */
function searchOp(op: Op, valueId: number, values: ValueTable): SearchOp | null {
  if (op.outcome === "fail") return null;
  if (op.outcome === "ok") return newSearchOp(op, valueId, op.invokeMs, op.completeMs ?? Infinity, true);
  if (op.kind === "get" || !wasRead(values, valueId)) return null;
  if (op.value !== "" && values.liveWriters[valueId] === 1) {
    return newSearchOp(op, valueId, op.invokeMs, Math.max(op.invokeMs, atDouble(values.firstReadMs, valueId)), true);
  }
  return newSearchOp(op, valueId, op.invokeMs, Infinity, false);
}

/** Every search op is made here: one hidden class for all. */
function newSearchOp(op: Op, valueId: number, callMs: number, returnMs: number, required: boolean): SearchOp {
  return { op, isGet: op.kind === "get", valueId, callMs, returnMs, required };
}
