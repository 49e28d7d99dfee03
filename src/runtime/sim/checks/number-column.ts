// A growing list of numbers for records a checker keeps for the whole run (one per log index,
// say). An array of numbers grown by push lives in the collected heap: while it is young every
// scavenge copies it, and each time it grows its new storage is young again, so a list filled over
// the whole run was copied over and over. Here the numbers are in typed arrays, whose storage is
// outside that heap (the collector never copies it), in chunks of a fixed size: growing one
// typed array by copying it into a larger one took fresh pages from the system every time.
// Float64: every number is kept exactly, as in an array.

const CHUNK_BITS = 11;
const CHUNK_LENGTH = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK_LENGTH - 1;

export class NumberColumn {
  private readonly chunks: Float64Array[] = [];
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(x: number): void {
    const c = this.size >>> CHUNK_BITS;
    if (c === this.chunks.length) this.chunks.push(new Float64Array(CHUNK_LENGTH));
    this.chunks[c]![this.size & CHUNK_MASK] = x;
    this.size++;
  }

  /** The number at i (0 <= i < length). */
  at(i: number): number {
    if (!(i >= 0 && i < this.size)) throw new RangeError(`number column: index ${i} out of range ${this.size}`);
    return this.chunks[i >>> CHUNK_BITS]![i & CHUNK_MASK]!;
  }

  /** Sets the number at i (0 <= i); the numbers between the end and i, if any, are 0. */
  set(i: number, x: number): void {
    if (!(i >= 0)) throw new RangeError(`number column: index ${i} out of range`);
    const c = i >>> CHUNK_BITS;
    while (c >= this.chunks.length) this.chunks.push(new Float64Array(CHUNK_LENGTH));
    this.chunks[c]![i & CHUNK_MASK] = x;
    this.size = Math.max(this.size, i + 1);
  }
}
