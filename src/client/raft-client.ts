// RaftClient: the library behind `raft-client` and `import { RaftClient } from "raft-lease"`.
//
//   const client = new RaftClient({ nodes: "0=10.0.0.1:5000,1=10.0.0.2:5000,2=10.0.0.3:5000" });
//   await client.set("x", "6");
//   const x = await client.get("x"); // "6"; a key never set reads as ""
//   client.close();
//
// Leader tracking, retries and sessions come from retry.ts (shared with the simulator's clients).
// Every SET carries the client's id, a sequence number and the first sequence not yet answered
// (a windowed session, docs/file-formats.md "Client sessions"), so a retried SET is applied once
// however many SETs are in flight: all of them share one session. Requests to a node travel on
// one ServeClientStream (transport.ts), answered in any order. An operation is driven by
// callbacks (Operation below): per request one promise (the caller's), no timer and no async
// frame; a timer only for a backoff before a retry. A SET that would stretch the session's window
// past SESSION_WINDOW_MAX (its oldest SET still unanswered) waits for it, in order.

import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { CLIENT_ID_BYTES_MAX, hasLoneSurrogate, KEY_BYTES_MAX, parseRequest, utf8Bytes, VALUE_BYTES_MAX } from "../raft/index.js";
import { nodeId, type ClientRequest, type NodeId, type Role } from "../raft/index.js";
import * as admin from "./admin.js";
import type { MemberInfo, MemberList } from "./admin.js";
import type { ServeClientArgs } from "../gen/raft.js";
import { normalizeNodes, type NodeAddress, type NodesOption } from "./nodes.js";
import { Attempts, DEFAULT_RETRY, LeaderTracker, Session, type Decision, type NodeAnswer, type RetryPolicy } from "./retry.js";
import { channelCredentials, checkTls, OPTION_NAMES, type TlsMaterial, type TlsOptions } from "./tls.js";
import { NodeConnection, type StreamCall } from "./transport.js";
import { RaftClientError } from "./errors.js";

export interface RaftClientOptions {
  /** `"0=host:port,1=host:port"`, `{ "0": "host:port" }`, `[{ id, address }]` or `["host:port", ...]` (ids 0, 1, ...). */
  readonly nodes: NodesOption;
  /** Give up an operation after this long (default 10 s). */
  readonly timeoutMs?: number;
  /**
   * This client's session id (default: host, pid and random bytes). Give each client its own: two
   * clients sharing one, or a client restarted with the id of one that wrote before, would have
   * their SETs taken for each other's duplicates.
   */
  readonly clientId?: string;
  /** SETs in flight at once, at most (default 1024); more are refused with code "busy". */
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

export { RaftClientError, type RaftClientErrorCode } from "./errors.js";
export type { MemberInfo, MemberList } from "./admin.js";

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
      /** The configuration this node uses (the newest in its log). */
      readonly members: readonly MemberInfo[];
      /** Leader only: the voter leadership is being handed to, or null. */
      readonly transferringTo: NodeId | null;
    }
  | { readonly id: NodeId; readonly address: string; readonly reachable: false; readonly error: string };

export type HealthReport =
  | { readonly id: NodeId; readonly address: string; readonly status: string }
  | { readonly id: NodeId; readonly address: string; readonly status: "unreachable"; readonly error: string };

/** Status calls wait this long per node, at most. */
const STATUS_TIMEOUT_MS = 2_000;

/**
 * A client's operations in flight: its leader tracker, session and connections, the SETs waiting
 * for room in the session's window, and the bound on SETs in flight.
 */
class Operations {
  /** Operations started (or waiting for the window) and not settled. */
  private readonly inFlight = new Set<Operation>();
  /** SETs waiting for room in the session's window, oldest first. */
  private readonly waitingForWindow: Operation[] = [];
  private setCount = 0;
  closed = false;

  constructor(
    readonly policy: RetryPolicy,
    readonly tracker: LeaderTracker,
    readonly session: Session,
    private readonly connections: ReadonlyMap<NodeId, NodeConnection>,
    private readonly concurrentSetsMax: number,
  ) {}

  connection(id: NodeId): NodeConnection {
    const c = this.connections.get(id);
    if (c === undefined) throw new Error(`no connection for node ${id}`);
    return c;
  }

  /** Starts `op` (a SET waits while the window is full); throws "closed" or "busy". */
  begin(op: Operation): void {
    if (this.closed) throw new RaftClientError("closed", "the client is closed");
    if (op.isSet) {
      if (this.setCount >= this.concurrentSetsMax) {
        throw new RaftClientError("busy", `${this.concurrentSetsMax} SETs are already in flight on this client; await some before starting more`);
      }
      this.setCount++;
    }
    this.inFlight.add(op);
    if (op.isSet && (this.session.full || this.waitingForWindow.length > 0)) this.waitingForWindow.push(op);
    else op.start();
  }

  /** `op` settled (answered, given up or closed): it leaves, and its sequence is done. */
  ended(op: Operation): void {
    this.inFlight.delete(op);
    if (!op.isSet) return;
    this.setCount--;
    if (op.sequence === 0) {
      this.waitingForWindow.splice(this.waitingForWindow.indexOf(op), 1); // closed while waiting: never stamped
      return;
    }
    this.session.done(op.sequence);
    while (this.waitingForWindow.length > 0 && !this.session.full && !this.closed) this.waitingForWindow.shift()!.start();
  }

  /** Settles every operation with code "closed". */
  closeAll(): void {
    this.closed = true;
    const closed = new RaftClientError("closed", "the client was closed before the operation finished; a SET may or may not have been applied");
    for (const op of [...this.inFlight]) op.abort(closed);
  }
}

/**
 * One SET or GET through its attempts: sends on a node's stream, takes the answer (StreamCall),
 * asks Attempts what next, and settles the caller's promise. One object per operation; its wire
 * form is reused by every attempt.
 */
class Operation implements StreamCall {
  readonly args: ServeClientArgs;
  deadlineMs = 0;
  sentAtMs = 0;
  private attempts: Attempts | null = null;
  private lastAnswer: NodeAnswer | null = null;
  private backoff: NodeJS.Timeout | null = null;
  private settled = false;

  constructor(
    private readonly host: Operations,
    line: string,
    /** A SET: stamped with the session when it starts. */
    readonly isSet: boolean,
    /** The caller's promise: a GET's takes the value, a SET's nothing. */
    private readonly resolve: ((value: string) => void) | (() => void),
    private readonly reject: (err: Error) => void,
  ) {
    this.args = { Request: line, ClientId: "", Sequence: 0, FirstUnanswered: 0, RequestId: 0 };
  }

  /** A SET's sequence once started; 0 before (and for a GET). */
  get sequence(): number {
    return this.args.Sequence;
  }

  start(): void {
    if (this.isSet) {
      this.args.ClientId = this.host.session.clientId;
      this.args.Sequence = this.host.session.next();
    }
    this.attempts = new Attempts(this.host.tracker, this.host.policy, Math.random, performance.now());
    this.follow(this.attempts.start());
  }

  onAnswer(from: NodeId, answer: NodeAnswer): void {
    if (this.settled || this.attempts === null) return;
    this.lastAnswer = answer;
    this.follow(this.attempts.answer(from, answer, performance.now()));
  }

  /** Settles at once with `err` (the client closed). */
  abort(err: Error): void {
    if (this.backoff !== null) clearTimeout(this.backoff);
    this.backoff = null;
    this.settle(err, "");
  }

  private follow(d: Decision): void {
    switch (d.kind) {
      case "done":
        return this.settle(null, d.value);
      case "give-up": {
        const last = this.lastAnswer;
        return this.settle(new RaftClientError(last?.kind === "error" && last.code === "invalid" ? "invalid" : "timeout", d.message), "");
      }
      case "send":
        if (d.afterMs <= 0) return this.send(d.target);
        this.backoff = setTimeout(() => {
          this.backoff = null;
          this.send(d.target);
        }, d.afterMs);
        return;
    }
  }

  private send(target: NodeId): void {
    if (this.settled) return;
    if (this.host.closed) return this.settle(new RaftClientError("closed", "the client is closed"), "");
    // The session's first unanswered sequence as it is now: at most this SET's own, never lower
    // than what earlier attempts sent.
    if (this.isSet) this.args.FirstUnanswered = this.host.session.firstUnanswered;
    this.host.connection(target).send(this, this.attempts!.attemptTimeoutMs(performance.now()));
  }

  private settle(err: Error | null, value: string): void {
    if (this.settled) return;
    this.settled = true;
    this.host.ended(this);
    if (err !== null) this.reject(err);
    else if (this.isSet) (this.resolve as () => void)();
    else (this.resolve as (value: string) => void)(value);
  }
}

export class RaftClient {
  readonly nodes: readonly NodeAddress[];
  readonly clientId: string;
  private readonly tracker: LeaderTracker;
  private readonly connections = new Map<NodeId, NodeConnection>();
  private readonly policy: RetryPolicy;
  private readonly ops: Operations;

  constructor(opts: RaftClientOptions) {
    this.nodes = normalizeNodes(opts.nodes);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_RETRY.timeoutMs;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RaftClientError("invalid", `timeoutMs must be a positive number of ms, got ${timeoutMs}`);
    this.policy = { ...DEFAULT_RETRY, settleOnHints: true, ...opts.retry, timeoutMs };
    this.clientId = opts.clientId ?? `${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`;
    const idBytes = utf8Bytes(this.clientId);
    if (idBytes === 0 || idBytes > CLIENT_ID_BYTES_MAX || hasLoneSurrogate(this.clientId)) {
      throw new RaftClientError("invalid", `clientId must be 1 to ${CLIENT_ID_BYTES_MAX} bytes of valid text; got ${idBytes} bytes`);
    }
    const ids = this.nodes.map((n) => n.id);
    this.tracker = new LeaderTracker(ids);
    const creds = channelCredentials(opts.tls === undefined ? null : checkedTls(opts.tls));
    for (const n of this.nodes) this.connections.set(n.id, new NodeConnection(n, ids, creds, opts.tls !== undefined));
    this.ops = new Operations(this.policy, this.tracker, new Session(this.clientId), this.connections, opts.concurrentSetsMax ?? 1024);
  }

  /** The leader this client last heard of, or null. */
  get leader(): NodeId | null {
    return this.tracker.knownLeader;
  }

  /** Stores `value` under `key` once a majority holds it. Retried SETs apply once. */
  set(key: string, value: string): Promise<void> {
    // A throw in the executor (closed, invalid, busy) rejects the promise.
    return new Promise<void>((resolve, reject) => this.ops.begin(new Operation(this.ops, setLine(key, value), true, resolve, reject)));
  }

  /** The value of `key` ("" when it was never set), read from a leader holding its lease. */
  get(key: string): Promise<string> {
    return new Promise<string>((resolve, reject) => this.ops.begin(new Operation(this.ops, getLine(key), false, resolve, reject)));
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

  // ---------------------------------------------------------------- membership (admin.ts)

  /** The leader's configuration: members, their roles, a transfer in progress. */
  members(): Promise<MemberList> {
    return admin.listMembers(this.adminHost());
  }

  /** Adds a member as a learner (resolves once that is committed); the leader makes it a voter once caught up (`waitForVoter`). */
  addMember(id: number, address: string): Promise<void> {
    return admin.addMember(this.adminHost(), nodeId(id), address);
  }

  /** Waits until the leader lists `id` as a voter; `onProgress` hears each look. */
  waitForVoter(id: number, timeoutMs: number, onProgress?: (role: MemberInfo["role"] | "absent", elapsedMs: number) => void): Promise<void> {
    return admin.waitForVoter(this.adminHost(), nodeId(id), timeoutMs, onProgress);
  }

  /** Removes a member (the leader too: it hands leadership over once the change commits). */
  removeMember(id: number): Promise<void> {
    return admin.removeMember(this.adminHost(), nodeId(id));
  }

  /** Hands leadership to `to` (default: the leader's most up-to-date voter); resolves with the target's id once it was told to stand. */
  transferLeader(to: number | null = null): Promise<NodeId> {
    return admin.transferLeader(this.adminHost(), to === null ? null : nodeId(to));
  }

  private adminHost(): admin.AdminHost {
    this.checkOpen();
    return { tracker: this.tracker, timeoutMs: this.policy.timeoutMs, connection: (id) => this.connection(id) };
  }

  /** Closes every connection; operations in flight and later calls fail with code "closed". */
  close(): void {
    if (this.ops.closed) return;
    for (const c of this.connections.values()) c.close();
    this.ops.closeAll();
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
        members: s.members.map((m) => ({ id: m.id as NodeId, address: m.address, role: m.learner ? "learner" : "voter" })),
        transferringTo: /^[0-9]+$/.test(s.transferringTo) ? (Number(s.transferringTo) as NodeId) : null,
      };
    } catch (err) {
      return { id: n.id, address: n.address, reachable: false, error: err instanceof Error ? err.message : String(err) };
    }
  }

  private connection(id: NodeId): NodeConnection {
    return this.ops.connection(id);
  }

  private checkOpen(): void {
    if (this.ops.closed) throw new RaftClientError("closed", "the client is closed");
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

/** `SET <key> <value>`, checked as requestLine checks it; a key and value of plain ASCII skip the parser. */
export function setLine(key: string, value: string): string {
  if (plainKey(key) && plainValue(value)) return `SET ${key} ${value}`;
  return requestLine({ kind: "set", key, value, clientId: "", sequence: 0, firstUnanswered: 0 });
}

/** `GET <key>`, checked as requestLine checks it. */
export function getLine(key: string): string {
  return plainKey(key) ? `GET ${key}` : requestLine({ kind: "get", key });
}

/**
 * A key of 1 to KEY_BYTES_MAX characters from `!` to `~`: the node's parser reads `SET <key> ...`
 * and `GET <key>` back as exactly this key (no space, tab or line break; ASCII, so its UTF-8
 * bytes are its characters), and checkKey accepts it.
 */
function plainKey(key: string): boolean {
  if (key.length === 0 || key.length > KEY_BYTES_MAX) return false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** A value of at most VALUE_BYTES_MAX characters from space to `~`: read back as itself after `SET <key> `. */
function plainValue(value: string): boolean {
  if (value.length > VALUE_BYTES_MAX) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
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
