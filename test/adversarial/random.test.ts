// Seeded random schedules against every rule at once. Each seed's run is checked after every
// step (safety), over all of true time (lease), over the client history (stale reads), and at
// the end (liveness). A failure names the seed and the command that replays it.
//
// Seeds vary the cluster size (3 or 5), the lease (800 or 990 ms, just below the election
// minimum) and whether a leader writes its own log in parallel with its sends.
//
// ADV_SEEDS=<n> runs more seeds; ADV_SEED=<seed> replays one (with its trace printed).

import { describe, expect, it } from "vitest";
import { fuzz, type FuzzOptions } from "./support/fuzz.js";
import { handoverEpisodes, type HandoverOptions } from "./support/handover.js";
import { heartbeatTraffic } from "./support/traffic.js";
import type { World } from "./support/world.js";

const SEEDS = Number(process.env.ADV_SEEDS ?? 16);
const ONLY = process.env.ADV_SEED;

function seeds(prefix: string, count: number): string[] {
  return ONLY !== undefined ? [ONLY] : [...Array(count).keys()].map((i) => `${prefix}${i}`);
}

const sizeOf = (seed: string) => (seed.length % 2 === 0 ? 3 : 5);
const leaseOf = (seed: string) => (seed.charCodeAt(seed.length - 1) % 2 === 0 ? 990 : 800);
const parallelOf = (seed: string) => (seed.charCodeAt(seed.length - 1) >> 1) % 2 === 0;

function replay(file: string, seed: string): string {
  return `seed ${seed}; replay: ADV_SEED=${seed} npx vitest run test/adversarial/${file}`;
}

interface Run {
  readonly seed: string;
  readonly w: World;
  readonly trace: string[];
}

const fuzzRuns = new Map<string, Run>();
function fuzzRun(seed: string): Run {
  let run = fuzzRuns.get(seed);
  if (run === undefined) {
    const trace: string[] = [];
    const o: FuzzOptions = { seed, size: sizeOf(seed), leaseMs: leaseOf(seed), leaderPersistsInParallel: parallelOf(seed), trace };
    run = { seed, w: fuzz(o), trace };
    fuzzRuns.set(seed, run);
    if (ONLY !== undefined) console.log(trace.join("\n"));
  }
  return run;
}

describe("random schedules: delay, loss, duplication, reordering, drift within the bound, crashes, reboots, pauses, partitions", () => {
  it("election safety, one vote per term, leader append-only, log matching, leader completeness and state machine safety hold", () => {
    for (const seed of seeds("r", SEEDS)) {
      const { w } = fuzzRun(seed);
      expect(w.safety.violations, replay("random.test.ts", seed)).toEqual([]);
    }
  });

  it("no two nodes could serve lease reads at the same instant of true time, and no read is stale", () => {
    for (const seed of seeds("r", SEEDS)) {
      const { w } = fuzzRun(seed);
      expect([...w.leases.overlaps().map((o) => JSON.stringify(o)), ...w.history.staleReads()], replay("random.test.ts", seed)).toEqual([]);
    }
  });

  it("once faults stop: one leader, every node caught up, and a quiet period carries heartbeat traffic only", () => {
    for (const seed of seeds("r", SEEDS)) {
      const { w } = fuzzRun(seed);
      w.net.setDelivery(() => [1]);
      w.run(2500); // stragglers of the unreliable network arrive
      const leaders = w.leaders();
      expect(leaders.length, replay("random.test.ts", seed)).toBe(1);
      const periodMs = 2000;
      const budget = heartbeatTraffic(w, periodMs);
      expect(w.messagesSentOver(periodMs, budget * 10), `messages in a quiet period; ${replay("random.test.ts", seed)}`).toBeLessThanOrEqual(budget);
      const commit = w.status(leaders[0]!.id)!.commitIndex;
      expect(w.ids.map((id) => w.status(id)!.commitIndex), replay("random.test.ts", seed)).toEqual(w.ids.map(() => commit));
      expect(w.problems(), replay("random.test.ts", seed)).toEqual([]);
    }
  });
});

function handover(o: HandoverOptions): World {
  const trace: string[] = [];
  const w = handoverEpisodes({ ...o, trace });
  if (ONLY !== undefined) console.log(trace.join("\n"));
  return w;
}

describe("lease handover episodes: a new leader starts while the old lease may run", () => {
  it("no two lease holders overlap in true time under delay, duplication, reordering, drift within the bound, pauses and reboots with clocks that start over", () => {
    for (const seed of seeds("h", Math.ceil(SEEDS / 2))) {
      const w = handover({ seed, size: sizeOf(seed), leaseMs: leaseOf(seed), leaderPersistsInParallel: parallelOf(seed) });
      expect(w.problems(), replay("random.test.ts", seed)).toEqual([]);
    }
  });

  const controls: [string, Partial<HandoverOptions>][] = [
    ["a new leader that does not wait out the old lease (no-lease-wait)", { mutation: "no-lease-wait" }],
    ["a rebooted voter that forgets a lease may run (restart-forgets-lease)", { mutation: "restart-forgets-lease" }],
    ["clocks drifting 30% (300 times the bound)", { driftFactor: 300 }],
  ];
  for (const [what, broken] of controls) {
    it(`negative control: the episodes catch ${what}`, () => {
      const caught = seeds("h", 8).find((seed) => handover({ seed, size: sizeOf(seed), leaseMs: leaseOf(seed), ...broken }).leases.overlaps().length > 0);
      expect(caught, "no seed of 8 found an overlap").toBeDefined();
    });
  }
});
