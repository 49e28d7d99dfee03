// The six situations of the original exercise (docs/exercise.md), as simulated scenarios with
// their own assertions.

import type { NodeView } from "../../../raft/index.js";
import { logIndex } from "../../../raft/index.js";
import type { ScriptedOp } from "../world/client.js";
import { ALL, FOLLOWER, LEADER } from "./faults.js";
import { livenessBounds, type ScenarioCheck, type ScenarioContext, type SimView } from "./plan.js";
import { FaultList, leaderAt, type Scenario } from "./scenario-kit.js";
import { leaseExpiryPlan, noQuorumPlan } from "./scenarios-lease.js";

function cores(view: SimView): NodeView[] {
  const out: NodeView[] = [];
  for (let id = 0; id < view.nodeCount; id++) {
    const c = view.core(id);
    if (c !== null) out.push(c);
  }
  return out;
}

function oneLeaderNoopEverywhere(view: SimView): string | null {
  const leaders = cores(view).filter((c) => c.role === "leader");
  if (leaders.length !== 1) return `${leaders.length} leaders at ${view.nowMs} ms (want exactly one)`;
  const leader = leaders[0]!;
  const noop = leader.noopIndex!;
  for (const c of cores(view)) {
    const e = c.termAt(noop) === leader.term ? c.entryAt(noop) : null;
    if (e === null || e.command.kind !== "noop") return `node ${c.id} lacks leader ${leader.id}'s NO-OP at index ${noop}`;
  }
  return null;
}

const startup: Scenario = {
  name: "spec-startup",
  description: "exercise: 5 nodes start; one leader is elected and its NO-OP reaches every log",
  minNodes: 1,
  build: (ctx) => ({
    workload: null,
    checks: [
      { atMs: 3 * ctx.timing.electionTimeoutMaxMs, name: "one leader, NO-OP in every log", check: oneLeaderNoopEverywhere },
      { atMs: ctx.durationMs, name: "one leader, NO-OP in every log at the end", check: oneLeaderNoopEverywhere },
    ],
  }),
};

const SETS = [
  ["x", "6"],
  ["y", "7"],
  ["z", "8"],
] as const;

function setsThenGets(view: SimView): string | null {
  for (const [key, value] of SETS) {
    const r = view.result(`set-${key}`);
    if (r?.outcome !== "ok") return `SET ${key} ${value} did not succeed (${r?.outcome ?? "not done"})`;
  }
  for (const [key, value] of SETS) {
    const r = view.result(`get-${key}`);
    if (r?.outcome !== "ok" || r.value !== value) return `GET ${key} returned ${JSON.stringify(r?.value)} (${r?.outcome ?? "not done"}), want ${value}`;
    if (!r.immediate) return `GET ${key} took a round to the followers instead of being answered from the lease`;
  }
  for (const c of cores(view)) {
    const have = new Set<string>();
    for (let i = 1; i <= c.commitIndex; i++) {
      const cmd = c.entryAt(logIndex(i)).command;
      if (cmd.kind === "set") have.add(`${cmd.key}=${cmd.value}`);
    }
    for (const [key, value] of SETS) if (!have.has(`${key}=${value}`)) return `node ${c.id} has not committed SET ${key} ${value}`;
  }
  return null;
}

const setsGets: Scenario = {
  name: "spec-sets-gets",
  description: "exercise: 3 SETs then 3 GETs; every log holds the SETs and the GETs are served from the lease with no extra round",
  minNodes: 1,
  build: (ctx) => {
    const at = 2 * ctx.timing.electionTimeoutMaxMs;
    const script: ScriptedOp[] = [
      ...SETS.map(([key, value]) => ({ atMs: at, label: `set-${key}`, kind: "set" as const, key, value, mode: "retry" as const })),
      ...SETS.map(([key]) => ({ atMs: at, label: `get-${key}`, kind: "get" as const, key, value: "", mode: "retry" as const })),
    ];
    return { workload: null, script, checks: [{ atMs: at + 10_000, name: "3 SETs in every log, 3 GETs from the lease", check: setsThenGets }] };
  },
};

function okDuring(view: SimView, fromMs: number, toMs: number): string | null {
  for (const kind of ["set", "get"] as const) {
    const ok = view.history().some((op) => op.kind === kind && op.outcome === "ok" && op.invokeMs >= fromMs && op.invokeMs < toMs);
    if (!ok) return `no ${kind.toUpperCase()} succeeded between ${fromMs} and ${toMs} ms`;
  }
  return null;
}

const followerKill: Scenario = {
  name: "spec-follower-kill",
  description: "exercise: 1, then 2 followers are killed; SETs and GETs go on; restarted, they catch up",
  minNodes: 3,
  build: (ctx) => {
    const f = new FaultList(ctx.quietFromMs);
    const t0 = ctx.faultsFromMs + 1_000;
    const two = ctx.nodes >= 5;
    f.add(t0, { kind: "crash", target: FOLLOWER, when: "now" });
    if (two) f.add(t0 + 3_000, { kind: "crash", target: FOLLOWER, when: "now" });
    f.add(t0 + 8_000, { kind: "restart", target: ALL });
    const checks: ScenarioCheck[] = [{ atMs: t0 + 8_000, name: "SETs and GETs go on with followers dead", check: (v) => okDuring(v, t0 + 500, t0 + 8_000) }];
    return { faults: f.faults, checks };
  },
};

const leaderKill: Scenario = {
  name: "spec-leader-kill",
  description: "exercise: the leader is killed; a new one is elected, SET/GET go on with no loss; the old leader restarts as a follower and catches up",
  minNodes: 3,
  build: (ctx) => {
    const f = new FaultList(ctx.quietFromMs);
    const killMs = ctx.faultsFromMs + 1_000;
    const restartMs = killMs + 8_000;
    f.add(killMs, { kind: "crash", target: LEADER, when: "now" });
    f.add(restartMs, { kind: "restart", target: ALL });
    const bounds = livenessBounds(ctx.timing);
    const checks: ScenarioCheck[] = [
      { atMs: killMs + bounds.leaderMs, name: "a new leader is elected", check: (v) => newLeader(v, killMs) },
      { atMs: restartMs, name: "SETs and GETs go on under the new leader", check: (v) => okDuring(v, killMs + bounds.leaderMs, restartMs) },
      { atMs: restartMs + 3_000, name: "the old leader rejoins as a follower and catches up", check: (v) => rejoined(v, killMs) },
    ];
    return { faults: f.faults, checks };
  },
};

function newLeader(view: SimView, killMs: number): string | null {
  const old = leaderAt(view, killMs - 1e-6);
  const now = view.leader();
  if (old === null) return `no leader when the leader was to be killed at ${killMs} ms`;
  if (now === null || now === old) return `no new leader since node ${old} was killed at ${killMs} ms`;
  return null;
}

function rejoined(view: SimView, killMs: number): string | null {
  const old = leaderAt(view, killMs - 1e-6);
  const leader = view.leader();
  if (old === null || leader === null) return "no leader";
  const core = view.core(old);
  if (core === null) return `node ${old} did not restart`;
  if (core.role !== "follower") return `node ${old} is ${core.role}, not a follower`;
  const lead = view.core(leader)!;
  if (core.commitIndex + 20 < lead.commitIndex) return `node ${old} has commit ${core.commitIndex}, far behind leader ${leader} at ${lead.commitIndex}`;
  return null;
}

const leaseMajorityDead: Scenario = {
  name: "spec-lease-majority-dead",
  description: "exercise: 3 of 5 followers are killed; a GET within the lease still succeeds, then the lease runs out and the leader steps down",
  minNodes: 3,
  build: (ctx: ScenarioContext) => leaseExpiryPlan(ctx, Infinity),
};

const twoAlive: Scenario = {
  name: "spec-two-alive",
  description: "exercise: only 2 of 5 nodes are alive; GET and SET fail, and no leader is elected",
  minNodes: 2,
  build: (ctx) => noQuorumPlan(ctx, true),
};

export const specScenarios: readonly Scenario[] = [startup, setsGets, followerKill, leaderKill, leaseMajorityDead, twoAlive];
