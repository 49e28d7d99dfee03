// One client connection to one node over gRPC: requests over one ServeClientStream, Status and
// health as unary calls, answers translated into the transport-neutral NodeAnswer that the retry
// logic (retry.ts) understands.
//
// The stream. Every request a RaftClient sends to this node goes on one long-lived
// ServeClientStream, named by a RequestId this connection hands out (1, 2, 3, ...; a retry gets a
// new one, so a late answer to an earlier attempt is recognised and dropped); answers come back in
// any order and are matched by it. The stream opens with the first request and is dropped, its
// unanswered requests answered "unreachable" (their retry logic moves on), when it fails, when
// the node ends it (it is stopping), or when a request goes unanswered past its attempt deadline
// while nothing at all came back on the stream since that request was sent (a dead connection);
// the next request opens another. A request that merely waits long (a SET waiting for its
// commit) is answered "unreachable" at its deadline and the stream stays. An idle stream is
// closed after STREAM_IDLE_MS, so a client left open does not keep a process alive for long.
// Per request there is no timer and no promise: one sweep timer per connection checks deadlines.

import { makeClientConstructor, Metadata, status as grpcStatus, type ChannelCredentials, type Client, type ClientDuplexStream, type ServiceDefinition, type ServiceError } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { RaftClientClient, type AdminReply, type MembersReply, type ServeClientArgs, type ServeClientReply, type StatusReply } from "../gen/raft.js";
import { nodeId, type ClientErrorCode, type NodeId } from "../raft/index.js";
import { CHANNEL_OPTIONS } from "./channel.js";
import type { NodeAddress } from "./nodes.js";
import type { NodeAnswer } from "./retry.js";

const KNOWN_CODES: readonly ClientErrorCode[] = ["not-leader", "stepped-down", "overloaded", "invalid"];

/** grpc.health.v1.Health, from the definition grpc-health-check ships. */
const HealthClient = makeClientConstructor(healthService as unknown as ServiceDefinition, "grpc.health.v1.Health");
type HealthCheck = (args: { service: string }, meta: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, reply?: { status: string }) => void) => void;

/** A request the stream carries: its wire form (RequestId set by the connection) and who takes its answer. */
export interface StreamCall {
  readonly args: ServeClientArgs;
  /** performance.now() by which the answer must come; set by `send`. */
  deadlineMs: number;
  /** performance.now() when it was written; set by `send`. */
  sentAtMs: number;
  /** The one answer of this attempt: the node's, or "unreachable". */
  onAnswer(from: NodeId, answer: NodeAnswer): void;
}

/** An operator's call to one node. */
export type AdminCall =
  | { readonly kind: "list" }
  | { readonly kind: "add"; readonly id: NodeId; readonly address: string }
  | { readonly kind: "remove"; readonly id: NodeId }
  | { readonly kind: "transfer"; readonly to: NodeId | null };

/** How often a connection checks its requests' deadlines (and its stream's idleness). */
const SWEEP_INTERVAL_MS = 50;
/** A stream with nothing to carry for this long is closed; the next request opens another. */
export const STREAM_IDLE_MS = 2_000;

export class NodeConnection {
  private readonly client: RaftClientClient;
  private stream: ClientDuplexStream<ServeClientArgs, ServeClientReply> | null = null;
  /** Requests written on the current stream and not answered yet, by RequestId. */
  private readonly waiting = new Map<number, StreamCall>();
  private nextRequestId = 1;
  /** performance.now() of the last answer on the current stream (or its opening). */
  private lastReceivedMs = 0;
  /** performance.now() of the last request written or answer received. */
  private lastActivityMs = 0;
  private sweeper: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    readonly node: NodeAddress,
    private readonly memberIds: readonly NodeId[],
    /** Plain text or TLS (see tls.ts). */
    private readonly channelCredentials: ChannelCredentials,
    private readonly tls: boolean,
  ) {
    this.client = new RaftClientClient(node.address, channelCredentials, CHANNEL_OPTIONS);
  }

  /** Requests on the stream awaiting their answer. */
  get outstanding(): number {
    return this.waiting.size;
  }

  /**
   * Writes `call` on the stream (opening one if needed); its answer comes to `call.onAnswer`
   * exactly once, never synchronously from here: the node's, or "unreachable" when the stream
   * fails or `timeoutMs` passes.
   */
  send(call: StreamCall, timeoutMs: number): void {
    const now = performance.now();
    const stream = this.stream ?? this.openStream(now);
    const id = this.nextRequestId++;
    call.args.RequestId = id;
    call.deadlineMs = now + timeoutMs;
    call.sentAtMs = now;
    this.lastActivityMs = now;
    this.waiting.set(id, call);
    stream.write(call.args);
  }


  status(timeoutMs: number): Promise<StatusReply> {
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      this.client.status({}, new Metadata(), { deadline }, (err, reply) => {
        if (err !== null || reply === undefined) reject(new Error(unreachable(err, this.tls).message));
        else resolve(reply);
      });
    });
  }

  /** One operator's call (admin.ts): its reply, or an Error saying why the node was unreachable. */
  admin(call: AdminCall, timeoutMs: number): Promise<AdminReply | MembersReply> {
    return new Promise((resolve, reject) => {
      const done = (err: ServiceError | null, reply?: AdminReply | MembersReply): void => {
        if (err !== null || reply === undefined) reject(new Error(unreachable(err, this.tls).message));
        else resolve(reply);
      };
      const options = { deadline: Date.now() + timeoutMs };
      switch (call.kind) {
        case "list":
          return void this.client.listMembers({}, new Metadata(), options, done);
        case "add":
          return void this.client.addMember({ id: call.id, address: call.address }, new Metadata(), options, done);
        case "remove":
          return void this.client.removeMember({ id: call.id }, new Metadata(), options, done);
        case "transfer":
          return void this.client.transferLeader({ any: call.to === null, to: call.to ?? 0 }, new Metadata(), options, done);
      }
    });
  }

  /** grpc.health.v1 Check of the whole node: SERVING, NOT_SERVING or UNKNOWN. */
  health(timeoutMs: number): Promise<string> {
    const client: Client = new HealthClient(this.node.address, this.channelCredentials, CHANNEL_OPTIONS);
    return new Promise<string>((resolve, reject) => {
      const check = (client as unknown as { check: HealthCheck }).check.bind(client);
      check({ service: "" }, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, reply) => {
        if (err !== null || reply === undefined) reject(new Error(unreachable(err, this.tls).message));
        else resolve(reply.status);
      });
    }).finally(() => client.close());
  }

  /** Ends the stream and the channel; requests still waiting get no answer (the caller settles them). */
  close(): void {
    this.closed = true;
    this.waiting.clear();
    this.stopSweeper();
    const stream = this.stream;
    this.stream = null;
    stream?.cancel();
    this.client.close();
  }

  private openStream(now: number): ClientDuplexStream<ServeClientArgs, ServeClientReply> {
    const stream = this.client.serveClientStream();
    this.stream = stream;
    this.lastReceivedMs = now;
    stream.on("data", (reply: ServeClientReply) => {
      if (this.stream !== stream) return; // a dropped stream: its requests were answered already
      const now = performance.now();
      this.lastReceivedMs = now;
      this.lastActivityMs = now;
      const call = this.waiting.get(reply.RequestId);
      if (call === undefined) return; // a late answer to an attempt that timed out
      this.waiting.delete(reply.RequestId);
      call.onAnswer(this.node.id, this.answerOf(reply));
    });
    stream.on("error", (err: ServiceError) => {
      if (this.stream === stream) this.dropStream(unreachable(err, this.tls).message);
    });
    stream.on("end", () => {
      if (this.stream === stream) this.dropStream("the node ended the stream (it is stopping, or restarting)");
    });
    this.sweeper ??= setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
    return stream;
  }

  /** Forgets the stream and answers every request on it "unreachable"; the next send opens another. */
  private dropStream(message: string): void {
    const stream = this.stream;
    this.stream = null;
    stream?.cancel();
    if (this.waiting.size === 0) return;
    const lost = [...this.waiting.values()];
    this.waiting.clear();
    const answer: NodeAnswer = { kind: "unreachable", message };
    for (const call of lost) call.onAnswer(this.node.id, answer);
  }

  /** Answers requests past their deadline; drops a stream that went silent; closes an idle one. */
  private sweep(): void {
    if (this.closed) return this.stopSweeper();
    const now = performance.now();
    if (this.waiting.size === 0) {
      if (this.stream !== null && now - this.lastActivityMs >= STREAM_IDLE_MS) {
        const stream = this.stream;
        this.stream = null;
        stream.end(); // half-close: the node ends its side, nothing being unanswered
      }
      if (this.stream === null) this.stopSweeper();
      return;
    }
    let expired: StreamCall[] | null = null;
    let silent = false;
    for (const [id, call] of this.waiting) {
      if (call.deadlineMs > now) continue;
      this.waiting.delete(id);
      (expired ??= []).push(call);
      if (this.lastReceivedMs < call.sentAtMs) silent = true;
    }
    if (expired === null) return;
    const timeoutMs = Math.round(now - expired[0]!.sentAtMs);
    if (silent) this.dropStream(`no answer on the stream for ${timeoutMs} ms; reconnecting`);
    const answer: NodeAnswer = { kind: "unreachable", message: `no answer within ${timeoutMs} ms` };
    for (const call of expired) call.onAnswer(this.node.id, answer);
  }

  private stopSweeper(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  private answerOf(reply: ServeClientReply): NodeAnswer {
    if (reply.Success) return { kind: "ok", value: reply.Data };
    const code = KNOWN_CODES.find((c) => c === reply.ErrorCode) ?? "unknown";
    return { kind: "error", code, message: reply.Data || "the node refused the request", leaderHint: this.leaderOf(reply.LeaderID) };
  }

  /** LeaderID as a member id, or null when empty, malformed or not a member. */
  private leaderOf(text: string): NodeId | null {
    if (!/^(0|[1-9][0-9]{0,9})$/.test(text)) return null;
    const id = nodeId(Number(text));
    return this.memberIds.includes(id) ? id : null;
  }
}

function unreachable(err: ServiceError | null, tls: boolean): { kind: "unreachable"; message: string } {
  if (err === null) return { kind: "unreachable", message: "no reply" };
  const name = (grpcStatus as unknown as Record<number, string | undefined>)[err.code] ?? `code ${err.code}`;
  // grpc-js ends some details with an empty "Resolution note: ".
  const details = (err.details || err.message).replace(/\.? ?Resolution note: ?$/, "");
  const older = err.code === grpcStatus.UNIMPLEMENTED ? " (the node is older than this client and has no ServeClientStream: upgrade it)" : "";
  return { kind: "unreachable", message: `${name}: ${details}${older}${tlsHint(details, tls)}` };
}

/** What to check when a connection failed, perhaps in the TLS handshake. */
function tlsHint(details: string, tls: boolean): string {
  // A TLS server drops a plain-text connection at once, which looks like a failed connect.
  if (!tls && /Failed to connect|Connection dropped/i.test(details)) return " (is the node up? if the cluster serves TLS, give --tls-ca)";
  if (/certificate|self.signed|unable to verify|Hostname\/IP does not match/i.test(details)) {
    return " (the node's TLS certificate failed verification: check that --tls-ca is the CA that signed it and that it names the host you connect to)";
  }
  if (/before secure TLS connection was established|wrong version number|packet length too long/i.test(details)) {
    return " (TLS on one side only: give --tls-ca when the nodes serve TLS, or none when they do not)";
  }
  return "";
}
