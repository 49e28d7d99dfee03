#!/usr/bin/env node
// Digests of simulator traces, to show that a refactor changed no behaviour: every scenario at
// seeds 1 and 42, each mutation at a seed of its matching scenario, and the clock control, each
// run with --trace; one line per run (its sha256) and a last line over all of them. Run it before
// and after a change and compare. Build first (npm run build).
//
//   node scripts/trace-digest.mjs [--out FILE]

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(ROOT, "bin", "raft-sim.js");
const { SCENARIOS, MUTATION_SCENARIOS } = await import(path.join(ROOT, "dist", "runtime", "sim", "index.js"));
const { MUTATIONS } = await import(path.join(ROOT, "dist", "raft", "index.js"));

const runs = [];
for (const name of SCENARIOS.keys()) for (const seed of ["1", "42"]) runs.push(["--seed", seed, "--scenario", name]);
for (const m of MUTATIONS) runs.push(["--seed", "2", "--scenario", MUTATION_SCENARIOS[m], "--mutate", m]);
runs.push(["--seed", "15", "--scenario", "clock-drift", "--clock-beyond-bound"]);

const lines = [];
const all = createHash("sha256");
for (const args of runs) {
  let out;
  try {
    out = execFileSync(process.execPath, [BIN, "run", ...args, "--trace"], { maxBuffer: 1 << 30 });
  } catch (e) {
    out = Buffer.concat([e.stdout ?? Buffer.alloc(0), Buffer.from(`exit ${e.status}`)]);
  }
  const digest = createHash("sha256").update(out).digest("hex").slice(0, 16);
  all.update(digest);
  lines.push(`${digest}  raft-sim run ${args.join(" ")}`);
  process.stderr.write(`\r${lines.length}/${runs.length} runs`);
}
process.stderr.write("\n");
lines.push(`${all.digest("hex").slice(0, 16)}  all ${runs.length} runs`);
const text = lines.join("\n") + "\n";
const outFlag = process.argv.indexOf("--out");
if (outFlag > 0) fs.writeFileSync(process.argv[outFlag + 1], text);
process.stdout.write(text);
