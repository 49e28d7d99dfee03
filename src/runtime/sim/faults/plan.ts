// What a scenario hands the simulator: faults, network, clocks, clients, and its own checks.

import type { TimingConfig } from "../../../raft/index.js";
import type { NodeId } from "../../../raft/index.js";
import type { NodeView } from "../../../raft/index.js";
import type { OpResult, ScriptedOp, Workload } from "../world/client.js";
import type { Fault } from "./faults.js";
import type { History } from "../../../check/history.js";
import type { NetParams } from "../world/network.js";
import type { Rng } from "../world/prng.js";

export interface ScenarioContext {
  readonly seed: string;
  readonly nodes: number;
  readonly durationMs: number;
  readonly timing: TimingConfig;
  /** The scenario's own stream: draw fault times and parameters from it. */
  readonly rng: Rng;
  /** Faults may run in [faultsFromMs, quietFromMs); then they stop so liveness can be checked. */
  readonly faultsFromMs: number;
  readonly quietFromMs: number;
}

export interface ScenarioPlan {
  readonly faults: readonly Fault[];
  readonly net: NetParams;
  readonly clockMode: "within-bound" | "at-bound";
  readonly workload: Workload | null;
  readonly script: readonly ScriptedOp[];
  /** Nodes that never start (the machine is down for the whole run). */
  readonly down: readonly number[];
  /** When faults stop and liveness is checked; null: never (a majority stays down). */
  readonly quietFromMs: number | null;
  readonly checks: readonly ScenarioCheck[];
  /** Core settings the scenario varies (small batches make a leader ship old entries alone). */
  readonly batchCountMax: number;
  /** PreVote on (the default) or off: without it, leases alone keep reads safe across elections. */
  readonly preVote: boolean;
  /** Raft thesis §10.2.1: the leader sends before its own disk write is synced (as raft-node does). */
  readonly leaderPersistsInParallel: boolean;
  readonly inflightCountMax: number;
  /** Probability that a restart is a machine reboot (the monotonic clock starts over). */
  readonly rebootP: number;
  /** Snapshot every this many applied entries, keeping this many below it (swarm draws small ones). */
  readonly snapshotEveryEntries: number;
  readonly snapshotKeepEntries: number;
}

/** A scenario's own assertion, run at a true time; returns what went wrong, or null. */
export interface ScenarioCheck {
  readonly atMs: number;
  readonly name: string;
  readonly check: (view: SimView) => string | null;
}

export type NodeState = "up" | "paused" | "crashed";

export interface RoleSpan {
  readonly nodeId: number;
  readonly role: "follower" | "candidate" | "leader";
  readonly term: number;
  readonly fromMs: number;
  toMs: number | null;
}

export interface NotableEvent {
  readonly atMs: number;
  readonly nodeId: number;
  readonly kind: "became-leader" | "stepping-down" | "lease-renewal-failed" | "waiting-old-lease";
  readonly term: number;
}

/** What scenario checks may look at. */
export interface SimView {
  readonly nowMs: number;
  /** Node ids run 0..nodeCount-1, those that join later included (a node not started yet is "crashed"). */
  readonly nodeCount: number;
  readonly timing: TimingConfig;
  /** The voters of the committed configuration in force (the initial nodes until one commits). */
  voters(): readonly NodeId[];
  /** The ids of the configuration node `id` uses; null when it is down. */
  membersOf(id: number): readonly NodeId[] | null;
  state(id: number): NodeState;
  /** What a running (or paused) node shows of itself; null when it is down. */
  core(id: number): NodeView | null;
  /** The up (or paused) leader of the highest term, if any. */
  leader(): NodeId | null;
  result(label: string): OpResult | undefined;
  history(): History;
  readonly roleSpans: readonly RoleSpan[];
  readonly notable: readonly NotableEvent[];
}

export const WORKLOAD_DEFAULT: Omit<Workload, "startMs" | "stopMs"> = { count: 3, thinkMeanMs: 60, keyCount: 4, setRatio: 0.5 };

/** Bounds the liveness checks use, from the timing. */
export function livenessBounds(t: TimingConfig): { leaderMs: number; opMs: number; catchupMs: number; quietMs: number } {
  const leaderMs = 3 * t.electionTimeoutMaxMs + 2 * t.leaseMs;
  const opMs = 2 * t.electionTimeoutMaxMs + 2_500;
  const catchupMs = 4 * t.heartbeatMs + 1_000;
  return { leaderMs, opMs, catchupMs, quietMs: leaderMs + opMs + catchupMs + 1_000 };
}
