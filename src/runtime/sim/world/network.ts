// The simulated network: per-message delay drawn from a distribution, loss, duplication,
// reordering, rare long delays, and partitions (symmetric groups or one-way cuts) that heal.
//
// A partition is checked when a message is sent: what is already on the wire still arrives, as
// packets sitting in a router's buffer do. Links are directed: blocked[from][to].

export interface NetParams {
  /** Every delivery takes a uniform [delayMinMs, delayMaxMs] plus an exponential tail. */
  readonly delayMinMs: number;
  readonly delayMaxMs: number;
  readonly tailMeanMs: number;
  readonly lossP: number;
  readonly dupP: number;
  /** With probability reorderP a message is held back up to reorderMs more, overtaken by later ones. */
  readonly reorderP: number;
  readonly reorderMs: number;
  /** With probability longP a message takes [longMinMs, longMaxMs] (a stalled connection). */
  readonly longP: number;
  readonly longMinMs: number;
  readonly longMaxMs: number;
  /**
   * With probability lateP a ghost copy of the message arrives [lateMinMs, lateMaxMs] after it was
   * sent, besides its normal delivery: a retransmission from a stale connection, long after the
   * sender may have crashed, rebooted or moved to another term.
   */
  readonly lateP: number;
  readonly lateMinMs: number;
  readonly lateMaxMs: number;
}

/** A healthy LAN. */
export const NET_CALM: NetParams = {
  delayMinMs: 1,
  delayMaxMs: 5,
  tailMeanMs: 1,
  lossP: 0,
  dupP: 0,
  reorderP: 0,
  reorderMs: 0,
  longP: 0,
  longMinMs: 0,
  longMaxMs: 0,
  lateP: 0,
  lateMinMs: 0,
  lateMaxMs: 0,
};

/**
 * The same parameters built as one object literal, so that every set the wire draws from has one
 * hidden class: sets built by spreading had one each, and the draw's reads of them (several per
 * message) went through V8's generic lookup.
 */
export function oneShapeNet(p: NetParams): NetParams {
  return {
    delayMinMs: p.delayMinMs,
    delayMaxMs: p.delayMaxMs,
    tailMeanMs: p.tailMeanMs,
    lossP: p.lossP,
    dupP: p.dupP,
    reorderP: p.reorderP,
    reorderMs: p.reorderMs,
    longP: p.longP,
    longMinMs: p.longMinMs,
    longMaxMs: p.longMaxMs,
    lateP: p.lateP,
    lateMinMs: p.lateMinMs,
    lateMaxMs: p.lateMaxMs,
  };
}

export function validateNetParams(p: NetParams): void {
  const probabilities: [string, number][] = [["loss", p.lossP], ["dup", p.dupP], ["reorder", p.reorderP], ["long", p.longP], ["late", p.lateP]];
  for (const [name, v] of probabilities) {
    if (!(v >= 0 && v <= 1)) throw new Error(`net: ${name} probability must be in [0, 1], got ${v}`);
  }
  const times: [string, number][] = [
    ["delay min", p.delayMinMs],
    ["delay max", p.delayMaxMs],
    ["tail", p.tailMeanMs],
    ["reorder", p.reorderMs],
    ["long min", p.longMinMs],
    ["long max", p.longMaxMs],
    ["late min", p.lateMinMs],
    ["late max", p.lateMaxMs],
  ];
  for (const [name, v] of times) if (!(v >= 0 && Number.isFinite(v))) throw new Error(`net: ${name} must be >= 0 ms, got ${v}`);
  if (p.delayMinMs > p.delayMaxMs) throw new Error(`net: delay ${p.delayMinMs}-${p.delayMaxMs} ms has min above max`);
  if (p.longMinMs > p.longMaxMs) throw new Error(`net: long delay ${p.longMinMs}-${p.longMaxMs} ms has min above max`);
  if (p.lateMinMs > p.lateMaxMs) throw new Error(`net: late copy delay ${p.lateMinMs}-${p.lateMaxMs} ms has min above max`);
}

/** The delays of one message's deliveries: none (lost), one, two (duplicated) or more (late copies). */
export function drawDelays(p: NetParams, random: () => number): number[] {
  const out = new Deliveries();
  out.draw(p, { float: random });
  return out.delaysMs.slice(0, out.count);
}

/**
 * One message's deliveries, drawn into reusable slots (the hot path allocates nothing): count is
 * 0 (lost), 1, 2 (duplicated) or 3 (and a late copy), and delaysMs[0..count) their delays. A late
 * copy may come even when the message itself was lost. Draws what drawDelays does.
 */
export class Deliveries {
  count = 0;
  readonly delaysMs: [number, number, number] = [0, 0, 0];
  /** The slot of the late copy, or -1 when there is none. */
  lateSlot = -1;

  draw(p: NetParams, rng: Random01): number {
    this.count = 0;
    this.lateSlot = -1;
    if (p.lossP === 0 || rng.float() >= p.lossP) {
      this.delaysMs[this.count++] = drawDelay(p, rng);
      if (p.dupP > 0 && rng.float() < p.dupP) this.delaysMs[this.count++] = drawDelay(p, rng);
    }
    if (p.lateP > 0 && rng.float() < p.lateP) {
      this.lateSlot = this.count;
      this.delaysMs[this.count++] = p.lateMinMs + rng.float() * (p.lateMaxMs - p.lateMinMs);
    }
    return this.count;
  }
}

/** A source of floats in [0, 1) (an Rng). */
export interface Random01 {
  float(): number;
}

function drawDelay(p: NetParams, rng: Random01): number {
  if (p.longP > 0 && rng.float() < p.longP) return p.longMinMs + rng.float() * (p.longMaxMs - p.longMinMs);
  let d = p.delayMinMs + rng.float() * (p.delayMaxMs - p.delayMinMs);
  if (p.tailMeanMs > 0) d += -p.tailMeanMs * Math.log(1 - rng.float());
  if (p.reorderP > 0 && rng.float() < p.reorderP) d += rng.float() * p.reorderMs;
  return d;
}

/** Which node may send to which, and how much slower than the network each node's sends are. */
export class Links {
  private readonly blocked: boolean[][];
  private cutCount = 0;
  /** Extra delay on a link (a congested route), ms: slowMs[from][to]. */
  private readonly slowMs: number[][];
  private slowCount = 0;

  constructor(readonly size: number) {
    this.blocked = Array.from({ length: size }, () => new Array<boolean>(size).fill(false));
    this.slowMs = Array.from({ length: size }, () => new Array<number>(size).fill(0));
  }

  extraDelayMs(from: number, to: number): number {
    return this.slowCount === 0 ? 0 : this.slowMs[from]![to]!;
  }

  canSend(from: number, to: number): boolean {
    return this.cutCount === 0 || !this.blocked[from]![to]!;
  }

  get partitioned(): boolean {
    return this.cutCount > 0;
  }

  /** Nodes in different groups cannot talk (both ways); nodes in no group are cut from all. */
  splitInto(groups: readonly (readonly number[])[]): void {
    const groupOf = new Array<number>(this.size).fill(-1);
    groups.forEach((g, i) => g.forEach((n) => (groupOf[n] = i)));
    for (let a = 0; a < this.size; a++) {
      for (let b = 0; b < this.size; b++) {
        if (a !== b && (groupOf[a] === -1 || groupOf[a] !== groupOf[b])) this.cut(a, b);
      }
    }
  }

  /** Messages from `from` to `to` are lost (the other direction is untouched). */
  cutOneWay(from: readonly number[], to: readonly number[]): void {
    for (const a of from) for (const b of to) if (a !== b) this.cut(a, b);
  }

  /** Both directions between a and b are cut. */
  sever(a: number, b: number): void {
    this.cut(a, b);
    this.cut(b, a);
  }

  /** Two sides that cannot talk to each other, and a bridge node that talks to both. */
  bridge(sideA: readonly number[], sideB: readonly number[]): void {
    for (const a of sideA) for (const b of sideB) this.sever(a, b);
  }

  /** Messages from `from` to `to` take extraMs longer. */
  slow(from: number, to: number, extraMs: number): void {
    if (this.slowMs[from]![to] === 0 && extraMs > 0) this.slowCount += 1;
    this.slowMs[from]![to] = extraMs;
  }

  get degraded(): boolean {
    return this.cutCount > 0 || this.slowCount > 0;
  }

  heal(): void {
    for (const row of this.blocked) row.fill(false);
    for (const row of this.slowMs) row.fill(0);
    this.cutCount = 0;
    this.slowCount = 0;
  }

  /** Groups of mutually connected nodes (for the summary and the timeline). */
  describe(): string {
    if (!this.degraded) return "connected";
    const parts: string[] = [];
    for (let a = 0; a < this.size; a++) {
      const reach = [];
      for (let b = 0; b < this.size; b++) {
        const extra = this.extraDelayMs(a, b);
        if (a !== b && this.canSend(a, b)) reach.push(extra > 0 ? `${b}(+${Math.round(extra)} ms)` : String(b));
      }
      parts.push(`${a}->${reach.length === 0 ? "none" : reach.join(",")}`);
    }
    return parts.join(" ");
  }

  /** The largest set of nodes that can all reach each other both ways (greedy, for liveness). */
  connectedWith(node: number): number[] {
    const out = [node];
    for (let b = 0; b < this.size; b++) {
      if (b !== node && out.every((a) => this.canSend(a, b) && this.canSend(b, a))) out.push(b);
    }
    return out;
  }

  private cut(a: number, b: number): void {
    if (this.blocked[a]![b]) return;
    this.blocked[a]![b] = true;
    this.cutCount += 1;
  }
}
