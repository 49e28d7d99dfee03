// Fault schedules: what the nemesis does, and when, in true simulator time.
//
// A schedule has a text form that round-trips exactly, so any schedule (a scenario's, or one that
// fast-check shrank) replays with `raft-sim run --faults "<text>"`. One fault per `;`:
//   1200 crash L          crash the leader (L), a random follower (F), a random live node (*),
//                         every node (all), or node 2 (n2)
//   1300 crash-mid F      crash at its next step that sends: after the disk write, before any send;
//                         crash-append, crash-commit, crash-elected: at its next step that grows
//                         its log, commits as leader, or makes it leader (after the disk write,
//                         before sends). An armed crash waits across restarts until it strikes.
//                         A crash is a power loss of the node's machine: unsynced writes are lost.
//   1400 kill F           the process dies (SIGKILL, the OOM killer) but the machine runs on: its
//                         unsynced writes stay in the page cache, where a restart reads them back;
//                         kill-append: at its next step that grows its log, after the write,
//                         before its sync. An armed kill waits across restarts until it strikes.
//   2000 power-off all    the machines lose power: running nodes crash, and the page cache of
//                         nodes already down is lost
//   3000 restart n2       restart node 2; `*` a random crashed node, `all` every crashed node
//   3500 pause L / resume all
//   4000 partition 0,1|2,3,4    groups that cannot talk to each other; a node in no group is alone
//   4000 isolate L        cut a node from every other, both ways
//   4000 cut-out L        messages from the node are lost; cut-in: messages to it are lost
//   4000 sever L F        the link between two nodes is cut, both ways
//   4000 bridge L         the node and about half the others on one side, the rest on the other,
//                         and one more node (the bridge) that talks to both sides
//   4000 slow F L 300     messages from a follower to the leader take 300 ms longer (until heal)
//   6000 heal
//   7000 net loss=0.1 dup=0.02 delay=1-20 tail=3 reorder=0.1/50 long=0.01/500-3000 late=0.01/2000-9000
//                         (or: net calm). late: a ghost copy of a message arrives that long after
//                         it was sent, besides the message itself (across crashes, reboots, terms)
//   8000 jump n1 400      node 1's clock leaps 400 ms forward (beyond any drift bound)
//   9000 quiet            faults stop: heal, calm network, resume and restart everything
// Membership (the simulated operator's requests to the node it believes leads, one at a time,
// retried like a client's; faults/membership-faults.ts):
//   2000 add 5            node 5 joins (started empty, or a removed node with its disk) as a learner
//   2000 remove L         remove a member (L, F, *, n2); replace n1 6: add 6, then remove node 1
//   2000 transfer         hand leadership over (to the most up-to-date voter, or: transfer n3)
//   2000 sigterm L 800    ask the node to transfer leadership, then it exits; back 800 ms later

import { NET_CALM, validateNetParams, type NetParams } from "../world/network.js";
import { formatMembershipAction, idLimit, parseMembershipAction, type MembershipAction } from "./membership-faults.js";

export type Target =
  | { readonly kind: "node"; readonly id: number }
  | { readonly kind: "leader" }
  | { readonly kind: "follower" }
  | { readonly kind: "random" }
  | { readonly kind: "all" };

export type FaultAction =
  | { readonly kind: "crash"; readonly target: Target; readonly when: CrashPoint }
  | { readonly kind: "kill"; readonly target: Target; readonly when: "now" | "append" }
  | { readonly kind: "power-off"; readonly target: Target }
  | { readonly kind: "restart"; readonly target: Target }
  | { readonly kind: "pause"; readonly target: Target }
  | { readonly kind: "resume"; readonly target: Target }
  | { readonly kind: "partition"; readonly groups: readonly (readonly number[])[] }
  | { readonly kind: "isolate"; readonly target: Target }
  | { readonly kind: "cut"; readonly target: Target; readonly direction: "out" | "in" }
  | { readonly kind: "sever"; readonly a: Target; readonly b: Target }
  | { readonly kind: "bridge"; readonly target: Target }
  | { readonly kind: "slow"; readonly from: Target; readonly to: Target; readonly extraMs: number }
  | { readonly kind: "heal" }
  | { readonly kind: "net"; readonly params: Partial<NetParams> }
  | { readonly kind: "jump"; readonly target: Target; readonly deltaMs: number }
  | { readonly kind: "quiet" }
  | MembershipAction;

/**
 * When a crash strikes: now, or at the node's next step that sends, grows its log, commits as
 * leader, or makes it leader. A triggered crash comes after that step's disk write and before its sends.
 */
export type CrashPoint = "now" | "send" | "append" | "commit" | "elected";
export const CRASH_POINTS: readonly CrashPoint[] = ["now", "send", "append", "commit", "elected"];

export function crashVerb(when: CrashPoint): string {
  return when === "now" ? "crash" : when === "send" ? "crash-mid" : `crash-${when}`;
}

export interface Fault {
  readonly atMs: number;
  readonly action: FaultAction;
}

export const node = (id: number): Target => ({ kind: "node", id });
export const LEADER: Target = { kind: "leader" };
export const FOLLOWER: Target = { kind: "follower" };
export const RANDOM: Target = { kind: "random" };
export const ALL: Target = { kind: "all" };

// ---------------------------------------------------------------- text form

export function formatTarget(t: Target): string {
  switch (t.kind) {
    case "node":
      return `n${t.id}`;
    case "leader":
      return "L";
    case "follower":
      return "F";
    case "random":
      return "*";
    case "all":
      return "all";
  }
}

export function formatAction(a: FaultAction): string {
  switch (a.kind) {
    case "crash":
      return `${crashVerb(a.when)} ${formatTarget(a.target)}`;
    case "kill":
      return `${a.when === "now" ? "kill" : "kill-append"} ${formatTarget(a.target)}`;
    case "power-off":
      return `power-off ${formatTarget(a.target)}`;
    case "restart":
    case "pause":
    case "resume":
    case "isolate":
      return `${a.kind} ${formatTarget(a.target)}`;
    case "partition":
      return `partition ${a.groups.map((g) => g.join(",")).join("|")}`;
    case "cut":
      return `cut-${a.direction} ${formatTarget(a.target)}`;
    case "sever":
      return `sever ${formatTarget(a.a)} ${formatTarget(a.b)}`;
    case "bridge":
      return `bridge ${formatTarget(a.target)}`;
    case "slow":
      return `slow ${formatTarget(a.from)} ${formatTarget(a.to)} ${a.extraMs}`;
    case "heal":
    case "quiet":
      return a.kind;
    case "net":
      return `net ${formatNet(a.params)}`;
    case "jump":
      return `jump ${formatTarget(a.target)} ${a.deltaMs}`;
    case "add":
    case "remove":
    case "replace":
    case "transfer":
    case "sigterm":
      return formatMembershipAction(a, formatTarget);
  }
}

export function formatSchedule(faults: readonly Fault[]): string {
  return faults.map((f) => `${f.atMs} ${formatAction(f.action)}`).join("; ");
}

function formatNet(p: Partial<NetParams>): string {
  const parts: string[] = [];
  if (p.delayMinMs !== undefined || p.delayMaxMs !== undefined) parts.push(`delay=${p.delayMinMs ?? NET_CALM.delayMinMs}-${p.delayMaxMs ?? NET_CALM.delayMaxMs}`);
  if (p.tailMeanMs !== undefined) parts.push(`tail=${p.tailMeanMs}`);
  if (p.lossP !== undefined) parts.push(`loss=${p.lossP}`);
  if (p.dupP !== undefined) parts.push(`dup=${p.dupP}`);
  if (p.reorderP !== undefined) parts.push(`reorder=${p.reorderP}/${p.reorderMs ?? 0}`);
  if (p.longP !== undefined) parts.push(`long=${p.longP}/${p.longMinMs ?? 0}-${p.longMaxMs ?? 0}`);
  if (p.lateP !== undefined) parts.push(`late=${p.lateP}/${p.lateMinMs ?? 0}-${p.lateMaxMs ?? 0}`);
  return parts.length === 0 ? "calm" : parts.join(" ");
}

/** Parses the text form; throws an Error naming the bad item and what a good one looks like. */
export function parseSchedule(text: string, nodeCount: number): Fault[] {
  const faults: Fault[] = [];
  const ids = idLimit(text, nodeCount); // nodes that join (add 5) may be named too
  for (const raw of text.split(";")) {
    const item = raw.trim();
    if (item === "") continue;
    const [time, verb, ...args] = item.split(/\s+/);
    const atMs = Number(time);
    if (!Number.isFinite(atMs) || atMs < 0) throw new Error(`--faults "${item}": starts with "${time}"; each fault starts with its time in ms, like "1200 crash L"`);
    faults.push({ atMs, action: parseAction(item, verb ?? "", args, ids) });
  }
  return sortFaults(faults);
}

/** Faults in time order; equal times keep their given order. */
export function sortFaults(faults: readonly Fault[]): Fault[] {
  return faults.map((f, i) => ({ f, i })).sort((a, b) => a.f.atMs - b.f.atMs || a.i - b.i).map((x) => x.f);
}

function parseAction(item: string, verb: string, args: readonly string[], nodeCount: number): FaultAction {
  const target = (): Target => parseTarget(item, args[0], nodeCount);
  switch (verb) {
    case "crash":
    case "crash-mid":
    case "crash-append":
    case "crash-commit":
    case "crash-elected":
      return { kind: "crash", target: target(), when: CRASH_POINTS.find((w) => crashVerb(w) === verb)! };
    case "kill":
    case "kill-append":
      return { kind: "kill", target: target(), when: verb === "kill" ? "now" : "append" };
    case "power-off":
      return { kind: "power-off", target: target() };
    case "restart":
    case "pause":
    case "resume":
    case "isolate":
      return { kind: verb, target: target() };
    case "cut-out":
    case "cut-in":
      return { kind: "cut", target: target(), direction: verb === "cut-out" ? "out" : "in" };
    case "sever":
      return { kind: "sever", a: target(), b: parseTarget(item, args[1], nodeCount) };
    case "bridge":
      return { kind: "bridge", target: target() };
    case "slow": {
      const extraMs = Number(args[2]);
      if (!(extraMs >= 0)) throw new Error(`--faults "${item}": slow needs two nodes and the extra delay in ms, like "slow F L 300"`);
      return { kind: "slow", from: target(), to: parseTarget(item, args[1], nodeCount), extraMs };
    }
    case "partition":
      return { kind: "partition", groups: parseGroups(item, args[0] ?? "", nodeCount) };
    case "heal":
    case "quiet":
      return { kind: verb };
    case "net":
      return { kind: "net", params: parseNet(item, args) };
    case "jump": {
      const deltaMs = Number(args[1]);
      if (!(deltaMs >= 0)) throw new Error(`--faults "${item}": the jump needs a forward amount in ms, like "jump n1 400"`);
      return { kind: "jump", target: target(), deltaMs };
    }
    case "add":
    case "remove":
    case "replace":
    case "transfer":
    case "sigterm":
      return parseMembershipAction(item, verb, args, (s) => parseTarget(item, s, nodeCount));
    default:
      throw new Error(
        `--faults "${item}": unknown fault "${verb}"; use crash, crash-mid, crash-append, crash-commit, crash-elected, kill, kill-append, power-off, restart, pause, resume, partition, isolate, cut-out, cut-in, sever, bridge, slow, heal, net, jump, quiet, add, remove, replace, transfer or sigterm`,
      );
  }
}

export function parseTarget(item: string, s: string | undefined, nodeCount: number): Target {
  switch (s) {
    case "L":
      return LEADER;
    case "F":
      return FOLLOWER;
    case "*":
      return RANDOM;
    case "all":
      return ALL;
    default: {
      const id = Number(s?.replace(/^n/, ""));
      if (s === undefined || !Number.isInteger(id) || id < 0 || id >= nodeCount) {
        throw new Error(`--faults "${item}": target "${s ?? ""}" is not L, F, *, all or a node n0..n${nodeCount - 1}`);
      }
      return node(id);
    }
  }
}

function parseGroups(item: string, s: string, nodeCount: number): number[][] {
  const groups = s.split("|").map((g) => g.split(",").filter((x) => x !== "").map(Number));
  const seen = new Set<number>();
  for (const id of groups.flat()) {
    if (!Number.isInteger(id) || id < 0 || id >= nodeCount || seen.has(id)) {
      throw new Error(`--faults "${item}": groups must list distinct nodes 0..${nodeCount - 1}, like "partition 0,1|2,3,4"`);
    }
    seen.add(id);
  }
  return groups;
}

function parseNet(item: string, args: readonly string[]): Partial<NetParams> {
  if (args.length === 1 && args[0] === "calm") return { ...NET_CALM };
  const p: { -readonly [K in keyof NetParams]?: number } = {};
  for (const arg of args) {
    const [name, value = ""] = arg.split("=");
    const n = value.split(/[/-]/).map(Number);
    const bad = (): Error => new Error(`--faults "${item}": bad net setting "${arg}"; use delay=A-B tail=M loss=P dup=P reorder=P/MS long=P/A-B late=P/A-B`);
    if (n.some((x) => !Number.isFinite(x))) throw bad();
    const [a = 0, b = 0, c = 0] = n;
    if (name === "delay" && n.length === 2) [p.delayMinMs, p.delayMaxMs] = [a, b];
    else if (name === "tail" && n.length === 1) p.tailMeanMs = a;
    else if (name === "loss" && n.length === 1) p.lossP = a;
    else if (name === "dup" && n.length === 1) p.dupP = a;
    else if (name === "reorder" && n.length === 2) [p.reorderP, p.reorderMs] = [a, b];
    else if (name === "long" && n.length === 3) [p.longP, p.longMinMs, p.longMaxMs] = [a, b, c];
    else if (name === "late" && n.length === 3) [p.lateP, p.lateMinMs, p.lateMaxMs] = [a, b, c];
    else throw bad();
  }
  validateNetParams({ ...NET_CALM, ...p });
  return p;
}
