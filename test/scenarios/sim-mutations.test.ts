// Negative controls: each deliberately broken protocol variant (--mutate) must be caught by the
// checkers in its matching scenario, and clocks beyond the drift bound must break lease safety.
// The seeds are known catchers (from `node scripts/soak.mjs --mutations`, which gives the full
// figures over 500 seeds); if a change to the core or the simulator moves them, rerun that
// script and update the lists here.

import { describe, expect, it } from "vitest";
import { MUTATIONS, type Mutation } from "../../src/raft/index.js";
import { runSimulation, simOptions, type RunResult } from "../../src/runtime/sim/index.js";

interface Control {
  readonly scenario: string;
  readonly seeds: readonly number[];
  readonly properties: readonly string[];
}

const CONTROLS: Record<Mutation, Control> = {
  "no-lease-wait": { scenario: "lease-handover", seeds: [2, 7, 8], properties: ["lease safety"] },
  "lease-from-receive": { scenario: "lease-handover", seeds: [1, 5, 7], properties: ["lease safety"] },
  "restart-forgets-lease": { scenario: "lease-handover", seeds: [7, 21, 38], properties: ["lease safety"] },
  "commit-old-term": { scenario: "leader-churn", seeds: [19, 100, 101], properties: ["leader completeness", "state machine safety", "core invariant"] },
  // A leader (or candidate) that votes for another trips the core's own invariant first, most often.
  "vote-twice": { scenario: "leader-crash", seeds: [2, 11, 16], properties: ["election safety", "core invariant"] },
  "reply-current-term": { scenario: "stale-replies", seeds: [1, 2, 4], properties: ["lease safety"] },
};

function firstCatch(scenario: string, seeds: readonly number[], extra: { mutation?: Mutation; clockBeyondBound?: boolean }): RunResult | null {
  for (const seed of seeds) {
    const r = runSimulation(simOptions({ seed: String(seed), scenario, ...extra }));
    if (!r.ok) return r;
  }
  return null;
}

describe("every mutation is caught in its matching scenario", () => {
  it("has a control for every mutation the core knows", () => {
    expect(Object.keys(CONTROLS).sort()).toEqual([...MUTATIONS].sort());
  });

  for (const m of MUTATIONS) {
    const c = CONTROLS[m];
    it(`${m} is caught by ${c.properties.join(" or ")} in ${c.scenario}`, () => {
      const r = firstCatch(c.scenario, c.seeds, { mutation: m });
      expect(r, `no seed of ${c.seeds.join(", ")} caught ${m}; rerun node scripts/soak.mjs --mutations`).not.toBeNull();
      expect(c.properties).toContain(r!.violation!.property);
      expect(r!.violation!.replay).toBe(`raft-sim run --seed ${r!.options.seed} --scenario ${c.scenario} --mutate ${m}`);
    });
  }

  it("the same seeds pass without the mutation", () => {
    for (const m of MUTATIONS) {
      const r = runSimulation(simOptions({ seed: String(CONTROLS[m].seeds[0]), scenario: CONTROLS[m].scenario }));
      expect(r.violation, `${m}'s seed without the mutation: ${r.violation?.message}`).toBeNull();
    }
  });
});

describe("clocks beyond the drift bound", () => {
  it("break lease safety, and the lease checker says so", () => {
    const r = firstCatch("clock-drift", [15, 20, 37], { clockBeyondBound: true });
    expect(r).not.toBeNull();
    expect(r!.violation!.property).toBe("lease safety");
    expect(r!.violation!.message).toMatch(/could both serve lease reads/);
    expect(r!.violation!.replay).toMatch(/--clock-beyond-bound$/);
  });
});
