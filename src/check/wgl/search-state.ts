// The search state and the cache of visited states. The state is kept small on purpose: its
// size is bounded by how many ops overlap in time, not by the length of the history.

import { atInt, atWord } from "./arrays.js";
import type { SearchOp } from "./prepare.js";
import { INITIAL_VALUE_ID } from "./values.js";

/**
 * The search state. Ops are indexed in call order. low is the first required op not placed
 * (every required op before it is placed) and high the last placed op, so the placed set is
 * determined by (low, high, the bits from low's word to high's word, the placed optional
 * ops): a key of a few words, bounded by concurrency rather than by the length of the history.
 * hash is the XOR of the placed ops' random hashes.
 */
export interface SearchState {
  valueId: number;
  hash: number;
  low: number;
  high: number; // -1 when nothing is placed
  readonly bits: Uint32Array; // placed ops
  readonly optionalRank: Int32Array; // op index -> index in optionalBits, -1 if required
  readonly optionalBits: Uint32Array; // placed optional ops
}

export function newSearchState(searchOps: readonly SearchOp[]): SearchState {
  const optionalRank = new Int32Array(searchOps.length).fill(-1);
  let optionalCount = 0;
  // A loop: forEach called its arrow once per op.
  for (let i = 0; i < searchOps.length; i++) if (!searchOps[i]!.required) optionalRank[i] = optionalCount++;
  const state = { valueId: INITIAL_VALUE_ID, hash: 0, low: 0, high: -1, bits: new Uint32Array(words(searchOps.length)), optionalRank, optionalBits: new Uint32Array(words(optionalCount)) };
  state.low = nextLow(state, 0);
  return state;
}

/** The first op at or after from that is required and not placed. */
export function nextLow(state: SearchState, from: number): number {
  let low = from;
  while (low < state.optionalRank.length && (hasBit(state.bits, low) || atInt(state.optionalRank, low) >= 0)) low++;
  return low;
}

const EMPTY_WORDS = new Uint32Array(0);
const EMPTY_SLOTS = new Int32Array(0);

/**
 * Explored states: an open-addressing hash table of offsets into one growing arena of encoded
 * states, so recording a state allocates nothing. An arena record is
 * [hash, valueId, low, high, ...optionalBits, ...bits of the words from low's to high's].
 * Invariant: the table is at most half full.
 */
export class StateCache {
  private arena = EMPTY_WORDS;
  private arenaUsed = 0;
  private table = EMPTY_SLOTS; // arena offset + 1; 0 is an empty slot
  private count = 0;

  constructor(private readonly opCount: number) {}

  has(state: SearchState): boolean {
    if (this.count === 0) return false;
    const hash = stateHash(state);
    const mask = this.table.length - 1;
    for (let slot = hash & mask, taken = atInt(this.table, slot); taken !== 0; slot = (slot + 1) & mask, taken = atInt(this.table, slot)) {
      if (this.arena[taken - 1] === hash && this.matches(taken - 1, state)) return true;
    }
    return false;
  }

  /** Records a state not recorded yet. */
  add(state: SearchState): void {
    if (this.table.length === 0) this.allocate();
    const hash = stateHash(state);
    const mask = this.table.length - 1;
    let slot = hash & mask;
    while (atInt(this.table, slot) !== 0) slot = (slot + 1) & mask;
    this.table[slot] = this.append(hash, state) + 1;
    this.count++;
    if (2 * this.count > this.table.length) this.growTable();
  }

  /**
   * Made at the first state recorded: a search that never backtracks records none. Sized for
   * `opCount` states so that it rarely grows: growing the table rehashed every state.
   */
  private allocate(): void {
    this.table = new Int32Array(Math.max(1 << 10, powerOfTwoAtLeast(2 * this.opCount + 2)));
    this.arena = new Uint32Array(Math.max(1 << 12, ARENA_WORDS_PER_OP * this.opCount));
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
    // Word by word: a subarray to copy from was a new object per state.
    for (let w = firstWord, o = offset + 4 + state.optionalBits.length; w < endWord; w++, o++) arena[o] = state.bits[w]!;
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
      let slot = atWord(this.arena, taken - 1) & mask;
      while (this.table[slot] !== 0) slot = (slot + 1) & mask;
      this.table[slot] = taken;
    }
  }
}

function stateHash(state: SearchState): number {
  return (state.hash ^ Math.imul(state.valueId + 1, 0x9e3779b1)) >>> 0;
}

/** A state's arena record is 4 words, the optional ops' bits, and a word or two of placed bits. */
const ARENA_WORDS_PER_OP = 8;

function powerOfTwoAtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function bitsWindow(state: SearchState): { readonly firstWord: number; readonly endWord: number } {
  return { firstWord: state.low >>> 5, endWord: state.high < 0 ? 0 : (state.high >>> 5) + 1 };
}

function words(bitCount: number): number {
  return (bitCount + 31) >>> 5;
}

function hasBit(bits: Uint32Array, i: number): boolean {
  return (atWord(bits, i >>> 5) & (1 << (i & 31))) !== 0;
}

export function flipBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5] = atWord(bits, i >>> 5) ^ (1 << (i & 31));
}

/**
 * Deterministic per-op hashes (mulberry32 with a fixed seed): same history, same search. Op i's
 * hash depends on i alone, so every search reads a prefix of one sequence, kept here and extended
 * when a search has more ops than any before; nothing writes to it once made (the search only
 * reads its hashes), so it never needs to be made again. Made per search, it was a loop over the
 * key's ops for every key checked.
 */
export function randomHashes(n: number): Int32Array {
  if (n > hashPrefix.length) hashPrefix = mulberryHashes(Math.max(n, 2 * hashPrefix.length));
  return hashPrefix.subarray(0, n);
}

let hashPrefix: Int32Array = new Int32Array(0);

function mulberryHashes(n: number): Int32Array {
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
