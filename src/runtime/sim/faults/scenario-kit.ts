// Building blocks for scenarios: fault lists, repeating cycles, flaky networks, partition shapes,
// and helpers that scenario checks use to look back at the run.

import { quorumSize, type TimingConfig } from "../../../raft/index.js";
import { FOLLOWER, LEADER, sortFaults, type Fault, type FaultAction } from "./faults.js";
import type { NetParams } from "../world/network.js";
import type { ScenarioContext, ScenarioPlan, SimView } from "./plan.js";
import type { Rng } from "../world/prng.js";

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly minNodes: number;
  build(ctx: ScenarioContext): Partial<ScenarioPlan>;
}

// ---------------------------------------------------------------- building blocks

/** Collects faults; anything at or after the quiet period is dropped (quiet heals it anyway). */
export class FaultList {
  readonly faults: Fault[] = [];
  constructor(private readonly untilMs: number) {}

  add(atMs: number, action: FaultAction): void {
    const t = Math.round(atMs);
    if (t < this.untilMs) this.faults.push({ atMs: t, action });
  }
}

/** Runs `cycle` back to back from faultsFromMs, with a random gap after each, until the quiet period. */
export function cycles(ctx: ScenarioContext, gapMs: readonly [number, number], cycle: (t: number, f: FaultList) => number): Fault[] {
  const f = new FaultList(ctx.quietFromMs);
  for (let t = ctx.faultsFromMs, n = 0; t < ctx.quietFromMs && n < 10_000; n++) {
    const end = cycle(t, f);
    t = end + ctx.rng.between(gapMs[0], gapMs[1]);
  }
  return sortFaults(f.faults);
}

/**
 * A bad network, drawn per call: loss, duplication, reordering, stalls that span several election
 * timeouts, and ghost copies that arrive long after their message (across crashes, reboots, terms).
 */
export function flakyNet(rng: Rng, timing: TimingConfig): NetParams {
  return {
    delayMinMs: 1,
    delayMaxMs: rng.between(3, 30),
    tailMeanMs: rng.between(0, 10),
    lossP: rng.between(0, 0.15),
    dupP: rng.between(0, 0.05),
    reorderP: rng.between(0, 0.2),
    reorderMs: rng.between(5, 100),
    longP: rng.between(0, 0.03),
    longMinMs: 200,
    longMaxMs: rng.between(500, 4 * timing.electionTimeoutMaxMs),
    ...lateCopies(rng, timing, rng.between(0, 0.02)),
  };
}

/** Ghost copies with probability lateP, arriving from one election timeout to maxTimeouts (2-8) of them after their message. */
export function lateCopies(rng: Rng, timing: TimingConfig, lateP: number, maxTimeouts = rng.between(2, 8)): Pick<NetParams, "lateP" | "lateMinMs" | "lateMaxMs"> {
  return { lateP, lateMinMs: timing.electionTimeoutMinMs, lateMaxMs: maxTimeouts * timing.electionTimeoutMaxMs };
}

/** A partition shape: isolate the leader, cut one direction, split into halves or into three, a bridge. */
export function partitionAction(ctx: ScenarioContext): FaultAction {
  const rng = ctx.rng;
  const shape = rng.int(0, 6);
  if (shape <= 1) return { kind: "isolate", target: rng.chance(0.75) ? LEADER : FOLLOWER };
  if (shape === 2) return { kind: "cut", target: LEADER, direction: rng.chance(0.5) ? "out" : "in" };
  if (shape === 6 && ctx.nodes >= 3) return { kind: "bridge", target: LEADER };
  const ids = rng.shuffle([...Array(ctx.nodes).keys()]);
  const groupCount = shape >= 5 && ctx.nodes >= 3 ? 3 : 2;
  const cuts = [0, ...rng.shuffle([...Array(Math.max(1, ctx.nodes - 1)).keys()].map((i) => i + 1)).slice(0, groupCount - 1).sort((a, b) => a - b), ctx.nodes];
  const groups = [];
  for (let i = 0; i + 1 < cuts.length; i++) groups.push(ids.slice(cuts[i], cuts[i + 1]));
  return { kind: "partition", groups: groups.filter((g) => g.length > 0) };
}

/** How many nodes must die so that the rest (the leader included) are no majority. */
export function minorityKillCount(nodes: number): number {
  return nodes - quorumSize(nodes) + 1;
}

/** The node that was leader at true time t (by the role history), if any. */
export function leaderAt(view: SimView, t: number): number | null {
  for (let i = view.roleSpans.length - 1; i >= 0; i--) {
    const s = view.roleSpans[i]!;
    if (s.role === "leader" && s.fromMs <= t && (s.toMs === null || s.toMs > t)) return s.nodeId;
  }
  return null;
}

/** Leader spans that overlap [fromMs, toMs). */
export function leadersDuring(view: SimView, fromMs: number, toMs: number): { nodeId: number; term: number; fromMs: number }[] {
  return view.roleSpans
    .filter((s) => s.role === "leader" && s.fromMs < toMs && (s.toMs === null || s.toMs > fromMs))
    .map((s) => ({ nodeId: s.nodeId, term: s.term, fromMs: s.fromMs }));
}
