// The runner's private network: one namespace per node and one for the clients, each with a
// veth into a bridge that lives in a hub namespace, where nftables (bridge family) drops
// the packets a partition cuts. Every address and the bridge exist only
// inside these namespaces; nothing is added to the host's own network. Names share a prefix
// unique to the run (`rlj-<pid>-`), so teardown removes exactly what this run made, by name,
// after killing the processes inside by pid.

import { run, tryRun } from "./exec.js";

/** The subnet inside the run's namespaces; the host never sees it. */
const SUBNET_PREFIX = "10.213.0.";
const SUBNET_BITS = 24;
export const CLIENT_HOST = 100;
/** The port every node listens on, each in its own namespace. */
export const NODE_PORT = 5000;
/** Namespaces one run creates, at most (nodes, clients, hub). */
const NAMESPACES_MAX = 16;

export interface NetLayout {
  readonly prefix: string;
  readonly hub: string;
  readonly clients: string;
  /** Namespace of node i. */
  readonly nodes: readonly string[];
  /** Address of node i, host:port. */
  readonly addresses: readonly string[];
  readonly nodeIps: readonly string[];
}

export function layoutFor(pid: number, nodeCount: number): NetLayout {
  const prefix = `rlj-${pid}-`;
  const nodeIps = Array.from({ length: nodeCount }, (_, i) => `${SUBNET_PREFIX}${i + 1}`);
  return {
    prefix,
    hub: `${prefix}hub`,
    clients: `${prefix}cl`,
    nodes: nodeIps.map((_, i) => `${prefix}n${i}`),
    nodeIps,
    addresses: nodeIps.map((ip) => `${ip}:${NODE_PORT}`),
  };
}

/** Creates the bridge, every namespace, their links and addresses, and the empty rule table. */
export async function createNetwork(net: NetLayout): Promise<void> {
  if (net.nodes.length + 2 > NAMESPACES_MAX) throw new Error(`at most ${NAMESPACES_MAX - 2} nodes`);
  await run("ip", ["netns", "add", net.hub]);
  await run("ip", ["-n", net.hub, "link", "add", "br0", "type", "bridge"]);
  await run("ip", ["-n", net.hub, "link", "set", "br0", "up"]);
  const members = [...net.nodes.map((ns, i) => ({ ns, host: i + 1, port: `vn${i}` })), { ns: net.clients, host: CLIENT_HOST, port: "vcl" }];
  for (const m of members) {
    await run("ip", ["netns", "add", m.ns]);
    await run("ip", ["-n", net.hub, "link", "add", m.port, "type", "veth", "peer", "name", "eth0", "netns", m.ns]);
    await run("ip", ["-n", net.hub, "link", "set", m.port, "master", "br0", "up"]);
    await run("ip", ["-n", m.ns, "addr", "add", `${SUBNET_PREFIX}${m.host}/${SUBNET_BITS}`, "dev", "eth0"]);
    await run("ip", ["-n", m.ns, "link", "set", "eth0", "up"]);
    await run("ip", ["-n", m.ns, "link", "set", "lo", "up"]);
  }
  await run("ip", ["netns", "exec", net.hub, "nft", "-f", "-"], EMPTY_TABLE);
}

/** Frames the bridge forwards pass this chain; the nemesis fills it with drop rules. */
const EMPTY_TABLE = `table bridge rlj {
  chain forward { type filter hook forward priority 0; policy accept; }
}
`;

/** A one-way cut: packets from node `from` to node `to` are dropped (indexes of nodes). */
export interface Cut {
  readonly from: number;
  readonly to: number;
}

/**
 * Replaces every rule at once, in one nftables transaction in the hub's bridge: the listed
 * directions are dropped, everything else flows. An empty list heals the network.
 */
export async function setCuts(net: NetLayout, cuts: readonly Cut[]): Promise<void> {
  const ip = (j: number): string => {
    const a = net.nodeIps[j];
    if (a === undefined) throw new Error(`no node ${j}`);
    return a;
  };
  const lines = ["flush chain bridge rlj forward"];
  for (const c of cuts) lines.push(`add rule bridge rlj forward ip saddr ${ip(c.from)} ip daddr ${ip(c.to)} drop`);
  await run("ip", ["netns", "exec", net.hub, "nft", "-f", "-"], `${lines.join("\n")}\n`);
}

/** Namespaces whose names start with `prefix` (left over or current). */
export async function namespacesWithPrefix(prefix: string): Promise<string[]> {
  const out = await run("ip", ["netns", "list"]);
  return out
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n.startsWith(prefix));
}

/**
 * Kills every process inside the run's namespaces (by pid, SIGKILL) and deletes the namespaces
 * (the bridge and links go with them). Never throws; returns what it could not do.
 */
export async function destroyNetwork(prefix: string): Promise<string[]> {
  const problems: string[] = [];
  let names: string[] = [];
  try {
    names = await namespacesWithPrefix(prefix);
  } catch (err) {
    return [`cannot list namespaces: ${err instanceof Error ? err.message : String(err)}`];
  }
  for (const ns of names) {
    const pids = await run("ip", ["netns", "pids", ns]).catch(() => "");
    for (const pid of pids.split("\n").filter((p) => /^[0-9]+$/.test(p))) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  for (const ns of names) {
    const problem = await tryRun("ip", ["netns", "del", ns]);
    if (problem !== null) problems.push(problem);
  }
  return problems;
}
