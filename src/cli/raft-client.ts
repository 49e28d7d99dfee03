// `raft-client`: one command (set, get, status) or, with none, an interactive prompt.
// Exit status: 0 success, 1 when the cluster could not serve the request within --timeout (or
// refused it as invalid), 2 on a usage error.

import readline from "node:readline";
import { RaftClient, RaftClientError, type NodeReport } from "../client/raft-client.js";
import { parseRequest } from "../raft/index.js";
import type { TlsMaterial } from "../client/tls.js";
import { formatFlags, parseArgs, parseDuration, stringFlag, UsageError, type FlagSpec } from "./args.js";
import { CLIENT_TLS_FLAGS, parseClientTls, quietTlsIpAddressWarning } from "./tls-flags.js";
import { versionLine } from "./version.js";
import { MEMBER_USAGE, parseMemberCommand, parseTransfer, runMemberCommand, type MemberCommand } from "./member-commands.js";

const FLAGS: readonly FlagSpec[] = [
  { name: "nodes", value: "<id=host:port,...>", help: "every node of the cluster (default: the RAFT_NODES environment variable)" },
  { name: "timeout", value: "<duration>", help: "give up after this long, e.g. 500ms, 10s, 2m (default 10s; member add: per step)" },
  { name: "to", value: "<id>", help: "transfer-leader: the voter to hand leadership to (default: the leader picks)" },
  ...CLIENT_TLS_FLAGS,
  { name: "version", value: null, help: "print the version and exit" },
  { name: "help", value: null, help: "show this help" },
];

export const USAGE = `Usage: raft-client --nodes <id=host:port,...> [--timeout 10s] [--tls-ca <file>] [command]

Commands:
  set <key> <value>   store a value (further words join the value, one space apart)
  get <key>           print the value (empty for a key never set)
  status              each node's role, term, leader, commit index, last log index, lease,
                      the configuration it uses, and a leadership transfer in progress
${MEMBER_USAGE}
  health              each node's gRPC health (SERVING while it knows a leader);
                      exit 0 only when every node given is SERVING
  (none)              an interactive prompt: SET k v, GET k, STATUS, help, exit

${formatFlags(FLAGS)}

Keys have no spaces and hold at most 1024 bytes; values hold at most 65536 bytes.
Membership commands go to the leader (found through --nodes); a new member's address must be
host:port with no spaces, commas, slashes, '=', '%' or '@'.
Put -- before a value that starts with --.
Exit status: 0 success, 1 the cluster could not serve the request in time (or refused it),
2 usage error.`;

const PROMPT_HELP = `Commands (case does not matter):
  SET <key> <value>   store a value (the rest of the line, spaces included)
  GET <key>           read a value
  STATUS              every node's role, term, leader, commit index, last log index, lease
  help                this text
  exit                leave (also Ctrl-D)`;

type Command = { kind: "set"; key: string; value: string } | { kind: "get"; key: string } | { kind: "status" } | { kind: "health" } | { kind: "prompt" } | MemberCommand;

export interface ClientArgs {
  readonly nodes: string;
  readonly timeoutMs: number;
  readonly command: Command;
  readonly tls: TlsMaterial | null;
}

export function parseClientArgs(argv: readonly string[], env: NodeJS.ProcessEnv = {}): ClientArgs | "help" | "version" {
  const args = parseArgs(argv, FLAGS);
  if (args.flags.has("help")) return "help";
  if (args.flags.has("version")) return "version";
  const nodes = stringFlag(args, "nodes") ?? env["RAFT_NODES"];
  if (nodes === undefined) throw new UsageError("--nodes is required: --nodes <id=host:port,...> (or set RAFT_NODES)");
  const timeoutText = stringFlag(args, "timeout");
  const timeoutMs = timeoutText === undefined ? 10_000 : parseDuration(timeoutText, "timeout");
  const to = stringFlag(args, "to");
  const command = parseCommand(args.positionals, to);
  if (to !== undefined && command.kind !== "transfer-leader") throw new UsageError("--to is for transfer-leader only");
  return { nodes, timeoutMs, command, tls: parseClientTls(args) };
}

function parseCommand(words: readonly string[], to: string | undefined): Command {
  const [verb, ...rest] = words;
  if (verb === undefined) return { kind: "prompt" };
  switch (verb.toLowerCase()) {
    case "set":
      if (rest.length < 2) throw new UsageError("set needs a key and a value: raft-client --nodes ... set <key> <value>");
      return { kind: "set", key: rest[0]!, value: rest.slice(1).join(" ") };
    case "get":
      if (rest.length !== 1) throw new UsageError("get takes one key: raft-client --nodes ... get <key>");
      return { kind: "get", key: rest[0]! };
    case "status":
      if (rest.length !== 0) throw new UsageError("status takes no arguments");
      return { kind: "status" };
    case "health":
      if (rest.length !== 0) throw new UsageError("health takes no arguments");
      return { kind: "health" };
    case "member":
      return parseMemberCommand(rest);
    case "transfer-leader":
      return parseTransfer(rest, to);
    default:
      throw new UsageError(`unknown command "${verb}"; use set, get, status, health, member, transfer-leader, or none for a prompt`);
  }
}

// ---------------------------------------------------------------- output

function formatLease(r: NodeReport & { reachable: true }): string {
  if (r.role !== "leader") return "-";
  return r.leaseRemainingMs > 0 ? `${Math.round(r.leaseRemainingMs)} ms` : "none";
}

/** `0,1,2,5/learner`, and a transfer in progress. */
function formatConfiguration(r: NodeReport & { reachable: true }): string {
  const members = r.members.length === 0 ? "none (waiting to be added)" : r.members.map((m) => `${m.id}${m.role === "learner" ? "/learner" : ""}`).join(",");
  return r.transferringTo === null ? members : `${members}; handing leadership to node ${r.transferringTo}`;
}

/** A table of node reports, one line a node. */
export function formatStatus(reports: readonly NodeReport[]): string {
  const header = ["node", "address", "role", "term", "leader", "commit", "last log", "lease", "members (configuration in use)"];
  const rows = reports.map((r) =>
    r.reachable
      ? [String(r.id), r.address, r.role, String(r.term), r.leaderId === null ? "none" : String(r.leaderId), String(r.commitIndex), String(r.lastLogIndex), formatLease(r), formatConfiguration(r)]
      : [String(r.id), r.address, `unreachable (${r.error})`],
  );
  // Every padded cell counts: all but the last of each row.
  const widths = header.map((h, i) => Math.max(h.length, ...rows.filter((row) => i < row.length - 1).map((row) => row[i]!.length)));
  // The last cell of a row is not padded, so an unreachable row's message runs on.
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

function errorText(err: unknown): string {
  if (err instanceof RaftClientError) return err.code === "invalid" ? `invalid request: ${err.message}` : err.message;
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------- prompt

export interface PromptIo {
  readonly input: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly output: NodeJS.WritableStream;
}

/** The interactive prompt; resolves when the user types exit, Ctrl-D or Ctrl-C. */
export async function runPrompt(client: RaftClient, io: PromptIo = { input: process.stdin, output: process.stdout }): Promise<void> {
  const terminal = io.input.isTTY === true;
  const rl = readline.createInterface({ input: io.input, output: io.output, terminal, historySize: 1000, prompt: "raft> " });
  const say = (text: string) => io.output.write(`${text}\n`);
  rl.on("SIGINT", () => rl.close());
  if (terminal) say(`Connected to ${client.nodes.map((n) => `${n.id}=${n.address}`).join(",")}. Type help for commands.`);
  rl.prompt();
  for await (const raw of rl) {
    const line = raw.trim();
    if (/^(exit|quit)$/i.test(line)) break;
    if (line.length > 0) say(await promptCommand(client, raw));
    rl.prompt();
  }
  rl.close();
}

/** Runs one prompt line; returns what to print. Never throws. */
export async function promptCommand(client: RaftClient, raw: string): Promise<string> {
  const line = raw.trim();
  if (/^help$/i.test(line) || line === "?") return PROMPT_HELP;
  try {
    if (/^status$/i.test(line)) return formatStatus(await client.status());
    const parsed = parseRequest(raw);
    if (!parsed.ok) return `error: ${parsed.error} (type help for commands)`;
    const r = parsed.value;
    if (r.kind === "get") return (await client.get(r.key)) || "(empty: no value under this key)";
    await client.set(r.key, r.value);
    return "OK";
  } catch (err) {
    return `error: ${errorText(err)}`;
  }
}

// ---------------------------------------------------------------- main

/** Entry point of bin/raft-client.js. Sets process.exitCode; never throws. */
export async function main(argv: readonly string[]): Promise<void> {
  let args: ClientArgs | "help" | "version";
  let client: RaftClient;
  try {
    args = parseClientArgs(argv, process.env);
    if (args === "help" || args === "version") {
      process.stdout.write(args === "help" ? `${USAGE}\n` : versionLine("raft-client"));
      return;
    }
    quietTlsIpAddressWarning();
    client = new RaftClient({ nodes: args.nodes, timeoutMs: args.timeoutMs, ...(args.tls === null ? {} : { tls: args.tls }) });
  } catch (err) {
    process.stderr.write(`raft-client: ${err instanceof Error ? err.message : String(err)}\nRun "raft-client --help" for usage.\n`);
    process.exitCode = 2;
    return;
  }
  try {
    process.exitCode = await runCommand(client, args.command, args.timeoutMs);
  } finally {
    client.close();
  }
}

async function runCommand(client: RaftClient, command: Command, timeoutMs: number): Promise<number> {
  try {
    switch (command.kind) {
      case "set":
        await client.set(command.key, command.value);
        process.stdout.write("OK\n");
        return 0;
      case "get":
        process.stdout.write(`${await client.get(command.key)}\n`);
        return 0;
      case "status": {
        const reports = await client.status();
        process.stdout.write(`${formatStatus(reports)}\n`);
        if (reports.some((r) => r.reachable)) return 0;
        process.stderr.write("raft-client: no node is reachable; check --nodes and that the nodes run\n");
        return 1;
      }
      case "health": {
        const reports = await client.health();
        for (const r of reports) process.stdout.write(`${r.id}  ${r.address}  ${"error" in r ? `unreachable (${r.error})` : r.status}\n`);
        return reports.every((r) => r.status === "SERVING") ? 0 : 1;
      }
      case "prompt":
        await runPrompt(client);
        return 0;
      case "member-list":
      case "member-add":
      case "member-remove":
      case "transfer-leader":
        await runMemberCommand(client, command, timeoutMs, { out: (t) => process.stdout.write(`${t}\n`), progress: (t) => process.stderr.write(`${t}\n`) });
        return 0;
    }
  } catch (err) {
    process.stderr.write(`raft-client: ${errorText(err)}\n`);
    return 1;
  }
}
