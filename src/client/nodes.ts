// Node address lists: `0=10.0.0.1:5000,1=10.0.0.2:5000,2=10.0.0.3:5000`.
//
// Shared by `raft-node --cluster`, `raft-client --nodes` and the RaftClient library, so every
// tool accepts and refuses the same spellings with the same messages.

import { nodeId, type NodeId } from "../raft/index.js";

export interface NodeAddress {
  readonly id: NodeId;
  readonly host: string;
  readonly port: number;
  /** `host:port` as gRPC wants it (`[::1]:5000` for IPv6). */
  readonly address: string;
}

/** Node ids travel as uint32 on the wire. */
export const NODE_ID_MAX = 0xffff_ffff;
/** Members of one cluster, at most (a bound on every list). */
export const NODE_COUNT_MAX = 64;

/** What the RaftClient constructor accepts as its node list. */
export type NodesOption =
  | string
  | readonly string[]
  | readonly { readonly id: number; readonly address: string }[]
  | Readonly<Record<string, string>>;

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const IPV6_IN_BRACKETS = /^\[[0-9A-Fa-f:.]+\]$/;

/** Parses `host:port` (`[v6addr]:port` for IPv6). Throws an Error that says what is wrong. */
export function parseAddress(text: string, what = "address"): { host: string; port: number; address: string } {
  const colon = text.lastIndexOf(":");
  if (colon <= 0) throw new Error(`${what} ${JSON.stringify(text)} has no port; write host:port, e.g. 127.0.0.1:5000`);
  const host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (!HOST_NAME.test(host) && !IPV6_IN_BRACKETS.test(host)) {
    const hint = host.includes(":") && !host.startsWith("[") ? "; put an IPv6 address in brackets: [::1]:5000" : "";
    throw new Error(`${what} ${JSON.stringify(text)}: bad host ${JSON.stringify(host)}${hint}`);
  }
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new Error(`${what} ${JSON.stringify(text)}: the port ${JSON.stringify(portText)} must be a number in 1-65535`);
  }
  return { host, port, address: `${host}:${port}` };
}

export function parseNodeId(text: string, what = "node id"): NodeId {
  if (!/^(0|[1-9][0-9]*)$/.test(text) || Number(text) > NODE_ID_MAX) {
    throw new Error(`${what} ${JSON.stringify(text)} must be a whole number in 0-${NODE_ID_MAX}`);
  }
  return nodeId(Number(text));
}

/** Parses `id=host:port,...`; refuses empty items, duplicate ids and duplicate addresses. */
export function parseNodeList(text: string, what = "node list"): NodeAddress[] {
  if (text.trim().length === 0) throw new Error(`${what} is empty; write id=host:port,... e.g. 0=127.0.0.1:5000,1=127.0.0.1:5001`);
  const items = text.split(",").map((s) => s.trim());
  const nodes = items.map((item, i) => {
    const where = `${what} item ${i + 1} ${JSON.stringify(item)}`;
    if (item.length === 0) throw new Error(`${what} item ${i + 1} is empty; remove the extra comma`);
    const eq = item.indexOf("=");
    if (eq < 0) throw new Error(`${where} has no id; write id=host:port, e.g. 0=127.0.0.1:5000`);
    const id = parseNodeId(item.slice(0, eq), `${where}: the id`);
    return { id, ...parseAddress(item.slice(eq + 1), `${where}: the address`) };
  });
  return checkNodeList(nodes, what);
}

/** Checks a list built any way: size, unique ids, unique addresses. */
export function checkNodeList(nodes: NodeAddress[], what = "node list"): NodeAddress[] {
  if (nodes.length === 0) throw new Error(`${what} is empty; give at least one node`);
  if (nodes.length > NODE_COUNT_MAX) throw new Error(`${what} has ${nodes.length} nodes; at most ${NODE_COUNT_MAX} are supported`);
  const ids = new Map<number, NodeAddress>();
  const addresses = new Map<string, NodeAddress>();
  for (const n of nodes) {
    const sameId = ids.get(n.id);
    if (sameId !== undefined) throw new Error(`${what}: node id ${n.id} appears twice (${sameId.address} and ${n.address}); give each node its own id`);
    const sameAddress = addresses.get(n.address.toLowerCase());
    if (sameAddress !== undefined) throw new Error(`${what}: nodes ${sameAddress.id} and ${n.id} share the address ${n.address}; give each node its own host:port`);
    ids.set(n.id, n);
    addresses.set(n.address.toLowerCase(), n);
  }
  return nodes;
}

/** The RaftClient's `nodes` option in any of its forms. A bare address list numbers nodes 0, 1, ... */
export function normalizeNodes(nodes: NodesOption): NodeAddress[] {
  if (typeof nodes === "string") return parseNodeList(nodes, "nodes");
  if (Array.isArray(nodes)) {
    const list = nodes as readonly (string | { readonly id: number; readonly address: string })[];
    return checkNodeList(list.map((n, i) => nodeFromItem(n, i)), "nodes");
  }
  const record = nodes as Readonly<Record<string, string>>;
  const list = Object.entries(record).map(([id, address]) => ({ id: parseNodeId(id, `nodes: id`), ...parseAddress(address, `nodes[${id}]`) }));
  return checkNodeList(list, "nodes");
}

function nodeFromItem(item: string | { readonly id: number; readonly address: string }, index: number): NodeAddress {
  if (typeof item === "string") {
    if (item.includes("=")) return parseNodeList(item, `nodes[${index}]`)[0]!;
    return { id: nodeId(index), ...parseAddress(item, `nodes[${index}]`) };
  }
  return { id: parseNodeId(String(item.id), `nodes[${index}].id`), ...parseAddress(item.address, `nodes[${index}].address`) };
}

/** Identifies a cluster by its members: sorted `id=host:port` items joined by commas. */
export function clusterFingerprint(nodes: readonly NodeAddress[]): string {
  return [...nodes]
    .sort((a, b) => a.id - b.id)
    .map((n) => `${n.id}=${n.address}`)
    .join(",");
}
