// The gRPC server of one node: the RaftPeer service (RequestVote, AppendEntries) and the
// RaftClient service (ServeClient, ServeClientStream, Status) on one port.
//
// Peer requests are validated at the edge (wire.ts) and must be addressed to this node by another
// node (any node: a joining node hears from a leader it has never been told of); anything else is answered INVALID_ARGUMENT or FAILED_PRECONDITION and never reaches the
// core. Client requests are parsed with parseRequest; a bad one is answered Success=false with the
// reason in Data and ErrorCode "invalid". ServeClientReply on success: Data is the value for a GET
// and "" for a SET; LeaderID is this node's id. On failure: Data is the reason, LeaderID the leader
// this node believes in ("" when none), ErrorCode one of not-leader, stepped-down, overloaded,
// invalid, timeout. No request, however malformed, throws out of a handler.
//
// ServeClientStream serves the same requests over one long-lived stream: each request is checked
// and submitted exactly as a unary one (the driver's bound on pending calls, the size checks of
// parseRequest), and its answer is written with its RequestId as soon as it comes, in any order.
// A bad request is answered with its error; nothing a request holds ends the stream or the other
// requests on it. The node ends its streams when it stops (ClientStreams.endAll), once the
// driver has answered what was pending. Status and the operators' calls are in admin-service.ts.

import {
  Server,
  ServerCredentials,
  status,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { adminHandlers } from "./admin-service.js";
import { checkCaller, guard, type ErrorStatus, type GuardOptions } from "./call-guard.js";
import type {
  AppendEntriesArgs,
  AppendEntriesReply,
  InstallSnapshotChunk,
  InstallSnapshotReply,
  RequestVoteArgs,
  RequestVoteReply,
  ServeClientArgs,
  ServeClientReply,
  TimeoutNowArgs,
  TimeoutNowReply,
} from "../../gen/raft.js";
import { checkSession, parseRequest } from "../../raft/index.js";
import type { AppendReply, AppendRequest, NodeId, Result, SnapshotReply, SnapshotRequest, TimeoutNow, VoteReply, VoteRequest } from "../../raft/index.js";
import { CLIENT_SERVICE, PEER_SERVICE, SERVER_OPTIONS, type StreamRequest } from "./codec.js";
import type { CallResult, NodeDriver } from "./driver.js";
import type { NodeMetrics } from "./metrics.js";
import { markLatency } from "./latency-trace.js";
import { SnapshotReceiver } from "./snapshot-transfer.js";
import { appendReplyToWire, appendRequestFromWire, snapshotReplyToWire, timeoutNowFromWire, voteReplyToWire, voteRequestFromWire } from "./wire.js";

export interface ServerOptions extends GuardOptions {
  readonly metrics: NodeMetrics | null;
  /** Open ServeClientStream calls, so that a stopping node can end them (default: not tracked). */
  readonly clientStreams?: ClientStreams;
}

/** The open ServeClientStream calls of one server. */
export class ClientStreams {
  private readonly open = new Set<ServerDuplexStream<StreamRequest, ServeClientReply>>();

  get size(): number {
    return this.open.size;
  }

  add(call: ServerDuplexStream<StreamRequest, ServeClientReply>): void {
    this.open.add(call);
  }

  delete(call: ServerDuplexStream<StreamRequest, ServeClientReply>): void {
    this.open.delete(call);
  }

  /** Ends every open stream (status OK), after the answers already written; clients reopen elsewhere. */
  endAll(): void {
    for (const call of this.open) if (!call.destroyed && !call.writableEnded) call.end();
    this.open.clear();
  }
}

type Call<Req> = ServerUnaryCall<Result<Req>, unknown>;

export function createServer(opts: ServerOptions): Server {
  const server = new Server(SERVER_OPTIONS);
  server.addService(PEER_SERVICE, peerHandlers(opts));
  server.addService(CLIENT_SERVICE, clientHandlers(opts));
  return server;
}

/** Binds `address`; the error says what to do (port in use, no such address). Resolves with the port. */
export function bindServer(server: Server, address: string, creds: ServerCredentials = ServerCredentials.createInsecure()): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, creds, (err, port) => {
      if (err === null) resolve(port);
      else reject(new Error(bindErrorMessage(address, err.message)));
    });
  });
}

export function bindErrorMessage(address: string, detail: string): string {
  if (detail.includes("EADDRINUSE")) return `cannot listen on ${address}: the port is in use (another raft-node or program holds it); stop it, or give this node another port`;
  if (detail.includes("EADDRNOTAVAIL")) return `cannot listen on ${address}: this machine has no such address; use --listen 0.0.0.0:<port> to listen on every interface`;
  if (detail.includes("EACCES")) return `cannot listen on ${address}: permission denied (ports below 1024 need privileges); use a port above 1023`;
  return `cannot listen on ${address}: ${detail}`;
}

/** Stops taking calls; waits up to `graceMs` for calls in progress, then cancels them. */
export function shutdownServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

// ---------------------------------------------------------------- peer service

function peerHandlers(opts: ServerOptions): UntypedServiceImplementation {
  return {
    requestVote: (call: Call<RequestVoteArgs>, callback: sendUnaryData<RequestVoteReply>) =>
      guard(opts, callback, call, "peer", (driver) => handlePeer(driver, call.request, voteRequestFromWire, callback, (r) => (r.type === "vote-reply" ? voteReplyToWire(r) : null))),
    appendEntries: (call: Call<AppendEntriesArgs>, callback: sendUnaryData<AppendEntriesReply>) =>
      guard(opts, callback, call, "peer", (driver) => handlePeer(driver, call.request, appendRequestFromWire, callback, (r) => (r.type === "append-reply" ? appendReplyToWire(r) : null))),
    appendStream: (call: ServerDuplexStream<Result<AppendEntriesArgs>, AppendEntriesReply>) => serveAppendStream(opts, call),
    installSnapshot: (call: ServerReadableStream<Result<InstallSnapshotChunk>, InstallSnapshotReply>, callback: sendUnaryData<InstallSnapshotReply>) =>
      guard(opts, callback, call, "peer", (driver) => receiveSnapshot(driver, call, callback)),
    timeoutNow: (call: Call<TimeoutNowArgs>, callback: sendUnaryData<TimeoutNowReply>) => guard(opts, callback, call, "peer", (driver) => receiveTimeoutNow(driver, call.request, callback)),
  };
}

/** TimeoutNow is one way: the node steps it and answers at once (the election that follows is its effect). */
function receiveTimeoutNow(driver: NodeDriver, decoded: Result<TimeoutNowArgs>, callback: sendUnaryData<TimeoutNowReply>): void {
  const m = decoded.ok ? timeoutNowFromWire(decoded.value) : decoded;
  if (!m.ok) return callback({ code: status.INVALID_ARGUMENT, details: m.error });
  const misaddressed = checkAddressed(driver.id, m.value);
  if (misaddressed !== null) return callback(misaddressed);
  driver.deliverOneWay(m.value);
  callback(null, {});
}

/**
 * One leader's AppendEntries stream: each request is checked as a unary one would be, and its
 * answer written back in order. A bad request ends the stream with the error (the leader opens
 * another); a request the node does not answer (shutting down) gets nothing.
 */
function serveAppendStream(opts: ServerOptions, call: ServerDuplexStream<Result<AppendEntriesArgs>, AppendEntriesReply>): void {
  const refused = checkCaller(opts, call, "peer");
  if (refused !== null) return void call.emit("error", refused);
  let ended = false;
  const fail = (e: ErrorStatus): void => {
    if (ended) return;
    ended = true;
    call.emit("error", e);
  };
  call.on("data", (decoded: Result<AppendEntriesArgs>) => {
    if (ended) return;
    try {
      const driver = opts.driver();
      if (driver === null) return fail({ code: status.UNAVAILABLE, details: "the node is starting; retry shortly" });
      const m = decoded.ok ? appendRequestFromWire(decoded.value) : decoded;
      if (!m.ok) return fail({ code: status.INVALID_ARGUMENT, details: m.error });
      const misaddressed = checkAddressed(driver.id, m.value);
      if (misaddressed !== null) return fail(misaddressed);
      if (m.value.entries.length > 0) markLatency("append-received", m.value.prevLogIndex + m.value.entries.length);
      driver.deliverRequest(m.value).then(
        (reply) => {
          if (!ended && reply?.type === "append-reply") call.write(appendReplyToWire(reply));
        },
        (err: unknown) => fail({ code: status.UNAVAILABLE, details: err instanceof Error ? err.message : String(err) }),
      );
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      opts.log(`internal error in the AppendStream handler: ${detail}`);
      fail({ code: status.INTERNAL, details: detail });
    }
  });
  call.on("end", () => {
    if (ended) return;
    ended = true;
    call.end();
  });
  call.on("error", () => {
    ended = true; // the leader went away or cancelled; nothing to answer
  });
}

/** Reads one InstallSnapshot stream, checking each chunk; the core sees the snapshot once whole. */
function receiveSnapshot(
  driver: NodeDriver,
  call: ServerReadableStream<Result<InstallSnapshotChunk>, InstallSnapshotReply>,
  callback: sendUnaryData<InstallSnapshotReply>,
): void {
  const receiver = new SnapshotReceiver();
  let refused = false;
  const refuse = (e: ErrorStatus): void => {
    if (refused) return;
    refused = true;
    callback(e);
    call.destroy();
  };
  call.on("data", (decoded: Result<InstallSnapshotChunk>) => {
    if (refused) return;
    const error = decoded.ok ? receiver.accept(decoded.value) : decoded.error;
    if (error !== null) refuse({ code: status.INVALID_ARGUMENT, details: error });
  });
  call.on("error", () => refuse({ code: status.CANCELLED, details: "the InstallSnapshot stream failed" }));
  call.on("end", () => {
    if (refused) return;
    const m = receiver.finish();
    if (!m.ok) return refuse({ code: status.INVALID_ARGUMENT, details: m.error });
    const misaddressed = checkAddressed(driver.id, m.value);
    if (misaddressed !== null) return refuse(misaddressed);
    answerPeer(driver, m.value, callback, (r) => (r.type === "snapshot-reply" ? snapshotReplyToWire(r) : null));
  });
}

function handlePeer<W, M extends VoteRequest | AppendRequest, R>(
  driver: NodeDriver,
  decoded: Result<W>,
  fromWire: (w: W) => Result<M>,
  callback: sendUnaryData<R>,
  toWire: (reply: PeerReply) => R | null,
): void {
  if (!decoded.ok) return callback({ code: status.INVALID_ARGUMENT, details: decoded.error });
  const m = fromWire(decoded.value);
  if (!m.ok) return callback({ code: status.INVALID_ARGUMENT, details: m.error });
  if (m.value.type === "append-request" && m.value.entries.length > 0) markLatency("append-received", m.value.prevLogIndex + m.value.entries.length);
  const misaddressed = checkAddressed(driver.id, m.value);
  if (misaddressed !== null) return callback(misaddressed);
  answerPeer(driver, m.value, callback, toWire);
}

function answerPeer<R>(driver: NodeDriver, m: PeerRequest, callback: sendUnaryData<R>, toWire: (reply: PeerReply) => R | null): void {
  driver.deliverRequest(m).then(
    (reply) => {
      const wire = reply === null ? null : toWire(reply);
      if (wire === null) callback({ code: status.UNAVAILABLE, details: "the node did not answer this request; retry" });
      else callback(null, wire);
    },
    (err: unknown) => callback({ code: status.UNAVAILABLE, details: err instanceof Error ? err.message : String(err) }),
  );
}

type PeerRequest = VoteRequest | AppendRequest | SnapshotRequest;
type PeerReply = VoteReply | AppendReply | SnapshotReply;

/**
 * A peer message must name this node, and come from another node. Which nodes are peers changes
 * with the configuration (a joining node hears from leaders it was never told of), so any other
 * id is accepted: the core decides what a message from a non-member may do.
 */
function checkAddressed(self: NodeId, m: PeerRequest | TimeoutNow): ErrorStatus | null {
  if (m.to !== self) return { code: status.FAILED_PRECONDITION, details: `this is node ${self}, not node ${m.to}; check the addresses in --cluster and in the configuration (raft-client member list)` };
  if (m.from === self) return { code: status.FAILED_PRECONDITION, details: `a message from node ${self} to itself: two nodes share id ${self}; give each node its own --id` };
  return null;
}

// ---------------------------------------------------------------- client service

function clientHandlers(opts: ServerOptions): UntypedServiceImplementation {
  return {
    serveClient: (call: Call<ServeClientArgs>, callback: sendUnaryData<ServeClientReply>) =>
      guard(opts, callback, call, "client", (driver) => {
        const id = call.request.ok ? call.request.value.RequestId : 0;
        serveRequest(driver, call.request, id, opts.metrics, (reply) => callback(null, reply));
      }),
    serveClientStream: (call: ServerDuplexStream<StreamRequest, ServeClientReply>) => serveClientStream(opts, call),
    ...adminHandlers(opts),
  };
}

/**
 * One ServeClientStream: every request is served as ServeClient serves one, and answered on the
 * stream with its RequestId as soon as its answer comes. The stream ends once the client ended
 * its side and every request it sent is answered, or when the node stops.
 */
function serveClientStream(opts: ServerOptions, call: ServerDuplexStream<StreamRequest, ServeClientReply>): void {
  const refused = checkCaller(opts, call, "client");
  if (refused !== null) return void call.emit("error", refused);
  opts.clientStreams?.add(call);
  let unanswered = 0;
  let clientDone = false;
  const finish = (): void => {
    if (!clientDone || unanswered > 0) return;
    opts.clientStreams?.delete(call);
    if (!call.destroyed && !call.writableEnded) call.end();
  };
  let paused = false;
  const answer = (reply: ServeClientReply): void => {
    unanswered--;
    if (!call.destroyed && !call.writableEnded && !call.write(reply) && !paused) {
      // The client reads its answers more slowly than they come: read no more of its requests
      // until the answers drain, so that a client that does not read cannot pile answers up here.
      paused = true;
      call.pause();
      call.once("drain", () => {
        paused = false;
        call.resume();
      });
    }
    if (clientDone) finish();
  };
  call.on("data", (request: StreamRequest) => {
    unanswered++;
    try {
      const driver = opts.driver();
      if (driver === null) return answer(startingReply(request.requestId));
      serveRequest(driver, request.args, request.requestId, opts.metrics, answer);
    } catch (err) {
      // A bug (requests are checked, not thrown on): this request gets the error, the stream goes on.
      const detail = err instanceof Error ? err.message : String(err);
      opts.log(`internal error in the ServeClientStream handler: ${detail}`);
      answer({ Data: `internal error: ${detail}`, LeaderID: "", Success: false, ErrorCode: "internal", RequestId: request.requestId });
    }
  });
  call.on("end", () => {
    clientDone = true;
    finish();
  });
  // The client cancelled or the connection failed: nothing more can be answered on this stream.
  const gone = (): void => {
    clientDone = true;
    opts.clientStreams?.delete(call);
  };
  call.on("error", gone);
  call.on("close", gone);
}

/** Checks one request, submits it and calls `done` with its one answer (perhaps at once). */
function serveRequest(driver: NodeDriver, decoded: Result<ServeClientArgs>, requestId: number, metrics: NodeMetrics | null, done: (reply: ServeClientReply) => void): void {
  const startedAt = metrics === null ? 0 : performance.now();
  if (!decoded.ok) return refuse(driver, decoded.error, requestId, metrics, startedAt, done);
  const { Request: line, ClientId: clientId, Sequence: sequence } = decoded.value;
  // FirstUnanswered 0 (absent) is the sequence itself: one SET at a time, the rule before windows.
  const firstUnanswered = decoded.value.FirstUnanswered === 0 ? sequence : decoded.value.FirstUnanswered;
  const badSession = checkSession(clientId, sequence, firstUnanswered);
  if (badSession !== null) return refuse(driver, badSession, requestId, metrics, startedAt, done);
  const parsed = parseRequest(line, clientId, sequence, firstUnanswered);
  if (!parsed.ok) return refuse(driver, parsed.error, requestId, metrics, startedAt, done);
  const kind = parsed.value.kind;
  if (kind === "set") markLatency("client-received", 0);
  void driver.submit(parsed.value).then((result) => {
    metrics?.clientRequestDone(kind, result, startedAt);
    done(clientReply(driver, result, requestId));
    if (kind === "set") markLatency("client-answered", 0);
  });
}

/** Answers a bad request "invalid" with the reason. */
function refuse(driver: NodeDriver, message: string, requestId: number, metrics: NodeMetrics | null, startedAt: number, done: (reply: ServeClientReply) => void): void {
  metrics?.clientRequestDone("invalid", { ok: false, code: "invalid" }, startedAt);
  done(clientReply(driver, { ok: false, code: "invalid", message, leaderHint: driver.leaderId }, requestId));
}

function clientReply(driver: NodeDriver, result: CallResult, requestId: number): ServeClientReply {
  if (result.ok) return { Data: result.value, LeaderID: nodeIdText(driver.id), Success: true, ErrorCode: "", RequestId: requestId };
  const leader = result.leaderHint;
  return { Data: result.message, LeaderID: leader === null ? "" : nodeIdText(leader), Success: false, ErrorCode: result.code, RequestId: requestId };
}

/** A request that reached a node still opening its data dir: no leader known here yet. */
function startingReply(requestId: number): ServeClientReply {
  return { Data: "the node is starting; retry shortly", LeaderID: "", Success: false, ErrorCode: "not-leader", RequestId: requestId };
}

/** Node ids as LeaderID text, made once per id rather than once per reply. */
const idTexts = new Map<NodeId, string>();
function nodeIdText(id: NodeId): string {
  let text = idTexts.get(id);
  if (text === undefined) idTexts.set(id, (text = String(id)));
  return text;
}
