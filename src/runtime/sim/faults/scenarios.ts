// The named scenarios of `raft-sim list`: each turns a seed into a fault schedule, a network,
// clocks, clients and (for the original exercise's six situations, docs/exercise.md) its own assertions.
//
// Faults run in [faultsFromMs, quietFromMs); from quietFromMs the nemesis heals everything so
// that liveness can be checked (scenarios that keep a majority down have no quiet period).

import { CONFIG_DEFAULTS, type TimingConfig } from "../../../raft/index.js";
import { ALL, FOLLOWER, LEADER, RANDOM, node, parseSchedule, type CrashPoint } from "./faults.js";
import { NET_CALM } from "../world/network.js";
import type { SimOptions } from "../options.js";
import { livenessBounds, WORKLOAD_DEFAULT, type ScenarioContext, type ScenarioPlan } from "./plan.js";
import { Rng } from "../world/prng.js";
import type { Workload } from "../world/client.js";
import { cycles, flakyNet, partitionAction, FaultList, type Scenario } from "./scenario-kit.js";
import { pageCacheCycle, powerLoss } from "./scenarios-disk.js";
import { membership, withChurn } from "./scenarios-membership.js";
import { snapshots } from "./scenarios-snapshot.js";
import { leaseExpiryPlan, noQuorumPlan } from "./scenarios-lease.js";
import { specScenarios } from "./scenarios-spec.js";
import { staleCycle, staleReplies } from "./scenarios-stale.js";

export type { Scenario } from "./scenario-kit.js";

// ---------------------------------------------------------------- scenarios

const partition: Scenario = {
  name: "partition",
  description: "partitions of every shape (leader isolated, one-way cuts, halves, thirds), each healing after 0.5-5 s",
  minNodes: 2,
  build: (ctx) => ({
    faults: cycles(ctx, [500, 3000], (t, f) => {
      const end = t + ctx.rng.between(500, 5000);
      f.add(t, partitionAction(ctx));
      f.add(end, { kind: "heal" });
      return end;
    }),
  }),
};

const leaderCrash: Scenario = {
  name: "leader-crash",
  description: "the leader crashes (sometimes between its disk write and its sends) and restarts 0.2-4 s later",
  minNodes: 2,
  build: (ctx) => ({
    batchCountMax: ctx.rng.pick([1, 2, 4, 64]),
    faults: cycles(ctx, [300, 3000], (t, f) => {
      const end = t + ctx.rng.between(200, 4000);
      f.add(t, { kind: "crash", target: LEADER, when: ctx.rng.chance(0.3) ? "send" : "now" });
      f.add(end, { kind: "restart", target: ALL });
      return end;
    }),
  }),
};

const followerCrash: Scenario = {
  name: "follower-crash",
  description: "one or two followers crash and restart 0.5-5 s later, catching up",
  minNodes: 2,
  build: (ctx) => ({
    faults: cycles(ctx, [500, 3000], (t, f) => {
      const end = t + ctx.rng.between(500, 5000);
      const victims = ctx.nodes >= 5 && ctx.rng.chance(0.5) ? 2 : 1;
      for (let i = 0; i < victims; i++) f.add(t + i, { kind: "crash", target: FOLLOWER, when: ctx.rng.chance(0.2) ? "send" : "now" });
      f.add(end, { kind: "restart", target: ALL });
      return end;
    }),
  }),
};

const pause: Scenario = {
  name: "pause",
  description: "processes stop (GC pause, SIGSTOP) for 0.05-4 s while time goes on, the leader most often",
  minNodes: 2,
  build: (ctx) => ({
    faults: cycles(ctx, [300, 3000], (t, f) => {
      const end = t + ctx.rng.between(50, 4000);
      f.add(t, { kind: "pause", target: ctx.rng.chance(0.6) ? LEADER : RANDOM });
      f.add(end, { kind: "resume", target: ALL });
      return end;
    }),
  }),
};

const clockDrift: Scenario = {
  name: "clock-drift",
  description: "every clock runs at the drift bound (fast or slow) while leaders are isolated, cut and paused, so leases change hands",
  minNodes: 2,
  build: (ctx) => ({
    clockMode: "at-bound",
    faults: cycles(ctx, [200, 2500], (t, f) => {
      const end = t + ctx.rng.between(300, 4000);
      const kind = ctx.rng.int(0, 2);
      if (kind === 0) f.add(t, { kind: "isolate", target: LEADER });
      else if (kind === 1) f.add(t, { kind: "cut", target: LEADER, direction: "out" });
      else f.add(t, { kind: "pause", target: LEADER });
      f.add(end, kind === 2 ? { kind: "resume", target: ALL } : { kind: "heal" });
      return end;
    }),
  }),
};

const flakyNetwork: Scenario = {
  name: "flaky-network",
  description: "loss, duplication, reordering and long delays (drawn per seed), and now and then a partition",
  minNodes: 2,
  build: (ctx) => ({
    net: flakyNet(ctx.rng, ctx.timing),
    faults: cycles(ctx, [2000, 8000], (t, f) => {
      const end = t + ctx.rng.between(300, 3000);
      if (ctx.rng.chance(0.5)) f.add(t, partitionAction(ctx));
      else f.add(t, { kind: "net", params: flakyNet(ctx.rng, ctx.timing) });
      f.add(end, { kind: "heal" });
      return end;
    }),
  }),
};

const restartAll: Scenario = {
  name: "restart-all",
  description: "every node crashes at once (some between disk write and send) or in a rolling restart, losing unsynced writes",
  minNodes: 1,
  build: (ctx) => ({
    rebootP: 0.5,
    faults: cycles(ctx, [1000, 4000], (t, f) => {
      if (ctx.rng.chance(0.5)) {
        const end = t + ctx.rng.between(100, 3000);
        for (let id = 0; id < ctx.nodes; id++) f.add(t + ctx.rng.between(0, 30), { kind: "crash", target: node(id), when: ctx.rng.chance(0.3) ? "send" : "now" });
        f.add(end, { kind: "restart", target: ALL });
        return end;
      }
      let at = t;
      for (const id of ctx.rng.shuffle([...Array(ctx.nodes).keys()])) {
        f.add(at, { kind: "crash", target: node(id), when: ctx.rng.chance(0.3) ? "send" : "now" });
        at += ctx.rng.between(50, 1500);
        f.add(at, { kind: "restart", target: node(id) });
        at += ctx.rng.between(0, 1000);
      }
      return at;
    }),
  }),
};

const leaseHandover: Scenario = {
  name: "lease-handover",
  description: "a new leader is elected while the old one may still hold its lease: links to the leader severed or slowed, bridges, restarts, PreVote on or off, lulls in writes",
  minNodes: 3,
  build: (ctx) => leaseHandoverPlan(ctx),
};

const leaderChurn: Scenario = {
  name: "leader-churn",
  description: "leaders come and go every second or so (crashed, isolated, restarted) over a lossy network, with one-entry batches: logs diverge and old-term entries get shipped alone",
  minNodes: 3,
  build: (ctx) => {
    const rng = ctx.rng;
    return {
      net: { ...NET_CALM, lossP: rng.between(0.05, 0.35), delayMaxMs: rng.between(3, 20) },
      batchCountMax: 1,
      inflightCountMax: rng.pick([1, 2]),
      faults: cycles(ctx, [100, 1500], (t, f) => churnCycle(ctx, f, t)),
    };
  },
};

/** A leader goes: isolated, or crashed at a point where logs diverge; back a little later. */
function churnCycle(ctx: ScenarioContext, f: FaultList, t: number): number {
  const rng = ctx.rng;
  const end = t + rng.between(50, 1500);
  const kind = rng.int(0, 5);
  if (kind === 5) {
    f.add(t, { kind: "isolate", target: LEADER });
    f.add(end, { kind: "heal" });
    return end;
  }
  // Crash points where logs diverge: a leader's write that never left, an election whose
  // NO-OP never left, a commit whose follow-up never left.
  const when = (["now", "append", "append", "elected", "commit"] as const)[kind]!;
  f.add(t, { kind: "crash", target: when === "append" || when === "now" ? LEADER : RANDOM, when });
  f.add(end, { kind: "restart", target: rng.chance(0.5) ? ALL : RANDOM });
  return end;
}

const leaseExpiry: Scenario = {
  name: "lease-expiry",
  description: "a majority of followers dies: a GET inside the lease still works, then the leader steps down; they restart",
  minNodes: 3,
  build: (ctx) => leaseExpiryPlan(ctx, 12_000),
};

const noQuorum: Scenario = {
  name: "no-quorum",
  description: "a majority dies for good (only 2 of 5 alive): the leader steps down, no leader is elected, GET and SET fail",
  minNodes: 2,
  build: (ctx) => noQuorumPlan(ctx),
};

const swarm: Scenario = {
  name: "swarm",
  description: "everything at once, randomly: which faults, how often, and the network, clocks, batches and clients are drawn per seed",
  minNodes: 1,
  build: (ctx) => swarmPlan(ctx),
};

// ---------------------------------------------------------------- shared plans

function leaseHandoverPlan(ctx: ScenarioContext): Partial<ScenarioPlan> {
  const rng = ctx.rng;
  const lulls: [number, number][] = [];
  const faults = cycles(ctx, [500, 2500], (t, f) => handoverCycle(ctx, f, t, lulls));
  const b = livenessBounds(ctx.timing);
  return {
    faults,
    preVote: rng.chance(0.5),
    batchCountMax: rng.pick([1, 4, 64]),
    workload: { ...WORKLOAD_DEFAULT, startMs: 0, stopMs: ctx.durationMs - b.catchupMs, lulls },
  };
}

/**
 * One chance for a new leader while the old one may still hold its lease (writes lull meanwhile,
 * so a node cut off from the leader stays electable): the leader's links to some followers cut
 * while others restart, a bridge while others restart, slow acknowledgements and then the leader's
 * sends cut, or the leader paused.
 */
function handoverCycle(ctx: ScenarioContext, f: FaultList, t: number, lulls: [number, number][]): number {
  const rng = ctx.rng;
  const cutOff = Math.max(1, Math.floor((ctx.nodes - 1) / 2));
  const end = t + rng.between(1500, 4000);
  lulls.push([t - rng.between(0, 1500), end]);
  switch (rng.int(0, 3)) {
    case 0:
      for (let i = 0; i < cutOff; i++) f.add(t, { kind: "sever", a: LEADER, b: FOLLOWER });
      restartsDuring(ctx, f, t, end);
      break;
    case 1:
      f.add(t, { kind: "bridge", target: LEADER });
      restartsDuring(ctx, f, t, end);
      break;
    case 2:
      for (let i = 0; i < ctx.nodes - cutOff - 1; i++) f.add(t, { kind: "slow", from: FOLLOWER, to: LEADER, extraMs: Math.round(rng.between(100, 900)) });
      f.add(t + rng.between(0, 300), { kind: "cut", target: LEADER, direction: "out" });
      break;
    default:
      f.add(t, { kind: "pause", target: LEADER });
      f.add(end - 500, { kind: "resume", target: ALL });
  }
  f.add(end, { kind: "heal" });
  return end;
}

/** Followers crash and come back a moment later, again and again, between fromMs and toMs. */
function restartsDuring(ctx: ScenarioContext, f: FaultList, fromMs: number, toMs: number): void {
  for (let t = fromMs + ctx.rng.between(100, 600); t < toMs; t += ctx.rng.between(150, 700)) {
    f.add(t, { kind: "crash", target: FOLLOWER, when: "now" });
    f.add(t + ctx.rng.between(2, 40), { kind: "restart", target: ALL });
  }
}

function swarmPlan(ctx: ScenarioContext): Partial<ScenarioPlan> {
  const rng = ctx.rng;
  const on = {
    crash: rng.chance(0.5),
    pause: rng.chance(0.4),
    partition: rng.chance(0.6),
    links: rng.chance(0.4),
    net: rng.chance(0.5),
    restartAll: rng.chance(0.2),
    handover: ctx.nodes >= 3 && rng.chance(0.25),
    churn: ctx.nodes >= 3 && rng.chance(0.25),
    stale: ctx.nodes >= 3 && rng.chance(0.25),
    pageCache: rng.chance(0.3),
  };
  const kinds = (Object.keys(on) as (keyof typeof on)[]).filter((k) => on[k]);
  const meanGapMs = rng.between(300, 3000);
  const lulls: [number, number][] = [];
  const lullP = rng.chance(0.3) ? 0.3 : 0;
  const faults = cycles(ctx, [meanGapMs / 2, meanGapMs * 1.5], (t, f) => {
    if (kinds.length === 0) return t + 5000;
    const kind = rng.pick(kinds);
    if (kind === "handover") return handoverCycle(ctx, f, t, lulls);
    if (kind === "churn") return churnCycle(ctx, f, t);
    if (kind === "stale") return staleCycle(ctx, f, t);
    if (kind === "pageCache") return pageCacheCycle(ctx, f, t);
    const end = t + rng.between(50, 5000);
    if (rng.chance(lullP)) lulls.push([t - 1000, end]);
    swarmFault(ctx, f, kind, t, end);
    return end;
  });
  return {
    faults: withChurn(ctx, faults),
    net: on.net && rng.chance(0.5) ? flakyNet(rng, ctx.timing) : NET_CALM,
    clockMode: rng.chance(0.5) ? "at-bound" : "within-bound",
    preVote: rng.chance(0.75),
    batchCountMax: rng.pick([1, 2, 4, 64, 512]),
    inflightCountMax: rng.pick([1, 2, 8]),
    rebootP: rng.between(0, 0.5),
    workload: { ...swarmWorkload(ctx), lulls },
    ...snapshotThresholds(ctx),
  };
}

/**
 * Small snapshot thresholds, so that snapshots, compaction and InstallSnapshot happen in most
 * runs: every 20-500 entries (log-uniform), keeping none, a few or many entries below. Drawn from
 * a stream of their own, so the rest of a seed's plan is what it was before snapshots existed.
 */
function snapshotThresholds(ctx: ScenarioContext): Pick<ScenarioPlan, "snapshotEveryEntries" | "snapshotKeepEntries"> {
  const rng = new Rng(ctx.seed, "snapshots");
  const every = Math.round(Math.exp(rng.between(Math.log(20), Math.log(500))));
  return { snapshotEveryEntries: every, snapshotKeepEntries: rng.pick([0, 0, 2, 10, Math.floor(every / 2)]) };
}

function swarmFault(ctx: ScenarioContext, f: FaultList, kind: "crash" | "pause" | "partition" | "links" | "net" | "restartAll", t: number, end: number): void {
  const rng = ctx.rng;
  const crashPoint = (): CrashPoint => (rng.chance(0.6) ? "now" : rng.pick(["send", "append", "commit", "elected"] as const));
  switch (kind) {
    case "crash":
      f.add(t, { kind: "crash", target: rng.pick([LEADER, FOLLOWER, RANDOM]), when: crashPoint() });
      f.add(end, { kind: "restart", target: rng.chance(0.7) ? ALL : RANDOM });
      return;
    case "pause":
      f.add(t, { kind: "pause", target: rng.pick([LEADER, FOLLOWER, RANDOM]) });
      f.add(end, { kind: "resume", target: ALL });
      return;
    case "partition":
      f.add(t, partitionAction(ctx));
      f.add(end, { kind: "heal" });
      return;
    case "links":
      for (let i = rng.int(1, Math.max(1, ctx.nodes - 2)); i > 0; i--) {
        if (rng.chance(0.5)) f.add(t, { kind: "sever", a: LEADER, b: FOLLOWER });
        else f.add(t, { kind: "slow", from: rng.pick([FOLLOWER, RANDOM]), to: LEADER, extraMs: Math.round(rng.between(50, 1000)) });
      }
      if (rng.chance(0.3)) f.add(t + rng.between(0, 300), { kind: "cut", target: LEADER, direction: "out" });
      f.add(end, { kind: "heal" });
      return;
    case "net":
      f.add(t, { kind: "net", params: flakyNet(rng, ctx.timing) });
      f.add(end, { kind: "net", params: NET_CALM });
      return;
    case "restartAll":
      for (let id = 0; id < ctx.nodes; id++) f.add(t + rng.between(0, 50), { kind: "crash", target: node(id), when: crashPoint() });
      f.add(end, { kind: "restart", target: ALL });
      return;
  }
}

function swarmWorkload(ctx: ScenarioContext): Workload {
  const b = livenessBounds(ctx.timing);
  const rng = ctx.rng;
  return { count: rng.int(1, 5), thinkMeanMs: rng.between(20, 200), keyCount: rng.int(1, 6), setRatio: rng.between(0.2, 0.8), startMs: 0, stopMs: ctx.durationMs - b.catchupMs };
}

// ---------------------------------------------------------------- registry

export const SCENARIOS: ReadonlyMap<string, Scenario> = new Map(
  [partition, leaderCrash, followerCrash, leaderChurn, leaseHandover, staleReplies, leaseExpiry, noQuorum, pause, clockDrift, flakyNetwork, restartAll, powerLoss, snapshots, membership, ...specScenarios, swarm].map((s) => [s.name, s]),
);

export function scenarioNames(): string[] {
  return [...SCENARIOS.keys()];
}

/** Turns options into the full plan the simulator runs. Throws clear errors for bad settings. */
export function buildPlan(o: SimOptions, timing: TimingConfig): ScenarioPlan {
  const scenario = SCENARIOS.get(o.scenario);
  if (scenario === undefined) throw new Error(`unknown scenario "${o.scenario}"; \`raft-sim list\` shows them: ${scenarioNames().join(", ")}`);
  if (o.nodes < scenario.minNodes) throw new Error(`scenario ${o.scenario} needs at least ${scenario.minNodes} nodes, got --nodes ${o.nodes}`);
  const b = livenessBounds(timing);
  const faultsFromMs = timing.electionTimeoutMaxMs;
  const quietFromMs = o.durationMs - b.quietMs;
  if (quietFromMs < faultsFromMs + 1000) {
    throw new Error(`--duration ${o.durationMs} ms is too short: faults need a window and the quiet period needs ${b.quietMs} ms; give at least ${faultsFromMs + 1000 + b.quietMs} ms`);
  }
  const ctx: ScenarioContext = { seed: o.seed, nodes: o.nodes, durationMs: o.durationMs, timing, rng: new Rng(o.seed, "scenario"), faultsFromMs, quietFromMs };
  const built: ScenarioPlan = { ...defaultPlan(ctx, b.catchupMs), ...scenario.build(ctx) };
  const plan = o.opsPerSecond === null || built.workload === null ? built : { ...built, workload: withRate(built.workload, o.opsPerSecond) };
  if (o.faults === null) return plan;
  const faults = parseSchedule(o.faults, o.nodes);
  const late = plan.quietFromMs === null ? undefined : faults.find((f) => f.atMs >= plan.quietFromMs!);
  if (late !== undefined) throw new Error(`--faults: the fault at ${late.atMs} ms falls in the quiet period (from ${plan.quietFromMs} ms), when faults stop so liveness can be checked`);
  return { ...plan, faults };
}

/** About opsPerSecond operations per simulated second: 20 per client, one at a time each. */
function withRate(w: Workload, opsPerSecond: number): Workload {
  const count = Math.max(1, Math.ceil(opsPerSecond / 20));
  const opLatencyMs = 8; // a healthy cluster's typical time to answer
  return { ...w, count, thinkMeanMs: Math.max(1, (count * 1000) / opsPerSecond - opLatencyMs) };
}

function defaultPlan(ctx: ScenarioContext, catchupMs: number): ScenarioPlan {
  return {
    faults: [],
    net: NET_CALM,
    clockMode: "within-bound",
    workload: { ...WORKLOAD_DEFAULT, startMs: 0, stopMs: ctx.durationMs - catchupMs },
    script: [],
    down: [],
    quietFromMs: ctx.quietFromMs,
    checks: [],
    batchCountMax: 64,
    inflightCountMax: 8,
    preVote: true,
    leaderPersistsInParallel: new Rng(ctx.seed, "disk-mode").chance(0.5),
    rebootP: 0.2,
    snapshotEveryEntries: CONFIG_DEFAULTS.snapshotEveryEntries,
    snapshotKeepEntries: CONFIG_DEFAULTS.snapshotKeepEntries,
  };
}
