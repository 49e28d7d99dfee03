// A world for membership tests: `voters` start as the cluster, the other nodes join; every step
// is checked by the membership monitor as well as the safety monitor and the lease record.

import { nodeId, type AdminRequest, type ClientResult, type Member, type NodeId, type RequestId } from "../../../src/raft/index.js";
import { initialConfig, MembershipMonitor } from "./membership.js";
import { World, type WorldOptions } from "./world.js";

export interface MWorld {
  readonly w: World;
  readonly mon: MembershipMonitor;
  readonly initial: Member[];
}

export function mworld(o: WorldOptions & { voters: readonly number[] }): MWorld {
  const w = new World(o);
  const initial = initialConfig(o.voters);
  const mon = new MembershipMonitor(w, (id) => (o.voters.includes(id) ? initial : []));
  return { w, mon, initial };
}

/** Every problem: safety, lease overlaps, stale reads, membership rules. */
export function problems(m: MWorld): string[] {
  return [...m.w.problems(), ...m.mon.violations];
}

export const leaderOf = (w: World): NodeId | null => {
  const ls = w.leaders();
  return ls.length === 0 ? null : ls.reduce((a, b) => (b.term > a.term ? b : a)).id;
};

/** Runs until some node leads with a lease; returns it. */
export function settledLeader(w: World, maxMs = 5000): NodeId {
  w.runUntil("a leader with a lease", () => w.leaders().some((s) => s.leaseReadable), maxMs);
  return w.leaders().find((s) => s.leaseReadable)!.id;
}

/** An admin call at `id`, run until answered (at most maxMs); returns its answer. */
export function adminDone(w: World, id: number, request: AdminRequest, maxMs = 3000): ClientResult {
  const rid = w.admin(id, request);
  w.runUntil(`admin ${JSON.stringify(request)} answered`, () => w.adminResults.has(rid), maxMs);
  return w.adminResults.get(rid)!;
}

export function answer(w: World, rid: RequestId): ClientResult | undefined {
  return w.adminResults.get(rid);
}

export const N = (n: number): NodeId => nodeId(n);

export const roleOf = (ms: readonly Member[], id: number): string => ms.find((m) => m.id === id)?.role ?? "absent";

import { expect } from "vitest";
import type { Mutation } from "../../../src/raft/index.js";
import { jitter } from "./jitter.js";
import { configOnDisk } from "./membership.js";

/** Node 0 times out first, then 3, 1, 4, 5, 2. */
export const JITTER = jitter({ 0: 0, 1: 0.5, 2: 0.9, 3: 0.3, 4: 0.6, 5: 0.7 });

export interface ClusterOptions {
  size?: number;
  voters?: number[];
  mutation?: Mutation | null;
  overrides?: WorldOptions["overrides"];
  preVote?: boolean;
  rates?: number[];
  network?: WorldOptions["network"];
}

/** A cluster whose node 0 leads with its lease (by the jitter). */
export function cluster(o: ClusterOptions = {}): MWorld & { leader: NodeId } {
  const m = mworld({
    size: o.size ?? 5,
    voters: o.voters ?? [0, 1, 2],
    random: JITTER,
    mutation: o.mutation ?? null,
    preVote: o.preVote ?? true,
    overrides: o.overrides ?? {},
    clockStartMs: [1000, 50_000, 7, 123_456, 9_999_999, 42],
    ...(o.rates === undefined ? {} : { rates: o.rates }),
    ...(o.network === undefined ? {} : { network: o.network }),
  });
  const leader = settledLeader(m.w);
  return { ...m, leader };
}

/** Runs until the leader's newest configuration entry is committed. */
export function waitConfigCommitted(m: MWorld, leader: number): void {
  const index = configOnDisk(m.w.disk(leader), []).index;
  m.w.runUntil(`configuration ${index} committed`, () => m.w.status(leader)!.commitIndex >= index, 3000);
}

export function setOk(m: MWorld, at: number, key: string, value: string, maxMs = 2000): void {
  const id = m.w.set(at, key, value);
  m.w.runUntil(`SET ${key}=${value} answered`, () => m.w.history.op(id).result !== null, maxMs);
  expect(m.w.history.op(id).result, `SET ${key}=${value} at ${at}`).toMatchObject({ ok: true });
}

/** Adds `id` and waits until the leader has promoted it to voter and the promotion committed. */
export function addVoter(m: MWorld, leader: number, id: number): void {
  const r = adminDone(m.w, leader, { kind: "add-member", id: N(id), address: `n${id}` });
  expect(r, `add ${id}`).toEqual({ ok: true, value: "" });
  m.w.runUntil(`${id} promoted`, () => roleOf(m.w.status(leader)!.members, id) === "voter", 3000);
  waitConfigCommitted(m, leader);
  m.w.run(50);
}
