// Negative controls: each deliberately broken protocol variant (--mutate) must be caught by the
// checkers in its matching scenario, and clocks beyond the drift bound must break lease safety.
// The seeds are known catchers (from `node scripts/soak.mjs --mutations`, which gives the full
// figures over 500 seeds); if a change to the core or the simulator moves them, rerun that
// script and update the lists here.

import { describe, expect, it } from "vitest";
import { MUTATIONS, type Mutation } from "../../src/raft/index.js";
import { MUTATION_SCENARIOS, runSimulation, simOptions, type RunResult } from "../../src/runtime/sim/index.js";

/** Known catching seeds of the mutation's home scenario (MUTATION_SCENARIOS). */
interface Control {
  readonly seeds: readonly number[];
  readonly properties: readonly string[];
}

const CONTROLS: Record<Mutation, Control> = {
  "no-lease-wait": { seeds: [2, 7, 8], properties: ["lease safety"] },
  "lease-from-receive": { seeds: [1, 5, 7], properties: ["lease safety"] },
  "restart-forgets-lease": { seeds: [7, 21, 38], properties: ["lease safety"] },
  "commit-old-term": { seeds: [19, 100, 101], properties: ["leader completeness", "state machine safety", "core invariant"] },
  // A leader (or candidate) that votes for another trips the core's own invariant first, most often.
  "vote-twice": { seeds: [2, 11, 16], properties: ["election safety", "core invariant"] },
  "reply-current-term": { seeds: [1, 2, 4], properties: ["lease safety"] },
  // A node that acknowledged entries only in its page cache loses them in the power loss, and
  // restarts with a commit index past its log (the output contract's restart check).
  "trust-page-cache": { seeds: [17, 42, 67], properties: ["output contract"] },
  // The checker applies the committed log itself and compares every snapshot with its state.
  "snapshot-forgets-sessions": { seeds: [1, 2, 3], properties: ["state machine safety"] },
  // A late copy of an older snapshot makes the follower undo entries it had applied.
  "install-older-snapshot": { seeds: [9, 10, 17], properties: ["state machine safety", "output contract"] },
  // A leader cut off from the voters commits with a learner that joined beside it; the voters'
  // new leader lacks those entries (351 of 500 seeds).
  "learner-in-quorum": { seeds: [2, 3, 7], properties: ["leader completeness", "state machine safety", "lease safety"] },
  // The old leader reads on after TimeoutNow while slow links delay the new term (207 of 500 seeds).
  "transfer-keeps-lease": { seeds: [1, 4, 5], properties: ["lease safety"] },
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
    const scenario = MUTATION_SCENARIOS[m];
    it(`${m} is caught by ${c.properties.join(" or ")} in ${scenario}`, () => {
      const r = firstCatch(scenario, c.seeds, { mutation: m });
      expect(r, `no seed of ${c.seeds.join(", ")} caught ${m}; rerun node scripts/soak.mjs --mutations`).not.toBeNull();
      expect(c.properties).toContain(r!.violation!.property);
      expect(r!.violation!.replay).toBe(`raft-sim run --seed ${r!.options.seed} --scenario ${scenario} --mutate ${m}`);
    });
  }

  it("the same seeds pass without the mutation", () => {
    for (const m of MUTATIONS) {
      const r = runSimulation(simOptions({ seed: String(CONTROLS[m].seeds[0]), scenario: MUTATION_SCENARIOS[m] }));
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
