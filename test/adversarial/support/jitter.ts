// Election jitter as a constant per node, so a scripted test decides who times out first:
// r = 0 gives the election timeout minimum, r near 1 the maximum.

import type { NodeId, Random } from "../../../src/raft/index.js";

export function jitter(byNode: Record<number, number>): (id: NodeId) => Random {
  return (id) => {
    const r = byNode[id];
    if (r === undefined || r < 0 || r >= 1) throw new Error(`harness: no jitter in [0, 1) for node ${id}`);
    return () => r;
  };
}
