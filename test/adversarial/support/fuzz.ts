// Seeded random schedules: message delay, loss, duplication and reordering (long delays), clock
// rates within the drift bound (or beyond it, as a negative control), crashes (also between a
// step's persist and its sends), reboots whose clocks start over at arbitrary readings, pauses,
// partitions, and client SETs and GETs. The same seed gives the same run.

import seedrandom from "seedrandom";
import { TIMING_FAST, type Mutation, type NodeId, type RaftConfig, type SetCommand } from "../../../src/raft/index.js";
import type { Envelope } from "./pool.js";
import { World } from "./world.js";

export interface FuzzOptions {
  readonly seed: string;
  readonly size?: number;
  readonly durationMs?: number;
  /** Clock rate error as a multiple of the drift bound: at most 1 respects it. */
  readonly driftFactor?: number;
  readonly mutation?: Mutation | null;
  readonly preVote?: boolean;
  /** Lease ms (default: the fast preset's); just below the election minimum leaves the least slack. */
  readonly leaseMs?: number;
  /** The leader's own log write runs in parallel with its sends (as the gRPC runtime does). */
  readonly leaderPersistsInParallel?: boolean;
  /** Receives one line per fault and per change of leader, to read a failing run. */
  readonly trace?: string[];
  /**
   * Snapshots (support/snapshot-kit): per-run snapshot thresholds and other settings, background
   * snapshot writes that take this long, crashes that sometimes let a write under way finish,
   * and clients with sessions that retry SETs. Off: the run draws exactly what it drew before.
   */
  readonly snapshots?: {
    readonly overrides: Partial<Omit<RaftConfig, "id" | "members" | "timing" | "preVote" | "mutation">>;
    readonly saveMs: readonly [number, number];
  };
}

const FAULTS_MAX = 1000;
const HEAL_MS = 4000;

/** Loss (3%), mostly short delays with a tail up to 1.5 s (reordering), duplicates (5%). */
export function unreliable(rng: () => number): (e: Envelope) => number[] {
  const between = (lo: number, hi: number) => lo + rng() * (hi - lo);
  return () => {
    const r = rng();
    if (r < 0.03) return [];
    const delay = r < 0.75 ? between(0.2, 5) : r < 0.93 ? between(5, 60) : between(60, 1500);
    return rng() < 0.05 ? [delay, delay + between(0, 800)] : [delay];
  };
}

/** One seeded run; returns the world for its checks (the run heals and settles at the end). */
export function fuzz(o: FuzzOptions): World {
  const rng = seedrandom(o.seed);
  const between = (lo: number, hi: number) => lo + rng() * (hi - lo);
  const size = o.size ?? 3;
  const timing = { ...TIMING_FAST, leaseMs: o.leaseMs ?? TIMING_FAST.leaseMs };
  const drift = (o.driftFactor ?? 1) * timing.driftPpmMax;
  const network = unreliable(rng);
  const w = new World({
    size,
    timing,
    seed: o.seed,
    preVote: o.preVote ?? true,
    mutation: o.mutation ?? null,
    overrides: { leaderPersistsInParallel: o.leaderPersistsInParallel ?? false, ...o.snapshots?.overrides },
    syncDelayMs: () => between(0.2, 20),
    ...(o.snapshots === undefined ? {} : { snapshotSaveMs: () => between(...o.snapshots!.saveMs) }),
    rates: [...Array(size)].map(() => 1 + (between(-1, 1) * drift) / 1e6),
    clockStartMs: [...Array(size)].map(() => between(0, 1e7)),
    network,
  });
  const endMs = o.durationMs ?? 8000;
  let written = 0;
  const sessions = new Map<string, SetCommand>();
  const downUntil = new Map<number, number>();
  const pausedUntil = new Map<number, number>();
  let healAtMs = Infinity;
  let nextFaultMs = between(500, 1500);
  let nextClientMs = 0;
  for (let faults = 0; w.trueMs < endMs && faults < FAULTS_MAX * 100; faults++) {
    const nextMs = Math.min(endMs, nextFaultMs, nextClientMs, healAtMs, ...downUntil.values(), ...pausedUntil.values());
    w.run(Math.max(0, nextMs - w.trueMs));
    for (const [id, at] of downUntil) {
      if (at > w.trueMs) continue;
      downUntil.delete(id);
      if (w.isUp(id)) w.crash(id); // a crash at its next step that found no step to happen in
      w.restart(id, between(0, 1e7));
    }
    for (const [id, at] of pausedUntil) {
      if (at > w.trueMs) continue;
      pausedUntil.delete(id);
      w.resume(id);
    }
    if (healAtMs <= w.trueMs) {
      w.net.healAll();
      healAtMs = Infinity;
    }
    if (nextClientMs <= w.trueMs) {
      nextClientMs = w.trueMs + between(2, 40);
      if (o.snapshots !== undefined && rng() < 0.4) sessionOp(w, rng, sessions, () => `${o.seed}:${++written}`);
      else clientOp(w, rng, () => `${o.seed}:${++written}`, 0.5);
    }
    if (o.trace !== undefined) {
      const line = `${w.trueMs.toFixed(1)} leaders ${JSON.stringify(w.leaders().map((s) => [s.id, s.term]))} down ${[...downUntil.keys()]} paused ${[...pausedUntil.keys()]}`;
      if (o.trace[o.trace.length - 1]?.split(" leaders ")[1] !== line.split(" leaders ")[1]) o.trace.push(line);
    }
    if (nextFaultMs <= w.trueMs) {
      nextFaultMs = w.trueMs + between(200, 900);
      const healIn = (ms: number) => (healAtMs = Math.min(healAtMs, w.trueMs + ms));
      const what =
        o.snapshots !== undefined && w.snapshotMessages.length > 0 && rng() < 0.25
          ? ghost(w, rng, between)
          : fault(w, rng, between, downUntil, pausedUntil, healIn, o.snapshots !== undefined);
      o.trace?.push(`${w.trueMs.toFixed(1)} ${what}`);
    }
  }
  settle(w, downUntil, pausedUntil, between);
  return w;
}

export function clientOp(w: World, rng: () => number, nextValue: () => string, writeShare: number): void {
  const up = w.ids.filter((id) => w.isUp(id) && !w.isPaused(id));
  if (up.length === 0) return;
  const leaders = w.leaders().map((s) => s.id).filter((id) => !w.isPaused(id));
  const pool = leaders.length > 0 && rng() < 0.8 ? leaders : up;
  const at = pool[Math.floor(rng() * pool.length)]!;
  const key = `k${Math.floor(rng() * 3)}`;
  if (rng() < writeShare) w.set(at, key, nextValue());
  else w.get(at, key);
}

/**
 * A SET by one of three session clients: a new one (next sequence, a fresh value) or, a third of
 * the time, a retry of its last one, exactly as sent (same sequence, same value).
 */
export function sessionOp(w: World, rng: () => number, sessions: Map<string, SetCommand>, nextValue: () => string): void {
  const up = w.ids.filter((id) => w.isUp(id) && !w.isPaused(id));
  if (up.length === 0) return;
  const leaders = w.leaders().map((s) => s.id).filter((id) => !w.isPaused(id));
  const pool = leaders.length > 0 && rng() < 0.8 ? leaders : up;
  const at = pool[Math.floor(rng() * pool.length)]!;
  const clientId = `c${Math.floor(rng() * 3)}`;
  const last = sessions.get(clientId);
  const retry = last !== undefined && rng() < 0.33;
  const command: SetCommand = retry ? last : { kind: "set", key: `k${Math.floor(rng() * 3)}`, value: nextValue(), clientId, sequence: (last?.sequence ?? 0) + 1, firstUnanswered: (last?.sequence ?? 0) + 1 };
  sessions.set(clientId, command);
  w.client(at, [command]);
}

/** A copy of an old snapshot-request or snapshot-reply (any age, any term, any boot) arrives again. */
function ghost(w: World, rng: () => number, between: (lo: number, hi: number) => number): string {
  const m = w.snapshotMessages[Math.floor(rng() * w.snapshotMessages.length)]!;
  const id = w.inject(m);
  w.pool.release(id, w.trueMs + between(0, 50));
  return `ghost ${m.type} ${m.from}>${m.to} term ${m.term}`;
}

function fault(
  w: World,
  rng: () => number,
  between: (lo: number, hi: number) => number,
  downUntil: Map<number, number>,
  pausedUntil: Map<number, number>,
  healIn: (ms: number) => void,
  snapshots: boolean,
): string {
  // Half the faults hit a leader: lease handovers are what the lease rules are about.
  const leaders = w.leaders().map((s) => s.id);
  const targets = leaders.length > 0 && rng() < 0.5 ? leaders : w.ids;
  const id = targets[Math.floor(rng() * targets.length)]! as NodeId;
  const busy = downUntil.has(id) || pausedUntil.has(id);
  const r = rng();
  const majorityDown = downUntil.size + pausedUntil.size >= Math.floor(w.ids.length / 2);
  if (r < 0.35 && !busy && !majorityDown) {
    const atNextStep = rng() < 0.3;
    if (atNextStep) w.crashAtNextStep(id);
    else w.crash(id, { loseLazyCommit: rng() < 0.5, completeSaves: snapshots && rng() < 0.5 });
    // Half the crashes are quick reboots: the node is back, with a new clock, within 30 ms.
    downUntil.set(id, w.trueMs + (rng() < 0.5 ? between(0, 30) : between(50, 3000)));
    return `crash ${id}${atNextStep ? " at its next step" : ""} until ${downUntil.get(id)!.toFixed(1)}`;
  } else if (r < 0.5 && !busy && !majorityDown) {
    w.pause(id);
    pausedUntil.set(id, w.trueMs + between(50, 2000));
    return `pause ${id} until ${pausedUntil.get(id)!.toFixed(1)}`;
  } else if (r < 0.85) {
    const oneWay = rng() < 0.3;
    const cut: number[] = [];
    for (const other of w.ids) {
      if (other === id || rng() < 0.3) continue;
      w.net.cut(id, other);
      if (!oneWay) w.net.cut(other, id);
      cut.push(other);
    }
    healIn(between(300, 3000));
    return `cut ${id} from ${cut.join(",")}${oneWay ? " (its sends only)" : ""}`;
  }
  return "no fault";
}

/** Heals everything, restarts and resumes every node, and lets the cluster settle. */
function settle(w: World, downUntil: Map<number, number>, pausedUntil: Map<number, number>, between: (lo: number, hi: number) => number): void {
  w.net.healAll();
  for (const id of pausedUntil.keys()) w.resume(id);
  for (const id of downUntil.keys()) {
    if (w.isUp(id)) w.crash(id);
    w.restart(id, between(0, 1e7));
  }
  downUntil.clear();
  pausedUntil.clear();
  w.run(HEAL_MS);
}
