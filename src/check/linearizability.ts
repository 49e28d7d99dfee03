// Linearizability checker for KV histories: one register per key, checked independently
// (P-compositionality), each with the Wing-Gong / Lowe search (WGL): the entries list of call
// and return events in time order, lifting and unlifting, memoized on (set of linearized ops,
// register value), as in Lowe's "Testing for linearizability" and porcupine.
//
// Rules:
// - Real time is strict: op a precedes op b iff a.completeMs < b.invokeMs. An op that completes
//   at t and one invoked at t are concurrent (calls sort before returns at equal times).
// - A register starts at "" (GET of a never-set key returns "").
// - "ok" ops must be linearized inside [invokeMs, completeMs].
// - A "fail" SET was definitely not applied: it is removed. "fail" and "unknown" GETs are removed.
// - An "unknown" SET may take effect at any time after its invocation, or never: its return
//   time is +Infinity and it need not be linearized. The search succeeds once every required
//   op is linearized.
//
// Reductions, each of which preserves the verdict exactly (the tests compare the checker with
// an exhaustive search):
// - An unknown SET whose value no ok GET of the key returned is removed: in any linearization
//   no GET sits in its reign, so dropping it from the order changes no result.
// - An unknown SET that is the only writer of a value v !== "" that some ok GET returned must be
//   linearized before every such GET, so it becomes required with return time = the earliest
//   completion among those GETs.
// - Values no ok GET returned are indistinguishable, so the search gives them one id.
// - Forced placements (WglSearch.placeForced): a GET that can go now goes now, without branching.
// - A value written once (heldOnce) is never overwritten while one of its GETs is unplaced.
// - The memo key is compact: bounded by concurrency, not by the length of the history.
//
// On failure the key's history is shrunk to a small witness (each step keeps a sub-history that
// still fails, so the witness is itself a genuine violation), and the message names the op the
// search could not place, with its times and what the register held.

import { assert, assertNever } from "../raft/index.js";
import type { History, Op } from "./history.js";

export type CheckResult =
  | { readonly ok: true; readonly keys: number; readonly ops: number }
  | { readonly ok: false; readonly key: string; readonly ops: readonly Op[]; readonly message: string };

export type CheckFailure = Extract<CheckResult, { readonly ok: false }>;

export interface CheckOptions {
  /** Bound on search steps for one key. Exceeding it throws: the verdict is unknown. */
  readonly stepsMaxPerKey?: number;
  /** Bound on search steps spent shrinking a failing key's history to a small witness. */
  readonly shrinkStepsMax?: number;
}

export const STEPS_MAX_PER_KEY_DEFAULT = 50_000_000;
export const SHRINK_STEPS_MAX_DEFAULT = 2_000_000;

const HEAD = 0;

export function checkLinearizable(history: History, options: CheckOptions = {}): CheckResult {
  validateHistory(history);
  const byKey = groupByKey(history);
  for (const [key, ops] of byKey) {
    const failure = checkKey(key, ops, options);
    if (failure !== null) return failure;
  }
  return { ok: true, keys: byKey.size, ops: history.length };
}

function checkKey(key: string, ops: readonly Op[], options: CheckOptions): CheckFailure | null {
  const stepsMax = options.stepsMaxPerKey ?? STEPS_MAX_PER_KEY_DEFAULT;
  const impossible = findImpossibleRead(key, ops);
  if (impossible !== null) return impossible;
  const result = searchKey(ops, stepsMax);
  switch (result.kind) {
    case "linearizable":
      return null;
    case "budget":
      throw new Error(
        `linearizability check of key ${quote(key)}: the search exceeded ${stepsMax} steps over ${ops.length} ops; ` +
          "the verdict is unknown. Shorten the run, lower client concurrency, or raise stepsMaxPerKey",
      );
    case "stuck": {
      const witness = shrinkWitness(ops, result, options.shrinkStepsMax ?? SHRINK_STEPS_MAX_DEFAULT);
      return { ok: false, key, ops: witness.ops, message: explainStuck(key, witness, ops.length) };
    }
    default:
      return assertNever(result);
  }
}

// ---------------------------------------------------------------- input

function validateHistory(history: History): void {
  const ids = new Set<number>();
  for (const op of history) {
    const where = `history op #${op.id} (${op.kind} ${quote(op.key)} by client ${quote(op.clientId)})`;
    if (ids.has(op.id)) throw new Error(`${where}: the id is used twice; give every op its own id`);
    ids.add(op.id);
    if (!Number.isFinite(op.invokeMs)) throw new Error(`${where}: invokeMs is ${op.invokeMs}; record true simulator time`);
    if (op.completeMs === null && op.outcome !== "unknown") {
      throw new Error(`${where}: outcome "${op.outcome}" without completeMs; an op that never completed is "unknown"`);
    }
    if (op.completeMs !== null && !(op.completeMs >= op.invokeMs)) {
      throw new Error(`${where}: completes at ${op.completeMs} ms, before its invocation at ${op.invokeMs} ms`);
    }
  }
}

function groupByKey(history: History): Map<string, Op[]> {
  const byKey = new Map<string, Op[]>();
  for (const op of history) {
    const ops = byKey.get(op.key);
    if (ops === undefined) byKey.set(op.key, [op]);
    else ops.push(op);
  }
  return byKey;
}

/** The cheap, precise diagnosis: a GET returned a value no possibly-applied SET could give it. */
function findImpossibleRead(key: string, ops: readonly Op[]): CheckFailure | null {
  const writersByValue = new Map<string, Op[]>();
  for (const op of ops) {
    if (op.kind !== "set") continue;
    const writers = writersByValue.get(op.value);
    if (writers === undefined) writersByValue.set(op.value, [op]);
    else writers.push(op);
  }
  for (const get of ops) {
    if (get.kind !== "get" || get.outcome !== "ok" || get.value === "") continue;
    const writers = writersByValue.get(get.value) ?? [];
    const why = impossibleReadReason(get, writers, writers.filter((op) => op.outcome !== "fail"));
    if (why !== null) return { ok: false, key, ops: [get, ...writers].sort(byInvocation), message: `key ${quote(key)}: not linearizable. ${describeOp(get)}, ${why}` };
  }
  return null;
}

function impossibleReadReason(get: Op, writers: readonly Op[], live: readonly Op[]): string | null {
  const completeMs = get.completeMs ?? Infinity;
  if (writers.length === 0) return "but no SET of this key ever wrote that value.";
  if (live.length === 0) {
    return `but only ${writers.map(opLabel).join(" and ")} wrote that value, and the system said it definitely failed (not applied).`;
  }
  const earliest = live.reduce((a, b) => (b.invokeMs < a.invokeMs ? b : a));
  if (earliest.invokeMs > completeMs) {
    return `before any SET of that value was invoked: the first, ${opLabel(earliest)}, came after the GET completed.`;
  }
  return null;
}

// ---------------------------------------------------------------- preparing one key

/** One op as the search sees it. */
interface SearchOp {
  readonly op: Op;
  readonly isGet: boolean;
  readonly valueId: number; // see valueIdsFor
  readonly required: boolean;
  readonly callMs: number;
  readonly returnMs: number;
}

interface PreparedKey {
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

function prepareKey(ops: readonly Op[]): PreparedKey {
  const values = valueIdsFor(ops);
  const firstReadMs = firstReadMsByValue(ops);
  const writerCount = liveWriterCountByValue(ops);
  const searchOps: SearchOp[] = [];
  for (const op of ops) {
    const interval = searchInterval(op, firstReadMs, writerCount);
    if (interval === null) continue;
    searchOps.push({ op, isGet: op.kind === "get", valueId: values.idOf(op.value), ...interval });
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

const INITIAL_VALUE_ID = 0; // ""
const UNREAD_VALUE_ID = 1;

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

function liveWriterCountByValue(ops: readonly Op[]): Map<string, number> {
  const count = new Map<string, number>();
  for (const op of ops) if (op.kind === "set" && op.outcome !== "fail") count.set(op.value, (count.get(op.value) ?? 0) + 1);
  return count;
}

// ---------------------------------------------------------------- the entries list

/**
 * Call and return events in time order as a doubly linked list over typed arrays.
 * Entry 0 is the head sentinel, entry 2n + 1 the tail sentinel; entries 1..2n are events.
 * Invariant: an op's call entry comes before its return entry.
 */
interface EntryList {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  readonly opIndex: Int32Array; // -1 for the sentinels
  readonly isCall: Uint8Array;
  readonly match: Int32Array; // call entry -> its return entry
}

function buildEntries(searchOps: readonly SearchOp[]): EntryList {
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

function compareNumbers(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
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
function lift(list: EntryList, callEntry: number): void {
  unlink(list, callEntry);
  unlink(list, at(list.match, callEntry));
}

function unlift(list: EntryList, callEntry: number): void {
  relink(list, at(list.match, callEntry));
  relink(list, callEntry);
}

// ---------------------------------------------------------------- the search

interface Stuck {
  readonly kind: "stuck";
  readonly op: Op; // the op that could not be linearized before it returned
  readonly heldBy: Op | null; // the SET that wrote the register's value then; null for the initial ""
  readonly placedCount: number; // ops linearized at that point (the deepest the search got)
  readonly opCount: number;
}

type SearchResult = { readonly kind: "linearizable" } | Stuck | { readonly kind: "budget" };

function searchKey(ops: readonly Op[], stepsMax: number): SearchResult {
  const prepared = prepareKey(ops);
  return new WglSearch(prepared, buildEntries(prepared.searchOps)).run(stepsMax);
}

/**
 * WGL with memoization. A state is the set of linearized ("placed") ops and the register's
 * value; a state seen before is never explored again.
 * Invariant: depth === ops placed === ops lifted out of the entries list.
 */
class WglSearch {
  private readonly state: SearchState;
  private readonly opHashes: Int32Array;
  private readonly stack: Int32Array; // per depth: call entry, value, writer, low, high before it; forced
  private readonly cache = new StateCache();
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
    this.stack = new Int32Array(STACK_STRIDE * n);
    this.requiredCount = prepared.searchOps.filter((s) => s.required).length;
    this.readsPlaced = new Int32Array(prepared.readCounts.length);
    this.state.valueId = this.canonicalValue(INITIAL_VALUE_ID);
  }

  run(stepsMax: number): SearchResult {
    this.stepsTaken = 0;
    assert(this.placeForced(), "the first forced placements reach only new states");
    let entry = at(this.list.next, HEAD);
    while (this.requiredPlaced < this.requiredCount) {
      if (++this.stepsTaken > stepsMax) return { kind: "budget" };
      if (at(this.list.isCall, entry) === 0) {
        this.noteStuck(entry);
        entry = this.backtrack();
      } else if (!this.tryPlace(entry, false)) {
        entry = at(this.list.next, entry);
      } else {
        entry = this.placeForced() ? at(this.list.next, HEAD) : this.backtrack();
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
    let entry = at(this.list.next, HEAD);
    while (at(this.list.isCall, entry) === 1) {
      this.stepsTaken++;
      const s = at(this.prepared.searchOps, at(this.list.opIndex, entry));
      const forced = s.isGet ? s.valueId === this.state.valueId : s.valueId === UNREAD_VALUE_ID && this.state.valueId === UNREAD_VALUE_ID;
      if (!forced) entry = at(this.list.next, entry);
      else if (this.tryPlace(entry, true)) entry = at(this.list.next, HEAD);
      else return false;
    }
    return true;
  }

  /** Undoes forced placements and the choice they followed; the entry to try next, or NO_ENTRY. */
  private backtrack(): number {
    while (this.depth > 0) {
      const forced = at(this.stack, STACK_STRIDE * (this.depth - 1) + 5) === 1;
      const entry = this.undo();
      if (!forced) return at(this.list.next, entry);
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

  /** Linearizes the op of this call entry now, if legal and the new state is unexplored. */
  private tryPlace(entry: number, forced: boolean): boolean {
    const i = at(this.list.opIndex, entry);
    const s = at(this.prepared.searchOps, i);
    if (s.isGet ? s.valueId !== this.state.valueId : at(this.prepared.heldOnce, this.state.valueId) === 1) return false;
    this.place(entry, i, s, forced);
    if (this.cache.addIfNew(this.state)) return true;
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
    if (s.isGet) this.readsPlaced[s.valueId] = at(this.readsPlaced, s.valueId) + 1;
    state.valueId = this.canonicalValue(s.valueId);
    state.hash ^= at(this.opHashes, i);
    flipBit(state.bits, i);
    const rank = at(state.optionalRank, i);
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
    const entry = at(this.stack, base);
    const i = at(this.list.opIndex, entry);
    state.valueId = at(this.stack, base + 1);
    this.writer = at(this.stack, base + 2);
    state.low = at(this.stack, base + 3);
    state.high = at(this.stack, base + 4);
    state.hash ^= at(this.opHashes, i);
    flipBit(state.bits, i);
    const rank = at(state.optionalRank, i);
    if (rank >= 0) flipBit(state.optionalBits, rank);
    const s = at(this.prepared.searchOps, i);
    if (s.required) this.requiredPlaced--;
    if (s.isGet) this.readsPlaced[s.valueId] = at(this.readsPlaced, s.valueId) - 1;
    unlift(this.list, entry);
    return entry;
  }

  /**
   * A value held once whose GETs are all placed is as good as an unread one (heldOnce).
   * Invariant: the register never holds a held-once value once all its GETs are placed, so a
   * SET over a held-once value would strand a GET: tryPlace refuses it.
   */
  private canonicalValue(valueId: number): number {
    const done = at(this.prepared.heldOnce, valueId) === 1 && at(this.readsPlaced, valueId) === at(this.prepared.readCounts, valueId);
    return done ? UNREAD_VALUE_ID : valueId;
  }

  /** Remembers the deepest point at which an op's return was reached before it was placed. */
  private noteStuck(returnEntry: number): void {
    if (this.deepest !== null && this.deepest.placedCount >= this.depth) return;
    const ops = this.prepared.searchOps;
    const op = at(ops, at(this.list.opIndex, returnEntry));
    assert(op.returnMs !== Infinity, "an optional op's return entry is reached only after every required op is placed");
    const heldBy = this.writer < 0 ? null : at(ops, this.writer).op;
    this.deepest = { kind: "stuck", op: op.op, heldBy, placedCount: this.depth, opCount: ops.length };
  }
}

const STACK_STRIDE = 6;
const NO_ENTRY = -1;

/**
 * The search state. Ops are indexed in call order. low is the first required op not placed
 * (every required op before it is placed) and high the last placed op, so the placed set is
 * determined by (low, high, the bits from low's word to high's word, the placed optional
 * ops): a key of a few words, bounded by concurrency rather than by the length of the history.
 * hash is the XOR of the placed ops' random hashes.
 */
interface SearchState {
  valueId: number;
  hash: number;
  low: number;
  high: number; // -1 when nothing is placed
  readonly bits: Uint32Array; // placed ops
  readonly optionalRank: Int32Array; // op index -> index in optionalBits, -1 if required
  readonly optionalBits: Uint32Array; // placed optional ops
}

function newSearchState(searchOps: readonly SearchOp[]): SearchState {
  const optionalRank = new Int32Array(searchOps.length).fill(-1);
  let optionalCount = 0;
  searchOps.forEach((s, i) => {
    if (!s.required) optionalRank[i] = optionalCount++;
  });
  const state = { valueId: INITIAL_VALUE_ID, hash: 0, low: 0, high: -1, bits: new Uint32Array(words(searchOps.length)), optionalRank, optionalBits: new Uint32Array(words(optionalCount)) };
  state.low = nextLow(state, 0);
  return state;
}

/** The first op at or after from that is required and not placed. */
function nextLow(state: SearchState, from: number): number {
  let low = from;
  while (low < state.optionalRank.length && (hasBit(state.bits, low) || at(state.optionalRank, low) >= 0)) low++;
  return low;
}

/**
 * Visited states: an open-addressing hash table of offsets into one growing arena of encoded
 * states, so exploring a state allocates nothing. An arena record is
 * [hash, valueId, low, high, ...optionalBits, ...bits of the words from low's to high's].
 * Invariant: the table is at most half full.
 */
class StateCache {
  private arena = new Uint32Array(1 << 12);
  private arenaUsed = 0;
  private table = new Int32Array(1 << 10); // arena offset + 1; 0 is an empty slot
  private count = 0;

  addIfNew(state: SearchState): boolean {
    const hash = (state.hash ^ Math.imul(state.valueId + 1, 0x9e3779b1)) >>> 0;
    const mask = this.table.length - 1;
    let slot = hash & mask;
    for (let taken = at(this.table, slot); taken !== 0; taken = at(this.table, slot)) {
      if (this.arena[taken - 1] === hash && this.matches(taken - 1, state)) return false;
      slot = (slot + 1) & mask;
    }
    this.table[slot] = this.append(hash, state) + 1;
    this.count++;
    if (2 * this.count > this.table.length) this.growTable();
    return true;
  }

  private matches(offset: number, state: SearchState): boolean {
    const arena = this.arena;
    if (arena[offset + 1] !== state.valueId || arena[offset + 2] !== state.low || arena[offset + 3] !== state.high >>> 0) return false;
    let o = offset + 4;
    for (let w = 0; w < state.optionalBits.length; w++, o++) if (arena[o] !== state.optionalBits[w]) return false;
    const { firstWord, endWord } = bitsWindow(state);
    for (let w = firstWord; w < endWord; w++, o++) if (arena[o] !== state.bits[w]) return false;
    return true;
  }

  private append(hash: number, state: SearchState): number {
    const { firstWord, endWord } = bitsWindow(state);
    const length = 4 + state.optionalBits.length + Math.max(0, endWord - firstWord);
    if (this.arenaUsed + length > this.arena.length) this.growArena(length);
    const offset = this.arenaUsed;
    const arena = this.arena;
    arena[offset] = hash;
    arena[offset + 1] = state.valueId;
    arena[offset + 2] = state.low;
    arena[offset + 3] = state.high >>> 0;
    arena.set(state.optionalBits, offset + 4);
    if (endWord > firstWord) arena.set(state.bits.subarray(firstWord, endWord), offset + 4 + state.optionalBits.length);
    this.arenaUsed += length;
    return offset;
  }

  private growArena(lengthNeeded: number): void {
    const grown = new Uint32Array(Math.max(2 * this.arena.length, this.arenaUsed + lengthNeeded));
    grown.set(this.arena.subarray(0, this.arenaUsed));
    this.arena = grown;
  }

  private growTable(): void {
    const old = this.table;
    this.table = new Int32Array(2 * old.length);
    const mask = this.table.length - 1;
    for (const taken of old) {
      if (taken === 0) continue;
      let slot = at(this.arena, taken - 1) & mask;
      while (this.table[slot] !== 0) slot = (slot + 1) & mask;
      this.table[slot] = taken;
    }
  }
}

function bitsWindow(state: SearchState): { readonly firstWord: number; readonly endWord: number } {
  return { firstWord: state.low >>> 5, endWord: state.high < 0 ? 0 : (state.high >>> 5) + 1 };
}

function words(bitCount: number): number {
  return (bitCount + 31) >>> 5;
}

function hasBit(bits: Uint32Array, i: number): boolean {
  return (at(bits, i >>> 5) & (1 << (i & 31))) !== 0;
}

function flipBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5] = at(bits, i >>> 5) ^ (1 << (i & 31));
}

/** Deterministic per-op hashes (mulberry32 with a fixed seed): same history, same search. */
function randomHashes(n: number): Int32Array {
  const hashes = new Int32Array(n);
  let seed = 0x2545f491;
  for (let i = 0; i < n; i++) {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    hashes[i] = t ^ (t >>> 14);
  }
  return hashes;
}

// ---------------------------------------------------------------- shrinking and explaining

interface Witness {
  readonly ops: readonly Op[];
  readonly stuck: Stuck;
}

/**
 * Shrinks a failing key history, delta-debugging style: drop chunks of ops, halving the chunk
 * size. Dropping a GET, or a SET together with every GET of its value, only relaxes a history,
 * so a sub-history that still fails is itself a genuine violation of the original.
 */
function shrinkWitness(ops: readonly Op[], stuck: Stuck, stepsMax: number): Witness {
  const budget = { stepsLeft: stepsMax };
  let best: Witness = { ops: [...ops].sort(byInvocation), stuck };
  for (let chunk = Math.ceil(ops.length / 2); budget.stepsLeft > 0; chunk = Math.ceil(chunk / 2)) {
    best = dropChunks(best, chunk, budget);
    if (chunk === 1) break;
  }
  return best;
}

type Budget = { stepsLeft: number };

function dropChunks(witness: Witness, chunk: number, budget: Budget): Witness {
  let best = witness;
  for (let start = 0; start < best.ops.length && budget.stepsLeft > 0; ) {
    const kept = withoutGroups(best.ops, best.ops.slice(start, start + chunk));
    const stuck = failsWithin(kept, budget);
    if (stuck === null) start += chunk;
    else best = { ops: kept, stuck };
  }
  return best;
}

/** The ops without the dropped ones, and without every GET of a dropped SET's value. */
function withoutGroups(ops: readonly Op[], dropped: readonly Op[]): Op[] {
  const droppedOps = new Set(dropped);
  const droppedValues = new Set(dropped.filter((op) => op.kind === "set").map((op) => op.value));
  return ops.filter((op) => !droppedOps.has(op) && !(op.kind === "get" && droppedValues.has(op.value)));
}

/** Runs the search on a candidate, charging the budget; running out counts as "does not fail". */
function failsWithin(ops: readonly Op[], budget: Budget): Stuck | null {
  if (budget.stepsLeft <= 0) return null;
  const prepared = prepareKey(ops);
  const search = new WglSearch(prepared, buildEntries(prepared.searchOps));
  const result = search.run(budget.stepsLeft);
  budget.stepsLeft -= search.steps + ops.length;
  return result.kind === "stuck" ? result : null;
}

function byInvocation(a: Op, b: Op): number {
  return compareNumbers(a.invokeMs, b.invokeMs) || a.id - b.id;
}

function explainStuck(key: string, witness: Witness, keyOpCount: number): string {
  const { stuck } = witness;
  const heldValue = stuck.heldBy === null ? "" : stuck.heldBy.value;
  const held = stuck.heldBy === null ? `the initial value ""` : `${quote(heldValue)}, written by ${opLabel(stuck.heldBy)}`;
  const furthest = `at the furthest point the search reached (${stuck.placedCount} of ${stuck.opCount} ops placed), the register held ${held}`;
  const header = `key ${quote(key)}: not linearizable (a witness: ${witness.ops.length} of the key's ${keyOpCount} ops). `;
  if (stuck.op.kind === "get") {
    return `${header}${describeOp(stuck.op)}, but no order consistent with real time allows it: ${furthest}.`;
  }
  const reader = latestReaderOf(witness.ops, heldValue);
  const blocked = reader === null ? "" : `, which ${opLabel(reader)} returned later, so no SET could overwrite it yet`;
  return `${header}${describeOp(stuck.op)}, but no order consistent with real time lets it take effect before it completed: ${furthest}${blocked}.`;
}

function latestReaderOf(ops: readonly Op[], value: string): Op | null {
  let latest: Op | null = null;
  for (const op of ops) {
    if (op.kind === "get" && op.outcome === "ok" && op.value === value && (latest === null || op.invokeMs > latest.invokeMs)) latest = op;
  }
  return latest;
}

/** E.g. `GET #7 by client "c2" (invoked 40 ms, completed 45 ms) returned "v3"`. */
export function describeOp(op: Op): string {
  return `${opLabel(op)} ${op.kind === "get" ? "returned" : "wrote"} ${quote(op.value)}`;
}

function opLabel(op: Op): string {
  const completed = op.completeMs === null ? "never completed" : `completed ${op.completeMs} ms`;
  const outcome = op.outcome === "ok" ? "" : `, outcome ${op.outcome}`;
  return `${op.kind.toUpperCase()} #${op.id} by client ${quote(op.clientId)} (invoked ${op.invokeMs} ms, ${completed}${outcome})`;
}

function quote(s: string): string {
  const shown = s.length > 40 ? `${s.slice(0, 40)}...` : s;
  return JSON.stringify(shown);
}

// ---------------------------------------------------------------- small helpers

function at<T>(xs: ArrayLike<T>, i: number): T {
  const x = xs[i];
  if (x === undefined) throw new Error(`raft-lease linearizability: index ${i} out of range ${xs.length}`);
  return x;
}
