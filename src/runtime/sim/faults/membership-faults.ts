// The membership verbs of the fault grammar: what the simulated operator asks of the cluster.
//
//   add 5            node 5 joins: started empty (core config `join`) when it does not exist yet,
//                    or a removed node with what its disk holds; the operator adds it as a learner
//                    (the leader promotes it once caught up)
//   remove L         the operator removes a member (L, F, *, n2), the leader included
//   replace n1 6     add 6, then remove node 1 (two changes, one after the other)
//   transfer [n3]    the operator asks the leader to hand leadership over (to n3, or the most
//                    up-to-date voter)
//   sigterm L [800]  the node is asked to transfer leadership (as raft-node does on SIGTERM), then
//                    its process exits; with a time, it is restarted that many ms later
//
// Operator requests go to the node the operator believes leads, one request at a time, retried on
// not-leader and overloaded like a client's (world/operator.ts). Node ids of joining nodes are
// below NODES_MAX, so a run holds at most that many nodes.

import { NODES_MAX } from "../options.js";
import type { Fault, Target } from "./faults.js";

export type MembershipAction =
  | { readonly kind: "add"; readonly id: number }
  | { readonly kind: "remove"; readonly target: Target }
  | { readonly kind: "replace"; readonly target: Target; readonly id: number }
  | { readonly kind: "transfer"; readonly to: Target | null }
  | { readonly kind: "sigterm"; readonly target: Target; readonly restartAfterMs: number | null };

/** The text form; `formatTarget` is faults.ts' (passed in: faults.ts imports this file). */
export function formatMembershipAction(a: MembershipAction, formatTarget: (t: Target) => string): string {
  switch (a.kind) {
    case "add":
      return `add ${a.id}`;
    case "remove":
      return `remove ${formatTarget(a.target)}`;
    case "replace":
      return `replace ${formatTarget(a.target)} ${a.id}`;
    case "transfer":
      return a.to === null ? "transfer" : `transfer ${formatTarget(a.to)}`;
    case "sigterm":
      return `sigterm ${formatTarget(a.target)}${a.restartAfterMs === null ? "" : ` ${a.restartAfterMs}`}`;
  }
}

export function parseMembershipAction(item: string, verb: string, args: readonly string[], target: (s: string | undefined) => Target): MembershipAction {
  switch (verb) {
    case "add":
      return { kind: "add", id: joinId(item, args[0], "add 5") };
    case "remove":
      return { kind: "remove", target: target(args[0]) };
    case "replace":
      return { kind: "replace", target: target(args[0]), id: joinId(item, args[1], "replace n1 5") };
    case "transfer":
      return { kind: "transfer", to: args[0] === undefined ? null : target(args[0]) };
    case "sigterm": {
      const ms = args[1] === undefined ? null : Number(args[1]);
      if (ms !== null && !(ms >= 0 && Number.isFinite(ms))) throw new Error(`--faults "${item}": the restart delay must be a time in ms, like "sigterm L 800"`);
      return { kind: "sigterm", target: target(args[0]), restartAfterMs: ms };
    }
    default:
      throw new Error(`--faults "${item}": "${verb}" is not a membership verb; use add, remove, replace, transfer or sigterm`);
  }
}

function joinId(item: string, s: string | undefined, example: string): number {
  const id = Number(s?.replace(/^n/, ""));
  if (s === undefined || !Number.isInteger(id) || id < 0 || id >= NODES_MAX) {
    throw new Error(`--faults "${item}": the node that joins must be a node id 0..${NODES_MAX - 1}, like "${example}"`);
  }
  return id;
}

/** Node ids a schedule's text may name: the initial nodes and every node it adds. */
export function idLimit(text: string, nodeCount: number): number {
  let limit = nodeCount;
  for (const m of text.matchAll(/(?:^|;)\s*\S+\s+(?:add|replace\s+\S+)\s+n?(\d+)/g)) {
    const id = Number(m[1]);
    if (id < NODES_MAX) limit = Math.max(limit, id + 1);
  }
  return limit;
}

/** How many node ids a run needs: the initial nodes and every node its faults add. */
export function idsNeeded(faults: readonly Fault[], nodeCount: number): number {
  let count = nodeCount;
  for (const f of faults) if (f.action.kind === "add" || f.action.kind === "replace") count = Math.max(count, f.action.id + 1);
  return count;
}
