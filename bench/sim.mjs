// Simulator benchmark: how much faster than real time the simulator runs a 5-node cluster (fast
// timing: 100 ms heartbeat) with about 200 client operations per simulated second and swarm
// faults, with every checker on. Build first: npm run build (or npx tsc -p tsconfig.json).
//
//   node bench/sim.mjs [--seeds 5] [--rounds 3]
//
// Prints one JSON line per round and a last line with the medians. "checkersMs" is the part of the
// wall time spent in the checkers, measured by running the same seeds again with them switched
// off: the safety, lease and membership checkers after every step and restart, and the final
// checks (the few scenario and liveness checks at fixed times stay on). The unchecked runs must
// simulate the same time and events as the checked ones, or the bench stops: a checker half
// switched off (the safety checker's log of committed entries left empty while it still judged
// restarts) once ended them early with a false violation, and made the share look like 0.78.
// "lincheckMs" is the linearizability check at the end of each run, included in it. The same
// figures from CPU time ("simulatedPerCpu", "checkersCpuShare") hold up better on a busy machine.

import { LeaseChecker } from "../dist/runtime/sim/checks/lease-check.js";
import { MembershipChecker } from "../dist/runtime/sim/checks/membership-check.js";
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
  let cpuMs = 0;
  let simulatedMs = 0;
  let events = 0;
  let ops = 0;
  let lincheckMs = 0;
  let violations = 0;
  const eventsBySeed = [];
  for (let seed = 1; seed <= SEEDS; seed++) {
    const sim = new Simulation(simOptions({ ...OPTIONS, seed: `bench-${seed}` }));
    const started = performance.now();
    const cpuStarted = process.cpuUsage();
    const r = sim.run();
    const cpu = process.cpuUsage(cpuStarted);
    wallMs += performance.now() - started;
    cpuMs += (cpu.user + cpu.system) / 1000;
    simulatedMs += r.endMs;
    events += r.stats.events;
    eventsBySeed.push(r.stats.events);
    ops += r.stats.opsInvoked;
    if (!r.ok) violations += 1;
    const t = performance.now();
    checkLinearizable(sim.recorder.history());
    lincheckMs += performance.now() - t;
  }
  return { wallMs, cpuMs, simulatedMs, events, eventsBySeed, ops, lincheckMs, violations };
}

/** The checkers' methods the unchecked runs replace, and with what. */
const SWITCHED_OFF = [
  [SafetyChecker.prototype, "afterStep", () => {}],
  [SafetyChecker.prototype, "afterRestart", () => {}],
  [LeaseChecker.prototype, "update", () => "same"],
  [LeaseChecker.prototype, "readServed", () => {}],
  [LeaseChecker.prototype, "finish", () => {}],
  [MembershipChecker.prototype, "afterStep", () => {}],
  [MembershipChecker.prototype, "afterBoot", () => {}],
  [Simulation.prototype, "finalChecks", () => {}],
];

/**
 * ROUNDS runs with the checkers switched off, after a warm-up of their own; each must be the same
 * runs as `checked` (time and events). They come after all the checked rounds: switching methods
 * off (and back) makes V8 drop and recompile the code that calls them, which slowed whichever
 * runs came next when the modes alternated.
 */
function runUnchecked(checked) {
  const saved = SWITCHED_OFF.map(([proto, name]) => Object.getOwnPropertyDescriptor(proto, name));
  for (const [proto, name, stub] of SWITCHED_OFF) Object.defineProperty(proto, name, { value: stub, configurable: true, writable: true });
  try {
    runAll(); // warm-up: JIT without the checkers
    return Array.from({ length: ROUNDS }, () => {
      const bare = runAll();
      const same = bare.simulatedMs === checked.simulatedMs && bare.eventsBySeed.every((n, i) => n === checked.eventsBySeed[i]) && bare.violations === 0;
      if (!same) throw new Error(`bench/sim.mjs: the runs with the checkers off are not the same runs (events ${bare.eventsBySeed} against ${checked.eventsBySeed}, ${bare.violations} violations)`);
      return bare;
    });
  } finally {
    SWITCHED_OFF.forEach(([proto, name], i) => Object.defineProperty(proto, name, saved[i]));
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

runAll(); // warm-up: JIT
const fulls = Array.from({ length: ROUNDS }, () => runAll());
const bares = runUnchecked(fulls[0]);
const rows = [];
for (let round = 1; round <= ROUNDS; round++) {
  const full = fulls[round - 1];
  const bare = bares[round - 1];
  const row = {
    round,
    cluster: "5 nodes, heartbeat 100 ms, swarm faults",
    seeds: SEEDS,
    simulatedSeconds: full.simulatedMs / 1000,
    wallSeconds: Number((full.wallMs / 1000).toFixed(3)),
    simulatedPerWall: Math.round(full.simulatedMs / full.wallMs),
    simulatedPerCpu: Math.round(full.simulatedMs / full.cpuMs),
    eventsPerSecond: Math.round((full.events / full.wallMs) * 1000),
    clientOpsPerSimulatedSecond: Math.round((full.ops / full.simulatedMs) * 1000),
    checkersMs: Math.round(full.wallMs - bare.wallMs),
    checkersShare: Number(((full.wallMs - bare.wallMs) / full.wallMs).toFixed(3)),
    lincheckMs: Math.round(full.lincheckMs),
    uncheckedSimulatedPerWall: Math.round(bare.simulatedMs / bare.wallMs),
    checkersCpuShare: Number(((full.cpuMs - bare.cpuMs) / full.cpuMs).toFixed(3)),
    violations: full.violations,
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
const keys = ["simulatedPerWall", "simulatedPerCpu", "eventsPerSecond", "clientOpsPerSimulatedSecond", "checkersMs", "checkersShare", "checkersCpuShare", "lincheckMs", "uncheckedSimulatedPerWall"];
console.log(JSON.stringify({ median: Object.fromEntries(keys.map((k) => [k, median(rows.map((r) => r[k]))])), target: "simulatedPerWall >= 1000" }));
