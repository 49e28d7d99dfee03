// Randomness enters the core as an argument: a function returning floats in [0, 1).
// Runtimes build it from a seed with seedrandom, so a seed replays the same elections.

export type Random = () => number;

/** A whole number in [minInclusive, maxInclusive]. */
export function randomIntBetween(random: Random, minInclusive: number, maxInclusive: number): number {
  const r = random();
  return minInclusive + Math.floor(r * (maxInclusive - minInclusive + 1));
}
