// What `npm run bench:sim` simulates, in one place: bench/sim.mjs times it, bench/sim-instructions.mjs
// counts its instructions. A 5-node cluster (fast timing: 100 ms heartbeat) under swarm faults for
// 60 simulated seconds per seed, its clients asking for 200 operations per simulated second.

export const SIM_BENCH_OPTIONS = { scenario: "swarm", nodes: 5, durationMs: 60_000, timing: "fast", opsPerSecond: 200 };

export const SIM_BENCH_SEEDS = 5;

/** The seed of the bench's run number `i` (1 to the number of seeds). */
export function simBenchSeed(i) {
  return `bench-${i}`;
}
