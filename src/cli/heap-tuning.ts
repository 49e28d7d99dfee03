// The V8 heap setting `raft-node serve` gives itself: V8 starts a full garbage collection once the
// heap grows HEAP_GROWING_PERCENT past what the previous one kept, instead of V8's own factor.
//
// Why (measured with bench/soak.mjs, 3 nodes, 100,000 keys, 128 concurrent SETs): a node keeps
// about 50-60 MB of live heap, but V8 picks its growing factor from how fast the old generation
// fills compared to how fast it can mark, and under a steady write load that factor reached its
// maximum, 4: heaps of 180-240 MB before each collection, and 250-360 MB RSS. With 50% the same
// run peaked at 145-175 MB RSS, for about twice as many full collections (17-24 instead of 8-13
// in 120 s, under 1 s of collection time in all).
//
// It only makes collections earlier; it raises no limit and lowers none: a node with 10 times the
// data keeps 1.5 times its live heap instead of up to 4 times, and still has V8's whole heap limit
// (--max-old-space-size). A user's own --heap-growing-percent (in NODE_OPTIONS or as a node flag)
// wins. The flag is set at run time: V8 reads it each time it computes the next limit. The young
// generation's size (--max-semi-space-size) cannot be set that way; NODE_OPTIONS can.

import { setFlagsFromString } from "node:v8";

export const HEAP_GROWING_PERCENT = 50;
const FLAG = "--heap-growing-percent";

/** Sets the heap growing percent unless the user set one; returns the flag set, or null. */
export function tuneHeap(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env["NODE_OPTIONS"] ?? "", setFlags = setFlagsFromString): string | null {
  const userSetIt = [...execArgv, ...nodeOptions.split(/\s+/)].some((a) => a.replace(/_/g, "-").startsWith(FLAG));
  if (userSetIt) return null;
  const flag = `${FLAG}=${HEAP_GROWING_PERCENT}`;
  setFlags(flag);
  return flag;
}
