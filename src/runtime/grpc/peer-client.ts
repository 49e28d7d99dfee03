// Outgoing RPCs to one peer: AppendEntries over one long-lived bidirectional stream (AppendStream:
// no call set up per batch; answers come back in order), RequestVote as unary calls with
// deadlines, a snapshot as an InstallSnapshot stream (one at a time); the replies fed back to
// the driver as core messages. A stream that fails, ends, or leaves a request unanswered past the
// AppendEntries deadline is dropped and the next send opens another.
//
// Each peer has its own channel (reconnecting with backoff) and its own bound on outstanding
// calls, so a slow or dead peer never delays the others. Beyond the bound a message is skipped:
// the core re-sends on its next heartbeat. Failures are reported as the dump line
// `Error occurred while sending RPC to Node {id}.`, at most once per interval per peer, with the
// count of failures left unreported in between.

import { credentials, Metadata, status, type ChannelCredentials, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { RaftPeerClient, type AppendEntriesArgs, type AppendEntriesReply, type InstallSnapshotReply, type RequestVoteReply } from "../../gen/raft.js";
import { formatEvent } from "../../raft/index.js";
import type { NodeId, Result, SnapshotRequest } from "../../raft/index.js";
import type { PeerReply, PeerRequest } from "./driver.js";
import { latencyTraceOn, markLatency } from "./latency-trace.js";
import { snapshotRequestChunks } from "./snapshot-transfer.js";
import type { Clock } from "./clock.js";
import type { LogEvent } from "./event-log.js";
import { CHANNEL_OPTIONS } from "./codec.js";
import { appendReplyFromWire, appendRequestToWire, snapshotReplyFromWire, timeoutNowToWire, voteReplyFromWire, voteRequestToWire } from "./wire.js";

export interface PeerLimits {
  /** AppendEntries deadline. */
  readonly appendDeadlineMs: number;
  /** RequestVote deadline. */
  readonly voteDeadlineMs: number;
  /** Calls awaiting an answer from one peer, at most. */
  readonly outstandingCountMax: number;
  /** InstallSnapshot deadline: the whole transfer. */
  readonly snapshotDeadlineMs: number;
  /** Shortest time between two rpc-error lines about one peer. */
  readonly errorReportIntervalMs: number;
}

export interface PeerOptions {
  readonly selfId: NodeId;
  readonly peerId: NodeId;
  readonly address: string;
  readonly limits: PeerLimits;
  readonly clock: Clock;
  /** A reply, translated: the driver steps the core with it. */
  readonly onReply: (m: PeerReply) => void;
  /** An event line for dump.txt and the console. */
  readonly log: (line: string, event: LogEvent) => void;
  /** TLS credentials for this peer's channel (default: plain text). */
  readonly credentials?: ChannelCredentials;
}

/** Reports failed RPCs to one peer, rate-limited, and the recovery after them. */
export class RpcErrorReporter {
  private lastReportMs = -Infinity;
  private unreportedCount = 0;
  private failingSinceReport = false;

  constructor(
    private readonly peerId: NodeId,
    private readonly intervalMs: number,
    private readonly clock: Clock,
    private readonly log: (line: string, event: LogEvent) => void,
  ) {}

  failed(detail: string): void {
    const now = this.clock.nowMs();
    if (now - this.lastReportMs < this.intervalMs) {
      this.unreportedCount++;
      return;
    }
    const more = this.unreportedCount > 0 ? `; ${this.unreportedCount} more failed since the last report` : "";
    const fields = { peer: this.peerId, detail, unreported: this.unreportedCount };
    this.log(`${formatEvent({ kind: "rpc-error", followerId: this.peerId })} (${detail}${more})`, { event: "rpc-error", fields });
    this.lastReportMs = now;
    this.unreportedCount = 0;
    this.failingSinceReport = true;
  }

  succeeded(): void {
    if (!this.failingSinceReport) return;
    const more = this.unreportedCount > 0 ? ` (${this.unreportedCount} failures since the last report)` : "";
    this.log(`RPCs to Node ${this.peerId} succeed again${more}.`, { event: "rpc-recovered", fields: { peer: this.peerId, failures: this.unreportedCount } });
    this.failingSinceReport = false;
    this.unreportedCount = 0;
    this.lastReportMs = -Infinity;
  }
}

export class PeerClient {
  private readonly client: RaftPeerClient;
  private readonly reporter: RpcErrorReporter;
  private outstandingCount = 0;
  private skippedCount = 0;
  /** A snapshot is being streamed to this peer. */
  private snapshotSending = false;
  /** The AppendStream, or null until the next append opens one. */
  private stream: ClientDuplexStream<AppendEntriesArgs, AppendEntriesReply> | null = null;
  /** Send times (Date.now()) of the stream's requests not answered yet, oldest first. */
  private readonly streamWaiting: number[] = [];
  private closed = false;

  constructor(private readonly opts: PeerOptions) {
    this.client = new RaftPeerClient(opts.address, opts.credentials ?? credentials.createInsecure(), CHANNEL_OPTIONS);
    this.reporter = new RpcErrorReporter(opts.peerId, opts.limits.errorReportIntervalMs, opts.clock, opts.log);
  }

  /** Calls waiting for an answer now. */
  get outstanding(): number {
    return this.outstandingCount;
  }

  /** Messages skipped because the peer had too many calls outstanding. */
  get skipped(): number {
    return this.skippedCount;
  }

  send(m: PeerRequest): void {
    if (this.closed) return;
    if (m.type === "snapshot-request") return this.sendSnapshot(m);
    if (this.outstandingCount >= this.opts.limits.outstandingCountMax) {
      this.skippedCount++;
      this.reporter.failed(`${this.outstandingCount} calls are outstanding; skipped a ${m.type}, the leader re-sends on its heartbeat`);
      return;
    }
    this.outstandingCount++;
    if (m.type === "vote-request") this.sendVote(m);
    else if (m.type === "timeout-now") this.sendTimeoutNow(m);
    else this.sendAppend(m);
  }

  close(): void {
    this.closed = true;
    this.stream?.cancel();
    this.stream = null;
    this.client.close();
  }

  private sendVote(m: Extract<PeerRequest, { type: "vote-request" }>): void {
    const deadline = Date.now() + this.opts.limits.voteDeadlineMs;
    this.client.requestVote(voteRequestToWire(m), new Metadata(), { deadline }, (err, reply: RequestVoteReply | undefined) =>
      this.settle(err, reply, (r) => voteReplyFromWire(r, this.opts.peerId, this.opts.selfId)),
    );
  }

  /** One way: the empty reply only says it arrived; a lost one ends the transfer by its deadline. */
  private sendTimeoutNow(m: Extract<PeerRequest, { type: "timeout-now" }>): void {
    const deadline = Date.now() + this.opts.limits.voteDeadlineMs;
    this.client.timeoutNow(timeoutNowToWire(m), new Metadata(), { deadline }, (err) => {
      this.outstandingCount--;
      if (this.closed) return;
      if (err !== null) this.reporter.failed(describeError(err));
      else this.reporter.succeeded();
    });
  }

  private sendAppend(m: Extract<PeerRequest, { type: "append-request" }>): void {
    const now = Date.now();
    const oldest = this.streamWaiting[0];
    if (oldest !== undefined && now - oldest > this.opts.limits.appendDeadlineMs) this.dropStream(`no answer on the AppendEntries stream within ${this.opts.limits.appendDeadlineMs} ms`);
    const stream = this.stream ?? this.openStream();
    if (latencyTraceOn && m.entries.length > 0) markLatency("append-sent", m.prevLogIndex + m.entries.length);
    this.streamWaiting.push(now);
    stream.write(appendRequestToWire(m));
  }

  private openStream(): ClientDuplexStream<AppendEntriesArgs, AppendEntriesReply> {
    const stream = this.client.appendStream();
    this.stream = stream;
    stream.on("data", (reply: AppendEntriesReply) => {
      if (this.stream !== stream) return; // a dropped stream's late answers: the leader re-sends
      this.streamWaiting.shift();
      this.settle(null, reply, (r) => appendReplyFromWire(r, this.opts.peerId, this.opts.selfId));
    });
    stream.on("error", (err: ServiceError) => {
      if (this.stream === stream) this.dropStream(describeError(err));
    });
    stream.on("end", () => {
      if (this.stream === stream) this.dropStream("the AppendEntries stream ended");
    });
    return stream;
  }

  /** Forgets the stream and the requests it left unanswered (the core re-sends on its heartbeat). */
  private dropStream(detail: string): void {
    const stream = this.stream;
    if (stream === null) return;
    this.stream = null;
    stream.cancel();
    this.outstandingCount -= this.streamWaiting.length;
    this.streamWaiting.length = 0;
    if (!this.closed) this.reporter.failed(detail);
  }

  /**
   * Streams a snapshot in chunks, waiting for the stream to drain between them so a large one
   * never sits in memory as messages. One transfer at a time: the core asks again if this fails.
   */
  private sendSnapshot(m: SnapshotRequest): void {
    if (this.snapshotSending) return;
    this.snapshotSending = true;
    this.outstandingCount++;
    const deadline = Date.now() + this.opts.limits.snapshotDeadlineMs;
    const call = this.client.installSnapshot(new Metadata(), { deadline }, (err, reply: InstallSnapshotReply | undefined) => {
      this.snapshotSending = false;
      this.settle(err, reply, (r) => snapshotReplyFromWire(r, this.opts.peerId, this.opts.selfId));
    });
    const chunks = snapshotRequestChunks(m);
    const pump = (): void => {
      for (let next = chunks.next(); !next.done; next = chunks.next()) {
        if (this.closed) return void call.cancel();
        if (!call.write(next.value)) return void call.once("drain", pump);
      }
      call.end();
    };
    pump();
  }

  private settle<W>(err: ServiceError | null, reply: W | undefined, translate: (r: W) => Result<PeerReply>): void {
    this.outstandingCount--;
    if (this.closed) return;
    if (err !== null || reply === undefined) {
      this.reporter.failed(describeError(err));
      return;
    }
    const message = translate(reply);
    if (!message.ok) {
      this.reporter.failed(`bad reply: ${message.error}`);
      return;
    }
    this.reporter.succeeded();
    if (latencyTraceOn && message.value.type === "append-reply" && message.value.success) markLatency("reply-received", message.value.matchIndex);
    this.opts.onReply(message.value);
  }
}

function describeError(err: ServiceError | null): string {
  if (err === null) return "no reply";
  const name = (status as unknown as Record<number, string | undefined>)[err.code] ?? `code ${err.code}`;
  // grpc-js ends some details with an empty "Resolution note: ".
  return `${name}: ${(err.details || err.message).replace(/\.? ?Resolution note: ?$/, "")}`;
}
