// The heap the simulator's worker threads run in. A busy simulation makes short-lived objects at a
// high rate (messages, client calls, step outputs: about 190 MB for the 300 simulated seconds of
// `npm run bench:sim`), and most die within a few hundred simulated milliseconds. V8's default
// young generation starts at 1 MB semi-spaces and grows to 16 MB: a minor collection then comes
// every few MB, and the objects still in flight at that moment (messages on the wire, pending
// calls) are copied, and those alive at a second collection moved to the old generation, which a
// full collection walks later. Fixed 64 MB semi-spaces let almost all of them die first.
//
// Measured on the bench's 5 seeds over 8 rounds: 114 minor collections and 338 ms of pauses with
// the defaults, 22 and 124-134 ms with 64 MB semi-spaces (32 MB: 45 and 184 ms); the instructions of
// a round, counted single-threaded so the collector's work is counted too, fell 6.1%. The price is
// memory: each worker's young generation takes 192 MB (two semi-spaces and as much again for large
// young objects, at most), which a simulator may spend.
//
// V8 reads these sizes once, when an isolate's heap is set up: the thread that runs this has its
// heap already, so only worker threads started afterwards get them (the flags are the process's).
// They are set once, before the first worker, and not at all when the user sized the young
// generation themselves.

import v8 from "node:v8";
import { Worker, type WorkerOptions } from "node:worker_threads";
import { userSetFlag } from "../v8-flags.js";

export const SIM_SEMI_SPACE_MB = 64;

let sized = false;

/** A worker thread whose heap has the simulator's young generation (see above); `script` as for Worker. */
export function startSimWorker(script: URL | string, options: WorkerOptions): Worker {
  if (!sized && !userSetFlag(["--min-semi-space-size", "--max-semi-space-size", "--semi-space-growth-factor", "--max-heap-size"])) {
    v8.setFlagsFromString(`--min-semi-space-size=${SIM_SEMI_SPACE_MB}`);
    v8.setFlagsFromString(`--max-semi-space-size=${SIM_SEMI_SPACE_MB}`);
  }
  sized = true;
  return new Worker(script, options);
}
