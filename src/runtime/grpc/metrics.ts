// A node's Prometheus metrics, with prom-client, in a registry of the node's own (so several
// nodes in one process, as in tests, keep theirs apart).
//
// Gauges are read from the node when scraped (term, role, indexes, lease, queues, replication
// lag); counters and histograms are fed as things happen (client requests, disk writes, leader
// changes, refused callers). Names follow Prometheus conventions: a `raft_` prefix, the unit in
// the name (`_seconds`, `_entries`), `_total` on counters. README.md lists them.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { NodeId, NodeStatus, Role } from "../../raft/index.js";
import type { CallResult, QueueSizes } from "./driver.js";

/** What the gauges read at scrape time. */
export interface MetricsSources {
  status(): NodeStatus;
  queueSizes(): QueueSizes;
  /** Leader only: each follower's match index; null on other roles. */
  followerMatchIndexes(): ReadonlyMap<NodeId, number> | null;
  /** Per peer: RPCs awaiting an answer, and messages skipped so far because too many were. */
  peerCalls(): readonly { readonly peer: NodeId; readonly outstanding: number; readonly skipped: number }[];
}

/** What a client request was, for its labels: a GET, a SET, or a request that did not parse. */
export type RequestOp = "get" | "set" | "invalid";

const ROLES: readonly Role[] = ["follower", "candidate", "leader"];
/** Client request latency buckets, seconds: 0.5 ms to 10 s. */
const REQUEST_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Disk write + fdatasync buckets, seconds: 0.1 ms to 2.5 s. */
const PERSIST_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class NodeMetrics {
  readonly registry = new Registry();
  private readonly requestSeconds: Histogram<"op" | "outcome">;
  private readonly persistSeconds: Histogram;
  private readonly proposalsCommitted: Counter;
  private readonly proposalsFailed: Counter<"reason">;
  private readonly leaderChanges: Counter;
  private readonly refusedCalls: Counter<"service">;
  private readonly transfers: Counter;
  private readonly skippedSeen = new Map<NodeId, number>();

  constructor(
    readonly nodeId: NodeId,
    version: string,
    private readonly sources: MetricsSources,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({ name: "raft_node_info", help: "Always 1; labels: this node's id and the raft-lease version", labelNames: ["node_id", "version"], registers }).set({ node_id: String(nodeId), version }, 1);
    this.requestSeconds = new Histogram({ name: "raft_client_request_duration_seconds", help: "Client requests (ServeClient) from arrival to answer, by op and outcome (ok or the error code)", labelNames: ["op", "outcome"], buckets: REQUEST_BUCKETS_S, registers });
    this.persistSeconds = new Histogram({ name: "raft_storage_persist_duration_seconds", help: "Log and metadata writes from request until durable (write and fdatasync, group commit included)", buckets: PERSIST_BUCKETS_S, registers });
    this.proposalsCommitted = new Counter({ name: "raft_proposals_committed_total", help: "SETs this node, as leader, committed and acknowledged", registers });
    this.proposalsFailed = new Counter({ name: "raft_proposals_failed_total", help: "SETs answered with a failure, by reason (the error code)", labelNames: ["reason"], registers });
    this.leaderChanges = new Counter({ name: "raft_leader_changes_seen_total", help: "Times this node learned of a new leader (a new leader or a new term)", registers });
    this.refusedCalls = new Counter({ name: "raft_tls_refused_calls_total", help: "Calls refused because the caller had no certificate the cluster CA verifies, by service", labelNames: ["service"], registers });
    this.transfers = new Counter({ name: "raft_leadership_transfers_total", help: "Times this node, as leader, handed leadership over (sent TimeoutNow)", registers });
    this.registerStatusGauges();
    this.registerQueueGauges();
  }

  leadershipTransferred(): void {
    this.transfers.inc();
  }

  /** Prometheus text format of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  clientRequestDone(op: RequestOp, result: Pick<CallResult, "ok"> & { readonly code?: string }, startedAtMs: number): void {
    const outcome = result.ok ? "ok" : (result.code ?? "error");
    this.requestSeconds.observe({ op, outcome }, (performance.now() - startedAtMs) / 1000);
    if (op !== "set") return;
    if (result.ok) this.proposalsCommitted.inc();
    else this.proposalsFailed.inc({ reason: outcome });
  }

  /** A write storage made durable, `elapsedMs` after it was asked for. */
  persistDone(elapsedMs: number): void {
    this.persistSeconds.observe(elapsedMs / 1000);
  }

  leaderChanged(): void {
    this.leaderChanges.inc();
  }

  callRefused(service: "peer" | "client"): void {
    this.refusedCalls.inc({ service });
  }

  private registerStatusGauges(): void {
    const registers = [this.registry];
    const s = () => this.sources.status();
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({ name, help, registers, collect: function (this: Gauge) { this.set(read()); } });
    gauge("raft_term", "The current term", () => s().term);
    gauge("raft_commit_index", "The highest log index known committed", () => s().commitIndex);
    gauge("raft_applied_index", "The highest log index applied to the key-value store", () => s().appliedIndex);
    gauge("raft_last_log_index", "The index of the last entry in this node's log", () => s().lastLogIndex);
    gauge("raft_first_log_index", "The index of the first entry this node's log still holds (a snapshot holds those before)", () => s().firstLogIndex);
    gauge("raft_snapshot_index", "The last log index the newest durable snapshot holds (0: none)", () => s().snapshotIndex);
    gauge("raft_has_leader", "1 when this node knows a leader, else 0", () => (s().leaderId === null ? 0 : 1));
    gauge("raft_lease_remaining_seconds", "Leader only: how long its read lease still holds (0 on other roles)", () => s().leaseRemainingMs / 1000);
    new Gauge({
      name: "raft_members",
      help: "Members of the configuration this node uses, by role (voter or learner)",
      labelNames: ["role"],
      registers,
      collect: function (this: Gauge<"role">) {
        const members = s().members;
        this.set({ role: "voter" }, members.filter((m) => m.role === "voter").length);
        this.set({ role: "learner" }, members.filter((m) => m.role === "learner").length);
      },
    });
    new Gauge({
      name: "raft_role",
      help: "1 for this node's current role, 0 for the others",
      labelNames: ["role"],
      registers,
      collect: function (this: Gauge<"role">) {
        const role = s().role;
        for (const r of ROLES) this.set({ role: r }, r === role ? 1 : 0);
      },
    });
  }

  private registerQueueGauges(): void {
    const registers = [this.registry];
    const sources = this.sources;
    new Gauge({
      name: "raft_pending_requests",
      help: "Requests waiting, by queue: calls (client calls awaiting an answer), writes (leader: SETs waiting to commit), reads (leader: GETs waiting for the lease)",
      labelNames: ["queue"],
      registers,
      collect: function (this: Gauge<"queue">) {
        const q = sources.queueSizes();
        this.set({ queue: "calls" }, q.pendingCalls);
        this.set({ queue: "writes" }, q.pendingWrites);
        this.set({ queue: "reads" }, q.pendingReads);
      },
    });
    new Gauge({
      name: "raft_peer_replication_lag_entries",
      help: "Leader only: entries the peer is known to lack (last log index minus its match index)",
      labelNames: ["peer"],
      registers,
      collect: function (this: Gauge<"peer">) {
        this.reset(); // a former leader's peers disappear
        const match = sources.followerMatchIndexes();
        if (match === null) return;
        const last = sources.status().lastLogIndex;
        for (const [peer, index] of match) this.set({ peer: String(peer) }, Math.max(0, last - index));
      },
    });
    const skippedSeen = this.skippedSeen;
    new Counter({
      name: "raft_peer_messages_skipped_total",
      help: "Messages to a peer skipped because too many RPCs to it were outstanding",
      labelNames: ["peer"],
      registers,
      collect: function (this: Counter<"peer">) {
        for (const p of sources.peerCalls()) {
          this.inc({ peer: String(p.peer) }, p.skipped - (skippedSeen.get(p.peer) ?? 0));
          skippedSeen.set(p.peer, p.skipped);
        }
      },
    });
    new Gauge({
      name: "raft_peer_rpcs_outstanding",
      help: "RPCs to a peer awaiting an answer",
      labelNames: ["peer"],
      registers,
      collect: function (this: Gauge<"peer">) {
        for (const p of sources.peerCalls()) this.set({ peer: String(p.peer) }, p.outstanding);
      },
    });
  }
}
