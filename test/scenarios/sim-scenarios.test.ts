// Every named scenario of `raft-sim list`, simulated: seed 42 passes every check, and two runs
// of the same options print the same bytes (summary and trace).

import { describe, expect, it } from "vitest";
import { formatRunSummary, runSimulation, SCENARIOS, simOptions, type RunResult, type SimOptions } from "../../src/runtime/sim/index.js";

function run(o: Partial<SimOptions> & { seed: string; scenario: string }): { result: RunResult; text: string } {
  const lines: string[] = [];
  const result = runSimulation(simOptions({ ...o, trace: (l) => lines.push(l) }));
  return { result, text: lines.join("\n") + "\n" + formatRunSummary(result) };
}

describe("every scenario, seed 42", () => {
  for (const name of SCENARIOS.keys()) {
    it(`${name} passes and replays byte for byte`, () => {
      const a = run({ seed: "42", scenario: name });
      expect(a.result.violation, a.result.violation?.message).toBeNull();
      expect(a.result.stats.events).toBeGreaterThan(1000);
      const b = run({ seed: "42", scenario: name });
      expect(b.text).toBe(a.text);
    });
  }
});

describe("cluster sizes", () => {
  for (const [scenario, nodes] of [
    ["spec-startup", 1],
    ["swarm", 1],
    ["partition", 2],
    ["leader-crash", 3],
    ["lease-expiry", 3],
    ["no-quorum", 3],
    ["lease-handover", 3],
    ["swarm", 7],
  ] as const) {
    it(`${scenario} with ${nodes} nodes passes`, () => {
      const { result } = run({ seed: "7", scenario, nodes });
      expect(result.violation, result.violation?.message).toBeNull();
    });
  }
});

describe("the scenarios' own assertions", () => {
  it("lease-expiry: the GET inside the lease and the step-down are checked each cycle", () => {
    const { result } = run({ seed: "3", scenario: "lease-expiry" });
    const names = Object.keys(result.checks).filter((k) => k.startsWith("scenario: "));
    expect(names.some((k) => /a GET inside the lease is served/.test(k))).toBe(true);
    expect(names.some((k) => /the leader steps down when its lease runs out/.test(k))).toBe(true);
  });

  it("spec-two-alive: nothing succeeds and no leader is elected with only 2 of 5 alive", () => {
    const { result } = run({ seed: "5", scenario: "spec-two-alive" });
    expect(result.violation).toBeNull();
    expect(result.stats.opsInvoked).toBeGreaterThan(0);
    expect(result.stats.opsOk).toBe(0);
    expect(result.leadersPerTerm).toEqual([]);
  });

  it("no-quorum: after a majority dies for good, its own check (no leader, nothing succeeds) runs and passes", () => {
    const { result } = run({ seed: "5", scenario: "no-quorum" });
    expect(result.violation).toBeNull();
    expect(result.stats.crashes).toBe(3);
    expect(result.stats.restarts).toBe(0);
    expect(result.stats.opsOk).toBeGreaterThan(0); // before the majority died
    expect(result.stats.opsFailed + result.stats.opsUnknown).toBeGreaterThan(0); // after it
    expect(result.checks["scenario: no leader and no successful operation without a majority"]).toBe(1);
  });

  it("the trace holds the exercise's dump lines with simulated time and node", () => {
    const { text } = run({ seed: "42", scenario: "spec-sets-gets" });
    expect(text).toMatch(/^ +\d+\.\d{3} ms {2}n\d +Node \d became the leader for term \d+\.$/m);
    expect(text).toMatch(/Leader \d sending heartbeat & Renewing Lease/);
    expect(text).toMatch(/Node \d \(leader\) received an SET x 6 request\./);
    expect(text).toMatch(/Node \d \(follower\) committed the entry SET z 8 to the state machine\./);
  });
});
