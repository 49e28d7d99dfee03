// fast-check properties over the simulator: random fault schedules, seeds and cluster sizes must
// never break a checked property. On a failure fast-check shrinks the schedule to the smallest
// one that still fails, and the message carries the `raft-sim run ...` line that replays it.
//
// npm test runs a fixed fast-check seed (reproducible CI); FC_SEED=<n> and FC_RUNS=<n> vary it,
// and `npm run soak` does the long runs.

import { spawnSync } from "node:child_process";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatRunSummary, livenessBounds, replayCommand, runSimulation, simOptions, type SimOptions } from "../../src/runtime/sim/index.js";
import { TIMING_FAST } from "../../src/raft/index.js";

const FC_SEED = Number(process.env.FC_SEED ?? 20_251_127);
const RUNS = Number(process.env.FC_RUNS ?? 250);
const DURATION_MS = 30_000;
const QUIET_FROM_MS = DURATION_MS - livenessBounds(TIMING_FAST).quietMs;
const FAULTS_FROM_MS = TIMING_FAST.electionTimeoutMaxMs;

function targetArb(nodes: number): fc.Arbitrary<string> {
  return fc.oneof(fc.constantFrom("L", "F", "*"), fc.integer({ min: 0, max: nodes - 1 }).map((i) => `n${i}`));
}

function groupsArb(nodes: number): fc.Arbitrary<string> {
  return fc.array(fc.integer({ min: 0, max: 2 }), { minLength: nodes, maxLength: nodes }).map((g) => {
    const groups = [0, 1, 2].map((k) => g.flatMap((x, i) => (x === k ? [i] : [])).join(",")).filter((s) => s !== "");
    return groups.join("|");
  });
}

/** One fault, in the text form `raft-sim run --faults` takes. */
function faultArb(nodes: number): fc.Arbitrary<string> {
  const t = targetArb(nodes);
  const action = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom("crash", "crash-mid", "crash-append", "crash-commit", "crash-elected"), t).map(([v, x]) => `${v} ${x}`) },
    { weight: 3, arbitrary: fc.oneof(t, fc.constant("all")).map((x) => `restart ${x}`) },
    { weight: 2, arbitrary: t.map((x) => `pause ${x}`) },
    { weight: 2, arbitrary: fc.oneof(t, fc.constant("all")).map((x) => `resume ${x}`) },
    { weight: 2, arbitrary: groupsArb(nodes).map((g) => `partition ${g}`) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom("isolate", "cut-out", "cut-in", "bridge"), t).map(([v, x]) => `${v} ${x}`) },
    { weight: 1, arbitrary: fc.tuple(t, t).map(([a, b]) => `sever ${a} ${b}`) },
    { weight: 1, arbitrary: fc.tuple(t, t, fc.integer({ min: 1, max: 1500 })).map(([a, b, ms]) => `slow ${a} ${b} ${ms}`) },
    { weight: 3, arbitrary: fc.constant("heal") },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 10 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 5 }))
        .map(([loss, dup, delay, long]) => `net loss=${loss / 100} dup=${dup / 100} delay=1-${delay} long=${long / 100}/200-3000`),
    },
  );
  return fc.tuple(fc.integer({ min: FAULTS_FROM_MS, max: QUIET_FROM_MS - 1 }), action).map(([at, a]) => `${at} ${a}`);
}

const caseArb = fc
  .record({ nodes: fc.integer({ min: 1, max: 6 }), seed: fc.integer({ min: 1, max: 1_000_000 }) })
  .chain(({ nodes, seed }) => fc.record({ nodes: fc.constant(nodes), seed: fc.constant(seed), faults: fc.array(faultArb(nodes), { maxLength: 14 }) }));

/** One operator action or SIGTERM; nodes nodes..6 may join. */
function churnArb(nodes: number): fc.Arbitrary<string> {
  const t = targetArb(nodes);
  const joiner = fc.integer({ min: Math.min(nodes, 6), max: 6 });
  const action = fc.oneof(
    { weight: 3, arbitrary: joiner.map((id) => `add ${id}`) },
    { weight: 2, arbitrary: t.map((x) => `remove ${x}`) },
    { weight: 1, arbitrary: fc.tuple(t, joiner).map(([x, id]) => `replace ${x} ${id}`) },
    { weight: 2, arbitrary: fc.option(t, { nil: undefined }).map((x) => (x === undefined ? "transfer" : `transfer ${x}`)) },
    { weight: 1, arbitrary: fc.tuple(t, fc.integer({ min: 0, max: 3000 })).map(([x, ms]) => `sigterm ${x} ${ms}`) },
  );
  return fc.tuple(fc.integer({ min: FAULTS_FROM_MS, max: QUIET_FROM_MS - 1 }), action).map(([at, a]) => `${at} ${a}`);
}

const churnCaseArb = fc
  .record({ nodes: fc.integer({ min: 1, max: 5 }), seed: fc.integer({ min: 1, max: 1_000_000 }) })
  .chain(({ nodes, seed }) =>
    fc.record({
      nodes: fc.constant(nodes),
      seed: fc.constant(seed),
      faults: fc.tuple(fc.array(faultArb(nodes), { maxLength: 8 }), fc.array(churnArb(nodes), { minLength: 1, maxLength: 8 })).map(([a, b]) => [...a, ...b]),
    }),
  );

/** Runs one simulation; a violation or a simulator error throws with the line that replays it. */
function mustPass(o: Partial<SimOptions> & { seed: string; scenario: string }): void {
  const options = simOptions(o);
  let r;
  try {
    r = runSimulation(options);
  } catch (e) {
    throw new Error(`simulator error: ${e instanceof Error ? e.message : String(e)}\n  replay: ${replayCommand(options)}`);
  }
  if (r.violation !== null) {
    const v = r.violation;
    throw new Error(`${v.property} at ${v.atMs.toFixed(3)} ms: ${v.message}\n  replay: ${v.replay}`);
  }
}

describe("simulated clusters under random fault schedules", () => {
  it("keep every safety, lease, linearizability and liveness property", () => {
    fc.assert(
      fc.property(caseArb, ({ nodes, seed, faults }) => {
        mustPass({ seed: String(seed), scenario: "swarm", nodes, durationMs: DURATION_MS, faults: faults.join("; ") });
      }),
      { seed: FC_SEED, numRuns: RUNS, endOnFailure: false },
    );
  });

  it("keep them in every scenario, for random seeds and sizes", () => {
    const scenarioArb = fc.constantFrom("partition", "leader-crash", "leader-churn", "lease-handover", "pause", "clock-drift", "flaky-network", "restart-all", "swarm");
    fc.assert(
      fc.property(scenarioArb, fc.integer({ min: 3, max: 7 }), fc.integer({ min: 1, max: 1_000_000 }), (scenario, nodes, seed) => {
        mustPass({ seed: String(seed), scenario, nodes, durationMs: DURATION_MS });
      }),
      { seed: FC_SEED + 1, numRuns: Math.ceil(RUNS / 2) },
    );
  });

  it("keep them under membership churn: nodes added, removed, replaced, leadership moved, SIGTERM, among the faults", () => {
    fc.assert(
      fc.property(churnCaseArb, ({ nodes, seed, faults }) => {
        mustPass({ seed: String(seed), scenario: "swarm", nodes, durationMs: DURATION_MS, faults: faults.join("; ") });
      }),
      { seed: FC_SEED + 3, numRuns: Math.ceil(RUNS / 4), endOnFailure: false },
    );
  });

  it("replay byte for byte from the seed", () => {
    fc.assert(
      fc.property(caseArb, ({ nodes, seed, faults }) => {
        const o = simOptions({ seed: String(seed), scenario: "swarm", nodes, durationMs: DURATION_MS, faults: faults.join("; ") });
        expect(formatRunSummary(runSimulation(o))).toBe(formatRunSummary(runSimulation(o)));
      }),
      { seed: FC_SEED + 2, numRuns: Math.ceil(RUNS / 8) },
    );
  });
});

describe("a failure found by the property", () => {
  // A deliberately broken variant (a node votes twice in a term) makes failures to find. The
  // simulator seed is fixed; fast-check draws the fault schedule, as in the properties above.
  const seed = "2";
  /** Faults that make elections often, so that a double vote matters. */
  const churnArb = fc
    .tuple(fc.integer({ min: FAULTS_FROM_MS, max: QUIET_FROM_MS - 1 }), fc.constantFrom("crash L", "crash-elected F", "restart all", "heal", "isolate L", "pause L", "resume all", "net loss=0.05"))
    .map(([at, a]) => `${at} ${a}`);
  const failing: string[][] = [];
  let found: fc.RunDetails<[string[]]> | null = null;
  const search = (): fc.RunDetails<[string[]]> => {
    found ??= fc.check(
      fc.property(fc.array(churnArb, { maxLength: 12 }), (faults) => {
        try {
          mustPass({ seed, scenario: "swarm", nodes: 5, durationMs: DURATION_MS, faults: faults.join("; "), mutation: "vote-twice" });
        } catch (e) {
          failing.push(faults);
          throw e;
        }
      }),
      { seed: FC_SEED, numRuns: 100 },
    );
    return found;
  };

  it("is shrunk to a schedule no longer than the first failing one, and its replay line names that schedule", () => {
    const details = search();
    expect(details.failed, "the broken variant was never caught").toBe(true);
    const [shrunk] = details.counterexample!;
    expect(details.numShrinks).toBeGreaterThan(0);
    expect(shrunk.length).toBeLessThanOrEqual(failing[0]!.length);
    const replay = /replay: (.*)$/m.exec((details.errorInstance as Error).message)?.[1];
    const options = simOptions({ seed, scenario: "swarm", nodes: 5, durationMs: DURATION_MS, faults: shrunk.join("; "), mutation: "vote-twice" });
    expect(replay).toBe(replayCommand(options));
    expect(replay).toContain(`--faults '${shrunk.join("; ")}'`);
  });

  it("replays from its printed line, run in a shell, with the same violation at the same time", () => {
    const message = (search().errorInstance as Error | undefined)?.message ?? "";
    const [, violation, replay] = /^(.* at \d+\.\d{3} ms):[^]*\n {2}replay: raft-sim (.*)$/.exec(message) ?? [];
    expect(replay, message).toBeDefined();
    const bin = path.resolve(import.meta.dirname, "../../bin/raft-sim.js");
    const r = spawnSync("sh", ["-c", `"${process.execPath}" "${bin}" ${replay}`], { encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toContain(`VIOLATION of ${violation} (simulated)`);
  });
});
