#!/usr/bin/env node
// Long simulator runs, outside `npm test` (build first: npm run build).
//
//   node scripts/soak.mjs [--minutes 10] [--jobs K] [--from N]
//       every scenario in turn, fresh seeds each round, until the time is up; exit 1 on a failure
//   node scripts/soak.mjs --mutations [--seeds 500] [--jobs K] [--on swarm]
//       for each mutation, seeds 1..N of its matching scenario (or of the one given with --on):
//       how many seeds it took to be caught, how many of the N caught it, and by which property
//   node scripts/soak.mjs --clock-beyond-bound [--seeds 500]
//       the same figures for the clock negative control

import { cpus } from "node:os";
import { MUTATIONS } from "../dist/raft/index.js";
import { MUTATION_SCENARIOS, SCENARIOS, runSwarm } from "../dist/runtime/sim/index.js";


function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith("--")) return true;
  return v;
}

const jobs = Number(flag("jobs", Math.max(1, cpus().length)));
const base = { nodes: 5, durationMs: 60_000, timing: "fast", mutation: null, clockBeyondBound: false, faults: null, opsPerSecond: null };

async function figures(label, options, seeds) {
  const started = performance.now();
  const r = await runSwarm({ base: { ...base, ...options }, seeds, fromSeed: 1, jobs, untilCaught: false });
  const caught = r.failures;
  const byProperty = {};
  for (const f of caught) {
    const p = f.violation?.property ?? "simulator error";
    byProperty[p] = (byProperty[p] ?? 0) + 1;
  }
  const row = {
    negativeControl: label,
    scenario: options.scenario,
    seeds,
    firstCaughtAtSeed: caught[0]?.seed ?? null,
    caughtBy: caught.length,
    byProperty,
    firstSeeds: caught.slice(0, 8).map((f) => f.seed),
    wallSeconds: Number(((performance.now() - started) / 1000).toFixed(1)),
  };
  console.log(JSON.stringify(row));
  return row;
}

async function mutationFigures() {
  const seeds = Number(flag("seeds", 500));
  let missed = 0;
  for (const m of MUTATIONS) {
    const on = flag("on", null);
    const row = await figures(m, { scenario: typeof on === "string" ? on : MUTATION_SCENARIOS[m], mutation: m }, seeds);
    if (row.firstCaughtAtSeed === null) missed += 1;
  }
  return missed === 0 ? 0 : 1;
}

async function clockFigures() {
  const seeds = Number(flag("seeds", 500));
  const row = await figures("clock-beyond-bound", { scenario: "clock-drift", clockBeyondBound: true }, seeds);
  return row.firstCaughtAtSeed === null ? 1 : 0;
}

async function soak() {
  const deadline = performance.now() + Number(flag("minutes", 10)) * 60_000;
  let from = Number(flag("from", 1_000_000));
  const perRound = 50;
  let total = 0;
  while (performance.now() < deadline) {
    for (const scenario of SCENARIOS.keys()) {
      if (performance.now() >= deadline) break;
      const r = await runSwarm({ base: { ...base, scenario }, seeds: perRound, fromSeed: from, jobs, untilCaught: false });
      total += r.outcomes.length;
      for (const f of r.failures) console.log(`FAIL ${scenario} seed ${f.seed}: ${f.violation?.property ?? "simulator error"}: ${f.violation?.message ?? f.error}\n  replay: ${f.violation?.replay ?? ""}`);
      if (r.failures.length > 0) return 1;
    }
    from += perRound;
    console.log(`soak: ${total} runs so far, no failure (seeds up to ${from})`);
  }
  console.log(`soak: ${total} runs, no failure`);
  return 0;
}

const mode = flag("mutations", false) ? mutationFigures : flag("clock-beyond-bound", false) ? clockFigures : soak;
process.exitCode = await mode();
