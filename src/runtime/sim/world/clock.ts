// Each simulated machine has its own monotonic clock: local = offset + rate * true.
//
// The rate stays within 1 ± driftPpmMax/1e6 of true time unless a negative control asks for
// more. A forward jump (offset grows) models a clock that misbehaves beyond any bound; a clock
// never runs backwards, since the core asserts that it does not.

import type { Rng } from "./prng.js";

/** Infinity as a module constant: the global, read in a branch not yet taken, made V8 box the times trueAt returns (see heap.ts). */
const NEVER_MS = Infinity;

export class SimClock {
  constructor(
    private offsetMs: number,
    readonly rate: number,
  ) {
    if (!(rate > 0)) throw new Error(`raft-sim: clock rate must be positive, got ${rate}`);
  }

  localAt(trueMs: number): number {
    return this.offsetMs + this.rate * trueMs;
  }

  /** The earliest true time, not before notBeforeMs, at which this clock reads at least localMs. */
  trueAt(localMs: number, notBeforeMs: number): number {
    if (!Number.isFinite(localMs)) return localMs > 0 ? NEVER_MS : notBeforeMs;
    let t = (localMs - this.offsetMs) / this.rate;
    if (t <= notBeforeMs) return notBeforeMs;
    // Rounding may leave the reading a hair short of localMs: step up until it is reached.
    for (let step = Math.max(1e-9, Math.abs(t) * 1e-15); this.localAt(t) < localMs; step *= 2) t += step;
    return t;
  }

  /** When this clock read localMs (or will), in true time, without rounding correction. */
  trueAtUnclamped(localMs: number): number {
    return (localMs - this.offsetMs) / this.rate;
  }

  /** The clock leaps forward by deltaMs (a negative control: no real clock bound allows it). */
  jump(deltaMs: number): void {
    if (!(deltaMs >= 0)) throw new Error(`raft-sim: a monotonic clock only jumps forward, got ${deltaMs} ms`);
    this.offsetMs += deltaMs;
  }

  /** The machine rebooted: the monotonic clock starts over from another origin. */
  reboot(offsetMs: number): void {
    this.offsetMs = offsetMs;
  }
}

/**
 * The machine reboots: its monotonic clock starts over. Most often near zero (the machine just
 * booted, so a reading may lie far below what it read before), otherwise anywhere.
 */
export function rebootReadingMs(rng: Rng): number {
  return rng.chance(0.6) ? rng.between(0, 3_000) : rng.between(0, 1_000_000);
}

/** How clock rates are drawn for a run. */
export type ClockMode = "within-bound" | "at-bound" | "beyond-bound";

/** A clock rate for one node: within the bound, exactly at it, or (negative control) far beyond. */
export function drawRate(mode: ClockMode, driftPpmMax: number, random: () => number): number {
  const rho = driftPpmMax / 1_000_000;
  const sign = random() < 0.5 ? -1 : 1;
  switch (mode) {
    case "within-bound":
      return 1 + (2 * random() - 1) * rho;
    case "at-bound":
      return 1 + sign * rho;
    case "beyond-bound":
      return 1 + sign * (0.15 + 0.2 * random());
  }
}
