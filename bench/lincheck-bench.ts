// Benchmark for the linearizability checker: generated register histories of several shapes,
// linearizable ones and ones with a planted stale read, each checked a few times.
// Run: npm run bench:lin (it compiles bench/ with bench/tsconfig.json, then runs bench/lincheck.mjs)

import type { History } from "../src/check/history.js";
import { checkLinearizable } from "../src/check/linearizability.js";
import { generateRegisterHistory, HISTORY_GEN_DEFAULTS, plantStaleRead, type HistoryGenOptions } from "./register-history.js";

export interface BenchRow {
  readonly name: string;
  readonly ops: number;
  readonly keys: number;
  readonly clients: number;
  readonly unknownOps: number;
  readonly verdict: "linearizable" | "violation";
  readonly msMedian: number;
  readonly msRuns: readonly number[];
}

const RUNS = 3;

export function runLincheckBench(): BenchRow[] {
  const cases: { name: string; history: History; clients: number }[] = [];
  const add = (name: string, o: Partial<HistoryGenOptions>): History => {
    const history = generateRegisterHistory(o);
    cases.push({ name, history, clients: o.clientCount ?? HISTORY_GEN_DEFAULTS.clientCount });
    return history;
  };
  const base = add("10k ops, 100 keys, 8 clients, 3% unknown", {});
  add("10k ops, 100 keys, 32 clients, 3% unknown", { clientCount: 32 });
  add("10k ops, 100 keys, 8 clients, 20% unknown", { unknownFraction: 0.2 });
  add("10k ops, 10 keys, 16 clients, 3% unknown", { keyCount: 10, clientCount: 16 });
  add("10k ops, 1 key, 8 clients, 3% unknown", { keyCount: 1 });
  const hot = add("10k ops, 1 key, 32 clients, 3% unknown", { keyCount: 1, clientCount: 32 });
  add("100k ops, 1000 keys, 32 clients, 3% unknown", { opCount: 100_000, keyCount: 1000, clientCount: 32 });
  const plant = (name: string, history: History, clients: number): void => {
    const planted = plantStaleRead(history);
    if (planted === null) throw new Error(`lincheck bench: no GET to plant a stale read in for "${name}"`);
    cases.push({ name, history: planted.history, clients });
  };
  plant("10k ops, 100 keys, 8 clients, one stale read planted", base, 8);
  plant("10k ops, 1 key, 32 clients, one stale read planted", hot, 32);
  return cases.map((c) => benchCase(c.name, c.history, c.clients));
}

function benchCase(name: string, history: History, clients: number): BenchRow {
  const msRuns: number[] = [];
  let verdict: BenchRow["verdict"] = "linearizable";
  for (let run = 0; run < RUNS; run++) {
    const startMs = performance.now();
    const result = checkLinearizable(history);
    msRuns.push(Math.round((performance.now() - startMs) * 10) / 10);
    verdict = result.ok ? "linearizable" : "violation";
  }
  const keys = new Set(history.map((op) => op.key)).size;
  const unknownOps = history.filter((op) => op.outcome === "unknown").length;
  const msMedian = at([...msRuns].sort((a, b) => a - b), Math.floor(RUNS / 2));
  return { name, ops: history.length, keys, clients, unknownOps, verdict, msMedian, msRuns };
}

function at<T>(xs: ArrayLike<T>, i: number): T {
  const x = xs[i];
  if (x === undefined) throw new Error(`lincheck bench: index ${i} out of range ${xs.length}`);
  return x;
}
