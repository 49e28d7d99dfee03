// Simulator benchmark: how much faster than real time the simulator runs a 5-node cluster (fast
// timing: 100 ms heartbeat) with about 200 client operations per simulated second and swarm
// faults, with every checker on. Build first: npm run build (or npx tsc -p tsconfig.json).
// "clientOpsPerSimulatedSecond" is what the runs invoked: about half the 200 asked, because each
// client waits for its answer before its next operation, and the swarm's faults and lulls (spans
// with no client traffic) leave clients waiting or idle for much of a run.
//
//   node bench/sim.mjs [--seeds 5] [--rounds 3]
//
// The simulations run in worker threads started as the swarm starts its own (startSimWorker: a
// young generation sized for the simulator), so the figures are those `raft-sim swarm` gets.
//
// Prints one JSON line per round and a last line with the medians. "checkersMs" is the part of the
// wall time spent in the checkers, measured by running the same seeds again, in a second worker,
// with them switched off: the safety, lease and membership checkers after every step and
// restart, and the final checks (the few scenario and liveness checks at fixed times stay on).
// The unchecked runs must simulate the same time and events as the checked ones, or the bench
// stops: a checker half switched off (the safety checker's log of committed entries left empty
// while it still judged restarts) once ended them early with a false violation, and made the
// share look like 0.78.
// "lincheckMs" is the linearizability check at the end of each run, included in it. The same
// figures from CPU time ("simulatedPerCpu", "checkersCpuShare") hold up better on a machine busy
// with other work of ours, not when the machine itself runs slower (a virtual machine whose host
// is busy: the same build then reads 30-60% slower in both); the last line gives the rounds'
// range too. Those slow moments are memory, not computation: at them a loop that only computes
// kept its speed while one reading a large array at scattered places slowed by half, and a
// thread doing the latter on the other core made a quiet machine read about as slow. To compare
// two builds, count instructions: bench/sim-instructions.mjs.

import { startSimWorker } from "../dist/runtime/sim/index.js";
import { parseCountFlags } from "./kit.mjs";
import { SIM_BENCH_OPTIONS as OPTIONS, SIM_BENCH_SEEDS } from "./sim-config.mjs";

const USAGE = "--seeds N (5) --rounds N (3)";

let parsed;
try {
  parsed = parseCountFlags(process.argv.slice(2), { seeds: SIM_BENCH_SEEDS, rounds: 3 }, USAGE);
} catch (e) {
  console.error(`bench/sim.mjs: ${e.message}`);
  process.exit(2);
}
const { seeds: SEEDS, rounds: ROUNDS } = parsed;

/**
 * A worker that runs the seeds once per call (bench/sim-worker.mjs), with the checkers on or off.
 * The runs with the checkers off happen in a worker of their own, after a warm-up, one round after
 * each checked round, so that both see the same load on a busy machine. (In one thread, switching
 * the checkers' methods off and back made V8 recompile the code calling them with both versions
 * in its feedback: the runs with the checkers off came out no faster, some slower.)
 */
function startRunner(checked) {
  const worker = startSimWorker(new URL("./sim-worker.mjs", import.meta.url), { workerData: { seeds: SEEDS, checked, options: OPTIONS } });
  const replies = [];
  let waiting = null;
  worker.on("message", (m) => (waiting !== null ? (waiting(m), (waiting = null)) : replies.push(m)));
  worker.on("error", (e) => {
    console.error(`bench/sim.mjs: a worker failed: ${e.stack ?? e}`);
    process.exit(1);
  });
  const next = () => new Promise((resolve) => (replies.length > 0 ? resolve(replies.shift()) : (waiting = resolve)));
  return {
    ready: next(),
    run: () => (worker.postMessage("run"), next()),
    stop: () => worker.terminate(),
  };
}

/** The unchecked runs must be the same runs as the checked ones. */
function sameRuns(checked, bare) {
  const same = bare.simulatedMs === checked.simulatedMs && bare.eventsBySeed.every((n, i) => n === checked.eventsBySeed[i]) && bare.violations === 0;
  if (!same) throw new Error(`bench/sim.mjs: the runs with the checkers off are not the same runs (events ${bare.eventsBySeed} against ${checked.eventsBySeed}, ${bare.violations} violations)`);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const full = startRunner(true);
const unchecked = startRunner(false);
await Promise.all([full.ready, unchecked.ready]);
const rows = [];
for (let round = 1; round <= ROUNDS; round++) {
  const f = await full.run();
  const bare = await unchecked.run();
  sameRuns(f, bare);
  rows.push(row(round, f, bare));
  console.log(JSON.stringify(rows[rows.length - 1]));
}
await Promise.all([full.stop(), unchecked.stop()]);
const keys = ["simulatedPerWall", "simulatedPerCpu", "eventsPerSecond", "clientOpsPerSimulatedSecond", "checkersMs", "checkersShare", "checkersCpuShare", "lincheckMs", "uncheckedSimulatedPerWall"];
const perWall = rows.map((r) => r.simulatedPerWall);
const summary = { median: Object.fromEntries(keys.map((k) => [k, median(rows.map((r) => r[k]))])), simulatedPerWallRange: [Math.min(...perWall), Math.max(...perWall)] };
console.log(JSON.stringify({ ...summary, target: "simulatedPerWall >= 1000" }));

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
