// Options of one simulated run, their defaults, and the command that replays a run.

import { MUTATIONS, TIMING_PRESETS, type Mutation, type TimingPresetName } from "../../raft/index.js";

export interface SimOptions {
  readonly seed: string;
  readonly scenario: string;
  readonly nodes: number;
  readonly durationMs: number;
  readonly timing: TimingPresetName;
  readonly mutation: Mutation | null;
  /** Negative control: clock rates far beyond the drift bound the lease math assumes. */
  readonly clockBeyondBound: boolean;
  /** A fault schedule in text form that replaces the scenario's (see faults/faults.ts). */
  readonly faults: string | null;
  /** Receives each trace line (node dump lines, faults) when set. */
  readonly trace: ((line: string) => void) | null;
  /** Record what the HTML timeline needs. */
  readonly timeline: boolean;
  /** Client operations per simulated second, about (overrides the scenario's workload); null: the scenario's. */
  readonly opsPerSecond: number | null;
}

export const NODES_MAX = 9;

export function defaultDurationMs(timing: TimingPresetName): number {
  return timing === "spec" ? 240_000 : 60_000;
}

export function simOptions(o: Partial<SimOptions> & { readonly seed: string; readonly scenario: string }): SimOptions {
  const timing = o.timing ?? "fast";
  const options: SimOptions = {
    nodes: 5,
    durationMs: defaultDurationMs(timing),
    mutation: null,
    clockBeyondBound: false,
    faults: null,
    trace: null,
    timeline: false,
    opsPerSecond: null,
    ...o,
    timing,
  };
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > NODES_MAX) {
    throw new Error(`--nodes must be a whole number from 1 to ${NODES_MAX}, got ${options.nodes}`);
  }
  if (!(options.durationMs > 0) || !Number.isFinite(options.durationMs)) throw new Error(`--duration must be positive, got ${options.durationMs} ms`);
  if (options.mutation !== null && !MUTATIONS.includes(options.mutation)) {
    throw new Error(`unknown mutation "${String(options.mutation)}"; choose one of: ${MUTATIONS.join(", ")}`);
  }
  if (options.opsPerSecond !== null && !(options.opsPerSecond > 0 && options.opsPerSecond <= 100_000)) {
    throw new Error(`--ops-per-second must be in (0, 100000], got ${options.opsPerSecond}`);
  }
  if (!(options.timing in TIMING_PRESETS)) throw new Error(`unknown timing "${options.timing}"; choose spec or fast`);
  return options;
}

/** The exact command that replays a run. */
export function replayCommand(o: SimOptions): string {
  const parts = ["raft-sim", "run", "--seed", shellWord(o.seed), "--scenario", o.scenario];
  if (o.nodes !== 5) parts.push("--nodes", String(o.nodes));
  if (o.durationMs !== defaultDurationMs(o.timing)) parts.push("--duration", formatDuration(o.durationMs));
  if (o.timing !== "fast") parts.push("--timing", o.timing);
  if (o.mutation !== null) parts.push("--mutate", o.mutation);
  if (o.clockBeyondBound) parts.push("--clock-beyond-bound");
  if (o.faults !== null) parts.push("--faults", shellWord(o.faults));
  if (o.opsPerSecond !== null) parts.push("--ops-per-second", String(o.opsPerSecond));
  return parts.join(" ");
}

export function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** Parses "120s", "90000ms", "2m" or a bare number of seconds. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s.trim());
  if (m === null) throw new Error(`--duration "${s}": give a time like 120s, 90000ms or 2m`);
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  return Math.round(unit === "ms" ? n : unit === "s" ? n * 1000 : n * 60_000);
}

function shellWord(s: string): string {
  return /^[A-Za-z0-9_.,:/=+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
