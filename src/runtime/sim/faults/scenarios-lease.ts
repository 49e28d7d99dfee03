// Scenarios about the lease when a majority is gone: lease-expiry (and the exercise's "3 of 5
// followers killed"), no-quorum (and "only 2 of 5 alive").

import { ALL, FOLLOWER, LEADER, RANDOM, type Fault } from "./faults.js";
import type { ScriptedOp } from "../world/client.js";
import { livenessBounds, type ScenarioCheck, type ScenarioContext, type ScenarioPlan, type SimView } from "./plan.js";
import { FaultList, leaderAt, leadersDuring, minorityKillCount } from "./scenario-kit.js";

/** When a leader that lost its majority at killMs must have stepped down, at the latest. */
function stepDownDueMs(ctx: ScenarioContext, killMs: number): number {
  const rho = ctx.timing.driftPpmMax / 1e6;
  return killMs + ctx.timing.leaseMs / (1 - rho) + 50;
}

/**
 * Every cycleMs: a majority of the followers crashes at once; 30 ms later a GET goes straight to
 * the leader and must be served from its lease at once; by the lease's end the leader must have
 * stepped down for want of renewals; later the dead restart.
 */
export function leaseExpiryPlan(ctx: ScenarioContext, cycleMs: number): Partial<ScenarioPlan> {
  const f = new FaultList(ctx.quietFromMs);
  const script: ScriptedOp[] = [];
  const checks: ScenarioCheck[] = [];
  const kill = minorityKillCount(ctx.nodes);
  for (let k = 0, c = ctx.faultsFromMs + 2_000; c + 4_000 < ctx.quietFromMs; k++, c += cycleMs) {
    const killMs = c + Math.round(ctx.rng.between(0, 1_000));
    for (let i = 0; i < kill; i++) f.add(killMs, { kind: "crash", target: FOLLOWER, when: "now" });
    const label = `lease-read-${k}`;
    script.push({ atMs: killMs + 30, label, kind: "get", key: "k0", value: "", mode: "direct" });
    const dueMs = stepDownDueMs(ctx, killMs);
    checks.push({ atMs: killMs + 2_100, name: `${label}: a GET inside the lease is served`, check: (v) => leaseReadServed(v, killMs, label) });
    checks.push({ atMs: dueMs, name: `${label}: the leader steps down when its lease runs out`, check: (v) => steppedDown(v, killMs) });
    f.add(dueMs + 1_000, { kind: "restart", target: ALL });
  }
  return { faults: f.faults, script, checks };
}

function leaseReadServed(view: SimView, killMs: number, label: string): string | null {
  const leader = leaderAt(view, killMs - 1e-6);
  if (leader === null) return `no leader when the followers were killed at ${killMs} ms`;
  const r = view.result(label);
  if (r === undefined) return "the GET has not completed";
  if (r.outcome !== "ok") return `the GET ended "${r.outcome}"`;
  if (r.node !== leader) return `the GET was answered by node ${r.node}, not by leader ${leader}`;
  if (!r.immediate) return "the GET waited for a round to followers instead of being served from the lease";
  return null;
}

function steppedDown(view: SimView, killMs: number): string | null {
  const leader = leaderAt(view, killMs - 1e-6);
  if (leader === null) return `no leader when the followers were killed at ${killMs} ms`;
  const core = view.core(leader);
  if (core !== null && core.role === "leader") return `node ${leader} still leads at ${view.nowMs.toFixed(1)} ms, without a majority since ${killMs} ms`;
  const failed = view.notable.some((e) => e.nodeId === leader && e.kind === "lease-renewal-failed" && e.atMs > killMs);
  if (core !== null && !failed) return `node ${leader} stopped leading without reporting "lease renewal failed"`;
  return null;
}

/**
 * A majority dies and stays dead (or never starts): after the old lease, no node may lead, and
 * every GET and SET must fail. There is no quiet period: liveness is not expected.
 */
export function noQuorumPlan(ctx: ScenarioContext, fromStart = false): Partial<ScenarioPlan> {
  const kill = minorityKillCount(ctx.nodes);
  const killMs = fromStart ? 0 : ctx.faultsFromMs + 2_000;
  const faults: Fault[] = [];
  const down: number[] = [];
  if (fromStart) for (let i = 0; i < kill; i++) down.push(ctx.nodes - 1 - i);
  else for (let i = 0; i < kill; i++) faults.push({ atMs: killMs, action: { kind: "crash", target: i === 0 && ctx.rng.chance(0.5) ? LEADER : i === 0 ? RANDOM : FOLLOWER, when: "now" } });
  const settledMs = fromStart ? 0 : stepDownDueMs(ctx, killMs) + 100;
  const b = livenessBounds(ctx.timing);
  const check: ScenarioCheck = {
    atMs: ctx.durationMs,
    name: "no leader and no successful operation without a majority",
    check: (v) => noLeaderNoSuccess(v, settledMs),
  };
  return { faults, down, quietFromMs: null, checks: [check], workload: { count: 3, thinkMeanMs: 100, keyCount: 3, setRatio: 0.5, startMs: 0, stopMs: ctx.durationMs - b.catchupMs } };
}

function noLeaderNoSuccess(view: SimView, settledMs: number): string | null {
  const leaders = leadersDuring(view, settledMs, view.nowMs + 1);
  if (leaders.length > 0) {
    const l = leaders[0]!;
    return `node ${l.nodeId} led term ${l.term} at ${Math.max(l.fromMs, settledMs).toFixed(1)} ms with no majority alive`;
  }
  const ok = view.history().find((op) => op.invokeMs >= settledMs && op.outcome === "ok");
  if (ok !== undefined) return `${ok.kind.toUpperCase()} ${ok.key} invoked at ${ok.invokeMs.toFixed(1)} ms succeeded with no majority alive`;
  if (!view.history().some((op) => op.invokeMs >= settledMs)) return "no operation was tried after the majority died";
  return null;
}
