// The network between nodes, as the test wants it: links cut (one direction at a time), messages
// held back by rule, and the delivery plan for everything else (delays, loss, duplicates).

import type { NodeId } from "../../../src/raft/index.js";
import type { Envelope, Selector } from "./pool.js";

/** Delays in true ms from sending: [] loses the message, two or more duplicate it. */
export type Delivery = (e: Envelope) => readonly number[];

interface HoldRule {
  readonly selector: Selector;
  remaining: number;
}

export class Network {
  private readonly cuts = new Set<string>();
  private readonly holdRules: HoldRule[] = [];

  constructor(
    private readonly ids: readonly NodeId[],
    private delivery: Delivery,
  ) {}

  /** Messages from `a` to `b` are lost until healed (one direction). */
  cut(a: number, b: number): void {
    this.cuts.add(`${a}>${b}`);
  }

  /** Cuts every link to and from `id`. */
  isolate(id: number): void {
    for (const o of this.ids) {
      if (o === id) continue;
      this.cut(id, o);
      this.cut(o, id);
    }
  }

  /** Restores both directions between `a` and `b`. */
  heal(a: number, b: number): void {
    this.cuts.delete(`${a}>${b}`);
    this.cuts.delete(`${b}>${a}`);
  }

  healAll(): void {
    this.cuts.clear();
  }

  isCut(from: number, to: number): boolean {
    return this.cuts.has(`${from}>${to}`);
  }

  /** The next `count` messages the selector matches are held back when sent. */
  holdNext(selector: Selector, count = 1): void {
    this.holdRules.push({ selector, remaining: count });
  }

  /** Ends every hold rule still waiting for messages. */
  stopHolding(): void {
    this.holdRules.length = 0;
  }

  /** From now on, messages sent are delivered as `delivery` says. */
  setDelivery(delivery: Delivery): void {
    this.delivery = delivery;
  }

  /** What becomes of a message just sent: held by a rule, or delivered after these delays. */
  plan(e: Envelope): { held: true } | { held: false; delaysMs: readonly number[] } {
    for (const r of this.holdRules) {
      if (r.remaining > 0 && r.selector(e)) {
        r.remaining--;
        return { held: true };
      }
    }
    return { held: false, delaysMs: this.delivery(e) };
  }
}
