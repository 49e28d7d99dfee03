// What a run hands back: its statistics, the checks that passed, the violation if any, the
// settings the seed drew, and (when asked for) the data of the HTML timeline.

import { CONFIG_DEFAULTS } from "../../../raft/index.js";
import type { History } from "../../../check/history.js";
import type { LeaseChecker } from "../checks/lease-check.js";
import { replayCommand, type SimOptions } from "../options.js";
import type { RoleSpan, ScenarioPlan } from "../faults/plan.js";
import type { SafetyChecker } from "../checks/safety.js";
import type { TimelineData, TimelineRecorder } from "./timeline-data.js";
import type { Property } from "../checks/violation.js";

export interface RunStats {
  events: number;
  steps: number;
  messagesSent: number;
  messagesLost: number;
  elections: number;
  crashes: number;
  restarts: number;
  pauses: number;
  faults: number;
  readsServed: number;
  opsInvoked: number;
  opsOk: number;
  opsFailed: number;
  opsUnknown: number;
}

export interface ViolationReport {
  readonly property: Property;
  readonly atMs: number;
  readonly message: string;
  readonly replay: string;
}

export interface RunResult {
  readonly options: SimOptions;
  readonly ok: boolean;
  readonly violation: ViolationReport | null;
  readonly endMs: number;
  readonly stats: RunStats;
  readonly leadersPerTerm: readonly (readonly [number, number])[];
  /** The settings the scenario drew for this seed, in words. */
  readonly config: string;
  readonly checks: Readonly<Record<string, number>>;
  readonly timeline: TimelineData | null;
}

interface ResultParts {
  readonly options: SimOptions;
  readonly plan: ScenarioPlan;
  readonly violation: ViolationReport | null;
  /** When the run stopped: the end, or just after the violation. */
  readonly endMs: number;
  readonly stats: RunStats;
  readonly checks: Record<string, number>;
  readonly history: History;
  readonly safety: SafetyChecker;
  readonly lease: LeaseChecker;
  readonly roleSpans: readonly RoleSpan[];
  readonly timeline: TimelineRecorder | null;
  /** Node ids of the run: the initial nodes and those that joined (a lane each in the timeline). */
  readonly idCount: number;
}

export function buildResult(p: ResultParts): RunResult {
  const stats = { ...p.stats };
  for (const op of p.history) {
    stats.opsInvoked += 1;
    if (op.outcome === "ok") stats.opsOk += 1;
    else if (op.outcome === "fail") stats.opsFailed += 1;
    else stats.opsUnknown += 1;
  }
  const s = p.safety.passed;
  const checks = {
    ...p.checks,
    "election safety": s.election,
    "log matching": s.logMatching,
    "leader completeness": s.completeness,
    "state machine safety": s.stateMachine,
    "lease intervals": p.lease.passed.intervals,
    "lease reads": p.lease.passed.readsServed,
  };
  return {
    options: p.options,
    ok: p.violation === null,
    violation: p.violation,
    endMs: p.violation?.atMs ?? p.endMs,
    stats,
    leadersPerTerm: [...p.safety.leaderOfTerm].sort((a, b) => a[0] - b[0]),
    config: describeConfig(p.options, p.plan),
    checks,
    timeline: timelineData(p),
  };
}

function describeConfig(o: SimOptions, p: ScenarioPlan): string {
  const clocks = o.clockBeyondBound ? "beyond" : p.clockMode === "at-bound" ? "at" : "within";
  const clients = p.workload === null ? "no random clients" : `${p.workload.count} clients`;
  return [
    `PreVote ${p.preVote ? "on" : "off"}`,
    p.leaderPersistsInParallel ? "leader persists in parallel" : "persist before send",
    `batches of ${p.batchCountMax}, ${p.inflightCountMax} in flight`,
    `clocks ${clocks} the drift bound`,
    clients + (p.script.length > 0 ? ` + ${p.script.length} scripted ops` : ""),
    ...(p.snapshotEveryEntries === CONFIG_DEFAULTS.snapshotEveryEntries ? [] : [`a snapshot every ${p.snapshotEveryEntries} entries, ${p.snapshotKeepEntries} kept below`]),
  ].join(", ");
}

function timelineData(p: ResultParts): TimelineData | null {
  const rec = p.timeline;
  if (rec === null) return null;
  const o = p.options;
  const v = p.violation;
  return {
    title: `raft-sim: scenario ${o.scenario}, seed ${o.seed}, ${o.nodes} nodes${o.mutation === null ? "" : `, mutation ${o.mutation}`}`,
    replay: replayCommand(o),
    nodeCount: p.idCount,
    endMs: p.endMs,
    roles: p.roleSpans,
    leases: p.lease.piecesUntil(p.endMs),
    states: rec.states,
    links: rec.links,
    faults: rec.faults,
    ops: p.history,
    violation: v === null ? null : { atMs: v.atMs, property: v.property, message: v.message },
  };
}
