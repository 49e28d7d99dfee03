// The node's monotonic clock, in ms. The core never reads a clock; the driver reads this one and
// hands the reading to every input.
//
// performance.now() is monotonic (it does not follow wall-clock adjustments). The guard below
// keeps readings non-decreasing even if a platform breaks that promise, because the core
// asserts that its clock never goes backwards.

export interface Clock {
  nowMs(): number;
}

export class MonotonicClock implements Clock {
  private lastMs = 0;

  nowMs(): number {
    const now = performance.now();
    if (now > this.lastMs) this.lastMs = now;
    return this.lastMs;
  }
}

/** Wall-clock timestamp prefix for dump.txt and console lines (for humans; never for the protocol). */
export function timestampPrefix(): string {
  return new Date().toISOString();
}
