// Majorities: the largest value that a quorum of members has reached.

import { broken } from "./types.js";

/**
 * The largest v such that at least `quorum` of the first `n` values are >= v (the quorum-th
 * largest). Used for the commit index (over match indexes) and the lease start (over ack send
 * times). Allocation-free and O(n²): clusters are small and this runs on every leader step.
 * Callers pass a scratch array and how much of it they filled: emptying one with `length = 0`
 * made V8 free its storage, and the next fill allocate it again.
 */
export function quorumValue(values: ArrayLike<number>, quorum: number, n: number = values.length): number {
  if (quorum < 1 || quorum > n) broken(`quorum ${quorum} of ${n} values`);
  let best = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (v <= best) continue;
    let atLeast = 0;
    for (let j = 0; j < n; j++) if (values[j]! >= v) atLeast++;
    if (atLeast >= quorum) best = v;
  }
  return best;
}
