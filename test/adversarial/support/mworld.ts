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
