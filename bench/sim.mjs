// Simulator benchmark: how much faster than real time the simulator runs a 5-node cluster (fast
// timing: 100 ms heartbeat) with about 200 client operations per simulated second and swarm
// faults, with every checker on. Build first: npm run build (or npx tsc -p tsconfig.json).
// "clientOpsPerSimulatedSecond" is what the runs invoked: about half the 200 asked, because each
// client waits for its answer before its next operation, and the swarm's faults and lulls (spans
// with no client traffic) leave clients waiting or idle for much of a run.
//
//   node bench/sim.mjs [--seeds 5] [--rounds 3]
//
// Prints one JSON line per round and a last line with the medians. "checkersMs" is the part of the
// wall time spent in the checkers, measured by running the same seeds again, in a child process,
// with them switched off: the safety, lease and membership checkers after every step and
// restart, and the final checks (the few scenario and liveness checks at fixed times stay on).
// The unchecked runs must simulate the same time and events as the checked ones, or the bench
// stops: a checker half switched off (the safety checker's log of committed entries left empty
// while it still judged restarts) once ended them early with a false violation, and made the
// share look like 0.78.
// "lincheckMs" is the linearizability check at the end of each run, included in it. The same
// figures from CPU time ("simulatedPerCpu", "checkersCpuShare") hold up better on a busy machine.

import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
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
 * The runs with the checkers switched off happen in a process of their own (this script with
 * --unchecked-child), after a warm-up, one round after each checked round, so that both see the
 * same load on a busy machine. (In this process, switching the checkers' methods off and back made
 * V8 recompile the code calling them with both versions in its feedback: the runs with the
 * checkers off came out no faster, some slower.) Each must be the same runs as the checked ones.
 */
function startUnchecked() {
  const child = fork(fileURLToPath(import.meta.url), ["--unchecked-child", "--seeds", String(SEEDS)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const replies = [];
  let waiting = null;
  child.on("message", (m) => (waiting !== null ? (waiting(m), (waiting = null)) : replies.push(m)));
  const next = () => new Promise((resolve) => (replies.length > 0 ? resolve(replies.shift()) : (waiting = resolve)));
  return {
    ready: next(),
    async run(checked) {
      child.send("run");
      const bare = await next();
      const same = bare.simulatedMs === checked.simulatedMs && bare.eventsBySeed.every((n, i) => n === checked.eventsBySeed[i]) && bare.violations === 0;
      if (!same) throw new Error(`bench/sim.mjs: the runs with the checkers off are not the same runs (events ${bare.eventsBySeed} against ${checked.eventsBySeed}, ${bare.violations} violations)`);
      return bare;
    },
    stop: () => child.send("stop"),
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (process.argv.includes("--unchecked-child")) {
  for (const [proto, name, stub] of SWITCHED_OFF) Object.defineProperty(proto, name, { value: stub, configurable: true, writable: true });
  runAll(); // warm-up: JIT
  process.on("message", (m) => (m === "run" ? process.send(runAll()) : process.exit(0)));
  process.send("ready");
} else {
  await main();
}

async function main() {
  const unchecked = startUnchecked();
  runAll(); // warm-up: JIT
  await unchecked.ready;
  const rows = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const full = runAll();
    const bare = await unchecked.run(full);
    rows.push(row(round, full, bare));
    console.log(JSON.stringify(rows[rows.length - 1]));
  }
  unchecked.stop();
  const keys = ["simulatedPerWall", "simulatedPerCpu", "eventsPerSecond", "clientOpsPerSimulatedSecond", "checkersMs", "checkersShare", "checkersCpuShare", "lincheckMs", "uncheckedSimulatedPerWall"];
  console.log(JSON.stringify({ median: Object.fromEntries(keys.map((k) => [k, median(rows.map((r) => r[k]))])), target: "simulatedPerWall >= 1000" }));
}

function row(round, full, bare) {
  return {
    round,
    cluster: "5 nodes, heartbeat 100 ms, swarm faults",
    seeds: SEEDS,
    simulatedSeconds: full.simulatedMs / 1000,
    wallSeconds: Number((full.wallMs / 1000).toFixed(3)),
    simulatedPerWall: Math.round(full.simulatedMs / full.wallMs),
    simulatedPerCpu: Math.round(full.simulatedMs / full.cpuMs),
    eventsPerSecond: Math.round((full.events / full.wallMs) * 1000),
    clientOpsAskedPerSimulatedSecond: OPTIONS.opsPerSecond,
    clientOpsPerSimulatedSecond: Math.round((full.ops / full.simulatedMs) * 1000),
    checkersMs: Math.round(full.wallMs - bare.wallMs),
    checkersShare: Number(((full.wallMs - bare.wallMs) / full.wallMs).toFixed(3)),
    checkersCpuShare: Number(((full.cpuMs - bare.cpuMs) / full.cpuMs).toFixed(3)),
    lincheckMs: Math.round(full.lincheckMs),
    uncheckedSimulatedPerWall: Math.round(bare.simulatedMs / bare.wallMs),
    violations: full.violations,
  };
}
