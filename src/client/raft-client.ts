// RaftClient: the library behind `raft-client` and `import { RaftClient } from "raft-lease"`.
//
//   const client = new RaftClient({ nodes: "0=10.0.0.1:5000,1=10.0.0.2:5000,2=10.0.0.3:5000" });
//   await client.set("x", "6");
//   const x = await client.get("x"); // "6"; a key never set reads as ""
//   client.close();
//
// Leader tracking, retries and sessions come from retry.ts (shared with the simulator's clients).
// Every SET carries a client id and a sequence number, so a retried SET is applied once. A session
// allows one SET in flight; concurrent SETs each take a session from a pool (client ids
// `<base>/<slot>`), so concurrency and exactly-once go together.

import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { CLIENT_ID_BYTES_MAX, hasLoneSurrogate, parseRequest, utf8Bytes } from "../raft/index.js";
import type { ClientRequest, NodeId, Role } from "../raft/index.js";
import { normalizeNodes, type NodeAddress, type NodesOption } from "./nodes.js";
import { Attempts, DEFAULT_RETRY, LeaderTracker, Session, type Decision, type NodeAnswer, type RetryPolicy } from "./retry.js";
import { channelCredentials, checkTls, OPTION_NAMES, type TlsMaterial, type TlsOptions } from "./tls.js";
import { NodeConnection } from "./transport.js";

export interface RaftClientOptions {
  /** `"0=host:port,1=host:port"`, `{ "0": "host:port" }`, `[{ id, address }]` or `["host:port", ...]` (ids 0, 1, ...). */
  readonly nodes: NodesOption;
  /** Give up an operation after this long (default 10 s). */
  readonly timeoutMs?: number;
  /** Base of this client's session ids (default: host, pid and random bytes). */
  readonly clientId?: string;
  /** SETs in flight at once, at most (default 1024). */
  readonly concurrentSetsMax?: number;
  /** Backoff settings (timeoutMs above wins). */
  readonly retry?: Partial<RetryPolicy>;
  /**
   * TLS: the CA that signed the nodes' certificates (PEM), and a client certificate and key for
   * nodes that require one. Checked at once (a key that does not match, an expired certificate,
   * one the CA did not sign: RaftClientError "invalid"). Default: plain text.
   */
  readonly tls?: TlsOptions | TlsMaterial;
}

export type RaftClientErrorCode =
  | "invalid" // the request is bad; retrying will not help
  | "timeout" // no node could serve it within the timeout; a SET may or may not have been applied
  | "busy" // too many SETs in flight on this client
  | "closed"; // the client was closed

export class RaftClientError extends Error {
  constructor(
    readonly code: RaftClientErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "RaftClientError";
  }
}

export type NodeReport =
  | {
      readonly id: NodeId;
      readonly address: string;
      readonly reachable: true;
      readonly role: Role;
      readonly term: number;
      readonly leaderId: NodeId | null;
      readonly commitIndex: number;
      readonly appliedIndex: number;
      readonly lastLogIndex: number;
      readonly leaseRemainingMs: number;
    }
  | { readonly id: NodeId; readonly address: string; readonly reachable: false; readonly error: string };

export type HealthReport =
  | { readonly id: NodeId; readonly address: string; readonly status: string }
  | { readonly id: NodeId; readonly address: string; readonly status: "unreachable"; readonly error: string };

/** Status calls wait this long per node, at most. */
const STATUS_TIMEOUT_MS = 2_000;
/** A client's own id, at most: its sessions are named `<id>/<n>`, and the server takes CLIENT_ID_BYTES_MAX. */
const CLIENT_ID_OWN_BYTES_MAX = CLIENT_ID_BYTES_MAX - 16;

export class RaftClient {
  readonly nodes: readonly NodeAddress[];
  readonly clientId: string;
  private readonly tracker: LeaderTracker;
  private readonly connections = new Map<NodeId, NodeConnection>();
  private readonly policy: RetryPolicy;
  private readonly concurrentSetsMax: number;
  private readonly freeSessions: Session[] = [];
  private sessionCount = 0;
  private closed = false;

  constructor(opts: RaftClientOptions) {
    this.nodes = normalizeNodes(opts.nodes);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_RETRY.timeoutMs;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RaftClientError("invalid", `timeoutMs must be a positive number of ms, got ${timeoutMs}`);
    this.policy = { ...DEFAULT_RETRY, ...opts.retry, timeoutMs };
    this.clientId = opts.clientId ?? `${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`;
    const idBytes = utf8Bytes(this.clientId);
    if (idBytes === 0 || idBytes > CLIENT_ID_OWN_BYTES_MAX || hasLoneSurrogate(this.clientId)) {
      throw new RaftClientError("invalid", `clientId must be 1 to ${CLIENT_ID_OWN_BYTES_MAX} bytes of valid text (each session adds "/N" to it); got ${idBytes} bytes`);
    }
    this.concurrentSetsMax = opts.concurrentSetsMax ?? 1024;
    const ids = this.nodes.map((n) => n.id);
    this.tracker = new LeaderTracker(ids);
    const creds = channelCredentials(opts.tls === undefined ? null : checkedTls(opts.tls));
    for (const n of this.nodes) this.connections.set(n.id, new NodeConnection(n, ids, creds, opts.tls !== undefined));
  }

  /** The leader this client last heard of, or null. */
  get leader(): NodeId | null {
    return this.tracker.knownLeader;
  }

  /** Stores `value` under `key` once a majority holds it. Retried SETs apply once. */
  async set(key: string, value: string): Promise<void> {
    const unstamped = { kind: "set", key, value, clientId: "", sequence: 0, firstUnanswered: 0 } as const;
    const line = requestLine(unstamped);
    const session = this.takeSession();
    const stamped = session.stampSet(unstamped);
    try {
      await this.run(line, stamped.clientId, stamped.sequence, stamped.firstUnanswered);
    } finally {
      session.done(stamped.sequence);
      this.freeSessions.push(session);
    }
  }

  /** The value of `key` ("" when it was never set), read from a leader holding its lease. */
  async get(key: string): Promise<string> {
    return this.run(requestLine({ kind: "get", key }), "", 0, 0);
  }

  /** Every node's view of the cluster, asked in parallel; unreachable nodes say why. */
  async status(): Promise<NodeReport[]> {
    this.checkOpen();
    const timeoutMs = Math.min(this.policy.timeoutMs, STATUS_TIMEOUT_MS);
    return Promise.all(this.nodes.map((n) => this.statusOf(n, timeoutMs)));
  }

  /** Every node's gRPC health (SERVING while it knows a leader), asked in parallel. */
  async health(): Promise<HealthReport[]> {
    this.checkOpen();
    const timeoutMs = Math.min(this.policy.timeoutMs, STATUS_TIMEOUT_MS);
    return Promise.all(
      this.nodes.map(async (n): Promise<HealthReport> => {
        try {
          return { id: n.id, address: n.address, status: await this.connection(n.id).health(timeoutMs) };
        } catch (err) {
          return { id: n.id, address: n.address, status: "unreachable", error: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
  }

  /** Closes every connection; later calls fail with code "closed". */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.connections.values()) c.close();
  }

  // ---------------------------------------------------------------- internals

  private async statusOf(n: NodeAddress, timeoutMs: number): Promise<NodeReport> {
    try {
      const s = await this.connection(n.id).status(timeoutMs);
      const role: Role = s.role === "leader" || s.role === "candidate" ? s.role : "follower";
      const leaderId = /^[0-9]+$/.test(s.leaderId) ? (Number(s.leaderId) as NodeId) : null;
      return {
        id: n.id,
        address: n.address,
        reachable: true,
        role,
        term: s.term,
        leaderId,
        commitIndex: s.commitIndex,
        appliedIndex: s.appliedIndex,
        lastLogIndex: s.lastLogIndex,
        leaseRemainingMs: s.leaseRemainingMs,
      };
    } catch (err) {
      return { id: n.id, address: n.address, reachable: false, error: err instanceof Error ? err.message : String(err) };
    }
  }

  /** One operation: send, follow leader hints, back off, until done or the deadline. */
  private async run(line: string, clientId: string, sequence: number, firstUnanswered: number): Promise<string> {
    this.checkOpen();
    const attempts = new Attempts(this.tracker, this.policy, Math.random, performance.now());
    let decision: Decision = attempts.start();
    let last: NodeAnswer | null = null;
    for (;;) {
      switch (decision.kind) {
        case "done":
          return decision.value;
        case "give-up":
          throw new RaftClientError(last?.kind === "error" && last.code === "invalid" ? "invalid" : "timeout", decision.message);
        case "send": {
          if (decision.afterMs > 0) await sleep(decision.afterMs);
          this.checkOpen();
          const target = decision.target;
          last = await this.connection(target).serve(line, clientId, sequence, firstUnanswered, attempts.attemptTimeoutMs(performance.now()));
          decision = attempts.answer(target, last, performance.now());
          break;
        }
      }
    }
  }

  private takeSession(): Session {
    this.checkOpen();
    const free = this.freeSessions.pop();
    if (free !== undefined) return free;
    if (this.sessionCount >= this.concurrentSetsMax) {
      throw new RaftClientError("busy", `${this.concurrentSetsMax} SETs are already in flight on this client; await some before starting more`);
    }
    return new Session(`${this.clientId}/${this.sessionCount++}`);
  }

  private connection(id: NodeId): NodeConnection {
    const c = this.connections.get(id);
    if (c === undefined) throw new Error(`no connection for node ${id}`);
    return c;
  }

  private checkOpen(): void {
    if (this.closed) throw new RaftClientError("closed", "the client is closed");
  }
}

function checkedTls(tls: TlsOptions | TlsMaterial): TlsMaterial {
  if ("identity" in tls) return tls; // already checked (raft-client checks its flags itself)
  try {
    return checkTls(tls, OPTION_NAMES);
  } catch (err) {
    throw new RaftClientError("invalid", err instanceof Error ? err.message : String(err));
  }
}

/**
 * The request line for `request`, checked here with the node's own parser so a bad key or value
 * fails at once with the node's message, and so the line reads back as exactly this request
 * (a key with a space, or a value ending in a line break, would not).
 */
export function requestLine(request: ClientRequest): string {
  const text = request.kind === "set" ? request.value : "";
  if (hasLoneSurrogate(request.key) || hasLoneSurrogate(text)) {
    throw new RaftClientError("invalid", "keys and values must be valid Unicode text (no lone surrogates)");
  }
  const line = request.kind === "set" ? `SET ${request.key} ${request.value}` : `GET ${request.key}`;
  const parsed = parseRequest(line);
  if (!parsed.ok) throw new RaftClientError("invalid", parsed.error);
  const back = parsed.value;
  const same = back.kind === request.kind && back.key === request.key && (back.kind !== "set" || back.value === text);
  if (!same) {
    throw new RaftClientError("invalid", "keys cannot hold spaces or tabs, and values cannot end in a line break (the request line could not carry them)");
  }
  return line;
}
