// `raft-node serve`: runs one node. Parses and checks every flag (exit 2 on a usage error), starts
// the node (exit 1 when it cannot: port in use, data dir unusable or of another node/cluster),
// then runs until SIGTERM or SIGINT, when it stops gracefully and exits 0.

import path from "node:path";
import { setLogger } from "@grpc/grpc-js";
import { clusterFingerprint, parseAddress, parseNodeId, parseNodeList, type NodeAddress } from "../client/nodes.js";
import { CONFIG_DEFAULTS, MUTATIONS, TIMING_PRESETS, validateTiming, type Mutation, type TimingConfig } from "../raft/index.js";
import { DUMP_BYTES_MAX_DEFAULT, DUMP_BYTES_MAX_MIN, DUMP_FILES_KEPT } from "../runtime/grpc/dump-writer.js";
import { startNode, type RunningNode } from "../runtime/grpc/node-runtime.js";
import { checkMemberAddress } from "../runtime/grpc/members-text.js";
import { LOG_FORMATS, type LogFormat } from "../runtime/grpc/event-log.js";
import type { NodeTls } from "../runtime/grpc/tls.js";
import { capYoungGeneration, HEAP_GROWING_PERCENT, tuneHeap, YOUNG_GENERATION_MIB_MAX } from "./heap-tuning.js";
import { NODE_TLS_FLAGS, parseNodeTls, quietTlsIpAddressWarning } from "./tls-flags.js";
import { versionLine } from "./version.js";
import { asUsage, formatFlags, parseArgs, parseRangeMs, parseWholeNumber, requiredFlag, stringFlag, UsageError, type FlagSpec, type ParsedArgs } from "./args.js";

/** The environment variable that switches a deliberate protocol bug on, for fault tests only. */
export const FAILPOINT_ENV = "RAFT_LEASE_FAILPOINT";

const FLAGS: readonly FlagSpec[] = [
  { name: "id", value: "<id>", help: "this node's id: one of the ids in --cluster (with --join: an id no member has)" },
  { name: "cluster", value: "<id=host:port,...>", help: "a new cluster's members (this node too) with the address peers and clients use;\nthe configuration stored in the data dir wins over it once the cluster has run" },
  { name: "join", value: null, help: "start a node that is not in the cluster yet: it waits until an operator adds it\n(raft-client member add <id>=<address>); needs --address, not --cluster" },
  { name: "address", value: "<host:port>", help: "with --join: this node's address as peers and clients reach it" },
  { name: "data-dir", value: "<dir>", help: "folder for logs_node_<id>/ (logs.txt, metadata.txt, dump.txt); created if missing" },
  { name: "listen", value: "<host:port>", help: "address to bind instead of this node's --cluster (or --address) address (e.g. 0.0.0.0:5000)" },
  { name: "timing", value: "<spec|fast>", help: "preset: fast (default; heartbeat 100 ms, election 1000-2000 ms, lease 800 ms)\nor spec (heartbeat 1000 ms, election 5000-10000 ms, lease 4000 ms)" },
  { name: "heartbeat-ms", value: "<n>", help: "heartbeat interval, ms (overrides the preset)" },
  { name: "election-timeout-ms", value: "<min-max>", help: "election timeout range, ms, e.g. 1000-2000 (overrides the preset)" },
  { name: "lease-ms", value: "<n>", help: "leader lease, ms; below the election minimum, at least 3 heartbeats (so one lost heartbeat does not end it)" },
  { name: "drift-ppm", value: "<n>", help: "bound on clock rate error, parts per million (default 1000)" },
  { name: "dump-max-bytes", value: "<n>", help: `bound of dump.txt in bytes; at it, dump.txt is rotated to dump.1.txt (${DUMP_FILES_KEPT} old files kept;\ndefault ${DUMP_BYTES_MAX_DEFAULT}, at least ${DUMP_BYTES_MAX_MIN})` },
  { name: "snapshot-entries", value: "<n>", help: `take a snapshot (snapshot.txt) every n applied entries, then drop the log before it\n(default ${CONFIG_DEFAULTS.snapshotEveryEntries})` },
  { name: "snapshot-keep", value: "<n>", help: `log entries kept below a snapshot for followers a little behind (default ${CONFIG_DEFAULTS.snapshotKeepEntries})` },
  { name: "quiet", value: null, help: "write event lines to dump.txt only, not to the console" },
  { name: "log-format", value: "<text|json>", help: "console format: text (default; the dump.txt lines) or json (one object per event:\ntime, node, term, event, fields, message); dump.txt stays text" },
  ...NODE_TLS_FLAGS,
  { name: "metrics-listen", value: "<host:port>", help: "serve Prometheus metrics at http://<host:port>/metrics (e.g. 0.0.0.0:9100)" },
  { name: "grpc-reflection", value: null, help: "serve gRPC server reflection, so generic tools (grpcurl) can call the node without the .proto" },
  { name: "help", value: null, help: "show this help" },
];

export const USAGE = `Usage: raft-node serve --id <id> --cluster <id=host:port,...> --data-dir <dir> [options]
       raft-node serve --id <id> --join --address <host:port> --data-dir <dir> [options]
       raft-node --version

Runs one node of a raft-lease cluster: a replicated key-value store on Raft with leader leases.

${formatFlags(FLAGS)}

Example, 3 machines (run the matching line on each):
  raft-node serve --id 0 --cluster 0=10.0.0.1:5000,1=10.0.0.2:5000,2=10.0.0.3:5000 --data-dir /var/lib/raft
A fourth machine, added later (then: raft-client member add 3=10.0.0.4:5000):
  raft-node serve --id 3 --join --address 10.0.0.4:5000 --data-dir /var/lib/raft

The cluster's configuration lives in the log: once a node has run, the configuration stored in its
data dir is used, whatever --cluster says (the node prints which it uses when they differ).

Event lines go to the console and to <data-dir>/logs_node_<id>/dump.txt.
Beside RaftClient and RaftPeer the port serves the gRPC health service (grpc.health.v1: SERVING
while the node knows a leader), and with --grpc-reflection server reflection.
Fault tests only: ${FAILPOINT_ENV}=<${MUTATIONS.join("|")}> deliberately breaks the protocol
(a negative control); such a node says so at start and in dump.txt. Never set it in production.
Memory: a node runs V8 with --heap-growing-percent=${HEAP_GROWING_PERCENT} (a full collection once the heap grows
${HEAP_GROWING_PERCENT}% past the live data) and keeps V8's young generation at ${YOUNG_GENERATION_MIB_MAX} MB; a
--heap-growing-percent or --max-semi-space-size in NODE_OPTIONS wins.
SIGTERM or SIGINT: a leader first hands leadership to its most up-to-date voter (waiting at most
2 x the election timeout maximum), then every node stops taking requests, finishes writes in
progress, closes files and exits 0. A second signal exits at once.
Exit status: 0 after a signal, 1 on a runtime failure, 2 on a usage error.`;

export interface ServeConfig {
  readonly id: NodeAddress["id"];
  /** The initial configuration (--cluster); empty with --join. */
  readonly members: readonly NodeAddress[];
  /** --join: this node's own address, else null. */
  readonly join: { readonly address: string } | null;
  readonly dataDir: string;
  readonly listen: string | undefined;
  readonly timing: TimingConfig;
  readonly quiet: boolean;
  /** A deliberately broken protocol variant from ${FAILPOINT_ENV}, or null (always, in production). */
  readonly failpoint: Mutation | null;
  readonly logFormat: LogFormat;
  readonly tls: NodeTls | null;
  readonly metricsListen: { readonly host: string; readonly port: number; readonly address: string } | null;
  readonly reflection: boolean;
  readonly dumpBytesMax: number;
  readonly snapshotEveryEntries: number;
  readonly snapshotKeepEntries: number;
}

/** Turns `serve` flags into a checked configuration; throws UsageError with what to fix. */
export function parseServeArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ServeConfig | "help" {
  const args = parseArgs(argv, FLAGS);
  if (args.flags.has("help")) return "help";
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"; serve takes only flags`);
  const id = asUsage(() => parseNodeId(requiredFlag(args, "id", "<id>"), "--id"));
  const { members, join } = parseMembership(args, id);
  const dataDir = requiredFlag(args, "data-dir", "<dir>");
  if (dataDir.trim().length === 0) throw new UsageError("--data-dir is empty; give a folder, e.g. --data-dir /var/lib/raft");
  const listenText = stringFlag(args, "listen");
  const listen = listenText === undefined ? undefined : asUsage(() => parseAddress(listenText, "--listen").address);
  const timing = parseTiming(args);
  const logFormat = stringFlag(args, "log-format") ?? "text";
  if (!isLogFormat(logFormat)) throw new UsageError(`--log-format ${JSON.stringify(logFormat)} must be ${LOG_FORMATS.join(" or ")}`);
  const metricsText = stringFlag(args, "metrics-listen");
  const metricsListen = metricsText === undefined ? null : asUsage(() => parseAddress(metricsText, "--metrics-listen"));
  const tls = parseNodeTls(args);
  if (metricsListen !== null && metricsListen.address === (listen ?? join?.address ?? members.find((m) => m.id === id)!.address)) {
    throw new UsageError(`--metrics-listen ${metricsListen.address} is the node's own gRPC address; give the metrics another port`);
  }
  const dumpText = stringFlag(args, "dump-max-bytes");
  const dumpBytesMax = dumpText === undefined ? DUMP_BYTES_MAX_DEFAULT : parseWholeNumber(dumpText, "dump-max-bytes", DUMP_BYTES_MAX_MIN, 2 ** 48);
  const snapshotText = stringFlag(args, "snapshot-entries");
  const keepText = stringFlag(args, "snapshot-keep");
  return {
    snapshotEveryEntries: snapshotText === undefined ? CONFIG_DEFAULTS.snapshotEveryEntries : parseWholeNumber(snapshotText, "snapshot-entries", 1, 2 ** 40),
    snapshotKeepEntries: keepText === undefined ? CONFIG_DEFAULTS.snapshotKeepEntries : parseWholeNumber(keepText, "snapshot-keep", 0, 2 ** 40),
    id,
    members,
    join,
    dataDir: path.resolve(dataDir),
    listen,
    timing,
    quiet: args.flags.has("quiet"),
    logFormat,
    tls,
    metricsListen,
    reflection: args.flags.has("grpc-reflection"),
    dumpBytesMax,
    failpoint: parseFailpoint(env[FAILPOINT_ENV]),
  };
}

/** --cluster, or --join with --address: one of the two ways a node starts. */
function parseMembership(args: ParsedArgs, id: NodeAddress["id"]): { members: NodeAddress[]; join: { address: string } | null } {
  const addressText = stringFlag(args, "address");
  if (args.flags.has("join")) {
    if (args.flags.has("cluster")) throw new UsageError("--join and --cluster exclude each other: a joining node learns the configuration from the leader that adds it; drop --cluster");
    if (addressText === undefined) throw new UsageError("--join needs --address <host:port>: the address the other members and clients will reach this node at");
    const address = asUsage(() => parseAddress(addressText, "--address").address);
    const bad = checkMemberAddress(address);
    if (bad !== null) throw new UsageError(`--address: ${bad}`);
    return { members: [], join: { address } };
  }
  if (addressText !== undefined) throw new UsageError("--address is for --join; without --join this node's address is its item in --cluster");
  const members = asUsage(() => parseNodeList(requiredFlag(args, "cluster", "<id=host:port,...> (or --join --address <host:port>)"), "--cluster"));
  if (!members.some((m) => m.id === id)) {
    throw new UsageError(`--id ${id} is not in --cluster (its ids are ${members.map((m) => m.id).join(", ")}); add this node to --cluster, fix --id, or start it with --join to add it to a running cluster`);
  }
  for (const m of members) {
    const bad = checkMemberAddress(m.address);
    if (bad !== null) throw new UsageError(`--cluster item ${m.id}: ${bad}`);
  }
  return { members, join: null };
}

/** ${FAILPOINT_ENV}: unset or empty means none; anything else must name a mutation exactly. */
export function parseFailpoint(text: string | undefined): Mutation | null {
  if (text === undefined || text === "") return null;
  const found = MUTATIONS.find((m) => m === text);
  if (found === undefined) throw new UsageError(`${FAILPOINT_ENV}=${JSON.stringify(text)} is not a failpoint; use one of ${MUTATIONS.join(", ")}, or unset it`);
  return found;
}

function isLogFormat(text: string): text is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(text);
}

function parseTiming(args: ParsedArgs): TimingConfig {
  const presetName = stringFlag(args, "timing") ?? "fast";
  if (presetName !== "spec" && presetName !== "fast") throw new UsageError(`--timing "${presetName}" is not a preset; use spec or fast`);
  let timing: TimingConfig = TIMING_PRESETS[presetName];
  const heartbeat = stringFlag(args, "heartbeat-ms");
  if (heartbeat !== undefined) timing = { ...timing, heartbeatMs: parseWholeNumber(heartbeat, "heartbeat-ms", 1, 3_600_000) };
  const election = stringFlag(args, "election-timeout-ms");
  if (election !== undefined) {
    const { minMs, maxMs } = parseRangeMs(election, "election-timeout-ms");
    timing = { ...timing, electionTimeoutMinMs: minMs, electionTimeoutMaxMs: maxMs };
  }
  const lease = stringFlag(args, "lease-ms");
  if (lease !== undefined) timing = { ...timing, leaseMs: parseWholeNumber(lease, "lease-ms", 1, 3_600_000) };
  const drift = stringFlag(args, "drift-ppm");
  if (drift !== undefined) timing = { ...timing, driftPpmMax: parseWholeNumber(drift, "drift-ppm", 0, 99_999) };
  asUsage(() => validateTiming(timing));
  return timing;
}

/** Entry point of bin/raft-node.js. Sets process.exitCode; never throws. */
export async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === "--version" || command === "version") {
    process.stdout.write(versionLine("raft-node"));
    return;
  }
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    (command === undefined ? process.stderr : process.stdout).write(`${USAGE}\n`);
    process.exitCode = command === undefined ? 2 : 0;
    return;
  }
  let config: ServeConfig | "help";
  try {
    if (command !== "serve") throw new UsageError(`unknown command "${command}"; the command is serve`);
    config = parseServeArgs(rest);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`raft-node: ${err.message}\nRun "raft-node --help" for usage.\n`);
    process.exitCode = 2;
    return;
  }
  if (config === "help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  await serve(config);
}

/** grpc-js logs its own line for a failed bind, which our error message already explains. */
function quietRedundantGrpcErrors(): void {
  const print = (level: string) => (message: unknown, ...rest: unknown[]) => {
    if (String(message).startsWith("No address added")) return;
    process.stderr.write(`grpc ${level}: ${[message, ...rest].map(String).join(" ")}\n`);
  };
  setLogger({ error: print("error"), info: print("info"), debug: print("debug") });
}

async function serve(config: ServeConfig): Promise<void> {
  tuneHeap();
  capYoungGeneration();
  quietRedundantGrpcErrors();
  quietTlsIpAddressWarning();
  let node: RunningNode;
  try {
    node = await startNode({
      id: config.id,
      members: config.members,
      ...(config.join === null ? {} : { join: true, address: config.join.address }),
      clusterFingerprint: config.join === null ? clusterFingerprint(config.members) : `join:${config.id}=${config.join.address}`,
      dataDir: config.dataDir,
      dumpBytesMax: config.dumpBytesMax,
      timing: config.timing,
      ...(config.listen === undefined ? {} : { listen: config.listen }),
      console: config.quiet ? null : process.stdout,
      logFormat: config.logFormat,
      tls: config.tls,
      metricsListen: config.metricsListen === null ? null : { host: config.metricsListen.host, port: config.metricsListen.port },
      reflection: config.reflection,
      configOverrides: {
        snapshotEveryEntries: config.snapshotEveryEntries,
        snapshotKeepEntries: config.snapshotKeepEntries,
        ...(config.failpoint === null ? {} : { mutation: config.failpoint }),
      },
    });
  } catch (err) {
    process.stderr.write(`raft-node: node ${config.id} cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
    return;
  }
  const exitCode = await untilStopped(node);
  process.exitCode = exitCode;
  // Everything is closed, so the process ends by itself; this is a backstop, not the plan.
  setTimeout(() => process.exit(exitCode), 5_000).unref();
}

/** Waits for a signal (graceful stop, 0) or a node failure (1). A second signal exits at once. */
function untilStopped(node: RunningNode): Promise<number> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.removeListener("SIGTERM", onSignal);
      process.removeListener("SIGINT", onSignal);
      process.once("SIGTERM", () => process.exit(1));
      process.once("SIGINT", () => process.exit(1));
      void node
        .handOverLeadership()
        .then((handedOver) => node.stop(`got ${signal}; ${handedOver}; finishing writes in progress`))
        .then(() => {
          process.stderr.write(`raft-node: node ${node.id} stopped\n`);
          resolve(0);
        });
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    void node.failed.then((err) => {
      process.stderr.write(`raft-node: node ${node.id} failed and stopped: ${err.message}\n`);
      resolve(1);
    });
  });
}
