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
//
// The parts live in wgl/: values.ts (what the ops say of each value read), prepare.ts (the
// reductions), entries.ts (the entries list), search.ts and search-state.ts (the search and its
// memo), witness.ts (shrinking), explain.ts (the message).

import { assertNever } from "../raft/index.js";
import type { History, Op } from "./history.js";
import { describeOp, explainStuck, opLabel, quote } from "./wgl/explain.js";
import { searchKey } from "./wgl/search.js";
import { hasImpossibleRead, valueTable } from "./wgl/values.js";
import { byInvocation, shrinkWitness } from "./wgl/witness.js";

export { describeOp } from "./wgl/explain.js";

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

export function checkLinearizable(history: History, options: CheckOptions = {}): CheckResult {
  const byKey = validateAndGroup(history);
  for (const [key, ops] of byKey) {
    const failure = checkKey(key, ops, options);
    if (failure !== null) return failure;
  }
  return { ok: true, keys: byKey.size, ops: history.length };
}

function checkKey(key: string, ops: readonly Op[], options: CheckOptions): CheckFailure | null {
  const stepsMax = options.stepsMaxPerKey ?? STEPS_MAX_PER_KEY_DEFAULT;
  const values = valueTable(ops);
  // The screen finds whether there is an impossible read; findImpossibleRead finds which one.
  const impossible = hasImpossibleRead(values) ? findImpossibleRead(key, ops) : null;
  if (impossible !== null) return impossible;
  const result = searchKey(ops, stepsMax, values);
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

/**
 * Checks every op and groups the ops by key, in one pass over the history (two passes read every
 * op twice). An invalid op throws, the first one in history order, as a pass of checks alone would.
 */
function validateAndGroup(history: History): Map<string, Op[]> {
  // Recorded ids are 0..n-1: a flag per id finds a repeat; other ids go to a set.
  const seen = new Uint8Array(history.length);
  const ids = new Set<number>();
  const byKey = new Map<string, Op[]>();
  for (let k = 0; k < history.length; k++) {
    const op = history[k]!;
    validateOp(op, seen, ids);
    const ops = byKey.get(op.key);
    if (ops === undefined) byKey.set(op.key, [op]);
    else ops.push(op);
  }
  return byKey;
}

function validateOp(op: Op, seen: Uint8Array, ids: Set<number>): void {
  const id = op.id;
  const small = Number.isInteger(id) && id >= 0 && id < seen.length;
  if (small ? seen[id] === 1 : ids.has(id)) throw new Error(`${where(op)}: the id is used twice; give every op its own id`);
  if (small) seen[id] = 1;
  else ids.add(id);
  if (!Number.isFinite(op.invokeMs)) throw new Error(`${where(op)}: invokeMs is ${op.invokeMs}; record true simulator time`);
  if (op.completeMs === null && op.outcome !== "unknown") {
    throw new Error(`${where(op)}: outcome "${op.outcome}" without completeMs; an op that never completed is "unknown"`);
  }
  if (op.completeMs !== null && !(op.completeMs >= op.invokeMs)) {
    throw new Error(`${where(op)}: completes at ${op.completeMs} ms, before its invocation at ${op.invokeMs} ms`);
  }
}

/** Names an op in an error (built only when there is one: the history holds thousands of ops). */
function where(op: Op): string {
  return `history op #${op.id} (${op.kind} ${quote(op.key)} by client ${quote(op.clientId)})`;
}

/** The cheap, precise diagnosis: a GET returned a value no possibly-applied SET could give it. */
function findImpossibleRead(key: string, ops: readonly Op[]): CheckFailure | null {
  // The writers of each value an ok GET returned (null: none yet); most values are never read.
  const writersByValue = new Map<string, Op[] | null>();
  for (const op of ops) if (op.kind === "get" && op.outcome === "ok" && op.value !== "") writersByValue.set(op.value, null);
  for (const op of ops) {
    if (op.kind !== "set") continue;
    const writers = writersByValue.get(op.value);
    if (writers === null) writersByValue.set(op.value, [op]);
    else writers?.push(op);
  }
  for (const get of ops) {
    if (get.kind !== "get" || get.outcome !== "ok" || get.value === "") continue;
    const writers = writersByValue.get(get.value) ?? NO_OPS;
    const why = impossibleReadReason(get, writers);
    if (why !== null) return { ok: false, key, ops: [get, ...writers].sort(byInvocation), message: `key ${quote(key)}: not linearizable. ${describeOp(get)}, ${why}` };
  }
  return null;
}

const NO_OPS: readonly Op[] = [];

function impossibleReadReason(get: Op, writers: readonly Op[]): string | null {
  const completeMs = get.completeMs ?? Infinity;
  if (writers.length === 0) return "but no SET of this key ever wrote that value.";
  // The earliest invoked writer that did not definitely fail (the first of equals), if any.
  let earliest: Op | null = null;
  for (const w of writers) if (w.outcome !== "fail" && (earliest === null || w.invokeMs < earliest.invokeMs)) earliest = w;
  if (earliest === null) {
    return `but only ${writers.map(opLabel).join(" and ")} wrote that value, and the system said it definitely failed (not applied).`;
  }
  if (earliest.invokeMs > completeMs) {
    return `before any SET of that value was invoked: the first, ${opLabel(earliest)}, came after the GET completed.`;
  }
  return null;
}
