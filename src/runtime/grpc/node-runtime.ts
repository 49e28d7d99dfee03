// One production node, assembled: storage, event log, peer clients, driver and gRPC server.
//
// startNode opens the data dir (recovering what it holds), binds the port, then starts the
// timers. stop() stops taking requests, answers what is pending, finishes writes in progress,
// closes connections and files. A storage failure or a broken core invariant stops the node by
// itself; `failed` then resolves with the error (raft-node exits 1 on it).

import { hrtime } from "node:process";
import type { Server } from "@grpc/grpc-js";
import seedrandom from "seedrandom";
import { makeConfig, type RaftConfig, type TimingConfig } from "../../raft/config.js";
import { formatEvent } from "../../raft/events.js";
import type { AppendReply, NodeId, NodeStatus, VoteReply } from "../../raft/types.js";
import { MonotonicClock, timestampPrefix } from "./clock.js";
import { defaultDriverLimits, NodeDriver, type DriverLimits } from "./driver.js";
import { EventLog, type LineSink } from "./event-log.js";
import { PeerClient, type PeerLimits } from "./peer-client.js";
import { bindServer, createServer, shutdownServer } from "./server.js";
import { FileStorage } from "./storage.js";

export interface NodeMember {
  readonly id: NodeId;
  readonly address: string;
}

export interface NodeOptions {
  readonly id: NodeId;
  /** Every member, this node included, with the address peers and clients use. */
  readonly members: readonly NodeMember[];
  /** Identifies the cluster; a data dir written for another cluster is refused. */
  readonly clusterFingerprint: string;
  readonly dataDir: string;
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
}

export interface RunningNode {
  readonly id: NodeId;
  readonly listenAddress: string;
  /** The bound port (useful with --listen host:0). */
  readonly port: number;
  /** The folder holding logs.txt, metadata.txt and dump.txt. */
  readonly folderPath: string;
  status(): NodeStatus;
  /** Graceful stop; safe to call more than once. `reason` is recorded in dump.txt. */
  stop(reason?: string): Promise<void>;
  /** Resolves when the node failed and stopped itself; never rejects. */
  readonly failed: Promise<Error>;
}

/** Time a stopping server gives calls in progress before cancelling them. */
const SHUTDOWN_GRACE_MS = 2_000;

export function defaultPeerLimits(config: RaftConfig): PeerLimits {
  const t = config.timing;
  return {
    appendDeadlineMs: Math.max(2 * t.heartbeatMs, 500),
    voteDeadlineMs: t.electionTimeoutMinMs,
    outstandingCountMax: 2 * config.inflightCountMax + 8,
    errorReportIntervalMs: 1_000,
  };
}

export async function startNode(opts: NodeOptions): Promise<RunningNode> {
  const config = makeConfig(
    opts.id,
    opts.members.map((m) => m.id),
    opts.timing,
    { leaderPersistsInParallel: true, ...opts.configOverrides },
  );
  const self = opts.members.find((m) => m.id === opts.id);
  if (self === undefined) throw new Error(`node ${opts.id} is not among the members`);
  const listen = opts.listen ?? self.address;
  const warnings = opts.warnings === undefined ? process.stderr : opts.warnings;
  // The port first: a node that cannot listen leaves no trace in its data dir.
  let node: GrpcNode | null = null;
  const server = createServer({ driver: () => node?.driver ?? null, members: config.members, log: (line) => node?.events.warn(line) });
  const port = await bindServer(server, listen).catch((err: unknown) => {
    server.forceShutdown();
    throw err;
  });
  let storage: FileStorage;
  const earlyWarnings: string[] = []; // from recovery, before dump.txt is open
  const warn = (m: string): void => {
    if (node !== null) return node.events.warn(m);
    earlyWarnings.push(m);
    warnings?.write(`warning: ${m}\n`);
  };
  try {
    storage = await FileStorage.open({ dataDir: opts.dataDir, nodeId: opts.id, clusterFingerprint: opts.clusterFingerprint, warn });
  } catch (err) {
    server.forceShutdown();
    throw err;
  }
  const events = new EventLog({ dump: (line) => storage.appendDump(line), console: opts.console === undefined ? process.stdout : opts.console, warnings });
  for (const m of earlyWarnings) storage.appendDump(`${timestampPrefix()} warning: ${m}`);
  node = new GrpcNode(opts, config, { server, port, listen, storage, events });
  node.start();
  return node;
}

interface NodeParts {
  readonly server: Server;
  readonly port: number;
  readonly listen: string;
  readonly storage: FileStorage;
  readonly events: EventLog;
}

/** A started node: the driver and its peer clients, wired to each other and to the event log. */
class GrpcNode implements RunningNode {
  readonly id: NodeId;
  readonly listenAddress: string;
  readonly port: number;
  readonly folderPath: string;
  readonly failed: Promise<Error>;
  readonly driver: NodeDriver;
  readonly events: EventLog;
  private readonly peers = new Map<NodeId, PeerClient>();
  private readonly seed: string;
  private reportFailure: (err: Error) => void = () => undefined;
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
    this.events = parts.events;
    this.failed = new Promise<Error>((resolve) => (this.reportFailure = resolve));
    this.seed = opts.seed ?? `${opts.id}/${process.pid}/${hrtime.bigint()}`;
    const clock = new MonotonicClock();
    this.driver = new NodeDriver({
      config,
      storage: parts.storage,
      clock,
      random: seedrandom(this.seed),
      limits: { ...defaultDriverLimits(config), ...opts.driverLimits },
      send: (m) => this.peers.get(m.to)?.send(m),
      onEvent: (e) => this.events.record(formatEvent(e)),
      onFatal: (err) => this.onFatal(err),
    });
    const limits = { ...defaultPeerLimits(config), ...opts.peerLimits };
    const log = (line: string) => this.events.record(line);
    for (const m of opts.members) {
      if (m.id === opts.id) continue;
      const onReply = (r: VoteReply | AppendReply) => this.driver.deliverReply(r);
      this.peers.set(m.id, new PeerClient({ selfId: opts.id, peerId: m.id, address: m.address, limits, clock, onReply, log }));
    }
  }

  start(): void {
    this.driver.start();
    this.events.record(startLine(this.opts, this.config, this.parts.listen, this.seed, this.parts.storage));
    const failpoint = this.config.mutation;
    if (failpoint !== null) {
      this.events.warn(`FAILPOINT ${failpoint} IS ON: node ${this.id} deliberately breaks the protocol (a fault-test negative control); never run it in production`);
    }
  }

  status(): NodeStatus {
    return this.driver.status();
  }

  stop(reason?: string): Promise<void> {
    if (this.stopping === null && reason !== undefined) this.events.record(`Node ${this.id} stopping: ${reason}`);
    return (this.stopping ??= this.stopAll());
  }

  private async stopAll(): Promise<void> {
    await this.driver.stop(); // answers pending calls, waits for writes in progress and their sends
    await shutdownServer(this.parts.server, SHUTDOWN_GRACE_MS);
    for (const p of this.peers.values()) p.close();
    this.events.flush();
    await this.parts.storage.close();
  }

  private onFatal(err: Error): void {
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
    `recovered ${r.entries.length} entries, term ${r.hardState.currentTerm}, commit ${r.hardState.commitIndex}; ` +
    `data ${storage.folderPath}; election seed ${seed})`
  );
}
