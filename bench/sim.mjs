// Simulator benchmark: how much faster than real time the simulator runs a 5-node cluster (fast
// timing: 100 ms heartbeat) with about 200 client operations per simulated second and swarm
// faults, with every checker on. Build first: npm run build (or npx tsc -p tsconfig.json).
//
//   node bench/sim.mjs [--seeds 5] [--rounds 3]
//
// Prints one JSON line per round and a last line with the medians. "checkersMs" is the part of the
// wall time spent in the checkers (measured by running the same seeds again with them switched
// off); "lincheckMs" is the linearizability check at the end of each run, included in it.

import { LeaseChecker } from "../dist/runtime/sim/checks/lease-check.js";
import { SafetyChecker } from "../dist/runtime/sim/checks/safety.js";
import { checkLinearizable } from "../dist/check/linearizability.js";
import { Simulation, simOptions } from "../dist/runtime/sim/index.js";

function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}

const SEEDS = flag("seeds", 5);
const ROUNDS = flag("rounds", 3);
const OPTIONS = { scenario: "swarm", nodes: 5, durationMs: 60_000, timing: "fast", opsPerSecond: 200 };

function runAll() {
  let wallMs = 0;
  let simulatedMs = 0;
  let events = 0;
  let ops = 0;
  let lincheckMs = 0;
  let violations = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const sim = new Simulation(simOptions({ ...OPTIONS, seed: `bench-${seed}` }));
    const started = performance.now();
    const r = sim.run();
    wallMs += performance.now() - started;
    simulatedMs += r.endMs;
    events += r.stats.events;
    ops += r.stats.opsInvoked;
    if (!r.ok) violations += 1;
    const t = performance.now();
    checkLinearizable(sim.recorder.history());
    lincheckMs += performance.now() - t;
  }
  return { wallMs, simulatedMs, events, ops, lincheckMs, violations };
}

/** The same runs with the per-step checkers and the final checks switched off. */
function runUnchecked() {
  const saved = [SafetyChecker.prototype.afterStep, LeaseChecker.prototype.update, LeaseChecker.prototype.readServed, LeaseChecker.prototype.finish];
  const finalChecks = Object.getOwnPropertyDescriptor(Simulation.prototype, "finalChecks");
  SafetyChecker.prototype.afterStep = () => {};
  LeaseChecker.prototype.update = () => "same";
  LeaseChecker.prototype.readServed = () => {};
  LeaseChecker.prototype.finish = () => {};
  Object.defineProperty(Simulation.prototype, "finalChecks", { value: () => {}, configurable: true, writable: true });
  try {
    return runAll();
  } finally {
    [SafetyChecker.prototype.afterStep, LeaseChecker.prototype.update, LeaseChecker.prototype.readServed, LeaseChecker.prototype.finish] = saved;
    Object.defineProperty(Simulation.prototype, "finalChecks", finalChecks);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

runAll(); // warm-up: JIT
const rows = [];
for (let round = 1; round <= ROUNDS; round++) {
  const full = runAll();
  const bare = runUnchecked();
  const row = {
    round,
    cluster: "5 nodes, heartbeat 100 ms, swarm faults",
    seeds: SEEDS,
    simulatedSeconds: full.simulatedMs / 1000,
    wallSeconds: Number((full.wallMs / 1000).toFixed(3)),
    simulatedPerWall: Math.round(full.simulatedMs / full.wallMs),
    eventsPerSecond: Math.round((full.events / full.wallMs) * 1000),
    clientOpsPerSimulatedSecond: Math.round((full.ops / full.simulatedMs) * 1000),
    checkersMs: Math.round(full.wallMs - bare.wallMs),
    checkersShare: Number(((full.wallMs - bare.wallMs) / full.wallMs).toFixed(3)),
    lincheckMs: Math.round(full.lincheckMs),
    uncheckedSimulatedPerWall: Math.round(bare.simulatedMs / bare.wallMs),
    violations: full.violations,
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
const keys = ["simulatedPerWall", "eventsPerSecond", "clientOpsPerSimulatedSecond", "checkersMs", "checkersShare", "lincheckMs", "uncheckedSimulatedPerWall"];
console.log(JSON.stringify({ median: Object.fromEntries(keys.map((k) => [k, median(rows.map((r) => r[k]))])), target: "simulatedPerWall >= 1000" }));
