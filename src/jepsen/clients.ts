// The workload: closed-loop clients that SET and GET a few keys and record every operation,
// with its invocation and completion times, into one history for the linearizability checker.
// Half the clients use RaftClient (leader tracking, retries, exactly-once sessions); the other
// half are plain ServeClient callers built from proto/ that know no leader: each operation is one
// request line to a node drawn at random, never retried, so whatever a single node answers (a
// follower's refusal, an old leader's read) is judged as it is.

import { credentials, Metadata } from "@grpc/grpc-js";
import seedrandom from "seedrandom";
import { RaftClient, RaftClientError } from "../client/raft-client.js";
import { RaftClientClient, type ServeClientReply } from "../gen/raft.js";
import { HistoryRecorder, type Outcome } from "../check/history.js";

export interface WorkloadOptions {
  readonly addresses: readonly string[];
  readonly clients: number;
  readonly keys: number;
  readonly seed: number;
  /** Milliseconds since the run began (the history's clock). */
  readonly nowMs: () => number;
}

/** A RaftClient operation gives up after this (it is then indeterminate). */
const CLIENT_TIMEOUT_MS = 2_000;
/**
 * A plain client's single call gives up after this (indeterminate). Short, so a plain client
 * stuck on a leader that cannot commit moves on and keeps probing every node.
 */
const PLAIN_DEADLINE_MS = 300;
/** Pause between a client's operations, at most. */
const THINK_MS_MAX = 10;
/** Operations one run may record, at most. */
const OPS_MAX = 2_000_000;

export class Workload {
  readonly recorder = new HistoryRecorder(OPS_MAX);
  private running = false;
  private writesPausedUntilMs = -Infinity;
  private loops: Promise<void>[] = [];
  private readonly closers: (() => void)[] = [];

  constructor(private readonly opts: WorkloadOptions) {}

  start(): void {
    this.running = true;
    for (let c = 0; c < this.opts.clients; c++) {
      const rng = seedrandom(`${this.opts.seed}/client/${c}`);
      this.loops.push(c % 2 === 0 ? this.raftClientLoop(c, rng) : this.plainLoop(c, rng));
    }
  }

  /** Stops issuing operations and waits for those in flight (each is bounded by its timeout). */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
    for (const close of this.closers) close();
  }

  /** For `durationMs` from now clients only read (a lull, so that no follower falls behind). */
  pauseWrites(durationMs: number): void {
    this.writesPausedUntilMs = this.opts.nowMs() + durationMs;
  }

  private isSet(rng: () => number): boolean {
    return rng() < 0.5 && this.opts.nowMs() >= this.writesPausedUntilMs;
  }

  private key(rng: () => number): string {
    return `k${Math.floor(rng() * this.opts.keys)}`;
  }

  private async raftClientLoop(c: number, rng: () => number): Promise<void> {
    const nodes = this.opts.addresses.map((a, i) => `${i}=${a}`).join(",");
    const client = new RaftClient({ nodes, timeoutMs: CLIENT_TIMEOUT_MS, clientId: `jepsen-${this.opts.seed}-${c}` });
    this.closers.push(() => client.close());
    for (let n = 0; this.running; n++) {
      const key = this.key(rng);
      const isSet = this.isSet(rng);
      const value = `c${c}-${n}`;
      const id = this.recorder.invoke(isSet ? { kind: "set", clientId: `c${c}`, key, value } : { kind: "get", clientId: `c${c}`, key }, this.opts.nowMs());
      try {
        const got = isSet ? (await client.set(key, value), undefined) : await client.get(key);
        this.recorder.complete(id, "ok", got, this.opts.nowMs());
      } catch (err) {
        // A RaftClient failure is a timeout (or closed): the SET may or may not have applied.
        if (!(err instanceof RaftClientError)) throw err;
        this.recorder.complete(id, err.code === "invalid" ? "fail" : "unknown", undefined, this.opts.nowMs());
      }
      await think(rng);
    }
  }

  private async plainLoop(c: number, rng: () => number): Promise<void> {
    const stubs = this.opts.addresses.map((a) => new RaftClientClient(a, credentials.createInsecure()));
    this.closers.push(() => stubs.forEach((s) => s.close()));
    for (let n = 0; this.running; n++) {
      const key = this.key(rng);
      const isSet = this.isSet(rng);
      const value = `p${c}-${n}`;
      const target = Math.floor(rng() * stubs.length);
      const stub = stubs[target];
      if (stub === undefined) throw new Error(`no stub for node ${target}`);
      const id = this.recorder.invoke(isSet ? { kind: "set", clientId: `p${c}`, key, value } : { kind: "get", clientId: `p${c}`, key }, this.opts.nowMs());
      const reply = await serveOnce(stub, isSet ? `SET ${key} ${value}` : `GET ${key}`);
      const outcome = judge(reply);
      this.recorder.complete(id, outcome, outcome === "ok" && reply !== null ? reply.Data : undefined, this.opts.nowMs());
      await think(rng);
    }
  }
}

function think(rng: () => number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.floor(rng() * THINK_MS_MAX)));
}

/** One ServeClient call with only the original exercise's field; null when the call failed. */
function serveOnce(stub: RaftClientClient, line: string): Promise<ServeClientReply | null> {
  return new Promise((resolve) => {
    const deadline = Date.now() + PLAIN_DEADLINE_MS;
    stub.serveClient({ Request: line, ClientId: "", Sequence: 0, FirstUnanswered: 0, RequestId: 0 }, new Metadata(), { deadline }, (err, reply) => resolve(err === null && reply !== undefined ? reply : null));
  });
}

/**
 * What a single reply proves. Refusals before anything was appended (`not-leader`, `overloaded`,
 * `invalid`) mean a SET was not applied; `stepped-down`, a deadline or a lost connection leave it
 * open.
 */
export function judge(reply: ServeClientReply | null): Outcome {
  if (reply === null) return "unknown";
  if (reply.Success) return "ok";
  const refused = reply.ErrorCode === "not-leader" || reply.ErrorCode === "overloaded" || reply.ErrorCode === "invalid";
  return refused ? "fail" : "unknown";
}
