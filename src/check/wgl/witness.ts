// Shrinking a failing key's history to a small witness that still fails.

import type { Op } from "../history.js";
import { compareNumbers } from "./arrays.js";
import { buildEntries } from "./entries.js";
import { prepareKey } from "./prepare.js";
import { WglSearch, type Stuck } from "./search.js";

export interface Witness {
  readonly ops: readonly Op[];
  readonly stuck: Stuck;
}

/**
 * Shrinks a failing key history, delta-debugging style: drop chunks of ops, halving the chunk
 * size. Dropping a GET, or a SET together with every GET of its value, only relaxes a history,
 * so a sub-history that still fails is itself a genuine violation of the original.
 */
export function shrinkWitness(ops: readonly Op[], stuck: Stuck, stepsMax: number): Witness {
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

/** The order a witness lists its ops in. */
export function byInvocation(a: Op, b: Op): number {
  return compareNumbers(a.invokeMs, b.invokeMs) || a.id - b.id;
}
