// The true-time record of who could serve lease reads when.
//
// Between two steps a node's state is fixed, so `status(c).leaseReadable` over clock readings c
// is one interval [a, b): a where the old-lease wait ends, b = c + leaseRemainingMs. The world
// asks `readableSpan` for each stretch of true time between events and records the answer here
// in true time. The lease rule is that no two nodes' intervals overlap.

import type { NodeId, NodeStatus, Term } from "../../../src/raft/index.js";

export interface LeaseInterval {
  readonly node: NodeId;
  readonly term: Term;
  startTrueMs: number;
  endTrueMs: number;
}

export interface LeaseOverlap {
  readonly a: LeaseInterval;
  readonly b: LeaseInterval;
  readonly fromTrueMs: number;
  readonly toTrueMs: number;
}

const SCAN_STEP_MS = 0.25;
const BISECT_ROUNDS = 40;
/** Overlaps shorter than this are rounding, not a second lease holder. */
export const OVERLAP_EPSILON_MS = 1e-6;

/** The clock readings in [c0, c1) at which `statusAt` says the node could serve a lease read. */
export function readableSpan(statusAt: (clockMs: number) => NodeStatus, c0: number, c1: number): [number, number] | null {
  if (!(c1 > c0) || statusAt(c0).role !== "leader") return null;
  let before = c0;
  let found: number | null = null;
  const scanCount = Math.min(Math.ceil((c1 - c0) / SCAN_STEP_MS), 1_000_000);
  for (let i = 0; i <= scanCount; i++) {
    const c = i === scanCount ? c1 - (c1 - c0) * 1e-9 : c0 + i * SCAN_STEP_MS;
    if (statusAt(c).leaseReadable) {
      found = c;
      break;
    }
    before = c;
  }
  if (found === null) return null;
  let start = found;
  if (found > c0) {
    let lo = before;
    for (let i = 0; i < BISECT_ROUNDS; i++) {
      const mid = (lo + start) / 2;
      if (statusAt(mid).leaseReadable) start = mid;
      else lo = mid;
    }
  }
  const end = Math.min(c1, found + statusAt(found).leaseRemainingMs);
  return end > start ? [start, end] : null;
}

export class LeaseRecord {
  readonly intervals: LeaseInterval[] = [];

  add(node: NodeId, term: Term, startTrueMs: number, endTrueMs: number): void {
    const last = [...this.intervals].reverse().find((i) => i.node === node);
    if (last !== undefined && last.term === term && Math.abs(last.endTrueMs - startTrueMs) < 1e-6) {
      last.endTrueMs = Math.max(last.endTrueMs, endTrueMs);
      return;
    }
    this.intervals.push({ node, term, startTrueMs, endTrueMs });
  }

  /** Every pair of different nodes that could both serve lease reads at some true instant. */
  overlaps(): LeaseOverlap[] {
    const found: LeaseOverlap[] = [];
    const sorted = [...this.intervals].sort((x, y) => x.startTrueMs - y.startTrueMs);
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length && sorted[j]!.startTrueMs < sorted[i]!.endTrueMs; j++) {
        const a = sorted[i]!;
        const b = sorted[j]!;
        const to = Math.min(a.endTrueMs, b.endTrueMs);
        if (a.node !== b.node && to - b.startTrueMs > OVERLAP_EPSILON_MS) found.push({ a, b, fromTrueMs: b.startTrueMs, toTrueMs: to });
      }
    }
    return found;
  }

  /** The last true instant at which `node` could serve a lease read in `term`, or -Infinity. */
  endOf(node: NodeId, term: Term): number {
    let end = -Infinity;
    for (const i of this.intervals) if (i.node === node && i.term === term) end = Math.max(end, i.endTrueMs);
    return end;
  }

  /** The first true instant at which `node` could serve a lease read in `term`, or Infinity. */
  startOf(node: NodeId, term: Term): number {
    let start = Infinity;
    for (const i of this.intervals) if (i.node === node && i.term === term) start = Math.min(start, i.startTrueMs);
    return start;
  }
}

export function describeOverlap(o: LeaseOverlap): string {
  const f = (ms: number) => ms.toFixed(3);
  return (
    `node ${o.a.node} (term ${o.a.term}) and node ${o.b.node} (term ${o.b.term}) could both serve lease reads ` +
    `from ${f(o.fromTrueMs)} to ${f(o.toTrueMs)} ms of true time`
  );
}
