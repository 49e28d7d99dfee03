// Checked reads of arrays and typed arrays, and a total order on numbers, for the search: an
// index out of range is a bug in the checker, and must fail loudly rather than read undefined.

export function at<T>(xs: ArrayLike<T>, i: number): T {
  const x = xs[i];
  if (x === undefined) throw new Error(`raft-lease linearizability: index ${i} out of range ${xs.length}`);
  return x;
}

export function compareNumbers(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
