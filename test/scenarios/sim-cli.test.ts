// The raft-sim command line, run as a user runs it (node bin/raft-sim.js, after the build).

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MUTATIONS } from "../../src/raft/index.js";
import { FAULT_VERBS, FAULTS_EXAMPLE, NET_SETTINGS } from "../../src/cli/fault-grammar.js";
import { parseSchedule, replayCommand, SCENARIOS, simOptions } from "../../src/runtime/sim/index.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "bin/raft-sim.js");

function sim(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  if (!existsSync(path.join(ROOT, "dist/cli/raft-sim.js"))) throw new Error("dist/cli/raft-sim.js is missing: run npm run build first");
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("raft-sim list", () => {
  it("lists every scenario and every mutation", () => {
    const r = sim("list");
    expect(r.status).toBe(0);
    for (const name of SCENARIOS.keys()) expect(r.stdout).toContain(`  ${name} `);
    for (const m of MUTATIONS) expect(r.stdout).toContain(`  ${m} `);
  });
});

describe("raft-sim run", () => {
  it("prints a summary, exits 0, and prints the same bytes when run again", () => {
    const a = sim("run", "--seed", "42", "--scenario", "partition");
    expect(a.status).toBe(0);
    expect(a.stdout).toMatch(/elections +\d+; leaders per term: 1:n\d/);
    expect(a.stdout).toMatch(/checks passed: .*linearizability \(ops\) \d+/);
    expect(a.stdout).toMatch(/OK: no violation\n$/);
    expect(sim("run", "--seed", "42", "--scenario", "partition").stdout).toBe(a.stdout);
  });

  it("on a violation exits 1 with the property, the time and a replay line that replays it", () => {
    const a = sim("run", "--seed", "2", "--scenario", "lease-handover", "--mutate", "no-lease-wait");
    expect(a.status).toBe(1);
    expect(a.stdout).toMatch(/VIOLATION of lease safety at \d+\.\d{3} ms \(simulated\)/);
    const replay = /replay: raft-sim (.*)\n/.exec(a.stdout)![1]!.split(" ");
    expect(replay).toEqual(["run", "--seed", "2", "--scenario", "lease-handover", "--mutate", "no-lease-wait"]);
    expect(sim(...replay).stdout).toBe(a.stdout);
  });

  it("--trace prints the dump lines with simulated time and node", () => {
    const r = sim("run", "--seed", "1", "--scenario", "spec-startup", "--duration", "20s", "--trace");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ +\d+\.\d{3} ms {2}n\d +Node \d election timer timed out, Starting election\.$/m);
    expect(r.stdout).toMatch(/^ +\d+\.\d{3} ms {2}n\d +Vote granted for Node \d in term \d+\.$/m);
  });

  it("--html writes one self-contained page with the lanes and the violation", () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "raft-sim-")), "timeline.html");
    const r = sim("run", "--seed", "2", "--scenario", "lease-handover", "--mutate", "no-lease-wait", "--html", file);
    expect(r.status).toBe(1);
    const html = readFileSync(file, "utf8");
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/(src|href)=["']?https?:/);
    expect(html).not.toMatch(/<link |@import|fetch\(/);
    const data = JSON.parse(/<script type="application\/json" id="data">(.*?)<\/script>/s.exec(html)![1]!);
    expect(data.nodeCount).toBe(5);
    expect(data.violation.property).toBe("lease safety");
    expect(data.roles.some((s: { role: string }) => s.role === "leader")).toBe(true);
    expect(data.leases.length).toBeGreaterThan(0);
    expect(data.ops.length).toBeGreaterThan(0);
    expect(data.links.length).toBeGreaterThan(0);
  });

  it("rejects bad input with a clear message and exit 2", () => {
    const cases: [string[], RegExp][] = [
      [["run", "--seed", "1", "--scenario", "nope"], /unknown scenario "nope"; choose one of: partition/],
      [["run", "--seed", "1", "--scenario", "partition", "--mutate", "nope"], /unknown mutation "nope"; choose one of: no-lease-wait/],
      [["run", "--seed", "1", "--scenario", "partition", "--bogus"], /unknown flag --bogus/],
      [["run", "--scenario", "partition"], /--seed is required/],
      [["run", "--seed", "1"], /--scenario is required/],
      [["run", "--seed", "1", "--scenario", "partition", "--nodes", "12"], /--nodes "12" must be a whole number in 1-9/],
      [["run", "--seed", "1", "--scenario", "partition", "--duration", "5s"], /--duration 5000 ms is too short/],
      [["run", "--seed", "1", "--scenario", "partition", "--faults", "1000 explode L"], /unknown fault "explode"/],
      [["run", "--seed", "1", "--scenario", "partition", "--faults", "59000 crash L"], /falls in the quiet period/],
      [["swarm"], /--seeds is required/],
      [["fly"], /unknown command "fly"/],
    ];
    for (const [args, message] of cases) {
      const r = sim(...args);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });

  it("a replay line with --ops-per-second is accepted and replays the run", () => {
    const options = simOptions({ seed: "1", scenario: "partition", opsPerSecond: 50 });
    const replay = replayCommand(options).split(" ").slice(1);
    expect(replay).toContain("--ops-per-second");
    const r = sim(...replay);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/OK: no violation\n$/);
  });
});

describe("raft-sim help", () => {
  const flagsOf = (text: string): string[] => [...text.matchAll(/^ {2}(--[a-z-]+)/gm)].map((m) => m[1]!);

  it("raft-sim --help names the commands and where each command's flags are", () => {
    const r = sim("--help");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: raft-sim <command>/);
    expect(r.stdout).toMatch(/raft-sim run --help/);
  });

  it("run --help lists run's flags only, and the --faults grammar", () => {
    const r = sim("run", "--help");
    expect(r.status).toBe(0);
    const flags = flagsOf(r.stdout);
    for (const f of ["--seed", "--scenario", "--faults", "--trace", "--html", "--mutate", "--ops-per-second", "--help"]) expect(flags).toContain(f);
    for (const f of ["--seeds", "--from", "--jobs", "--until-caught"]) expect(flags).not.toContain(f);
    expect(r.stdout).not.toMatch(/swarm/);
    for (const v of FAULT_VERBS) expect(r.stdout).toContain(`<ms> ${v.usage}`);
    for (const n of NET_SETTINGS) expect(r.stdout).toContain(`  ${n.usage} `);
    expect(r.stdout).toContain(FAULTS_EXAMPLE);
  });

  it("swarm --help lists swarm's flags only", () => {
    const r = sim("swarm", "--help");
    expect(r.status).toBe(0);
    const flags = flagsOf(r.stdout);
    for (const f of ["--seeds", "--from", "--jobs", "--until-caught", "--scenario", "--mutate", "--help"]) expect(flags).toContain(f);
    for (const f of ["--seed", "--faults", "--trace", "--html"]) expect(flags).not.toContain(f);
    expect(r.stdout).not.toMatch(/<ms> crash/);
  });

  it("list --help explains list instead of listing", () => {
    const r = sim("list", "--help");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: raft-sim list/);
    expect(r.stdout).not.toMatch(/lease-handover/);
  });
});

describe("the --faults grammar in the help", () => {
  /** Fills a usage row's placeholders with values the parser accepts. */
  function instance(usage: string): string {
    return usage
      .replace(/\[(.*?)\]/g, "$1")
      .replace("<id>", "5")
      .replace("<target> <target> <ms>", "n1 L 300").replace("<target> <target>", "n1 F").replace("<target> <ms>", "n1 400").replace("<target>", "L").replace("<setting>...", "loss=0.1 delay=1-20");
  }

  it("every verb row, every net setting and the example parse as shown", () => {
    for (const v of FAULT_VERBS) expect(() => parseSchedule(`100 ${instance(v.usage)}`, 5), v.usage).not.toThrow();
    const settings = { "delay=A-B": "delay=1-20", "tail=M": "tail=3", "loss=P": "loss=0.1", "dup=P": "dup=0.02", "reorder=P/MS": "reorder=0.1/50", "long=P/A-B": "long=0.01/500-3000", "late=P/A-B": "late=0.01/2000-9000" };
    expect(NET_SETTINGS.map((n) => n.usage)).toEqual(Object.keys(settings));
    for (const example of Object.values(settings)) expect(() => parseSchedule(`100 net ${example}`, 5), example).not.toThrow();
    expect(parseSchedule(FAULTS_EXAMPLE, 5)).toHaveLength(5);
  });

  it("lists every verb the parser knows, and no other", () => {
    let message = "";
    try {
      parseSchedule("100 no-such-verb", 5);
    } catch (e) {
      message = (e as Error).message;
    }
    const known = /; use (.*)$/.exec(message)?.[1]?.split(/, | or /) ?? [];
    expect(known.length).toBeGreaterThan(10);
    expect(FAULT_VERBS.map((v) => v.usage.split(" ")[0]).sort()).toEqual([...known].sort());
  });
});

describe("raft-sim swarm", () => {
  const table = (s: string): string => s.replace(/^ {2}(simulated|events) .*\n/gm, "").replace(/, \d+ jobs?\n/, "\n");

  it("runs seeds on worker threads with the same results as in one thread", () => {
    const a = sim("swarm", "--seeds", "6", "--jobs", "2", "--duration", "30s");
    expect(a.status).toBe(0);
    expect(a.stdout).toMatch(/seeds passed +6/);
    expect(a.stderr).toMatch(/swarm: 6\/6 seeds, 0 failing/);
    expect(table(sim("swarm", "--seeds", "6", "--jobs", "1", "--duration", "30s").stdout)).toBe(table(a.stdout));
  });

  it("--until-caught stops at the lowest failing seed and exits 1", () => {
    const r = sim("swarm", "--seeds", "20", "--scenario", "lease-handover", "--mutate", "no-lease-wait", "--until-caught", "--jobs", "2");
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/first failure \(seed 2\)/);
    expect(r.stdout).toMatch(/ 2 +lease safety .* raft-sim run --seed 2 --scenario lease-handover --mutate no-lease-wait/);
  });
});
