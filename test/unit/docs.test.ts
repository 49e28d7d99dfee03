// The repository explains itself: docs/ covers what the code can do, and nothing cites a file
// outside the repository.

import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { FAULT_VERBS } from "../../src/cli/fault-grammar.js";
import { MUTATIONS } from "../../src/raft/index.js";
import { SCENARIOS } from "../../src/runtime/sim/index.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const read = (file: string): string => readFileSync(path.join(ROOT, file), "utf8");

/** Every file under `dir`, as paths relative to the root; bounded in depth. */
function filesUnder(dir: string, depth = 0): string[] {
  if (depth > 8) throw new Error(`${dir}: deeper than 8 folders`);
  return readdirSync(path.join(ROOT, dir)).flatMap((name) => {
    const rel = path.join(dir, name);
    return statSync(path.join(ROOT, rel)).isDirectory() ? filesUnder(rel, depth + 1) : [rel];
  });
}

describe("docs/simulator.md", () => {
  const text = read("docs/simulator.md");

  it("names every scenario, mutation and fault verb the simulator knows", () => {
    for (const name of SCENARIOS.keys()) expect(text, `scenario ${name}`).toContain(`\`${name}\``);
    for (const m of MUTATIONS) expect(text, `mutation ${m}`).toContain(`\`${m}\``);
    for (const v of FAULT_VERBS) expect(text, `fault verb ${v.usage}`).toContain(`| \`${v.usage.split(" ")[0]}\` |`);
  });
});

describe("docs/exercise.md", () => {
  it("names the test of every one of the six situations that exists", () => {
    const text = read("docs/exercise.md");
    const processes = read("test/scenarios/processes.test.ts");
    const situations = [...text.matchAll(/^\| [^|]+ \| "([^"]+?)(?: \.\.\.)?"/gm)].map((m) => m[1]!);
    expect(situations).toHaveLength(6);
    for (const title of situations) expect(processes, `no test titled "${title}"`).toContain(`it("${title}`);
    for (const name of ["spec-startup", "spec-sets-gets", "spec-follower-kill", "spec-leader-kill", "spec-lease-majority-dead", "spec-two-alive"]) {
      expect(SCENARIOS.has(name), name).toBe(true);
      expect(text).toContain(`\`${name}\``);
    }
  });
});

describe("citations", () => {
  it("no source, test, script, benchmark or doc refers to a design file outside the repository", () => {
    const files = ["README.md", ...["src", "test", "bench", "scripts", "docs"].flatMap((d) => filesUnder(d))].filter((f) => f !== path.join("test", "unit", "docs.test.ts"));
    expect(files.length).toBeGreaterThan(50);
    const outside = /SPEC\.md|DESIGN\.md|\.\.\/shared|issue \d/;
    const citing = files.filter((f) => outside.test(read(f)));
    expect(citing).toEqual([]);
  });
});
