// A node's part in membership changes, at the edge of the process: which configuration it starts
// with (the one stored in its data dir wins over --cluster, and it says so), and handing
// leadership over before it stops (SIGTERM), so a rolling restart needs no election timeout.

import type { Member, NodeId, NodeStatus, PersistedState, TimingConfig } from "../../raft/index.js";
import type { CallResult } from "./driver.js";

/** The configuration a data dir holds: its log's newest CONFIG entry, else its snapshot's; null when none. */
export function storedMembers(r: PersistedState): readonly Member[] | null {
  for (let i = r.entries.length - 1; i >= 0; i--) {
    const c = r.entries[i]!.command;
    if (c.kind === "config") return c.members;
  }
  return r.snapshot?.members ?? null;
}

/** `0=host:port,1=host:port,5=host:port/learner`, for humans. */
function membersText(members: readonly Member[]): string {
  if (members.length === 0) return "none";
  return members.map((m) => `${m.id}=${m.address === "" ? "?" : m.address}${m.role === "learner" ? "/learner" : ""}`).join(",");
}

/**
 * The line that says which configuration a node starts with when what it was given (--cluster,
 * or --join) differs from what its data dir holds; null when they agree or nothing is stored.
 */
export function configurationNotice(id: NodeId, given: readonly { id: NodeId; address: string }[], join: boolean, recovered: PersistedState): string | null {
  const stored = storedMembers(recovered);
  if (stored === null) return join ? `Node ${id} joins a running cluster: it waits for a leader to add it (raft-client member add ${id}=<its address>).` : null;
  const flag = join ? "--join" : `--cluster ${given.map((m) => `${m.id}=${m.address}`).join(",")}`;
  const same = !join && stored.length === given.length && stored.every((m, i) => m.role === "voter" && m.id === given[i]?.id && (m.address === "" || m.address === given[i]?.address));
  if (same) return null;
  const member = stored.some((m) => m.id === id) ? "" : ` (node ${id} is not in it: it was removed, or not yet added)`;
  return (
    `Node ${id} uses the configuration stored in its data dir, ${membersText(stored)}${member}, not ${flag}: ` +
    `the cluster's membership is kept in its log and changes through it (raft-client member ...); --cluster only starts a new cluster.`
  );
}

/** What handing over needs of the running node. */
export interface HandOverHost {
  status(): NodeStatus;
  transfer(): Promise<CallResult>;
}

const POLL_MS = 10;

/**
 * Leader only: asks the core to hand leadership to its most up-to-date voter and waits, at most
 * 2 x the election timeout maximum, until this node no longer leads. Resolves with what happened,
 * for the stop line; a follower resolves at once.
 */
export async function handOverLeadership(host: HandOverHost, timing: TimingConfig): Promise<string> {
  if (host.status().role !== "leader") return "not the leader: stopping at once";
  const deadline = performance.now() + 2 * timing.electionTimeoutMaxMs;
  let answer: CallResult | null = null;
  while (performance.now() < deadline && host.status().role === "leader") {
    if (answer === null || (!answer.ok && answer.code === "overloaded")) {
      answer = await host.transfer();
      if (!answer.ok && answer.code !== "overloaded") return `leadership not handed over (${answer.message}); stopping anyway`;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  if (host.status().role === "leader") return `leadership not handed over within ${2 * timing.electionTimeoutMaxMs} ms; stopping anyway`;
  return answer?.ok === true ? `leadership handed over to node ${answer.value}` : "leadership handed over";
}
