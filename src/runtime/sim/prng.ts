// Seeded randomness for the simulator: one independent stream per concern.
//
// Every stream is derived from the run's seed string and a path naming its concern
// ("net", "faults", "node/2/0", "client/3"), so adding a client or a node draws nothing from the
// network's or the nemesis's stream. Nothing in the simulator may use Math.random.

import seedrandom from "seedrandom";

export class Rng {
  private readonly next: () => number;

  constructor(seed: string, ...path: readonly (string | number)[]) {
    this.next = seedrandom.alea([seed, ...path].join("/"));
  }

  /** A float in [0, 1). */
  float(): number {
    return this.next();
  }

  /** The raw function, for the core and the client retry logic (which take `() => number`). */
  get fn(): () => number {
    return this.next;
  }

  /** A whole number in [minInclusive, maxInclusive]. */
  int(minInclusive: number, maxInclusive: number): number {
    return minInclusive + Math.floor(this.next() * (maxInclusive - minInclusive + 1));
  }

  /** A float in [min, max). */
  between(min: number, max: number): number {
    return min + this.next() * (max - min);
  }

  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error("raft-sim: pick from an empty list");
    return xs[Math.floor(this.next() * xs.length)]!;
  }

  /** Exponentially distributed, with the given mean. */
  exponential(meanMs: number): number {
    return -meanMs * Math.log(1 - this.next());
  }

  /** A copy of xs in random order (Fisher-Yates). */
  shuffle<T>(xs: readonly T[]): T[] {
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}
