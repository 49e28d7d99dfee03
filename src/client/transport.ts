// One client connection to one node over gRPC: ServeClient and Status, answers translated into
// the transport-neutral NodeAnswer that the retry logic (retry.ts) understands.

import { makeClientConstructor, Metadata, status as grpcStatus, type ChannelCredentials, type Client, type ServiceDefinition, type ServiceError } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { RaftClientClient, type ServeClientReply, type StatusReply } from "../gen/raft.js";
import { nodeId, type ClientErrorCode, type NodeId } from "../raft/index.js";
import { CHANNEL_OPTIONS } from "./channel.js";
import type { NodeAddress } from "./nodes.js";
import type { NodeAnswer } from "./retry.js";

const KNOWN_CODES: readonly ClientErrorCode[] = ["not-leader", "stepped-down", "overloaded", "invalid"];

/** grpc.health.v1.Health, from the definition grpc-health-check ships. */
const HealthClient = makeClientConstructor(healthService as unknown as ServiceDefinition, "grpc.health.v1.Health");
type HealthCheck = (args: { service: string }, meta: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, reply?: { status: string }) => void) => void;

export class NodeConnection {
  private readonly client: RaftClientClient;

  constructor(
    readonly node: NodeAddress,
    private readonly memberIds: readonly NodeId[],
    /** Plain text or TLS (see tls.ts). */
    private readonly channelCredentials: ChannelCredentials,
    private readonly tls: boolean,
  ) {
    this.client = new RaftClientClient(node.address, channelCredentials, CHANNEL_OPTIONS);
  }

  /** Sends one request line; never rejects: a failed call is an "unreachable" answer. */
  serve(line: string, clientId: string, sequence: number, firstUnanswered: number, timeoutMs: number): Promise<NodeAnswer> {
    return new Promise((resolve) => {
      const deadline = Date.now() + timeoutMs;
      this.client.serveClient({ Request: line, ClientId: clientId, Sequence: sequence, FirstUnanswered: firstUnanswered }, new Metadata(), { deadline }, (err, reply) => {
        resolve(err !== null || reply === undefined ? unreachable(err, this.tls) : this.answerOf(reply));
      });
    });
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

  close(): void {
    this.client.close();
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
  return { kind: "unreachable", message: `${name}: ${details}${tlsHint(details, tls)}` };
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
