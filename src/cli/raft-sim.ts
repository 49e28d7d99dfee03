// `raft-sim`: the deterministic simulator's command line.
//   raft-sim list                      the scenarios and mutations
//   raft-sim run --seed S --scenario X  one run: a summary, exit 1 on a violation
//   raft-sim swarm --seeds N            many seeds: a progress bar and a results table
// Exit status: 0 no violation, 1 a violation (or a simulator error), 2 a usage error.

import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { MUTATIONS, TIMING_PRESETS, type Mutation, type TimingPresetName } from "../raft/index.js";
import {
  buildPlan,
  formatRunSummary,
  JOBS_MAX,
  NODES_MAX,
  renderTimeline,
  replayCommand,
  runSimulation,
  runSwarm,
  SCENARIOS,
  simOptions,
  failed,
  type SeedOutcome,
  type SimOptions,
  type SwarmBase,
  type SwarmResult,
} from "../runtime/sim/index.js";
import { FAULT_GRAMMAR } from "./fault-grammar.js";
import { versionLine } from "./version.js";
import { formatFlags, parseArgs, parseDuration, parseWholeNumber, stringFlag, UsageError, type FlagSpec, type ParsedArgs } from "./args.js";

/** Flags that `run` and `swarm` share; the scenario's default and meaning differ, so it is not here. */
const COMMON: readonly FlagSpec[] = [
  { name: "nodes", value: "<n>", help: `cluster size, 1-${NODES_MAX} (default 5)` },
  { name: "duration", value: "<time>", help: "simulated time per run, like 120s, 90000ms or 2m (default 60s; 240s with --timing spec)" },
  { name: "timing", value: "<fast|spec>", help: "timing preset (default fast: heartbeat 100 ms, election 1-2 s, lease 800 ms)" },
  { name: "mutate", value: "<name>", help: `run a deliberately broken protocol variant: ${MUTATIONS.join(", ")}` },
  { name: "clock-beyond-bound", value: null, help: "negative control: clock rates far beyond the drift bound (the lease checker must object)" },
  { name: "ops-per-second", value: "<n>", help: "the clients' rate against a healthy cluster: operations per simulated second\n(default: the scenario's workload). Each client waits for its answer before its next\noperation, so faults, lulls and slow answers lower the rate the run gets" },
];

const HELP: FlagSpec = { name: "help", value: null, help: "show this help" };

const RUN_FLAGS: readonly FlagSpec[] = [
  { name: "seed", value: "<seed>", help: "the seed (any string); the same seed replays the same run, byte for byte" },
  { name: "scenario", value: "<name>", help: "the scenario to run, from `raft-sim list` (required)" },
  ...COMMON,
  { name: "faults", value: "<schedule>", help: "replace the scenario's faults with this schedule (the grammar is below)" },
  { name: "trace", value: null, help: "print every node's dump.txt lines (docs/exercise.md) and the faults, with simulated time" },
  { name: "html", value: "<file>", help: "write a self-contained HTML timeline of the run" },
  HELP,
];

const SWARM_FLAGS: readonly FlagSpec[] = [
  { name: "seeds", value: "<n>", help: "how many seeds to run (required)" },
  { name: "from", value: "<n>", help: "first seed (default 1)" },
  { name: "scenario", value: "<name>", help: "the scenario every seed runs, from `raft-sim list` (default swarm: faults and parameters drawn per seed)" },
  { name: "jobs", value: "<k>", help: `worker threads (default: CPUs, at most ${JOBS_MAX}); 1 runs in this thread` },
  { name: "until-caught", value: null, help: "stop at the first failing seed (the lowest one) and report it" },
  ...COMMON,
  HELP,
];

const LIST_FLAGS: readonly FlagSpec[] = [HELP];

const USAGE = `Usage: raft-sim <command> [flags]

The deterministic simulator of raft-lease: whole clusters of the pure core in virtual time, with
faults (crashes, pauses, partitions, loss, duplication, reordering, clock drift), simulated
clients, and checkers for election safety, log matching, leader completeness, state machine
safety, lease safety, linearizability and liveness.

Commands:
  list                         the scenarios and mutations
  run --seed S --scenario X    one run; prints a summary; exit 1 on a violation
  swarm --seeds N              many seeds of one scenario; prints a results table

\`raft-sim run --help\` and \`raft-sim swarm --help\` list their flags; \`run --help\` also the
fault grammar of --faults. More in docs/simulator.md.
`;

const LIST_USAGE = `Usage: raft-sim list

Prints every scenario (for --scenario) and every mutation (for --mutate), with a line each.

${formatFlags(LIST_FLAGS)}
`;

const RUN_USAGE = `Usage: raft-sim run --seed <seed> --scenario <name> [flags]

Runs one simulation and prints a summary (events, elections, leaders per term, operations,
checks passed). On a violation it prints the property, the simulated time and the command that
replays it, and exits 1.

${formatFlags(RUN_FLAGS)}

${FAULT_GRAMMAR}
`;

const SWARM_USAGE = `Usage: raft-sim swarm --seeds <n> [flags]

Runs seeds from..from+n-1 of one scenario (default swarm: faults and parameters drawn per seed)
and prints a results table. Exit 1 if any seed fails.

${formatFlags(SWARM_FLAGS)}
`;

export async function main(argv: readonly string[]): Promise<number> {
  try {
    const [command, ...rest] = argv;
    switch (command) {
      case "list":
        return list(rest);
      case "run":
        return run(rest);
      case "swarm":
        return await swarm(rest);
      case "--version":
        process.stdout.write(versionLine("raft-sim"));
        return 0;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"; use list, run or swarm (raft-sim --help)`);
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`raft-sim: ${e.message}\n`);
    return 2;
  }
}

function list(argv: readonly string[]): number {
  const args = parseArgs(argv, LIST_FLAGS);
  if (args.flags.has("help")) {
    process.stdout.write(LIST_USAGE);
    return 0;
  }
  if (args.positionals.length > 0) throw new UsageError(`list takes no arguments, got "${args.positionals[0]}"`);
  const width = Math.max(...[...SCENARIOS.keys()].map((n) => n.length)) + 2;
  const lines = ["Scenarios (raft-sim run --scenario <name>):"];
  for (const s of SCENARIOS.values()) lines.push(`  ${s.name.padEnd(width)}${s.description}`);
  lines.push("", "Mutations (--mutate <name>), deliberately broken variants the checkers must catch:");
  for (const m of MUTATIONS) lines.push(`  ${m.padEnd(width)}${MUTATION_HELP[m]}`);
  process.stdout.write(lines.join("\n") + "\n");
  return 0;
}

const MUTATION_HELP: Record<Mutation, string> = {
  "no-lease-wait": "a new leader does not wait out the old leader's lease",
  "lease-from-receive": "the lease is counted from when the acknowledgement arrived, not when the heartbeat left",
  "commit-old-term": "a leader commits entries of earlier terms by counting replicas",
  "vote-twice": "a node grants a second vote in the same term",
  "restart-forgets-lease": "a restarted node votes as if no lease could be running",
  "reply-current-term": "a reply names the replier's current term, not the request's; a leader takes any reply of its term as a fresh acknowledgement",
  "trust-page-cache": "a restarted node uses what it reads from disk (maybe only in the page cache) without syncing it first",
  "snapshot-forgets-sessions": "a snapshot leaves out the session table, so a retried SET may apply twice after a restore",
  "install-older-snapshot": "a follower installs any snapshot it is sent, over newer state, dropping its whole log",
  "learner-in-quorum": "a leader counts learners' acknowledgements toward commits and its lease, as if they were voters",
  "transfer-keeps-lease": "a leader that hands leadership over (TimeoutNow) goes on serving lease reads",
};

// ---------------------------------------------------------------- shared flags

function common(args: ParsedArgs, scenarioDefault: string | null): SwarmBase {
  const scenario = stringFlag(args, "scenario") ?? scenarioDefault;
  if (scenario === null) throw new UsageError("--scenario is required: --scenario <name> (raft-sim list shows them)");
  if (!SCENARIOS.has(scenario)) throw new UsageError(`unknown scenario "${scenario}"; choose one of: ${[...SCENARIOS.keys()].join(", ")}`);
  const timing = stringFlag(args, "timing") ?? "fast";
  if (!(timing in TIMING_PRESETS)) throw new UsageError(`--timing "${timing}" must be fast or spec`);
  const mutation = stringFlag(args, "mutate") ?? null;
  if (mutation !== null && !(MUTATIONS as readonly string[]).includes(mutation)) {
    throw new UsageError(`unknown mutation "${mutation}"; choose one of: ${MUTATIONS.join(", ")}`);
  }
  const nodesText = stringFlag(args, "nodes");
  const durationText = stringFlag(args, "duration");
  const rateText = stringFlag(args, "ops-per-second");
  const base = simOptions({
    seed: "",
    scenario,
    timing: timing as TimingPresetName,
    mutation: mutation as Mutation | null,
    clockBeyondBound: args.flags.has("clock-beyond-bound"),
    ...(nodesText === undefined ? {} : { nodes: parseWholeNumber(nodesText, "nodes", 1, NODES_MAX) }),
    ...(durationText === undefined ? {} : { durationMs: parseDuration(durationText, "duration") }),
    ...(rateText === undefined ? {} : { opsPerSecond: parseWholeNumber(rateText, "ops-per-second", 1, 100_000) }),
  });
  const { seed: _seed, trace: _trace, timeline: _timeline, ...rest } = base;
  return rest;
}

function noPositionals(args: ParsedArgs, command: string): void {
  if (args.positionals.length > 0) throw new UsageError(`${command} takes only flags, got "${args.positionals[0]}" (raft-sim ${command} --help)`);
}

// ---------------------------------------------------------------- run

function run(argv: readonly string[]): number {
  const args = parseArgs(argv, RUN_FLAGS);
  if (args.flags.has("help")) {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  noPositionals(args, "run");
  const seed = stringFlag(args, "seed");
  if (seed === undefined) throw new UsageError("--seed is required: --seed <seed>");
  const html = stringFlag(args, "html");
  const out = new Output();
  const options: SimOptions = {
    ...common(args, null),
    seed,
    faults: stringFlag(args, "faults") ?? null,
    trace: args.flags.has("trace") ? (line) => out.line(line) : null,
    timeline: html !== undefined,
  };
  try {
    buildPlan(options, TIMING_PRESETS[options.timing]); // bad --faults or --duration: a usage error
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  let result;
  try {
    result = runSimulation(options);
  } catch (e) {
    // Not a property violation: the simulator itself failed. Say how to replay it.
    process.stderr.write(`raft-sim: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n  replay: ${replayCommand(options)}\n`);
    return 1;
  }
  out.line(formatRunSummary(result).trimEnd());
  if (html !== undefined && result.timeline !== null) {
    writeFileSync(html, renderTimeline(result.timeline));
    out.line(`timeline written to ${html}`);
  }
  out.flush();
  return result.ok ? 0 : 1;
}

/** Buffered stdout: a trace can be long, and many small writes are slow. */
class Output {
  private buffer: string[] = [];
  private size = 0;

  line(s: string): void {
    this.buffer.push(s);
    this.size += s.length + 1;
    if (this.size > 1 << 16) this.flush();
  }

  flush(): void {
    if (this.buffer.length === 0) return;
    process.stdout.write(this.buffer.join("\n") + "\n");
    this.buffer = [];
    this.size = 0;
  }
}

// ---------------------------------------------------------------- swarm

async function swarm(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, SWARM_FLAGS);
  if (args.flags.has("help")) {
    process.stdout.write(SWARM_USAGE);
    return 0;
  }
  noPositionals(args, "swarm");
  const seedsText = stringFlag(args, "seeds");
  if (seedsText === undefined) throw new UsageError("--seeds is required: --seeds <n>");
  const seeds = parseWholeNumber(seedsText, "seeds", 1, 100_000_000);
  const fromSeed = parseWholeNumber(stringFlag(args, "from") ?? "1", "from", 0, 1e12);
  const jobsText = stringFlag(args, "jobs");
  const jobs = jobsText === undefined ? Math.min(JOBS_MAX, Math.max(1, cpus().length)) : parseWholeNumber(jobsText, "jobs", 1, JOBS_MAX);
  const base = common(args, "swarm");
  const progress = new Progress(seeds);
  const startedMs = performance.now();
  const result = await runSwarm({ base, seeds, fromSeed, jobs, untilCaught: args.flags.has("until-caught"), onOutcome: (o, done) => progress.update(o, done) });
  progress.end();
  process.stdout.write(formatSwarm(base, result, jobs, (performance.now() - startedMs) / 1000));
  return result.failures.length === 0 ? 0 : 1;
}

/** A progress bar on a terminal; elsewhere a line every 10% (or every 10 s). */
class Progress {
  private failures = 0;
  private readonly startedMs = performance.now();
  private lastLineMs = 0;
  private lastTenth = 0;
  private readonly tty = process.stderr.isTTY === true;

  constructor(private readonly total: number) {}

  update(o: SeedOutcome, done: number): void {
    if (failed(o)) {
      this.failures += 1;
      const what = o.violation !== null ? `${o.violation.property} at ${o.violation.atMs.toFixed(1)} ms` : "simulator error";
      this.write(`seed ${o.seed}: ${what}\n`);
    }
    const elapsedS = (performance.now() - this.startedMs) / 1000;
    const text = `${done}/${this.total} seeds, ${this.failures} failing, ${elapsedS.toFixed(1)} s`;
    if (this.tty) {
      const width = 30;
      const filled = Math.round((done / this.total) * width);
      process.stderr.write(`\r[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${text}  `);
      return;
    }
    const tenth = Math.floor((done * 10) / this.total);
    if (tenth > this.lastTenth || elapsedS - this.lastLineMs >= 10) {
      this.lastTenth = tenth;
      this.lastLineMs = elapsedS;
      process.stderr.write(`swarm: ${text}\n`);
    }
  }

  end(): void {
    if (this.tty) process.stderr.write("\n");
  }

  private write(s: string): void {
    process.stderr.write(this.tty ? `\r\x1b[K${s}` : s);
  }
}

function formatSwarm(base: SwarmBase, r: SwarmResult, jobs: number, wallS: number): string {
  const simulatedMs = r.outcomes.reduce((t, o) => t + o.simulatedMs, 0);
  const events = r.outcomes.reduce((t, o) => t + o.events, 0);
  const ops = r.outcomes.reduce((t, o) => t + o.ops, 0);
  const byProperty = new Map<string, number>();
  for (const f of r.failures) {
    const k = f.violation?.property ?? "simulator error";
    byProperty.set(k, (byProperty.get(k) ?? 0) + 1);
  }
  const lines = [
    `raft-sim swarm: scenario ${base.scenario}, ${base.nodes} nodes, ${base.durationMs / 1000} s each, timing ${base.timing}` +
      (base.mutation === null ? "" : `, mutation ${base.mutation}`) +
      (base.clockBeyondBound ? ", clocks beyond the drift bound" : "") +
      `, ${jobs} job${jobs === 1 ? "" : "s"}`,
    `  seeds run        ${r.outcomes.length}`,
    `  seeds passed     ${r.outcomes.length - r.failures.length}`,
    `  seeds failing    ${r.failures.length}`,
    `  simulated        ${(simulatedMs / 3_600_000).toFixed(2)} h in ${wallS.toFixed(1)} s wall (${Math.round(simulatedMs / 1000 / Math.max(wallS, 1e-9))}x real time)`,
    `  events           ${events} (${Math.round(events / Math.max(wallS, 1e-9))}/s); client ops ${ops}`,
  ];
  if (r.failures.length > 0) {
    lines.push(`  by property      ${[...byProperty].map(([k, n]) => `${k}: ${n}`).join(", ")}`, "", "  seed       property                  at (ms)      replay");
    for (const f of r.failures.slice(0, 50)) {
      const v = f.violation;
      const replay = v?.replay ?? f.error?.split("\n  replay: ")[1] ?? "";
      lines.push(`  ${f.seed.padEnd(10)} ${(v?.property ?? "simulator error").padEnd(25)} ${(v?.atMs.toFixed(1) ?? "-").padStart(10)}   ${replay}`);
    }
    if (r.failures.length > 50) lines.push(`  ... and ${r.failures.length - 50} more`);
    const first = r.failures[0]!;
    lines.push("", `  first failure (seed ${first.seed}): ${first.violation?.message ?? first.error ?? ""}`);
  }
  return lines.join("\n") + "\n";
}

process.exitCode = await main(process.argv.slice(2));
