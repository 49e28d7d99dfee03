// Majorities: the largest value that a quorum of members has reached.

import { assert } from "./types.js";

/**
 * The largest v such that at least `quorum` of `values` are >= v (the quorum-th largest).
 * Used for the commit index (over match indexes) and the lease start (over ack send times).
 * Allocation-free and O(n²): clusters are small and this runs on every leader step.
 */
export function quorumValue(values: ArrayLike<number>, quorum: number): number {
  const n = values.length;
  assert(quorum >= 1 && quorum <= n, () => `quorum ${quorum} of ${n} values`);
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
