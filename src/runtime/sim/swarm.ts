// Swarm testing: many seeds of one scenario, each drawing its own faults and parameters, run in
// this thread or spread over worker threads (with a young generation sized for the simulator:
// worker-heap.ts). Results come back sorted by seed, so the table does not depend on how many jobs
// ran them.

import type { Worker } from "node:worker_threads";
import { runSimulation, type ViolationReport } from "./world/simulator.js";
import { replayCommand, simOptions, type SimOptions } from "./options.js";
import { startSimWorker } from "./worker-heap.js";

export type SwarmBase = Omit<SimOptions, "seed" | "trace" | "timeline">;

export interface SeedOutcome {
  readonly seed: string;
  readonly violation: ViolationReport | null;
  /** The simulator itself failed (a bug in raft-sim, not a property): the message. */
  readonly error: string | null;
  readonly events: number;
  readonly simulatedMs: number;
  readonly ops: number;
  readonly elections: number;
}

export interface SwarmOptions {
  readonly base: SwarmBase;
  readonly seeds: number;
  readonly fromSeed: number;
  readonly jobs: number;
  /** Stop at the first failing seed (the lowest one, whatever the job count). */
  readonly untilCaught: boolean;
  readonly onOutcome?: (o: SeedOutcome, done: number) => void;
}

export interface SwarmResult {
  readonly outcomes: readonly SeedOutcome[];
  readonly failures: readonly SeedOutcome[];
}

export const JOBS_MAX = 64;

export function runSeed(base: SwarmBase, seed: string): SeedOutcome {
  const options = simOptions({ ...base, seed });
  try {
    const r = runSimulation(options);
    return { seed, violation: r.violation, error: null, events: r.stats.events, simulatedMs: r.endMs, ops: r.stats.opsInvoked, elections: r.stats.elections };
  } catch (e) {
    const message = e instanceof Error ? (e.stack ?? e.message) : String(e);
    return { seed, violation: null, error: `${message}\n  replay: ${replayCommand(options)}`, events: 0, simulatedMs: 0, ops: 0, elections: 0 };
  }
}

export function failed(o: SeedOutcome): boolean {
  return o.violation !== null || o.error !== null;
}

export async function runSwarm(o: SwarmOptions): Promise<SwarmResult> {
  if (!Number.isInteger(o.seeds) || o.seeds < 1) throw new Error(`--seeds must be a whole number >= 1, got ${o.seeds}`);
  if (!Number.isInteger(o.jobs) || o.jobs < 1 || o.jobs > JOBS_MAX) throw new Error(`--jobs must be a whole number from 1 to ${JOBS_MAX}, got ${o.jobs}`);
  simOptions({ ...o.base, seed: "check" }); // bad options fail here, before any worker starts
  const seeds = Array.from({ length: o.seeds }, (_, i) => String(o.fromSeed + i));
  const outcomes = o.jobs === 1 ? runInline(o, seeds) : await runInWorkers(o, seeds);
  outcomes.sort((a, b) => Number(a.seed) - Number(b.seed));
  let failures = outcomes.filter(failed);
  if (o.untilCaught && failures.length > 0) {
    const first = failures[0]!;
    failures = [first];
    return { outcomes: outcomes.filter((x) => Number(x.seed) <= Number(first.seed)), failures };
  }
  return { outcomes, failures };
}

function runInline(o: SwarmOptions, seeds: readonly string[]): SeedOutcome[] {
  const out: SeedOutcome[] = [];
  for (const seed of seeds) {
    const r = runSeed(o.base, seed);
    out.push(r);
    o.onOutcome?.(r, out.length);
    if (o.untilCaught && failed(r)) break;
  }
  return out;
}

function runInWorkers(o: SwarmOptions, seeds: readonly string[]): Promise<SeedOutcome[]> {
  return new Promise((resolve, reject) => {
    const out: SeedOutcome[] = [];
    let next = 0;
    let busy = 0;
    let stop = false;
    const workers: Worker[] = [];
    const finish = (): void => {
      for (const w of workers) void w.terminate();
      resolve(out);
    };
    const feed = (w: Worker): void => {
      if (stop || next >= seeds.length) {
        if (busy === 0) finish();
        return;
      }
      busy += 1;
      w.postMessage(seeds[next++]);
    };
    for (let j = 0; j < Math.min(o.jobs, seeds.length); j++) {
      const w = startSimWorker(new URL("./swarm-worker.js", import.meta.url), { workerData: o.base });
      workers.push(w);
      w.on("message", (r: SeedOutcome) => {
        busy -= 1;
        out.push(r);
        o.onOutcome?.(r, out.length);
        if (o.untilCaught && failed(r)) stop = true;
        feed(w);
      });
      w.on("error", (e) => {
        for (const x of workers) void x.terminate();
        reject(e);
      });
      feed(w);
    }
  });
}
