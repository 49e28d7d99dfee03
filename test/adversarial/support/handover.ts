// Seeded lease-handover episodes: the situations in which a new leader can start while an old
// lease may still run, with the adversary choosing when to strike.
//
// Each episode: a leader holds its lease; one follower C is cut off from it (the others still
// acknowledge it, so the lease goes on); when C's timer fires, the adversary reboots the other
// followers on the spot (new clocks, no memory of who led, so they grant C's vote at once), maybe
// cutting the leader off entirely as well, or pauses the leader, or holds a heartbeat back to deliver it late, or does nothing. Then reads at
// every node, a few writes, and a heal. Networks are unreliable and clocks drift within the bound
// (or beyond it, as a negative control).

import seedrandom from "seedrandom";
import { TIMING_FAST, type Mutation, type NodeId } from "../../../src/raft/index.js";
import { clientOp, unreliable } from "./fuzz.js";
import { World } from "./world.js";

export interface HandoverOptions {
  readonly seed: string;
  readonly size?: number;
  readonly episodes?: number;
  /** Clock rate error as a multiple of the drift bound: at most 1 respects it. */
  readonly driftFactor?: number;
  readonly mutation?: Mutation | null;
  readonly leaseMs?: number;
  /** The leader's own log write runs in parallel with its sends (as the gRPC runtime does). */
  readonly leaderPersistsInParallel?: boolean;
  readonly trace?: string[];
}

export function handoverEpisodes(o: HandoverOptions): World {
  const rng = seedrandom(`handover/${o.seed}`);
  const between = (lo: number, hi: number) => lo + rng() * (hi - lo);
  const size = o.size ?? 3;
  const timing = { ...TIMING_FAST, leaseMs: o.leaseMs ?? TIMING_FAST.leaseMs };
  const drift = (o.driftFactor ?? 1) * timing.driftPpmMax;
  const w = new World({
    size,
    timing,
    seed: o.seed,
    mutation: o.mutation ?? null,
    overrides: { leaderPersistsInParallel: o.leaderPersistsInParallel ?? false },
    syncDelayMs: () => between(0.2, 20),
    rates: [...Array(size)].map(() => 1 + (between(-1, 1) * drift) / 1e6),
    clockStartMs: [...Array(size)].map(() => between(0, 1e7)),
    network: unreliable(rng),
  });
  let written = 0;
  const clients = () => {
    for (let i = 0; i < 200; i++) {
      clientOp(w, rng, () => `${o.seed}:${++written}`, 0.05);
      w.run(between(3, 20));
    }
  };
  for (let episode = 0; episode < (o.episodes ?? 6); episode++) {
    if (!waitForLease(w)) {
      o.trace?.push(`${w.trueMs.toFixed(1)} episode ${episode}: no leader with a lease`);
      continue;
    }
    const leader = w.leaders()[0]!.id;
    const followers = w.ids.filter((id) => id !== leader);
    const c = followers[Math.floor(rng() * followers.length)]!;
    w.net.cut(leader, c);
    w.net.cut(c, leader);
    try {
      w.runUntil("C's timer", () => w.status(c)?.role === "candidate" || w.status(leader)?.role !== "leader", 4000);
    } catch {
      // C may keep hearing of the leader through duplicates and delays; the episode goes on.
    }
    const what = strike(w, rng, between, leader, followers.filter((f) => f !== c));
    o.trace?.push(`${w.trueMs.toFixed(1)} episode ${episode}: leader ${leader}, ${c} cut off, ${what}`);
    clients();
    w.net.healAll();
    for (const id of w.ids) if (w.isPaused(id)) w.resume(id);
    w.run(300);
  }
  return w;
}

function waitForLease(w: World): boolean {
  try {
    w.runUntil("a leader with a lease", () => w.leaders().some((s) => s.leaseReadable), 6000);
    return true;
  } catch {
    return false;
  }
}

function strike(w: World, rng: () => number, between: (lo: number, hi: number) => number, leader: NodeId, others: NodeId[]): string {
  const r = rng();
  if (r < 0.5) {
    // Enough of the others reboot at once that C plus them make a majority.
    const needed = Math.floor(w.ids.length / 2);
    const rebooted = others.slice(0, needed);
    for (const id of rebooted) {
      w.crash(id);
      w.restart(id, between(0, 1e7));
    }
    // Half the time the old leader is cut off entirely too, so only its own clock ends its lease.
    const isolated = rng() < 0.5;
    if (isolated) w.net.isolate(leader);
    return `${rebooted.join(",")} reboot${isolated ? ", leader isolated" : ""}`;
  }
  if (r < 0.7) {
    w.pause(leader);
    const ms = between(200, 1500);
    w.run(ms);
    w.resume(leader);
    return `leader paused ${ms.toFixed(0)} ms`;
  }
  if (r < 0.85) {
    w.net.holdNext((e) => e.from === leader && e.type === "append-request");
    w.run(150);
    const held = w.pool.select((e) => e.held);
    for (const e of held) w.pool.release(e.id, w.trueMs + between(100, 900));
    return `a heartbeat delivered late (${held.length})`;
  }
  return "nothing more";
}
