// The Wing-Gong / Lowe search over one key's entries list, memoized on the search state.

import { assert } from "../../raft/index.js";
import type { Op } from "../history.js";
import { at, atByte, atInt } from "./arrays.js";
import { buildEntries, HEAD, lift, unlift, type EntryList } from "./entries.js";
import { prepareKey, type PreparedKey, type SearchOp } from "./prepare.js";
import { flipBit, newSearchState, nextLow, randomHashes, StateCache, type SearchState } from "./search-state.js";
import { INITIAL_VALUE_ID, UNREAD_VALUE_ID, valueTable, type ValueTable } from "./values.js";

export interface Stuck {
  readonly kind: "stuck";
  readonly op: Op; // the op that could not be linearized before it returned
  readonly heldBy: Op | null; // the SET that wrote the register's value then; null for the initial ""
  readonly placedCount: number; // ops linearized at that point (the deepest the search got)
  readonly opCount: number;
}

export type SearchResult = { readonly kind: "linearizable" } | Stuck | { readonly kind: "budget" };

export function searchKey(ops: readonly Op[], stepsMax: number, values: ValueTable = valueTable(ops)): SearchResult {
  const prepared = prepareKey(ops, values);
  return new WglSearch(prepared, buildEntries(prepared.searchOps)).run(stepsMax);
}

/**
 * WGL with memoization. A state is the set of linearized ("placed") ops and the register's
 * value; a state seen before is never explored again.
 * Invariant: depth === ops placed === ops lifted out of the entries list.
 */
export class WglSearch {
  private readonly state: SearchState;
  private readonly opHashes: Int32Array;
  private readonly stack: Int32Array; // per depth: call entry, value, writer, low, high before it; forced
  private readonly cache: StateCache;
  private readonly requiredCount: number;
  private depth = 0;
  private writer = -1; // the op that wrote the register's value; -1 for the initial ""
  private requiredPlaced = 0;
  private readonly readsPlaced: Int32Array; // per value id
  private deepest: Stuck | null = null;
  private stepsTaken = 0;

  constructor(
    private readonly prepared: PreparedKey,
    private readonly list: EntryList,
  ) {
    const n = prepared.searchOps.length;
    this.state = newSearchState(prepared.searchOps);
    this.opHashes = randomHashes(n);
    this.cache = new StateCache(n);
    this.stack = new Int32Array(STACK_STRIDE * n);
    this.requiredCount = countRequired(prepared.searchOps);
    this.readsPlaced = new Int32Array(prepared.readCounts.length);
    this.state.valueId = this.canonicalValue(INITIAL_VALUE_ID);
  }

  run(stepsMax: number): SearchResult {
    this.stepsTaken = 0;
    assert(this.placeForced(), "the first forced placements reach only new states");
    let entry = atInt(this.list.next, HEAD);
    while (this.requiredPlaced < this.requiredCount) {
      if (++this.stepsTaken > stepsMax) return { kind: "budget" };
      if (atByte(this.list.isCall, entry) === 0) {
        this.noteStuck(entry);
        entry = this.backtrack();
      } else if (!this.tryPlace(entry, false)) {
        entry = atInt(this.list.next, entry);
      } else {
        entry = this.placeForced() ? atInt(this.list.next, HEAD) : this.backtrack();
      }
      if (entry === NO_ENTRY) return this.failure();
    }
    return { kind: "linearizable" };
  }

  /**
   * Places every callable op that can go now without losing any solution, so the search never
   * branches on them:
   * - a GET whose value the register holds: in any solution it can move here (same value,
   *   and every op that must precede it is placed, since its call entry is reachable);
   * - a SET of an unread value while the register holds an unread value: moving it here
   *   changes no GET's view.
   * Returns false if that reaches an explored (hence failed) state.
   */
  private placeForced(): boolean {
    let entry = atInt(this.list.next, HEAD);
    while (atByte(this.list.isCall, entry) === 1) {
      this.stepsTaken++;
      const s = at(this.prepared.searchOps, atInt(this.list.opIndex, entry));
      const forced = s.isGet ? s.valueId === this.state.valueId : s.valueId === UNREAD_VALUE_ID && this.state.valueId === UNREAD_VALUE_ID;
      if (!forced) entry = atInt(this.list.next, entry);
      else if (this.tryPlace(entry, true)) entry = atInt(this.list.next, HEAD);
      else return false;
    }
    return true;
  }

  /**
   * Undoes forced placements and the choice they followed; the entry to try next, or NO_ENTRY.
   * Each state it leaves is explored: it is recorded then (see tryPlace).
   */
  private backtrack(): number {
    while (this.depth > 0) {
      const forced = atInt(this.stack, STACK_STRIDE * (this.depth - 1) + 5) === 1;
      this.cache.add(this.state);
      const entry = this.undo();
      if (!forced) return atInt(this.list.next, entry);
    }
    return NO_ENTRY;
  }

  /** The search failed only by backtracking from a return entry, which noteStuck recorded. */
  private failure(): Stuck {
    assert(this.deepest !== null, "a failed search reached a return entry");
    return this.deepest;
  }

  /** Search steps taken by the last run. */
  get steps(): number {
    return this.stepsTaken;
  }

  /**
   * Linearizes the op of this call entry now, if legal and the new state is unexplored. A state
   * is recorded as explored when the search backtracks out of it, not when it is reached: the
   * states reached and not yet left are the ones on the stack, each with fewer ops placed than
   * the new one, so the new one is never among them, and the answer is the same. The bench's
   * runs record 1 to 12 states each, where they recorded one per placement (thousands).
   */
  private tryPlace(entry: number, forced: boolean): boolean {
    const i = atInt(this.list.opIndex, entry);
    const s = at(this.prepared.searchOps, i);
    if (s.isGet ? s.valueId !== this.state.valueId : atByte(this.prepared.heldOnce, this.state.valueId) === 1) return false;
    this.place(entry, i, s, forced);
    if (!this.cache.has(this.state)) return true;
    this.undo();
    return false;
  }

  private place(entry: number, i: number, s: SearchOp, forced: boolean): void {
    const state = this.state;
    const base = STACK_STRIDE * this.depth;
    this.stack[base] = entry;
    this.stack[base + 1] = state.valueId;
    this.stack[base + 2] = this.writer;
    this.stack[base + 3] = state.low;
    this.stack[base + 4] = state.high;
    this.stack[base + 5] = forced ? 1 : 0;
    this.depth++;
    this.writer = s.isGet ? this.writer : i;
    if (s.isGet) this.readsPlaced[s.valueId] = atInt(this.readsPlaced, s.valueId) + 1;
    state.valueId = this.canonicalValue(s.valueId);
    state.hash ^= atInt(this.opHashes, i);
    flipBit(state.bits, i);
    const rank = atInt(state.optionalRank, i);
    if (rank >= 0) flipBit(state.optionalBits, rank);
    state.high = Math.max(state.high, i);
    if (i === state.low) state.low = nextLow(state, i);
    if (s.required) this.requiredPlaced++;
    lift(this.list, entry);
  }

  /** Backtracks the most recent placement; returns its call entry. */
  private undo(): number {
    const state = this.state;
    this.depth--;
    const base = STACK_STRIDE * this.depth;
    const entry = atInt(this.stack, base);
    const i = atInt(this.list.opIndex, entry);
    state.valueId = atInt(this.stack, base + 1);
    this.writer = atInt(this.stack, base + 2);
    state.low = atInt(this.stack, base + 3);
    state.high = atInt(this.stack, base + 4);
    state.hash ^= atInt(this.opHashes, i);
    flipBit(state.bits, i);
    const rank = atInt(state.optionalRank, i);
    if (rank >= 0) flipBit(state.optionalBits, rank);
    const s = at(this.prepared.searchOps, i);
    if (s.required) this.requiredPlaced--;
    if (s.isGet) this.readsPlaced[s.valueId] = atInt(this.readsPlaced, s.valueId) - 1;
    unlift(this.list, entry);
    return entry;
  }

  /**
   * A value held once whose GETs are all placed is as good as an unread one (heldOnce).
   * Invariant: the register never holds a held-once value once all its GETs are placed, so a
   * SET over a held-once value would strand a GET: tryPlace refuses it.
   */
  private canonicalValue(valueId: number): number {
    const done = atByte(this.prepared.heldOnce, valueId) === 1 && atInt(this.readsPlaced, valueId) === atInt(this.prepared.readCounts, valueId);
    return done ? UNREAD_VALUE_ID : valueId;
  }

  /** Remembers the deepest point at which an op's return was reached before it was placed. */
  private noteStuck(returnEntry: number): void {
    if (this.deepest !== null && this.deepest.placedCount >= this.depth) return;
    const ops = this.prepared.searchOps;
    const op = at(ops, atInt(this.list.opIndex, returnEntry));
    assert(op.returnMs !== Infinity, "an optional op's return entry is reached only after every required op is placed");
    const heldBy = this.writer < 0 ? null : at(ops, this.writer).op;
    this.deepest = { kind: "stuck", op: op.op, heldBy, placedCount: this.depth, opCount: ops.length };
  }
}

/** A loop: filter with an arrow called a closure per op and built an array only to count it. */
function countRequired(searchOps: readonly SearchOp[]): number {
  let n = 0;
  for (let i = 0; i < searchOps.length; i++) if (at(searchOps, i).required) n++;
  return n;
}

const STACK_STRIDE = 6;
const NO_ENTRY = -1;
