// The search's entries list: every op's call and return as events in time order, linked so
// that placing an op lifts its two entries out and backtracking puts them back, in O(1).

import { at, atInt, compareNumbers } from "./arrays.js";
import type { SearchOp } from "./prepare.js";

/** The head sentinel: the list starts at next[HEAD]. */
export const HEAD = 0;

/**
 * Call and return events in time order as a doubly linked list over typed arrays.
 * Entry 0 is the head sentinel, entry 2n + 1 the tail sentinel; entries 1..2n are events.
 * Invariant: an op's call entry comes before its return entry.
 */
export interface EntryList {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  readonly opIndex: Int32Array; // -1 for the sentinels
  readonly isCall: Uint8Array;
  readonly match: Int32Array; // call entry -> its return entry
}

export function buildEntries(searchOps: readonly SearchOp[]): EntryList {
  const n = searchOps.length;
  const list: EntryList = {
    next: new Int32Array(2 * n + 2),
    prev: new Int32Array(2 * n + 2),
    opIndex: new Int32Array(2 * n + 2).fill(-1),
    isCall: new Uint8Array(2 * n + 2),
    match: new Int32Array(2 * n + 2),
  };
  for (let e = 0; e <= 2 * n + 1; e++) {
    list.next[e] = e + 1;
    list.prev[e] = e - 1;
  }
  // Events in time order, a call before a return at the same time, then in op order. The calls
  // are in op order already (search ops are sorted by call time, ties in history order): only
  // the returns are sorted, and the two lists merge (sorting an object per event cost more than
  // the search itself in most runs).
  const returns = returnOrder(searchOps);
  const callEntryOf = new Int32Array(n);
  let call = 0;
  let ret = 0;
  for (let e = 1; e <= 2 * n; e++) {
    if (call < n && (ret === n || at(searchOps, call).callMs <= at(searchOps, returns[ret]!).returnMs)) {
      list.opIndex[e] = call;
      list.isCall[e] = 1;
      callEntryOf[call++] = e;
    } else {
      const i = returns[ret++]!;
      list.opIndex[e] = i;
      list.match[atInt(callEntryOf, i)] = e;
    }
  }
  return list;
}

/**
 * Op indexes by return time, ties in op order. Returns come nearly in call order (an op returns
 * after the few that overlap it), so an insertion sort puts them in order in a few moves per op,
 * with no comparator call per pair; the ops that never return (unknown SETs, at +Infinity) go
 * last, in op order. When the returns are far out of order (long ops) the general sort takes over,
 * past a bound on moves. Either way the order is the one above. (Indexed directly: `at` meets
 * typed arrays and arrays of ops, and one more kind of array there made its every read a generic
 * lookup.)
 */
function returnOrder(searchOps: readonly SearchOp[]): Int32Array {
  const n = searchOps.length;
  const returnMs = new Float64Array(n);
  for (let i = 0; i < n; i++) returnMs[i] = searchOps[i]!.returnMs;
  const order = new Int32Array(n);
  let sorted = 0;
  let moves = 0;
  for (let i = 0; i < n; i++) {
    const ms = returnMs[i]!;
    if (ms === Infinity) continue;
    let j = sorted++;
    for (; j > 0 && returnMs[order[j - 1]!]! > ms; j--) order[j] = order[j - 1]!;
    order[j] = i;
    moves += sorted - 1 - j;
    if (moves > INSERTION_MOVES_MAX_PER_OP * n) return generalReturnOrder(searchOps);
  }
  for (let i = 0; i < n; i++) if (returnMs[i] === Infinity) order[sorted++] = i;
  return order;
}

const INSERTION_MOVES_MAX_PER_OP = 16;

/** The same order by a general sort. */
function generalReturnOrder(searchOps: readonly SearchOp[]): Int32Array {
  const order = searchOps.map((_, i) => i);
  return Int32Array.from(order.sort((a, b) => compareNumbers(searchOps[a]!.returnMs, searchOps[b]!.returnMs) || a - b));
}

function unlink(list: EntryList, e: number): void {
  list.next[atInt(list.prev, e)] = atInt(list.next, e);
  list.prev[atInt(list.next, e)] = atInt(list.prev, e);
}

function relink(list: EntryList, e: number): void {
  list.next[atInt(list.prev, e)] = e;
  list.prev[atInt(list.next, e)] = e;
}

/** Removes an op's call and return entries; unlift undoes it exactly (in reverse order). */
export function lift(list: EntryList, callEntry: number): void {
  unlink(list, callEntry);
  unlink(list, atInt(list.match, callEntry));
}

export function unlift(list: EntryList, callEntry: number): void {
  relink(list, atInt(list.match, callEntry));
  relink(list, callEntry);
}
