// Stagings for the snapshot tests: a cluster whose leader has compacted its log past a follower,
// snapshot-requests held back for the test to deliver when and as often as it likes, and what a
// test reads of a step (the reply a node sent, whether it installed, what its disk holds).

import {
  nodeId,
  term,
  type Entry,
  type Message,
  type NodeId,
  type RaftConfig,
  type Snapshot,
  type SnapshotReply,
  type SnapshotRequest,
  type Mutation,
  type Random,
} from "../../../src/raft/index.js";
import { entryKey } from "./safety.js";
import type { MessageId } from "./pool.js";
import { World, type StepResult } from "./world.js";

export const [A, B, C] = [0, 1, 2].map(nodeId) as [NodeId, NodeId, NodeId];

export type Overrides = Partial<Omit<RaftConfig, "id" | "members" | "timing" | "preVote" | "mutation">>;

export interface KitOptions {
  readonly every?: number;
  readonly keep?: number;
  readonly mutation?: Mutation | null;
  readonly preVote?: boolean;
  /** Election jitter in [0, 1) per node (A first by default). */
  readonly jitter?: Record<number, number>;
  readonly overrides?: Overrides;
  /** Settings for one node on top of the others. */
  readonly overridesOf?: (id: NodeId) => Overrides;
  /** First clock reading per node. */
  readonly clockStartMs?: readonly number[];
}

/** A 3-node world in which A leads term 1 with its lease; snapshots every `every` entries, keeping `keep`. */
export function cluster(o: KitOptions = {}): World {
  const j = o.jitter ?? { [A]: 0, [B]: 0.5, [C]: 0.9 };
  const w = new World({
    size: 3,
    mutation: o.mutation ?? null,
    preVote: o.preVote ?? true,
    overrides: { snapshotEveryEntries: o.every ?? 10, snapshotKeepEntries: o.keep ?? 0, ...o.overrides },
    ...(o.overridesOf === undefined ? {} : { overridesOf: o.overridesOf }),
    ...(o.clockStartMs === undefined ? {} : { clockStartMs: o.clockStartMs }),
    random: (id: NodeId): Random => {
      const r = j[id];
      if (r === undefined) throw new Error(`harness: no jitter for node ${id}`);
      return () => r;
    },
  });
  w.runUntil("A leading with its lease", () => w.status(A)?.role === "leader" && w.status(A)?.leaseReadable === true, 5000);
  return w;
}

let written = 0;
/** `n` SETs at `leader`, one every 2 ms, each with a unique value; keys k0..k2. */
export function writes(w: World, leader: NodeId, n: number, prefix = "v"): void {
  for (let i = 0; i < n; i++) {
    w.set(leader, `k${i % 3}`, `${prefix}${++written}`);
    w.run(2);
  }
}

/** `n` SETs at `leader` in one client call: one append of all of them, sent with the commit index of before. */
export function batch(w: World, leader: NodeId, n: number, prefix = "b"): void {
  const requests = [...Array(n).keys()].map((i) => ({ kind: "set" as const, key: `k${i % 3}`, value: `${prefix}${++written}`, clientId: "", sequence: 0, firstUnanswered: 0 }));
  w.client(leader, requests);
}

/** Messages to `to` are held back (all of them, or only snapshot-requests), until stopHolding. */
export function holdTo(w: World, to: NodeId, types?: readonly Message["type"][]): void {
  w.net.holdNext((e) => e.to === to && (types === undefined || types.includes(e.type)), 1_000_000);
}

/** The held messages of a type to `to`, oldest first. */
export function held(w: World, to: NodeId, type: Message["type"]): MessageId[] {
  return w.pool
    .select((e) => e.held && e.to === to && e.type === type)
    .sort((x, y) => x.id - y.id)
    .map((e) => e.id);
}

export function snapshotOf(w: World, id: MessageId): Snapshot {
  const m = w.pool.body(id);
  if (m.type !== "snapshot-request") throw new Error(`harness: message ${id} is a ${m.type}, not a snapshot-request`);
  return m.snapshot;
}

/** The one message of `type` the step sent (to anyone), as its body. */
export function sentOne<T extends Message["type"]>(w: World, r: StepResult | null, type: T): Extract<Message, { type: T }> {
  if (r === null) throw new Error("harness: the step did not happen (the node is down)");
  const found = r.out.messages.filter((m) => m.type === type);
  if (found.length !== 1) throw new Error(`harness: the step sent ${found.length} ${type} messages: ${JSON.stringify(r.out.messages.map((m) => m.type))}`);
  return found[0] as Extract<Message, { type: T }>;
}

export function snapshotReply(w: World, r: StepResult | null): SnapshotReply {
  return sentOne(w, r, "snapshot-reply");
}

/**
 * A snapshot-request as `leader` would send it now: its current term and durable snapshot (or
 * `snapshot`), its clock, the cluster's lease parameters. A correct leader may send its snapshot
 * to any follower at any time (its view of the follower may be out of date), so every such
 * request is one the network could deliver.
 */
export function requestFrom(w: World, leader: NodeId, to: NodeId, snapshot?: Snapshot): SnapshotRequest {
  const v = w.view(leader);
  if (v === null) throw new Error(`harness: node ${leader} is down`);
  const s = snapshot ?? v.snapshot;
  if (s === null) throw new Error(`harness: node ${leader} has no snapshot`);
  return {
    type: "snapshot-request",
    from: leader,
    to,
    term: v.term,
    snapshot: s,
    lease: { leaseMs: w.timing.leaseMs, driftPpmMax: w.timing.driftPpmMax },
    leaderSendMs: w.clockMs(leader),
  };
}

/** What a test compares before and after a step: nothing acknowledged or applied may be lost. */
export interface NodeFacts {
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastLogIndex: number;
  readonly snapshotIndex: number;
  readonly diskLastIndex: number;
  /** The entries the disk holds from `from` on, as keys. */
  readonly entriesFrom: (from: number) => string[];
  readonly values: Record<string, string>;
}

export function facts(w: World, id: NodeId): NodeFacts {
  const s = w.status(id)!;
  const v = w.view(id)!;
  const d = w.disk(id);
  const keys = [...w.safety.reference.keys].sort();
  return {
    term: s.term,
    commitIndex: s.commitIndex,
    appliedIndex: s.appliedIndex,
    lastLogIndex: s.lastLogIndex,
    snapshotIndex: v.snapshotIndex,
    diskLastIndex: d.lastIndex,
    entriesFrom: (from: number) => {
      const out: string[] = [];
      for (let i = Math.max(from, d.firstIndex); i <= d.lastIndex; i++) out.push(`${i}:${entryKey(d.entry(i)!)}`);
      return out;
    },
    values: Object.fromEntries(keys.map((k) => [k, v.valueOf(k)])),
  };
}

/** The entries of `id`'s disk in [from, to], as index:key strings (undefined ones as index:-). */
export function diskEntries(w: World, id: NodeId, from: number, to: number): string[] {
  const d = w.disk(id);
  const out: string[] = [];
  for (let i = from; i <= to; i++) {
    const e: Entry | undefined = d.entry(i);
    out.push(`${i}:${e === undefined ? "-" : entryKey(e)}`);
  }
  return out;
}

export const t = term;
