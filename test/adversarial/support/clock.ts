// A node's monotonic clock, as seen from true time.
//
// Each clock runs at its own rate; a rate within (1 ± ρ) respects the drift bound the lease
// argument assumes, a rate outside it is the negative control. A reboot starts the clock over at
// an arbitrary reading (a monotonic clock is only monotonic within one boot).

export class NodeClock {
  private bootTrueMs: number;
  private bootReadingMs: number;

  constructor(
    private rateNow: number,
    trueMs: number,
    readingMs: number,
  ) {
    if (!(rateNow > 0)) throw new Error(`clock rate must be positive, got ${rateNow}`);
    this.bootTrueMs = trueMs;
    this.bootReadingMs = readingMs;
  }

  /** The reading at true time trueMs (never before the last reboot). */
  readingAt(trueMs: number): number {
    if (trueMs < this.bootTrueMs) throw new Error(`clock read at true ${trueMs} ms, before its boot at ${this.bootTrueMs} ms`);
    return this.bootReadingMs + (trueMs - this.bootTrueMs) * this.rateNow;
  }

  /** The earliest true time (to rounding) at which this clock shows at least readingMs (this boot). */
  trueAt(readingMs: number): number {
    let t = this.bootTrueMs + (readingMs - this.bootReadingMs) / this.rateNow;
    // Floating point may land a hair early; a tick there would see a reading just short of the target.
    for (let i = 0; i < 64 && this.readingAt(t) < readingMs; i++) t += Math.max(Math.abs(t), 1) * Number.EPSILON * 2 ** i;
    return t;
  }

  get rate(): number {
    return this.rateNow;
  }

  /** From trueMs on, the clock runs at `rate` (the reading does not jump). */
  setRate(trueMs: number, rate: number): void {
    if (!(rate > 0)) throw new Error(`clock rate must be positive, got ${rate}`);
    this.bootReadingMs = this.readingAt(trueMs);
    this.bootTrueMs = trueMs;
    this.rateNow = rate;
  }

  /** A reboot: the clock starts over at readingMs. */
  reboot(trueMs: number, readingMs: number): void {
    this.bootTrueMs = trueMs;
    this.bootReadingMs = readingMs;
  }
}

/** Rates at the edges and inside the drift bound, for drift within what the lease tolerates. */
export function rateWithin(driftPpmMax: number, fraction: number): number {
  if (fraction < -1 || fraction > 1) throw new Error(`fraction ${fraction} outside [-1, 1]: that rate would exceed the bound`);
  return 1 + (fraction * driftPpmMax) / 1e6;
}
