// raft-client's membership commands: `member list`, `member add ID=HOST:PORT`, `member remove ID`
// and `transfer-leader [--to ID]`: their parsing (UsageError with what to fix) and their runs
// (progress on stderr, results on stdout; exit 0 done, 1 refused or not done in time).

import type { MemberInfo, MemberList, RaftClient } from "../client/raft-client.js";
import { parseNodeId } from "../client/nodes.js";
import { checkMemberAddress } from "../runtime/grpc/members-text.js";
import type { NodeId } from "../raft/index.js";
import { asUsage, UsageError } from "./args.js";

export type MemberCommand =
  | { readonly kind: "member-list" }
  | { readonly kind: "member-add"; readonly id: NodeId; readonly address: string }
  | { readonly kind: "member-remove"; readonly id: NodeId }
  | { readonly kind: "transfer-leader"; readonly to: NodeId | null };

export const MEMBER_USAGE = `  member list         the leader's configuration: each member's id, address, role (voter or
                      learner), and who leads
  member add <id>=<host:port>
                      add a node started with raft-node serve --join: as a learner, then wait
                      (showing progress) until the leader has made it a voter (bounded by --timeout)
  member remove <id>  remove a member (the leader too: it hands leadership over first)
  transfer-leader [--to <id>]
                      hand leadership to <id> (default: the leader's most up-to-date voter) and
                      wait until the new leader serves`;

/** `member ...` words after the verb. */
export function parseMemberCommand(rest: readonly string[]): MemberCommand {
  const [sub, ...args] = rest;
  switch (sub) {
    case "list":
      if (args.length !== 0) throw new UsageError("member list takes no arguments");
      return { kind: "member-list" };
    case "add": {
      if (args.length !== 1) throw new UsageError("member add takes one <id>=<host:port>, e.g. member add 3=10.0.0.4:5000");
      return { kind: "member-add", ...parseIdAddress(args[0]!) };
    }
    case "remove":
      if (args.length !== 1) throw new UsageError("member remove takes one node id, e.g. member remove 3");
      return { kind: "member-remove", id: asUsage(() => parseNodeId(args[0]!, "member remove: the node id")) };
    default:
      throw new UsageError(`member needs list, add <id>=<host:port> or remove <id>${sub === undefined ? "" : `, not "${sub}"`}`);
  }
}

function parseIdAddress(text: string): { id: NodeId; address: string } {
  const eq = text.indexOf("=");
  if (eq < 0) throw new UsageError(`member add ${JSON.stringify(text)}: write <id>=<host:port>, e.g. 3=10.0.0.4:5000`);
  const id = asUsage(() => parseNodeId(text.slice(0, eq), "member add: the node id"));
  const address = text.slice(eq + 1);
  const bad = checkMemberAddress(address);
  if (bad !== null) throw new UsageError(`member add: ${bad}; e.g. member add ${id}=10.0.0.4:5000`);
  return { id, address };
}

/** `transfer-leader [--to <id>]` (the --to flag is parsed with the others). */
export function parseTransfer(rest: readonly string[], to: string | undefined): MemberCommand {
  if (rest.length !== 0) throw new UsageError(`transfer-leader takes no arguments but --to <id>, got "${rest[0]}"`);
  return { kind: "transfer-leader", to: to === undefined ? null : asUsage(() => parseNodeId(to, "--to")) };
}

export function formatMembers(list: MemberList): string {
  const rows = list.members.map((m: MemberInfo) => [String(m.id), m.address === "" ? "(not recorded)" : m.address, m.role, m.id === list.leaderId ? "leader" : ""]);
  const header = ["node", "address", "role", ""];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  const transfer = list.transferringTo === null ? [] : [`leadership is being handed to node ${list.transferringTo}`];
  return [line(header), ...rows.map(line), ...transfer].join("\n");
}

export interface CommandIo {
  readonly out: (text: string) => void;
  readonly progress: (text: string) => void;
}

/** Runs one membership command; throws RaftClientError when the cluster refused it or ran out of time. */
export async function runMemberCommand(client: RaftClient, command: MemberCommand, timeoutMs: number, io: CommandIo): Promise<void> {
  switch (command.kind) {
    case "member-list":
      return io.out(formatMembers(await client.members()));
    case "member-add":
      await client.addMember(command.id, command.address);
      io.progress(`node ${command.id} (${command.address}) added as a learner; waiting for the leader to make it a voter once it has caught up`);
      await client.waitForVoter(command.id, timeoutMs, (role, elapsedMs) => io.progress(`  ${(elapsedMs / 1000).toFixed(1)} s: node ${command.id} is a ${role}`));
      return io.out(`node ${command.id} is a voter`);
    case "member-remove":
      await client.removeMember(command.id);
      return io.out(`node ${command.id} removed; stop its process (it no longer takes part)`);
    case "transfer-leader":
      return io.out(await transfer(client, command.to, timeoutMs));
  }
}

/** Hands leadership over, then waits until a leader other than the old one holds its lease. */
async function transfer(client: RaftClient, to: NodeId | null, timeoutMs: number): Promise<string> {
  const before = (await client.members()).leaderId;
  const target = await client.transferLeader(to);
  if (target === before) return `node ${target} already leads`;
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const reports = await client.status();
    for (const r of reports) {
      if (r.reachable && r.role === "leader" && r.id !== before && r.leaseRemainingMs > 0) return `node ${r.id} leads (term ${r.term}) and serves; it was node ${before}`;
    }
    // The new leader may be outside --nodes: then the others' view of it will do.
    const seen = reports.find((r) => r.reachable && r.leaderId === target && r.id !== before);
    if (seen !== undefined && !reports.some((r) => r.id === target)) return `node ${target} leads (as node ${seen.id} sees it); it was node ${before}`;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`node ${target} was told to take over but no new leader served within ${timeoutMs} ms; run raft-client status`);
}
