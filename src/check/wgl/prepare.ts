// Preparing one key's ops for the search: which ops it must place, may place or can ignore, in
// what interval each may take effect, and small ids for the register values (the reductions in
// linearizability.ts's header).

import type { Op } from "../history.js";
import { at, compareNumbers } from "./arrays.js";

/** One op as the search sees it. */
export interface SearchOp {
  readonly op: Op;
  readonly isGet: boolean;
  readonly valueId: number; // see valueIdsFor
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

export function prepareKey(ops: readonly Op[]): PreparedKey {
  const values = valueIdsFor(ops);
  const firstReadMs = firstReadMsByValue(ops);
  const writerCount = liveWriterCountByValue(ops, firstReadMs);
  const searchOps: SearchOp[] = [];
  for (const op of ops) {
    const interval = searchInterval(op, firstReadMs, writerCount);
    if (interval === null) continue;
    searchOps.push({ op, isGet: op.kind === "get", valueId: values.idOf(op.value), callMs: interval.callMs, returnMs: interval.returnMs, required: interval.required });
  }
  searchOps.sort((a, b) => compareNumbers(a.callMs, b.callMs)); // stable: ties keep history order
  const readCounts = new Int32Array(values.count);
  const sourceCounts = new Int32Array(values.count);
  sourceCounts[INITIAL_VALUE_ID] = 1;
  for (const s of searchOps) {
    const counts = s.isGet ? readCounts : sourceCounts;
    counts[s.valueId] = at(counts, s.valueId) + 1;
  }
  const heldOnce = sourceCounts.map((sources, valueId) => (valueId !== UNREAD_VALUE_ID && sources === 1 ? 1 : 0));
  return { searchOps, readCounts, heldOnce: Uint8Array.from(heldOnce) };
}

export const INITIAL_VALUE_ID = 0; // ""
export const UNREAD_VALUE_ID = 1;

/**
 * Small ids for register values. Every value that no ok GET returned gets UNREAD_VALUE_ID:
 * no GET can tell such values apart, so the search treats them as one state.
 */
function valueIdsFor(ops: readonly Op[]): { readonly idOf: (value: string) => number; readonly count: number } {
  const ids = new Map<string, number>([["", INITIAL_VALUE_ID]]);
  for (const op of ops) {
    if (op.kind === "get" && op.outcome === "ok" && !ids.has(op.value)) ids.set(op.value, ids.size + 1);
  }
  return { idOf: (value) => ids.get(value) ?? UNREAD_VALUE_ID, count: ids.size + 1 };
}

type SearchInterval = { readonly callMs: number; readonly returnMs: number; readonly required: boolean };

/** Where the op may be linearized, or null if the search can ignore it. */
function searchInterval(op: Op, firstReadMs: ReadonlyMap<string, number>, writerCount: ReadonlyMap<string, number>): SearchInterval | null {
  if (op.outcome === "fail") return null;
  if (op.outcome === "ok") return { callMs: op.invokeMs, returnMs: op.completeMs ?? Infinity, required: true };
  if (op.kind === "get") return null;
  const readMs = firstReadMs.get(op.value);
  if (readMs === undefined) return null;
  if (op.value !== "" && writerCount.get(op.value) === 1) {
    return { callMs: op.invokeMs, returnMs: Math.max(op.invokeMs, readMs), required: true };
  }
  return { callMs: op.invokeMs, returnMs: Infinity, required: false };
}

function firstReadMsByValue(ops: readonly Op[]): Map<string, number> {
  const firstReadMs = new Map<string, number>();
  for (const op of ops) {
    if (op.kind !== "get" || op.outcome !== "ok" || op.completeMs === null) continue;
    firstReadMs.set(op.value, Math.min(op.completeMs, firstReadMs.get(op.value) ?? Infinity));
  }
  return firstReadMs;
}

/** Per value read (a key of `read`), the SETs of it that did not fail: searchInterval asks of no other value (most are never read). */
function liveWriterCountByValue(ops: readonly Op[], read: ReadonlyMap<string, number>): Map<string, number> {
  const count = new Map<string, number>();
  for (const op of ops) if (op.kind === "set" && op.outcome !== "fail" && read.has(op.value)) count.set(op.value, (count.get(op.value) ?? 0) + 1);
  return count;
}
