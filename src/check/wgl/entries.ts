// The search's entries list: every op's call and return as events in time order, linked so
// that placing an op lifts its two entries out and backtracking puts them back, in O(1).

import { at, compareNumbers } from "./arrays.js";
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
  const events: { readonly timeMs: number; readonly isCall: boolean; readonly opIndex: number }[] = [];
  searchOps.forEach((s, i) => events.push({ timeMs: s.callMs, isCall: true, opIndex: i }, { timeMs: s.returnMs, isCall: false, opIndex: i }));
  events.sort((a, b) => compareNumbers(a.timeMs, b.timeMs) || Number(b.isCall) - Number(a.isCall) || a.opIndex - b.opIndex);
  const list: EntryList = {
    next: new Int32Array(2 * n + 2),
    prev: new Int32Array(2 * n + 2),
    opIndex: new Int32Array(2 * n + 2).fill(-1),
    isCall: new Uint8Array(2 * n + 2),
    match: new Int32Array(2 * n + 2),
  };
  const callEntryOf = new Int32Array(n);
  for (let e = 0; e <= 2 * n + 1; e++) {
    list.next[e] = e + 1;
    list.prev[e] = e - 1;
  }
  events.forEach((event, k) => {
    const e = k + 1;
    list.opIndex[e] = event.opIndex;
    list.isCall[e] = event.isCall ? 1 : 0;
    if (event.isCall) callEntryOf[event.opIndex] = e;
    else list.match[at(callEntryOf, event.opIndex)] = e;
  });
  return list;
}

function unlink(list: EntryList, e: number): void {
  list.next[at(list.prev, e)] = at(list.next, e);
  list.prev[at(list.next, e)] = at(list.prev, e);
}

function relink(list: EntryList, e: number): void {
  list.next[at(list.prev, e)] = e;
  list.prev[at(list.next, e)] = e;
}

/** Removes an op's call and return entries; unlift undoes it exactly (in reverse order). */
export function lift(list: EntryList, callEntry: number): void {
  unlink(list, callEntry);
  unlink(list, at(list.match, callEntry));
}

export function unlift(list: EntryList, callEntry: number): void {
  relink(list, at(list.match, callEntry));
  relink(list, callEntry);
}
