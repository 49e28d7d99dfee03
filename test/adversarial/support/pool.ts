// The message pool: every message a node outputs lands here, and only here do messages come from.
//
// The pool knows of a message only what every message has (type, from, to, term); the rest is
// opaque. The test (or the scheduler acting for it) decides when each message is delivered,
// dropped, duplicated, or held back, across crashes, reboots and terms.

import type { Message, NodeId, Term } from "../../../src/raft/index.js";

export type MessageId = number;

/** What the harness may look at in a message. */
export interface Envelope {
  readonly id: MessageId;
  readonly type: Message["type"];
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
  readonly sentTrueMs: number;
  /** Held messages move only when a test says so; in-flight ones when the scheduler delivers them. */
  held: boolean;
  /** True time at which the scheduler delivers an in-flight message (latency drawn at send). */
  dueTrueMs: number;
}

export type Selector = (e: Envelope) => boolean;

const POOL_SIZE_MAX = 100_000;

export class MessagePool {
  private readonly envelopes = new Map<MessageId, Envelope>();
  private readonly bodies = new Map<MessageId, Message>();
  private nextId: MessageId = 1;
  /** Every message ever put in, for counting. */
  sentCount = 0;

  put(m: Message, sentTrueMs: number, dueTrueMs: number, held: boolean): MessageId {
    if (this.envelopes.size >= POOL_SIZE_MAX) {
      throw new Error(`message pool holds ${POOL_SIZE_MAX} messages: a run sends without end, or a test never delivers`);
    }
    const id = this.nextId++;
    this.envelopes.set(id, { id, type: m.type, from: m.from, to: m.to, term: m.term, sentTrueMs, held, dueTrueMs });
    this.bodies.set(id, m);
    this.sentCount++;
    return id;
  }

  /** A duplicate of a pooled message (the same body), in flight and due at dueTrueMs. */
  copy(id: MessageId, dueTrueMs: number): MessageId {
    const e = this.envelope(id);
    const copyId = this.put(this.bodies.get(id)!, e.sentTrueMs, dueTrueMs, false);
    this.sentCount--; // a duplicate is the network's doing, not a message a node sent
    return copyId;
  }

  envelope(id: MessageId): Envelope {
    const e = this.envelopes.get(id);
    if (e === undefined) throw new Error(`message ${id} is not in the pool (delivered or dropped already)`);
    return e;
  }

  /** The message itself, for delivery; `keep` leaves a copy behind (a duplicate). */
  take(id: MessageId, keep: boolean): Message {
    const m = this.bodies.get(id);
    if (m === undefined) throw new Error(`message ${id} is not in the pool (delivered or dropped already)`);
    if (!keep) this.drop(id);
    return m;
  }

  /** The message itself, left in the pool (to look at, or to replay a copy of). */
  body(id: MessageId): Message {
    const m = this.bodies.get(id);
    if (m === undefined) throw new Error(`message ${id} is not in the pool (delivered or dropped already)`);
    return m;
  }

  drop(id: MessageId): void {
    this.envelopes.delete(id);
    this.bodies.delete(id);
  }

  hold(id: MessageId): void {
    this.envelope(id).held = true;
  }

  release(id: MessageId, dueTrueMs: number): void {
    const e = this.envelope(id);
    e.held = false;
    e.dueTrueMs = dueTrueMs;
  }

  has(id: MessageId): boolean {
    return this.envelopes.has(id);
  }

  select(selector: Selector): Envelope[] {
    return [...this.envelopes.values()].filter(selector);
  }

  get size(): number {
    return this.envelopes.size;
  }
}
