// The simulator tells a leader that writes in parallel how far its log is durable only when that
// moved: a sync that made only a hard state durable (a commit index) is no news, as the gRPC
// runtime reports only writes that appended.

import { afterEach, describe, expect, it } from "vitest";
import { RaftNode, type FullOutput, type Input } from "../../src/raft/index.js";
import { Simulation, simOptions } from "../../src/runtime/sim/index.js";

const originalStep = RaftNode.prototype.step;

afterEach(() => {
  RaftNode.prototype.step = originalStep;
});

describe("persisted reports in the simulator", () => {
  it("never repeat the durable log end a node's core was last told", () => {
    const last = new Map<RaftNode, string>();
    let reports = 0;
    let repeats = 0;
    RaftNode.prototype.step = function (this: RaftNode, input: Input): FullOutput {
      if (input.type === "persisted") {
        reports += 1;
        const at = `${input.index}/${input.term}`;
        if (last.get(this) === at) repeats += 1;
        last.set(this, at);
      }
      return originalStep.call(this, input);
    };
    // A seed whose leaders write in parallel and commit often (before this rule: 1,753 of its 4,479 reports repeated the one before).
    const r = new Simulation(simOptions({ scenario: "swarm", nodes: 5, durationMs: 60_000, timing: "fast", opsPerSecond: 200, seed: "bench-1" })).run();
    expect(r.ok).toBe(true);
    expect(reports).toBeGreaterThan(100);
    expect(repeats).toBe(0);
  });
});
