// Realistic register histories for the linearizability checker: the benchmark
// (bench/lincheck-bench.ts) measures the checker on them and the tests check its verdicts.
//
// A generated history comes from a true sequential KV store: every op takes effect at one
// point inside its interval, so the history is linearizable by construction. Indeterminate
// SETs take effect (or not) at any point after their invocation, even after the client gave up.

import seedrandom from "seedrandom";
import { opId, type History, type Op, type Outcome } from "../src/check/history.js";

export interface HistoryGenOptions {
  readonly seed: string;
  readonly opCount: number;
  readonly keyCount: number;
  readonly clientCount: number;
  readonly setFraction: number; // of ops
  readonly unknownFraction: number; // of ops: timed out, outcome unknown
  readonly failedSetFraction: number; // of SETs: rejected, definitely not applied
  readonly opMsMax: number; // latency of an op that completes
  readonly thinkMsMax: number; // pause between a client's ops
  readonly timeoutMs: number; // when a client gives up on an op
}

export const HISTORY_GEN_DEFAULTS: HistoryGenOptions = {
  seed: "lincheck",
  opCount: 10_000,
  keyCount: 100,
  clientCount: 8,
  setFraction: 0.5,
  unknownFraction: 0.03,
  failedSetFraction: 0.01,
  opMsMax: 40,
  thinkMsMax: 10,
  timeoutMs: 100,
};

/** An op before its GET result is known, with the point where it takes effect (null: never). */
interface Planned {
  readonly op: Op;
  readonly effectMs: number | null;
}

export function generateRegisterHistory(overrides: Partial<HistoryGenOptions> = {}): History {
  const options = { ...HISTORY_GEN_DEFAULTS, ...overrides };
  const random = seedrandom(options.seed);
  const clientFreeAtMs = new Array<number>(options.clientCount).fill(0);
  const planned: Planned[] = [];
  for (let i = 0; i < options.opCount; i++) {
    const client = earliestFree(clientFreeAtMs);
    const invokeMs = at(clientFreeAtMs, client) + Math.floor(random() * (options.thinkMsMax + 1));
    const plan = planOp(options, random, i, `c${client}`, invokeMs);
    planned.push(plan);
    clientFreeAtMs[client] = plan.op.completeMs ?? invokeMs + options.timeoutMs;
  }
  return applyInEffectOrder(planned);
}

function planOp(options: HistoryGenOptions, random: () => number, i: number, clientId: string, invokeMs: number): Planned {
  const key = `k${Math.floor(options.keyCount * random() ** 2)}`; // skewed: low keys are hot
  const kind = random() < options.setFraction ? "set" : "get";
  const value = kind === "set" ? `v${i}` : "";
  const roll = random();
  if (roll < options.unknownFraction) {
    const effectMs = random() < 0.5 ? null : invokeMs + random() * 2 * options.timeoutMs;
    return { op: makeOp(i, kind, clientId, key, value, invokeMs, invokeMs + options.timeoutMs, "unknown"), effectMs };
  }
  const completeMs = invokeMs + 1 + Math.floor(random() * options.opMsMax);
  if (kind === "set" && roll < options.unknownFraction + options.failedSetFraction) {
    return { op: makeOp(i, kind, clientId, key, value, invokeMs, completeMs, "fail"), effectMs: null };
  }
  const effectMs = invokeMs + random() * (completeMs - invokeMs);
  return { op: makeOp(i, kind, clientId, key, value, invokeMs, completeMs, "ok"), effectMs };
}

function makeOp(i: number, kind: "set" | "get", clientId: string, key: string, value: string, invokeMs: number, completeMs: number, outcome: Outcome): Op {
  return { id: opId(i), kind, clientId, key, value, invokeMs, completeMs, outcome };
}

/** Runs the planned ops against a sequential store in effect order, filling in GET results. */
function applyInEffectOrder(planned: readonly Planned[]): Op[] {
  const store = new Map<string, string>();
  const ops = planned.map((p) => p.op);
  const effective = planned.filter((p) => p.effectMs !== null);
  effective.sort((a, b) => (a.effectMs ?? 0) - (b.effectMs ?? 0) || a.op.id - b.op.id);
  for (const { op } of effective) {
    if (op.kind === "set") store.set(op.key, op.value);
    else if (op.outcome === "ok") ops[op.id] = { ...op, value: store.get(op.key) ?? "" };
  }
  return ops;
}

function earliestFree(freeAtMs: readonly number[]): number {
  let best = 0;
  freeAtMs.forEach((t, i) => {
    if (t < at(freeAtMs, best)) best = i;
  });
  return best;
}

/**
 * Plants a stale read: the last ok GET that follows two completed SETs of its key in real time
 * (s0 completed before s1 was invoked, s1 completed before the GET was invoked) now returns
 * s0's value. With unique values no linearization allows it. Returns null if no GET fits.
 */
export function plantStaleRead(history: History): { readonly history: History; readonly get: Op } | null {
  for (let g = history.length - 1; g >= 0; g--) {
    const get = at(history, g);
    if (get.kind !== "get" || get.outcome !== "ok") continue;
    const stale = staleValueFor(history, get);
    if (stale === null) continue;
    const mutated = { ...get, value: stale };
    return { history: history.map((op) => (op === get ? mutated : op)), get: mutated };
  }
  return null;
}

function staleValueFor(history: History, get: Op): string | null {
  const done = (op: Op, beforeMs: number): boolean => op.kind === "set" && op.key === get.key && op.outcome === "ok" && (op.completeMs ?? Infinity) < beforeMs;
  const s1 = [...history].reverse().find((op) => done(op, get.invokeMs) && op.value !== get.value);
  if (s1 === undefined) return null;
  const s0 = history.find((op) => done(op, s1.invokeMs) && op.value !== get.value);
  return s0 === undefined ? null : s0.value;
}

function at<T>(xs: ArrayLike<T>, i: number): T {
  const x = xs[i];
  if (x === undefined) throw new Error(`register history: index ${i} out of range ${xs.length}`);
  return x;
}
