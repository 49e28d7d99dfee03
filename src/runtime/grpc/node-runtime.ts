// One production node, assembled: storage, event log, peer clients, driver and gRPC server.
//
// startNode opens the data dir (recovering what it holds), binds the port, then starts the
// timers. stop() stops taking requests, answers what is pending, finishes writes in progress,
// closes connections and files. A storage failure or a broken core invariant stops the node by
// itself; `failed` then resolves with the error (raft-node exits 1 on it).
//
// Operations: TLS on the port (tls.ts), the gRPC health service (health.ts) beside the node's own
// services, with `reflection` gRPC server reflection (reflection.ts), and with `metricsListen` an
// HTTP listener for Prometheus (metrics.ts, metrics-server.ts). Reflection and prom-client are
// loaded only when asked for: parsing their descriptors costs start-up time a node without them
// need not pay.

import { hrtime } from "node:process";
import { ServerCredentials, type Server } from "@grpc/grpc-js";
import seedrandom from "seedrandom";
import { makeConfig, type RaftConfig, type TimingConfig } from "../../raft/index.js";
import type { NodeId, NodeStatus, PersistedState, RaftEvent } from "../../raft/index.js";
import { MonotonicClock, timestampPrefix } from "./clock.js";
import { defaultDriverLimits, NodeDriver, type DriverLimits, type PeerReply } from "./driver.js";
import { channelCredentials } from "../../client/tls.js";
import { packageVersion } from "../../version.js";
import { coreEventText, coreLogEvent, EventLog, type LineSink, type LogEvent, type LogFormat } from "./event-log.js";
import { NodeHealth } from "./health.js";
import type { NodeMetrics } from "./metrics.js";
import { startMetricsServer, type MetricsServer } from "./metrics-server.js";
import { PeerClient, type PeerLimits } from "./peer-client.js";
import { PeerTable } from "./peer-table.js";
import { configurationNotice, handOverLeadership } from "./node-membership.js";
import { bindServer, ClientStreams, createServer, shutdownServer } from "./server.js";
import { DUMP_BYTES_MAX_DEFAULT } from "./dump-writer.js";
import { flushLatencyTrace } from "./latency-trace.js";
import { FileStorage } from "./storage.js";
import { serverCredentials, TlsAudit, type NodeTls } from "./tls.js";

export interface NodeMember {
  readonly id: NodeId;
  readonly address: string;
}

export interface NodeOptions {
  readonly id: NodeId;
  /**
   * The initial configuration: every member, this node included, with the address peers and
   * clients use. A configuration stored in the data dir wins over it. Empty when joining.
   */
  readonly members: readonly NodeMember[];
  /** This node joins a running cluster: it waits for a leader to add it (`members` is then empty). */
  readonly join?: boolean;
  /** This node's address as peers and clients reach it; default: its address in `members` (required when joining). */
  readonly address?: string;
  /** Identifies the cluster; a data dir written for another cluster is refused. */
  readonly clusterFingerprint: string;
  readonly dataDir: string;
  /** Bound of dump.txt in bytes before it is rotated (default DUMP_BYTES_MAX_DEFAULT). */
  readonly dumpBytesMax?: number;
  readonly timing: TimingConfig;
  /** Address to bind; default: this node's address in `members`. */
  readonly listen?: string;
  /** Election PRNG seed; default: id, pid and a high-resolution time, so no two runs share it. */
  readonly seed?: string;
  /** Console output for event lines (default stdout; null: dump.txt only). */
  readonly console?: LineSink | null;
  /** Where warnings go besides dump.txt (default stderr). */
  readonly warnings?: LineSink | null;
  readonly configOverrides?: Partial<Omit<RaftConfig, "id" | "members" | "timing">>;
  readonly driverLimits?: Partial<DriverLimits>;
  readonly peerLimits?: Partial<PeerLimits>;
  /** TLS for client and peer traffic (default: plain text). */
  readonly tls?: NodeTls | null;
  /** Serve Prometheus metrics over HTTP here (port 0: any free port). Default: no metrics listener. */
  readonly metricsListen?: { readonly host: string; readonly port: number } | null;
  /** Console format of event lines (default text; dump.txt is always text). */
  readonly logFormat?: LogFormat;
  /** Serve gRPC server reflection (default off). */
  readonly reflection?: boolean;
}

export interface RunningNode {
  readonly id: NodeId;
  readonly listenAddress: string;
  /** The bound port (useful with --listen host:0). */
  readonly port: number;
  /** The folder holding logs.txt, metadata.txt and dump.txt. */
  readonly folderPath: string;
  /** The bound metrics port, or null without a metrics listener. */
  readonly metricsPort: number | null;
  status(): NodeStatus;
  /** What the gRPC health service reports now. */
  healthStatus(): "SERVING" | "NOT_SERVING" | "UNKNOWN";
  /** Graceful stop; safe to call more than once. `reason` is recorded in dump.txt. */
  stop(reason?: string): Promise<void>;
  /**
   * A leader hands leadership to its most up-to-date voter and waits (at most 2 x the election
   * timeout maximum) until it no longer leads; a follower returns at once. Says what happened.
   */
  handOverLeadership(): Promise<string>;
  /** Resolves when the node failed and stopped itself; never rejects. */
  readonly failed: Promise<Error>;
}

/** Time a stopping server gives calls in progress before cancelling them. */
const SHUTDOWN_GRACE_MS = 2_000;
/** Shortest time between two log lines about refused callers (the rest are counted). */
const REFUSAL_REPORT_INTERVAL_MS = 1_000;

export function defaultPeerLimits(config: RaftConfig): PeerLimits {
  const t = config.timing;
  return {
    appendDeadlineMs: Math.max(2 * t.heartbeatMs, 500),
    voteDeadlineMs: t.electionTimeoutMinMs,
    outstandingCountMax: 2 * config.inflightCountMax + 8,
    errorReportIntervalMs: 1_000,
    snapshotDeadlineMs: 300_000,
  };
}

export async function startNode(opts: NodeOptions): Promise<RunningNode> {
  const join = opts.join === true;
  const addresses = Object.fromEntries(opts.members.map((m) => [m.id, m.address]));
  const config = makeConfig(
    opts.id,
    join ? [] : opts.members.map((m) => m.id),
    opts.timing,
    { leaderPersistsInParallel: true, addresses, join, ...opts.configOverrides },
  );
  const selfAddress = opts.address ?? opts.members.find((m) => m.id === opts.id)?.address;
  if (selfAddress === undefined) throw new Error(`node ${opts.id} is not among the members and has no address of its own; give it one (--join needs --address)`);
  const listen = opts.listen ?? selfAddress;
  const warnings = opts.warnings === undefined ? process.stderr : opts.warnings;
  // The ports first: a node that cannot listen leaves no trace in its data dir.
  let node: GrpcNode | null = null;
  const live = (): GrpcNode => {
    if (node === null) throw new Error("the node is still starting");
    return node;
  };
  const metrics = opts.metricsListen
    ? new (await import("./metrics.js")).NodeMetrics(opts.id, packageVersion(), {
        status: () => live().driver.status(),
        queueSizes: () => live().driver.queueSizes(),
        followerMatchIndexes: () => live().driver.followerMatchIndexes(),
        peerCalls: () => live().peerCalls(),
      })
    : null;
  const refusals = new RefusalReporter((line) => node?.events.warn(line) ?? warnings?.write(`warning: ${line}\n`));
  const audit = opts.tls ? new TlsAudit() : null;
  const clientStreams = new ClientStreams();
  const server = createServer({
    self: opts.id,
    driver: () => node?.driver ?? null,
    log: (line) => node?.events.warn(line),
    tls: audit === null ? null : { audit, clientCertRequired: opts.tls?.clientCertRequired ?? false },
    onRefused: (service, details) => {
      metrics?.callRefused(service);
      refusals.report(details);
    },
    metrics,
    clientStreams,
  });
  const health = new NodeHealth(server);
  if (opts.reflection === true) (await import("./reflection.js")).addReflection(server);
  const ports = await bindPorts(server, listen, opts, audit, metrics);
  const { storage, earlyWarnings } = await openStorage(opts, warnings, metrics, () => node, async () => {
    server.forceShutdown();
    await ports.metrics?.close();
  });
  const events = new EventLog({
    dump: (line) => storage.appendDump(line),
    console: opts.console === undefined ? process.stdout : opts.console,
    warnings,
    format: opts.logFormat ?? "text",
    node: opts.id,
    term: () => node?.driver.status().term ?? 0,
  });
  for (const m of earlyWarnings) storage.appendDump(`${timestampPrefix()} warning: ${m}`);
  node = new GrpcNode(opts, config, { server, port: ports.grpc, listen, storage, events, metrics, metricsServer: ports.metrics, health, clientStreams });
  node.start();
  return node;
}

/**
 * Opens the data dir, recovering what it holds. Recovery may warn before dump.txt is open: such
 * warnings go to `warnings` at once and are returned, for dump.txt once it is. If the data dir
 * cannot be used, `release` frees the ports already bound before the error is thrown.
 */
async function openStorage(
  opts: NodeOptions,
  warnings: LineSink | null,
  metrics: NodeMetrics | null,
  node: () => GrpcNode | null,
  release: () => Promise<void>,
): Promise<{ storage: FileStorage; earlyWarnings: string[] }> {
  const earlyWarnings: string[] = [];
  const warn = (m: string): void => {
    const running = node();
    if (running !== null) return running.events.warn(m);
    earlyWarnings.push(m);
    warnings?.write(`warning: ${m}\n`);
  };
  try {
    const dumpBytesMax = opts.dumpBytesMax ?? DUMP_BYTES_MAX_DEFAULT;
    const onFailure = (err: Error): void => node()?.onFatal(err);
    const onDurable = metrics === null ? undefined : (elapsedMs: number): void => metrics.persistDone(elapsedMs);
    const storage = await FileStorage.open({ dataDir: opts.dataDir, nodeId: opts.id, clusterFingerprint: opts.clusterFingerprint, warn, dumpBytesMax, onFailure, onDurable });
    return { storage, earlyWarnings };
  } catch (err) {
    await release();
    throw err;
  }
}

/** Binds the gRPC port (with TLS if configured) and the metrics port; on failure, neither stays. */
async function bindPorts(server: Server, listen: string, opts: NodeOptions, audit: TlsAudit | null, metrics: NodeMetrics | null): Promise<{ grpc: number; metrics: MetricsServer | null }> {
  const creds = opts.tls ? serverCredentials(opts.tls) : ServerCredentials.createInsecure();
  const port = await bindServer(server, listen, creds).catch((err: unknown) => {
    server.forceShutdown();
    throw err;
  });
  if (audit !== null && !audit.attach(server)) {
    opts.warnings?.write("warning: cannot watch TLS connections; refusals will not say which certificate check failed\n");
  }
  if (!opts.metricsListen || metrics === null) return { grpc: port, metrics: null };
  try {
    return { grpc: port, metrics: await startMetricsServer(opts.metricsListen.host, opts.metricsListen.port, metrics) };
  } catch (err) {
    server.forceShutdown();
    throw err;
  }
}

/** Log lines about refused callers, at most one per interval, with a count of the rest. */
class RefusalReporter {
  private lastAtMs = -Infinity;
  private unreported = 0;
  constructor(private readonly log: (line: string) => void) {}
  report(details: string): void {
    const now = performance.now();
    if (now - this.lastAtMs < REFUSAL_REPORT_INTERVAL_MS) {
      this.unreported++;
      return;
    }
    const more = this.unreported > 0 ? ` (and ${this.unreported} more refused since the last report)` : "";
    this.log(`${details}${more}`);
    this.lastAtMs = now;
    this.unreported = 0;
  }
}

interface NodeParts {
  readonly server: Server;
  readonly port: number;
  readonly listen: string;
  readonly storage: FileStorage;
  readonly events: EventLog;
  readonly metrics: NodeMetrics | null;
  readonly metricsServer: MetricsServer | null;
  readonly health: NodeHealth;
  readonly clientStreams: ClientStreams;
}

/** A started node: the driver and its peer clients, wired to each other and to the event log. */
class GrpcNode implements RunningNode {
  readonly id: NodeId;
  readonly listenAddress: string;
  readonly port: number;
  readonly folderPath: string;
  readonly metricsPort: number | null;
  readonly failed: Promise<Error>;
  readonly driver: NodeDriver;
  readonly events: EventLog;
  private readonly peers: PeerTable;
  private peerSweeper: NodeJS.Timeout | null = null;
  private readonly seed: string;
  private reportFailure: (err: Error) => void = () => undefined;
  /** The leader and term last counted as a leader change. */
  private seenLeader = "";
  private stopping: Promise<void> | null = null;

  constructor(
    private readonly opts: NodeOptions,
    private readonly config: RaftConfig,
    private readonly parts: NodeParts,
  ) {
    this.id = opts.id;
    this.listenAddress = parts.listen;
    this.port = parts.port;
    this.folderPath = parts.storage.folderPath;
    this.metricsPort = parts.metricsServer?.port ?? null;
    this.events = parts.events;
    this.failed = new Promise<Error>((resolve) => (this.reportFailure = resolve));
    this.seed = opts.seed ?? `${opts.id}/${process.pid}/${hrtime.bigint()}`;
    const clock = new MonotonicClock();
    this.driver = new NodeDriver({
      config,
      storage: parts.storage, // it times its own writes for the metrics (onDurable)
      clock,
      random: seedrandom(this.seed),
      limits: { ...defaultDriverLimits(config), ...opts.driverLimits },
      send: (m) => this.peers.send(m),
      onEvent: (e) => this.onEvent(e),
      onFatal: (err) => this.onFatal(err),
      onLeaderChange: (leader, term) => this.onLeaderChange(leader, term),
      onMembership: (members, index) => this.peers.update(members, index),
    });
    const limits = { ...defaultPeerLimits(config), ...opts.peerLimits };
    const log = (line: string, event: LogEvent) => this.events.record(line, event);
    const credentials = channelCredentials(opts.tls?.material ?? null);
    const onReply = (r: PeerReply) => this.driver.deliverReply(r);
    const open = (peerId: NodeId, address: string) => new PeerClient({ selfId: opts.id, peerId, address, limits, clock, onReply, log, credentials });
    this.peers = new PeerTable(opts.id, new Map(opts.members.map((m) => [m.id, m.address])), open);
    this.peers.update(this.driver.status().members, 0);
  }

  private onEvent(e: RaftEvent): void {
    this.events.record(coreEventText(e), coreLogEvent(e));
    if (e.kind === "timeout-now-sent") this.parts.metrics?.leadershipTransferred();
    // A removed node may never hear that its removal committed (the leader stops replicating to it
    // then), so the core says so for the entry that leaves it out (once, with its config-changed line).
    if (e.kind === "removed-from-cluster") {
      this.events.warn(`node ${this.id} is no longer a member of the cluster (a configuration change removed it); it keeps running but takes no part: stop it, and remove its data dir before reusing its id`);
    }
  }

  start(): void {
    this.driver.start();
    this.peerSweeper = setInterval(() => this.peers.sweep(this.driver.status().commitIndex), this.config.timing.heartbeatMs);
    const notice = configurationNotice(this.id, this.opts.members, this.config.join, this.parts.storage.recovered);
    const t = this.config.timing;
    const fields = { listen: this.parts.listen, cluster: this.opts.clusterFingerprint, tls: this.opts.tls ? true : false, metricsPort: this.metricsPort, heartbeatMs: t.heartbeatMs, leaseMs: t.leaseMs, seed: this.seed };
    this.events.record(startLine(this.opts, this.config, this.parts.listen, this.seed, this.parts.storage), { event: "start", fields });
    if (notice !== null) this.events.record(notice, { event: "configuration", fields: { stored: notice.includes("stored") } });
    const failpoint = this.config.mutation;
    if (failpoint !== null) {
      this.events.warn(`FAILPOINT ${failpoint} IS ON: node ${this.id} deliberately breaks the protocol (a fault-test negative control); never run it in production`);
    }
  }

  status(): NodeStatus {
    return this.driver.status();
  }

  healthStatus(): "SERVING" | "NOT_SERVING" | "UNKNOWN" {
    return this.parts.health.status;
  }

  peerCalls(): { peer: NodeId; outstanding: number; skipped: number }[] {
    return this.peers.calls();
  }

  handOverLeadership(): Promise<string> {
    if (this.stopping !== null) return Promise.resolve("already stopping");
    return handOverLeadership({ status: () => this.driver.status(), transfer: () => this.driver.admin({ kind: "transfer-leader", to: null }) }, this.config.timing);
  }

  stop(reason?: string): Promise<void> {
    if (this.stopping === null && reason !== undefined) this.events.record(`Node ${this.id} stopping: ${reason}`, { event: "stop", fields: { reason } });
    return (this.stopping ??= this.stopAll());
  }

  private async stopAll(): Promise<void> {
    this.parts.health.stop();
    await this.driver.stop(); // answers pending calls, waits for writes in progress and their sends
    this.parts.clientStreams.endAll(); // after those answers; clients reopen on another node
    flushLatencyTrace(this.id);
    await shutdownServer(this.parts.server, SHUTDOWN_GRACE_MS);
    if (this.peerSweeper !== null) clearInterval(this.peerSweeper);
    this.peers.closeAll();
    await this.parts.metricsServer?.close();
    this.events.flush();
    await this.parts.storage.close();
  }

  private onLeaderChange(leader: NodeId | null, term: number): void {
    this.parts.health.update(leader !== null);
    if (leader === null || `${leader}/${term}` === this.seenLeader) return;
    this.seenLeader = `${leader}/${term}`;
    this.parts.metrics?.leaderChanged();
  }

  /** Stops the node after a failure (of the core, the driver or the storage); reported on `failed`. */
  onFatal(err: Error): void {
    this.events.warn(`node ${this.id} stops: ${err.message}`);
    void this.stop().then(() => this.reportFailure(err));
  }
}

function startLine(opts: NodeOptions, config: RaftConfig, listen: string, seed: string, storage: FileStorage): string {
  const t = config.timing;
  const r = storage.recovered;
  return (
    `Node ${opts.id} serving on ${listen} (cluster ${opts.clusterFingerprint}; heartbeat ${t.heartbeatMs} ms, ` +
    `election timeout ${t.electionTimeoutMinMs}-${t.electionTimeoutMaxMs} ms, lease ${t.leaseMs} ms, drift ${t.driftPpmMax} ppm; ` +
    `recovered ${recoveredText(r)}, term ${r.hardState.currentTerm}, commit ${r.hardState.commitIndex}; ` +
    `data ${storage.folderPath}; election seed ${seed})`
  );
}

function recoveredText(r: PersistedState): string {
  const entries = `${r.entries.length} entries`;
  if (!r.snapshot) return entries;
  return `a snapshot through entry ${r.snapshot.lastIndex} (${r.snapshot.data.size} keys) and ${entries} from entry ${(r.logStart?.prevIndex ?? 0) + 1}`;
}
