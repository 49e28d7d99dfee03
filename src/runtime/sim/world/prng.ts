// Seeded randomness for the simulator: one independent stream per concern.
//
// Every stream is derived from the run's seed string and a path naming its concern
// ("net", "faults", "node/2/0", "client/3"), so adding a client or a node draws nothing from the
// network's or the nemesis's stream. Nothing in the simulator may use Math.random.

import seedrandom from "seedrandom";

/**
 * Baagoe's Alea exactly as seedrandom computes it (the same operations, so the same numbers),
 * seeded by seedrandom itself. Its state sits in a typed array: seedrandom keeps it in object
 * fields, and each draw allocated heap numbers for them, a large share of the simulator's garbage.
 */
class Alea {
  /** c, s0, s1, s2. */
  private readonly s = new Float64Array(4);

  constructor(seed: string) {
    const st = seedrandom.alea(seed, { state: true }).state();
    this.s.set([st.c, st.s0, st.s1, st.s2]);
  }

  next(): number {
    const s = this.s;
    const t = 2091639 * s[1]! + s[0]! * 2.3283064365386963e-10; // 2^-32
    s[1] = s[2]!;
    s[2] = s[3]!;
    s[0] = t | 0;
    s[3] = t - s[0];
    return s[3];
  }
}

export class Rng {
  private readonly alea: Alea;
  /** The raw function, for the core and the client retry logic (which take `() => number`). */
  readonly fn: () => number;

  constructor(seed: string, ...path: readonly (string | number)[]) {
    const alea = new Alea([seed, ...path].join("/"));
    this.alea = alea;
    this.fn = () => alea.next();
  }

  /** A float in [0, 1). */
  float(): number {
    return this.alea.next();
  }

  private next(): number {
    return this.alea.next();
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
