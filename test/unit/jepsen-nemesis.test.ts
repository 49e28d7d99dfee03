// The nemesis' schedule where it needs no root: `--nemesis none` is a fault phase without
// faults, which must still last --seconds (the clients run through it), and touches nothing.

import { describe, expect, it } from "vitest";
import { Nemesis } from "../../src/jepsen/nemesis.js";
import type { Cluster } from "../../src/jepsen/nodes.js";
import type { NetLayout } from "../../src/jepsen/netns.js";
import { TIMING_FAST } from "../../src/raft/index.js";

describe("the none nemesis", () => {
  it("lasts until the end of the fault phase, touching neither the cluster nor the network", async () => {
    const start = performance.now();
    const nowMs = (): number => performance.now() - start;
    const untouchable = new Proxy({}, { get: (_, p) => { throw new Error(`the none nemesis used ${String(p)}`); } });
    const nemesis = new Nemesis({
      nemesis: "none", faults: null, cluster: untouchable as Cluster, net: untouchable as NetLayout, rng: () => 0.5, driftPpm: 20_000, clockBeyondBound: false,
      timing: TIMING_FAST, nowMs, findLeader: async () => null, pauseWrites: () => undefined, log: () => undefined,
    });
    await nemesis.run(400);
    expect(nowMs()).toBeGreaterThanOrEqual(395);
    expect(nemesis.bands).toEqual([]);
  });
});
