// Lease safety: at no instant of true time may two nodes each hold a lease they would serve
// reads from.
//
// Between two of its steps a node's state is fixed, so the set of true instants at which it
// would answer a GET from its lease is one interval, [from, to): from its old-lease wait (or now)
// to the end of its lease, converted from its drifting clock to true time. The simulator hands
// that projection over after every step, crash and clock jump. When a projection is replaced at
// true time t, the part of it that really happened, [since, t), is final: it is compared with
// every other node's final pieces and with their current projections up to t. That covers every
// instant exactly once per pair, not just the instants at which events happen. Reads actually
// served are also checked to fall inside the server's own lease.

import type { LeaseWindow, RaftNode } from "../../../raft/index.js";
import type { SimClock } from "../world/clock.js";
import { violated } from "./violation.js";

export interface Window {
  readonly fromMs: number;
  readonly toMs: number;
  readonly term: number;
}

/**
 * A node's current window, from true time sinceMs on; a renewal moves its end in place. The
 * fields are declared with a value: a field declared without one (a constructor parameter's
 * field) is undefined first, V8 then keeps it as a tagged field, and every store of a fractional
 * time into it (toMs, at every renewal) allocates a heap number.
 */
class Projection implements Window {
  readonly fromMs: number = 0;
  toMs = 0;
  readonly term: number = 0;
  readonly sinceMs: number = 0;

  constructor(fromMs: number, toMs: number, term: number, sinceMs: number) {
    this.fromMs = fromMs;
    this.toMs = toMs;
    this.term = term;
    this.sinceMs = sinceMs;
  }
}

export interface LeasePiece extends Window {
  readonly nodeId: number;
}

/** Rounding of clock conversions; overlaps shorter than this are the same instant. */
const EPS_MS = 1e-6;

export class LeaseChecker {
  readonly passed = { intervals: 0, readsServed: 0 };
  private readonly projections: (Projection | null)[];
  /** Final readable pieces per node, merged when contiguous, in time order. */
  readonly pieces: LeasePiece[][];

  constructor(readonly nodeCount: number) {
    this.projections = new Array<Projection | null>(nodeCount).fill(null);
    this.pieces = Array.from({ length: nodeCount }, () => []);
  }

  /**
   * Node `id`'s state changed at true time t; `w` is when it may serve lease reads from now on.
   * A renewal that extends the current, unbroken window just moves its end. Returns "replaced"
   * when the window changed otherwise (the caller then cross-checks it with the core).
   */
  update(id: number, t: number, w: Window | null): "same" | "extended" | "replaced" {
    const p = this.projections[id];
    if (p === null || p === undefined) {
      if (w === null) return "same";
    } else if (w !== null && w.fromMs === p.fromMs && w.term === p.term) {
      if (w.toMs === p.toMs) return "same";
      if (w.toMs > p.toMs && p.toMs >= t) {
        p.toMs = w.toMs;
        return "extended";
      }
    }
    this.finalize(id, t);
    this.projections[id] = w === null || w.toMs - Math.max(w.fromMs, t) <= EPS_MS ? null : new Projection(w.fromMs, w.toMs, w.term, t);
    return "replaced";
  }

  /** Node `id` has no window: an update with none changes nothing. */
  idle(id: number): boolean {
    return this.projections[id] === null;
  }

  /** Node `id` answered a GET from its lease at true time t. */
  readServed(id: number, t: number): void {
    this.passed.readsServed += 1;
    const p = this.projections[id];
    if (p === null || p === undefined || t < p.fromMs - EPS_MS || t >= p.toMs + EPS_MS) {
      violated("lease safety", `node ${id} served a lease read at ${t.toFixed(3)} ms outside its own lease`, t);
    }
  }

  /** Every piece so far, the open windows included up to t (for the timeline of a run cut short). */
  piecesUntil(t: number): LeasePiece[] {
    const out = this.pieces.flat();
    this.projections.forEach((p, nodeId) => {
      if (p === null || p === undefined) return;
      const fromMs = Math.max(p.sinceMs, p.fromMs);
      const toMs = Math.min(t, p.toMs);
      if (toMs - fromMs > EPS_MS) out.push({ nodeId, fromMs, toMs, term: p.term });
    });
    return out;
  }

  /** The run ended at t: settle every projection. */
  finish(t: number): void {
    for (let id = 0; id < this.nodeCount; id++) this.update(id, t, null);
  }

  private finalize(id: number, t: number): void {
    const p = this.projections[id];
    if (p === null || p === undefined) return;
    const piece: LeasePiece = { nodeId: id, fromMs: Math.max(p.sinceMs, p.fromMs), toMs: Math.min(t, p.toMs), term: p.term };
    if (piece.toMs - piece.fromMs <= EPS_MS) return;
    this.passed.intervals += 1;
    for (let other = 0; other < this.nodeCount; other++) if (other !== id) this.compare(piece, other, t);
    this.append(id, piece);
  }

  private compare(piece: LeasePiece, other: number, t: number): void {
    const done = this.pieces[other]!;
    for (let k = done.length - 1; k >= 0 && done[k]!.toMs > piece.fromMs; k--) this.overlap(piece, done[k]!);
    const p = this.projections[other];
    if (p !== null && p !== undefined) {
      this.overlap(piece, { nodeId: other, fromMs: Math.max(p.sinceMs, p.fromMs), toMs: Math.min(t, p.toMs), term: p.term });
    }
  }

  private overlap(a: LeasePiece, b: LeasePiece): void {
    const from = Math.max(a.fromMs, b.fromMs);
    const to = Math.min(a.toMs, b.toMs);
    if (to - from <= EPS_MS) return;
    violated(
      "lease safety",
      `node ${a.nodeId} (term ${a.term}) and node ${b.nodeId} (term ${b.term}) could both serve lease reads from ${from.toFixed(3)} to ${to.toFixed(3)} ms`,
      from,
    );
  }

  private append(id: number, piece: LeasePiece): void {
    const list = this.pieces[id]!;
    const last = list[list.length - 1];
    if (last !== undefined && last.term === piece.term && piece.fromMs - last.toMs <= EPS_MS) {
      list[list.length - 1] = { ...last, toMs: Math.max(last.toMs, piece.toMs) };
    } else {
      list.push(piece);
    }
  }
}

/**
 * When a node may serve lease reads from true time nowMs on: the core's own window (its clock),
 * translated to true time. The start is kept even when past, so renewals leave it unchanged.
 * Null: it may not. Between two steps of the node this does not change.
 */
export function leaseWindow(core: RaftNode, clock: SimClock, nowMs: number, into = new WindowSlot()): Window | null {
  const localNow = clock.localAt(nowMs);
  const w = core.leaseWindow(localNow, localScratch);
  if (w === null) return null;
  into.fromMs = w.fromMs <= localNow ? Math.min(nowMs, clock.trueAtUnclamped(w.fromMs)) : clock.trueAt(w.fromMs, nowMs);
  into.toMs = clock.trueAt(w.untilMs, nowMs);
  into.term = core.inspect().term;
  return into;
}

const localScratch: LeaseWindow = { fromMs: 0, untilMs: 0 };

/** A window to fill in place, for a caller that hands it on at once (the checker copies what it keeps). */
export class WindowSlot implements Window {
  fromMs = 0;
  toMs = 0;
  term = 0;
}
