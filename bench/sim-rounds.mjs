// The child of bench/sim-instructions.mjs: runs the bench's seeds (bench/sim-config.mjs) `rounds`
// times in this thread, every checker on, as a worker of bench/sim.mjs runs them, and prints one
// JSON line per round. Its parent runs it under cachegrind with the young generation the
// simulator's workers get.
//
//   node bench/sim-rounds.mjs ROUNDS SEEDS

import { Simulation, simOptions } from "../dist/runtime/sim/index.js";
import { SIM_BENCH_OPTIONS, simBenchSeed } from "./sim-config.mjs";

const rounds = Number(process.argv[2]);
const seeds = Number(process.argv[3]);
if (!(Number.isInteger(rounds) && rounds >= 1 && Number.isInteger(seeds) && seeds >= 1)) {
  console.error("usage: node bench/sim-rounds.mjs ROUNDS SEEDS (whole numbers, at least 1)");
  process.exit(2);
}

for (let round = 1; round <= rounds; round++) {
  let events = 0;
  let simulatedMs = 0;
  let violations = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const r = new Simulation(simOptions({ ...SIM_BENCH_OPTIONS, seed: simBenchSeed(seed) })).run();
    events += r.stats.events;
    simulatedMs += r.endMs;
    if (!r.ok) violations += 1;
  }
  console.log(JSON.stringify({ round, rounds, events, simulatedMs, violations }));
}
