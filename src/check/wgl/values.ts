// What one key's ops say about each register value an ok GET returned, gathered in two passes
// with one lookup of a value string per op: the values' small ids (prepare.ts), and for each
// read value when it was first read and which SETs may have written it. The reductions
// (prepare.ts) and the impossible-read screen (linearizability.ts) read it instead of building a
// string-keyed map each.

import type { Op } from "../history.js";

export const INITIAL_VALUE_ID = 0; // ""
export const UNREAD_VALUE_ID = 1;

export interface ValueTable {
  /** Per value id; `count` ids in all. */
  readonly count: number;
  /** The value id of each op, by its position in the ops given. */
  readonly idOfOp: Int32Array;
  /** Per value id: ok GETs that returned it. */
  readonly reads: Int32Array;
  /** Per value id: the earliest completion of those GETs (NaN: none has completed). */
  readonly firstReadMs: Float64Array;
  /** Per value id: SETs of it that did not fail. */
  readonly liveWriters: Int32Array;
  /** Per value id: the earliest invocation of those SETs (Infinity: none). */
  readonly firstLiveWriteMs: Float64Array;
}

/**
 * Small ids for register values: "" is INITIAL_VALUE_ID, every value an ok GET returned has its
 * own id from 2 on, in order of the first such GET. Every other value gets UNREAD_VALUE_ID: no
 * GET can tell such values apart, so the search treats them as one state.
 */
export function valueTable(ops: readonly Op[]): ValueTable {
  const ids = new Map<string, number>([["", INITIAL_VALUE_ID]]);
  const idOfOp = new Int32Array(ops.length); // -1 until known, set here (a fill was one more pass)
  for (let k = 0; k < ops.length; k++) {
    const op = ops[k]!;
    if (op.kind !== "get" || op.outcome !== "ok") {
      idOfOp[k] = -1;
      continue;
    }
    let id = ids.get(op.value);
    if (id === undefined) ids.set(op.value, (id = ids.size + 1));
    idOfOp[k] = id;
  }
  const count = ids.size + 1;
  const table: ValueTable = {
    count,
    idOfOp,
    reads: new Int32Array(count),
    firstReadMs: new Float64Array(count).fill(NaN),
    liveWriters: new Int32Array(count),
    firstLiveWriteMs: new Float64Array(count).fill(Infinity),
  };
  for (let k = 0; k < ops.length; k++) {
    const op = ops[k]!;
    if (idOfOp[k] === -1) idOfOp[k] = ids.get(op.value) ?? UNREAD_VALUE_ID;
    noteOp(table, op, idOfOp[k]!);
  }
  return table;
}

function noteOp(t: ValueTable, op: Op, id: number): void {
  if (op.kind === "get") {
    if (op.outcome !== "ok") return;
    t.reads[id]! += 1;
    // NaN compares false: the first completion replaces it.
    if (op.completeMs !== null && !(op.completeMs >= t.firstReadMs[id]!)) t.firstReadMs[id] = op.completeMs;
  } else if (op.outcome !== "fail" && id !== UNREAD_VALUE_ID) {
    t.liveWriters[id]! += 1;
    t.firstLiveWriteMs[id] = Math.min(t.firstLiveWriteMs[id]!, op.invokeMs);
  }
}

/** Whether some GET of the value was read (and completed). */
export function wasRead(t: ValueTable, id: number): boolean {
  return !Number.isNaN(t.firstReadMs[id]!);
}

/**
 * Whether an ok GET returned a value other than "" that no SET that may have taken effect had
 * been invoked for by the time it completed (linearizability.ts's findImpossibleRead then names
 * it). The GET that completed first is the one to compare with.
 */
export function hasImpossibleRead(t: ValueTable): boolean {
  for (let id = UNREAD_VALUE_ID + 1; id < t.count; id++) {
    const readMs = wasRead(t, id) ? t.firstReadMs[id]! : Infinity;
    if (t.liveWriters[id] === 0 || t.firstLiveWriteMs[id]! > readMs) return true;
  }
  return false;
}
