// The V8 heap settings `raft-node serve` gives itself, measured with bench/soak.mjs (3 nodes,
// 100,000 keys, 128 concurrent SETs, 100-byte values):
//
// 1. The old generation: V8 starts a full garbage collection once the heap grows
//    HEAP_GROWING_PERCENT past what the previous one kept, instead of V8's own factor. A node keeps
//    about 50-60 MB of live heap, but V8 picks its growing factor from how fast the old generation
//    fills compared to how fast it can mark, and under a steady write load that factor reached its
//    maximum, 4: heaps of 180-240 MB before each collection, and 250-360 MB RSS. With 50% the same
//    run peaked at 145-175 MB RSS, for about twice as many full collections (17-24 instead of 8-13
//    in 120 s, under 1 s of collection time in all). It raises no limit and lowers none: a node
//    with 10 times the data keeps 1.5 times its live heap instead of up to 4 times, and still has
//    V8's whole heap limit (--max-old-space-size).
//
// 2. The young generation: V8 doubles it while objects keep surviving scavenges, up to two
//    16 MB semi-spaces. On a leader serving 128 concurrent calls it always reaches them, and the
//    leader's RSS peaked at 190-207 MB. Capped at YOUNG_GENERATION_MIB_MAX (two 8 MB semi-spaces)
//    the same 120 s run peaked at 135-163 MB, at the same ops/s and p99. The maximum can only be
//    set when the process starts, so the cap works on the growth instead: V8 reads
//    --semi-space-growth-factor each time it grows the young generation (at the end of a
//    scavenge), and after every garbage collection the cap sets it to 1 (no growth) while the
//    young generation is at the cap, and back to V8's 2 below it. (A 200 ms timer was too slow: on
//    a busy machine the young generation grew twice between two checks.)
//
// A user's own flag (in NODE_OPTIONS or as a node flag, either spelling) wins over each setting.

import { PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
import { userSetFlag } from "../runtime/v8-flags.js";

export const HEAP_GROWING_PERCENT = 50;
export const YOUNG_GENERATION_MIB_MAX = 16;
const GROWTH_FACTOR_V8 = 2;
const MiB = 1024 * 1024;

/** Sets the heap growing percent unless the user set one; returns the flag set, or null. */
export function tuneHeap(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env["NODE_OPTIONS"] ?? "", setFlags = setFlagsFromString): string | null {
  if (userSetFlag(["--heap-growing-percent"], execArgv, nodeOptions)) return null;
  const flag = `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
  setFlags(flag);
  return flag;
}

/** The young generation's size now, in MiB (both semi-spaces). */
function youngGenerationMiB(): number {
  const space = getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
  return space === undefined ? 0 : space.space_size / MiB;
}

export interface YoungGenerationCap {
  /** One check: sets the growth factor for the young generation's size now; returns it when it changed. */
  check(): number | null;
  stop(): void;
}

/** Calls `f` after every garbage collection, soon after it (V8 reports them in a batch); returns how to stop. */
function afterEachCollection(f: () => void): () => void {
  const observer = new PerformanceObserver(f);
  observer.observe({ entryTypes: ["gc"] });
  return () => observer.disconnect();
}

/**
 * Keeps the young generation at most YOUNG_GENERATION_MIB_MAX, unless the user sized it; returns
 * the running cap, or null. `deps` are given in tests, which call check() themselves.
 */
export function capYoungGeneration(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions = process.env["NODE_OPTIONS"] ?? "",
  deps = { setFlags: setFlagsFromString, sizeMiB: youngGenerationMiB, afterEachCollection },
): YoungGenerationCap | null {
  if (userSetFlag(["--max-semi-space-size", "--semi-space-growth-factor", "--max-heap-size"], execArgv, nodeOptions)) return null;
  let factor = GROWTH_FACTOR_V8;
  const check = (): number | null => {
    const want = deps.sizeMiB() >= YOUNG_GENERATION_MIB_MAX ? 1 : GROWTH_FACTOR_V8;
    if (want === factor) return null;
    factor = want;
    deps.setFlags(`--semi-space-growth-factor=${want}`);
    return want;
  };
  const stop = deps.afterEachCollection(() => void check());
  return { check, stop };
}
