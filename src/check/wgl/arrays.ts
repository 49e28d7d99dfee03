// Checked reads of arrays and typed arrays, and a total order on numbers, for the search: an
// index out of range is a bug in the checker, and must fail loudly rather than read undefined.
//
// One function per kind of array: V8 keeps the kinds of array a read met per function, not per
// call, and one `at` for all of them met five (three kinds of typed array, Float64Array and
// arrays of ops), so each of its reads, the search's commonest operation, was a generic lookup.

export function at<T>(xs: readonly T[], i: number): T {
  const x = xs[i];
  if (x === undefined) outOfRange(i, xs.length);
  return x;
}

export function atInt(xs: Int32Array, i: number): number {
  const x = xs[i];
  if (x === undefined) outOfRange(i, xs.length);
  return x;
}

export function atByte(xs: Uint8Array, i: number): number {
  const x = xs[i];
  if (x === undefined) outOfRange(i, xs.length);
  return x;
}

export function atWord(xs: Uint32Array, i: number): number {
  const x = xs[i];
  if (x === undefined) outOfRange(i, xs.length);
  return x;
}

export function atDouble(xs: Float64Array, i: number): number {
  const x = xs[i];
  if (x === undefined) outOfRange(i, xs.length);
  return x;
}

function outOfRange(i: number, length: number): never {
  throw new Error(`raft-lease linearizability: index ${i} out of range ${length}`);
}

export function compareNumbers(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
