// Majorities: the largest value that a quorum of members has reached.

import { assert } from "./types.js";

/**
 * The largest v such that at least `quorum` of `values` are >= v.
 * Used for the commit index (over match indexes) and the lease start (over ack send times).
 */
export function quorumValue(values: readonly number[], quorum: number): number {
  assert(quorum >= 1 && quorum <= values.length, `quorum ${quorum} of ${values.length} values`);
  const sorted = [...values].sort((a, b) => b - a);
  return sorted[quorum - 1]!;
}
