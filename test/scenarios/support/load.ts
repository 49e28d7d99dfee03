// A bounded closed-loop load for scenario tests: a few RaftClients (each its own session), each
// doing one operation at a time (3 SETs, then a GET) on a small shared key space, every operation
// recorded in a history for the linearizability checker (src/check). Values are unique, so a read
// names the write it saw.

import { HistoryRecorder, type History } from "../../../src/check/history.js";
import { checkLinearizable, type CheckResult } from "../../../src/check/linearizability.js";
import { RaftClient, RaftClientError } from "../../../src/client/raft-client.js";

export interface LoadOptions {
  /** Every address the cluster may have, now or later (`id=host:port,...`). */
  readonly nodes: string;
  readonly clients: number;
  readonly keys: number;
  /** Operations per client, at most (the loop's bound). */
  readonly opsMax: number;
  /** A client gives an operation up after this long (its outcome is then unknown). */
  readonly timeoutMs: number;
}

export class SetLoad {
  readonly recorder = new HistoryRecorder();
  /** performance.now() of every acknowledged SET, in order. */
  readonly acks: number[] = [];
  /** Operations that failed, by message (for the test's output). */
  readonly failures = new Map<string, number>();
  private readonly clients: RaftClient[];
  private stopped = false;
  private loops: Promise<void>[] = [];

  constructor(private readonly opts: LoadOptions) {
    this.clients = Array.from({ length: opts.clients }, (_, i) => new RaftClient({ nodes: opts.nodes, timeoutMs: opts.timeoutMs, clientId: `load-${i}` }));
  }

  start(): void {
    this.loops = this.clients.map((client, i) => this.loop(client, i));
  }

  /** Stops the loops (each finishes its operation in progress) and closes the clients. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    for (const c of this.clients) c.close();
  }

  get ackedSets(): number {
    return this.acks.length;
  }

  /** Longest gap between consecutive acknowledged SETs within [fromMs, toMs] (the edges count as acks). */
  longestStallMs(fromMs: number, toMs: number): number {
    const inside = [fromMs, ...this.acks.filter((t) => t > fromMs && t < toMs), toMs];
    let longest = 0;
    for (let i = 1; i < inside.length; i++) longest = Math.max(longest, inside[i]! - inside[i - 1]!);
    return longest;
  }

  /** The longest gap between consecutive acknowledged SETs that overlaps [atMs, atMs + withinMs]. */
  gapAround(atMs: number, withinMs = 500): number {
    let longest = 0;
    for (let i = 1; i < this.acks.length; i++) {
      const [a, b] = [this.acks[i - 1]!, this.acks[i]!];
      if (b >= atMs && a <= atMs + withinMs) longest = Math.max(longest, b - a);
    }
    return longest;
  }

  /** GETs of every key (recorded too), after stop: the state a final reader sees. */
  async finalReads(nodes: string): Promise<Map<string, string>> {
    const reader = new RaftClient({ nodes, timeoutMs: this.opts.timeoutMs, clientId: "final-reader" });
    const values = new Map<string, string>();
    try {
      for (let k = 0; k < this.opts.keys; k++) {
        const key = `k${k}`;
        const op = this.recorder.invoke({ kind: "get", clientId: "final-reader", key }, performance.now());
        const value = await reader.get(key);
        this.recorder.complete(op, "ok", value, performance.now());
        values.set(key, value);
      }
    } finally {
      reader.close();
    }
    return values;
  }

  history(): History {
    return this.recorder.history();
  }

  check(): CheckResult {
    return checkLinearizable(this.history());
  }

  private async loop(client: RaftClient, index: number): Promise<void> {
    for (let n = 0; n < this.opts.opsMax && !this.stopped; n++) {
      const key = `k${(index * 7 + n * 3) % this.opts.keys}`;
      if (n % 4 === 3) await this.get(client, index, key);
      else await this.set(client, index, key, `c${index}-${n}`);
    }
  }

  private async set(client: RaftClient, index: number, key: string, value: string): Promise<void> {
    const op = this.recorder.invoke({ kind: "set", clientId: `load-${index}`, key, value }, performance.now());
    try {
      await client.set(key, value);
      const now = performance.now();
      this.recorder.complete(op, "ok", undefined, now);
      this.acks.push(now);
    } catch (err) {
      this.note(err);
      this.recorder.complete(op, "unknown", undefined, performance.now());
    }
  }

  private async get(client: RaftClient, index: number, key: string): Promise<void> {
    const op = this.recorder.invoke({ kind: "get", clientId: `load-${index}`, key }, performance.now());
    try {
      const value = await client.get(key);
      this.recorder.complete(op, "ok", value, performance.now());
    } catch (err) {
      this.note(err);
      this.recorder.complete(op, "unknown", undefined, performance.now());
    }
  }

  private note(err: unknown): void {
    const message = err instanceof RaftClientError ? `${err.code}: ${err.message.slice(0, 120)}` : String(err);
    this.failures.set(message, (this.failures.get(message) ?? 0) + 1);
  }
}
