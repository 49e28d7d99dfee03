// How many machine instructions one round of `npm run bench:sim`'s seeds takes, counted by
// valgrind's cachegrind: the simulator's speed in a figure the machine's load does not move.
// `npm run bench:sim` divides simulated time by wall time, and on a shared machine the same build
// reads 30-60% slower at busy moments; an instruction count moves with the code alone (runs of one
// build agree to within about 2%), so it is how two builds are compared.
//
//   npm run bench:sim:instructions                 # --from 3 --to 7 --seeds 5
//   node bench/sim-instructions.mjs [--from 3] [--to 7] [--seeds 5]
//
// Runs bench/sim-rounds.mjs twice at once under cachegrind, `from` and `to` rounds of the seeds,
// in one thread (node --single-threaded: the collector's and the compiler's work is counted too)
// with the young generation the simulator's workers get. A round's instructions are the
// difference divided by the rounds between: the first rounds, which load and compile the code,
// cancel out. Under cachegrind a round takes 50-70 times as long as without it (about 20 s): about
// three minutes for the defaults on two cores. Needs valgrind (Debian: apt-get install valgrind).
//
// It prints a line per round as the two runs go, then the figures: instructions per round, per
// event and per simulated second, and the instruction rate one core would need for the bench to
// read 1,000x real time (the simulated seconds per round divided by 1,000 is the wall time a round
// may take).

import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { SIM_SEMI_SPACE_MB } from "../dist/runtime/sim/index.js";
import { children, parseCountFlags } from "./kit.mjs";
import { SIM_BENCH_SEEDS } from "./sim-config.mjs";

const USAGE = "--from ROUNDS (3) --to ROUNDS (7, more than --from) --seeds N (5)";

function options() {
  const { from, to, seeds } = parseCountFlags(process.argv.slice(2), { from: 3, to: 7, seeds: SIM_BENCH_SEEDS }, USAGE);
  if (to <= from) throw new Error(`--to (${to}) must be more than --from (${from}): a round's count is their difference`);
  return { from, to, seeds };
}

function requireValgrind() {
  const r = spawnSync("valgrind", ["--version"], { encoding: "utf8" });
  if (r.error === undefined && r.status === 0) return r.stdout.trim();
  console.error("bench/sim-instructions.mjs: valgrind is not installed; it counts the instructions.");
  console.error("  Debian, as root: apt-get update && apt-get install -y valgrind");
  console.error("  Without it, npm run bench:sim measures the same seeds in wall time.");
  process.exit(2);
}

/** One run of `rounds` rounds under cachegrind: resolves to its instruction count and its rounds' lines. */
function countRun(rounds, seeds, startedMs) {
  const script = fileURLToPath(new URL("./sim-rounds.mjs", import.meta.url));
  const nodeFlags = ["--single-threaded", `--min-semi-space-size=${SIM_SEMI_SPACE_MB}`, `--max-semi-space-size=${SIM_SEMI_SPACE_MB}`];
  const args = ["--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", "--smc-check=all-non-file", process.execPath, ...nodeFlags, script, String(rounds), String(seeds)];
  const child = spawn("valgrind", args, { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  const lines = [];
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
    for (let nl = stdout.indexOf("\n"); nl >= 0; nl = stdout.indexOf("\n")) {
      const row = JSON.parse(stdout.slice(0, nl));
      stdout = stdout.slice(nl + 1);
      lines.push(row);
      console.error(`  ${rounds}-round run: round ${row.round} of ${rounds} done, ${row.events} events (${Math.round((Date.now() - startedMs) / 1000)} s)`);
    }
  });
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      const m = /I\s+refs:\s+([\d,]+)/.exec(stderr);
      if (code !== 0 || m === null) return reject(new Error(`the ${rounds}-round run under cachegrind failed (exit ${code}):\n${stderr.slice(-2000)}`));
      resolve({ instructions: Number(m[1].replaceAll(",", "")), lines });
    });
  });
}

/** Every round of both runs simulated the same events and time, with no violation. */
function sameRounds(runs) {
  const all = runs.flatMap((r) => r.lines);
  const first = all[0];
  for (const row of all) {
    if (row.violations !== 0) throw new Error(`round ${row.round} found ${row.violations} violations: run npm run bench:sim to see them`);
    if (row.events !== first.events || row.simulatedMs !== first.simulatedMs) throw new Error(`the rounds are not the same runs: ${row.events} events against ${first.events}`);
  }
  return first;
}

let parsed;
try {
  parsed = options();
} catch (e) {
  console.error(`bench/sim-instructions.mjs: ${e.message}`);
  process.exit(2);
}
const { from, to, seeds } = parsed;
const valgrind = requireValgrind();
const startedMs = Date.now();
console.error(`${valgrind}: counting ${from} and ${to} rounds of ${seeds} seeds at once (50-70 times slower than without it: about 3 minutes on 2 cores)`);
let a, b, round;
try {
  [a, b] = await Promise.all([countRun(from, seeds, startedMs), countRun(to, seeds, startedMs)]);
  round = sameRounds([a, b]);
} catch (e) {
  console.error(`bench/sim-instructions.mjs: ${e.message}`);
  process.exit(1); // kit.mjs kills the other run by pid on exit
}
const perRound = (b.instructions - a.instructions) / (to - from);
const simulatedSeconds = round.simulatedMs / 1000;
const summary = {
  seeds,
  rounds: [from, to],
  instructions: [a.instructions, b.instructions],
  instructionsPerRound: Math.round(perRound),
  eventsPerRound: round.events,
  simulatedSecondsPerRound: simulatedSeconds,
  instructionsPerEvent: Math.round(perRound / round.events),
  instructionsPerSimulatedSecond: Math.round(perRound / simulatedSeconds),
  instructionsPerWallSecondFor1000x: Math.round((perRound / simulatedSeconds) * 1000),
};
console.log(`one round: ${(perRound / 1e6).toFixed(1)}M instructions for ${simulatedSeconds} simulated s (${round.events} events); 1,000x real time needs ${(summary.instructionsPerWallSecondFor1000x / 1e9).toFixed(2)}G instructions per second on one core`);
console.log(JSON.stringify(summary));
