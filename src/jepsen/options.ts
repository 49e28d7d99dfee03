// Options of the fault-test runner (`npm run jepsen -- ...`): flags, their checks, and the
// nemesis names. Every problem is a UsageError (exit 2) that says what to give instead.

import { formatFlags, parseArgs, parseDuration, parseWholeNumber, stringFlag, UsageError, type FlagSpec } from "../cli/args.js";
import { MUTATIONS, type Mutation } from "../raft/index.js";
import { KINDS_OF, type FaultKind } from "./nemesis.js";

export const NEMESES = ["partition", "bridge", "one-way", "kill", "pause", "clock", "mixed", "none"] as const;
export type NemesisName = (typeof NEMESES)[number];

export interface JepsenOptions {
  readonly nemesis: NemesisName;
  /** Only these of the nemesis' fault kinds, or null for all. */
  readonly faults: readonly FaultKind[] | null;
  readonly seconds: number;
  readonly nodes: number;
  readonly clients: number;
  readonly keys: number;
  readonly seed: number;
  /** Where history, logs and report go; null: a temporary folder, removed after a clean run. */
  readonly outDir: string | null;
  /** A deliberate protocol bug switched on in every node (a negative control). */
  readonly failpoint: Mutation | null;
  /** Clock rates beyond the drift bound (a negative control); only with the clock nemesis. */
  readonly clockBeyondBound: boolean;
  /** The nodes' drift bound (--drift-ppm); in-bound clock rates stay within 90% of it. */
  readonly driftPpm: number;
  /** The nodes' --snapshot-entries: a snapshot every this many applied entries. */
  readonly snapshotEntries: number;
  /** The nodes' --snapshot-keep: log entries kept below a snapshot. */
  readonly snapshotKeep: number;
}

/**
 * Snapshot interval and entries kept below a snapshot in the fault test, far below raft-node's
 * defaults (10,000 and 5,000), which a 60 s run reaches only sometimes. A run commits from about
 * 500 entries (a loaded 2-core machine: 10-25 a second) to 11,000 (CI), so every node compacts
 * its log 5 to 110 times, and a follower more than 20 to 120 entries behind the leader (a kill,
 * pause or partition of a few seconds while writes go on) gets a snapshot installed over the
 * network instead of entries. Snapshots stay small (5 keys, a session per client).
 */
export const JEPSEN_SNAPSHOT_ENTRIES = 100;
export const JEPSEN_SNAPSHOT_KEEP = 20;

const FLAGS: readonly FlagSpec[] = [
  { name: "nemesis", value: `<${NEMESES.join("|")}>`, help: "the faults to inject (default mixed)" },
  { name: "faults", value: "<kind,...>", help: "only these of the nemesis' faults, e.g. --nemesis partition --faults handover" },
  { name: "seconds", value: "<n>", help: "length of the fault phase (default 60)" },
  { name: "nodes", value: "<n>", help: "cluster size, 3-9 (default 5)" },
  { name: "clients", value: "<n>", help: "concurrent clients, half RaftClient and half plain ServeClient (default 10)" },
  { name: "keys", value: "<n>", help: "keys the clients read and write (default 5)" },
  { name: "seed", value: "<n>", help: "seed of the fault schedule and the workload (default: drawn and printed)" },
  { name: "out", value: "<dir>", help: "keep history.jsonl, every node's files and report.html here" },
  { name: "failpoint", value: `<${MUTATIONS.join("|")}>`, help: "run every node with this deliberate bug (RAFT_LEASE_FAILPOINT): a negative control" },
  { name: "clock-beyond-bound", value: null, help: "with --nemesis clock: rates beyond the drift bound (a negative control)" },
  { name: "drift-ppm", value: "<n>", help: "the nodes' clock drift bound, ppm (default 20000)" },
  { name: "snapshot-entries", value: "<n>", help: `the nodes take a snapshot every n applied entries and drop the log before it (default ${JEPSEN_SNAPSHOT_ENTRIES}; raft-node's own default is 10000)` },
  { name: "snapshot-keep", value: "<n>", help: `log entries the nodes keep below a snapshot; a follower further behind gets the snapshot installed (default ${JEPSEN_SNAPSHOT_KEEP})` },
  { name: "help", value: null, help: "show this help" },
];

export const USAGE = `Usage: npm run jepsen -- [options]

Fault tests of the real raft-node binary: one network namespace per node on a private bridge,
clients in a namespace of their own, a nemesis (nftables partitions, SIGKILL, SIGSTOP,
libfaketime clocks) on a schedule drawn from the seed, then healing, a final read of every key
and the checks: linearizability of the whole history, agreement of every node's committed log,
liveness after healing, snapshots taken and installed, and a SET retried after every node restarted
from its snapshot still a duplicate (the session probe). Needs root, ip netns and nftables (faketime for the clock nemesis).

${formatFlags(FLAGS)}

Exit status: 0 all checks passed, 1 an anomaly (the seed and a replay command are printed),
2 a usage error or a machine that cannot run it (the message says what is missing).`;

export function parseJepsenArgs(argv: readonly string[]): JepsenOptions | "help" {
  const args = parseArgs(argv, FLAGS);
  if (args.flags.has("help")) return "help";
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"; the runner takes only flags`);
  const nemesisText = stringFlag(args, "nemesis") ?? "mixed";
  const nemesis = NEMESES.find((n) => n === nemesisText);
  if (nemesis === undefined) throw new UsageError(`--nemesis "${nemesisText}" is not a nemesis; use one of ${NEMESES.join(", ")}`);
  const failpointText = stringFlag(args, "failpoint");
  const failpoint = failpointText === undefined ? null : (MUTATIONS.find((m) => m === failpointText) ?? null);
  if (failpointText !== undefined && failpoint === null) throw new UsageError(`--failpoint "${failpointText}" is not a failpoint; use one of ${MUTATIONS.join(", ")}`);
  const clockBeyondBound = args.flags.has("clock-beyond-bound");
  if (clockBeyondBound && nemesis !== "clock") throw new UsageError("--clock-beyond-bound goes with --nemesis clock");
  const faultsText = stringFlag(args, "faults");
  const allowed: readonly string[] = KINDS_OF[nemesis];
  const faults = faultsText === undefined ? null : faultsText.split(",").map((f) => {
    if (!allowed.includes(f)) throw new UsageError(`--faults: "${f}" is not a fault of --nemesis ${nemesis}; its faults are ${allowed.join(", ") || "none"}`);
    return f as FaultKind;
  });
  const secondsText = stringFlag(args, "seconds");
  const seedText = stringFlag(args, "seed");
  return {
    nemesis,
    faults,
    seconds: secondsText === undefined ? 60 : Math.round(parseDuration(secondsText, "seconds") / 1000),
    nodes: parseWholeNumber(stringFlag(args, "nodes") ?? "5", "nodes", 3, 9),
    clients: parseWholeNumber(stringFlag(args, "clients") ?? "10", "clients", 1, 100),
    keys: parseWholeNumber(stringFlag(args, "keys") ?? "5", "keys", 1, 1000),
    seed: seedText === undefined ? Math.floor(Math.random() * 1_000_000) : parseWholeNumber(seedText, "seed", 0, 2 ** 31),
    outDir: stringFlag(args, "out") ?? null,
    failpoint,
    clockBeyondBound,
    driftPpm: parseWholeNumber(stringFlag(args, "drift-ppm") ?? "20000", "drift-ppm", 0, 99_999),
    snapshotEntries: parseWholeNumber(stringFlag(args, "snapshot-entries") ?? String(JEPSEN_SNAPSHOT_ENTRIES), "snapshot-entries", 1, 2 ** 40),
    snapshotKeep: parseWholeNumber(stringFlag(args, "snapshot-keep") ?? String(JEPSEN_SNAPSHOT_KEEP), "snapshot-keep", 0, 2 ** 40),
  };
}

/** The command that replays a run: same seed, nemesis and shape. */
export function replayCommand(o: JepsenOptions): string {
  const parts = ["npm run jepsen --", `--nemesis ${o.nemesis}`, ...(o.faults === null ? [] : [`--faults ${o.faults.join(",")}`]), `--seconds ${o.seconds}`, `--nodes ${o.nodes}`, `--clients ${o.clients}`, `--keys ${o.keys}`, `--seed ${o.seed}`];
  if (o.failpoint !== null) parts.push(`--failpoint ${o.failpoint}`);
  if (o.clockBeyondBound) parts.push("--clock-beyond-bound");
  if (o.driftPpm !== 20_000) parts.push(`--drift-ppm ${o.driftPpm}`);
  if (o.snapshotEntries !== JEPSEN_SNAPSHOT_ENTRIES) parts.push(`--snapshot-entries ${o.snapshotEntries}`);
  if (o.snapshotKeep !== JEPSEN_SNAPSHOT_KEEP) parts.push(`--snapshot-keep ${o.snapshotKeep}`);
  return parts.join(" ");
}
