// The cluster under test: real `raft-node serve` processes, each started inside its own network
// namespace (`ip netns exec`, which execs, so the pid we hold is the node's), optionally under
// libfaketime at a chosen clock rate and with a failpoint. Kill, pause, resume, stop, restart,
// all by pid. Each node has a standby process (standby.ts) loaded in advance, so a restart is a
// new process that recovers from disk at once, as on an idle machine.

import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { TIMING_FAST, type Mutation, type TimingConfig } from "../raft/index.js";
import type { NetLayout } from "./netns.js";

export type NodeState = "running" | "paused" | "down";

/** Where Debian's libfaketime (package faketime) keeps the multi-threaded library. */
const FAKETIME_LIBS = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1", "/usr/lib/faketime/libfaketimeMT.so.1"];

export function findFaketimeLib(): string | null {
  return FAKETIME_LIBS.find((p) => existsSync(p)) ?? null;
}

/**
 * The nodes' timing: the fast preset's heartbeat with a lease just below a longer election
 * timeout. A long lease next to the election timeout widens every window in which two leaders
 * could both believe they may serve (the lease outlives a node's restart, for one), so lease
 * bugs have room to show; the drift bound comes from --drift-ppm.
 */
export const JEPSEN_TIMING: TimingConfig = { ...TIMING_FAST, electionTimeoutMinMs: 5_000, electionTimeoutMaxMs: 5_500, leaseMs: 4_900 };

/** A graceful stop that takes longer than this becomes a SIGKILL. */
const STOP_GRACE_MS = 10_000;

export interface ClusterOptions {
  readonly net: NetLayout;
  readonly dataDir: string;
  readonly nodeBin: string;
  readonly driftPpm: number;
  /** --snapshot-entries and --snapshot-keep of every node. */
  readonly snapshotEntries: number;
  readonly snapshotKeep: number;
  readonly failpoint: Mutation | null;
  readonly faketimeLib: string | null;
  /** Called with every start, kill, pause, resume, with the node and the clock rate. */
  readonly onAction: (text: string) => void;
}

interface Standby {
  readonly child: ChildProcess;
  readonly rate: number;
  ready: boolean;
}

interface NodeSlot {
  /** A process that has loaded raft-node and waits for SIGUSR2 to serve as this node. */
  standby: Standby | null;
  child: ChildProcess | null;
  exited: Promise<void>;
  state: NodeState;
  rate: number;
}

export class Cluster {
  private readonly slots: NodeSlot[];

  constructor(private readonly opts: ClusterOptions) {
    this.slots = opts.net.nodes.map(() => ({ standby: null, child: null, exited: Promise.resolve(), state: "down", rate: 1 }));
    mkdirSync(opts.dataDir, { recursive: true });
  }

  get size(): number {
    return this.slots.length;
  }

  state(i: number): NodeState {
    return this.slot(i).state;
  }

  rate(i: number): number {
    return this.slot(i).rate;
  }

  /**
   * Starts node i (it must be down) with its clock running at `rate` (1: the real clock): its
   * standby if one is loaded at that rate, else a fresh process. Then loads the next standby.
   */
  start(i: number, rate = 1): void {
    const s = this.slot(i);
    if (s.state !== "down") throw new Error(`node ${i} is ${s.state}; stop it before starting it`);
    if (rate !== 1 && this.opts.faketimeLib === null) throw new Error("clock rates need libfaketime: apt-get install faketime");
    const standby = s.standby;
    s.standby = null;
    let child: ChildProcess;
    if (standby !== null && standby.ready && standby.rate === rate && standby.child.exitCode === null) {
      child = standby.child;
      child.kill("SIGUSR2");
    } else {
      standby?.child.kill("SIGKILL");
      child = this.spawnNode(i, rate, "now").child;
    }
    s.child = child;
    s.state = "running";
    s.rate = rate;
    s.exited = new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve())));
    void s.exited.then(() => {
      if (s.child === child) {
        s.child = null;
        s.state = "down";
      }
    });
    s.standby = this.spawnNode(i, rate, "standby");
    this.opts.onAction(`start node ${i}${rate === 1 ? "" : ` (clock x${rate})`}${this.opts.failpoint === null ? "" : ` (failpoint ${this.opts.failpoint})`}`);
  }

  /** `raft-node serve` for node i inside its namespace, at once or as a standby that waits for SIGUSR2. */
  private spawnNode(i: number, rate: number, mode: "now" | "standby"): Standby {
    const env = [];
    if (this.opts.failpoint !== null) env.push(`RAFT_LEASE_FAILPOINT=${this.opts.failpoint}`);
    if (rate !== 1) env.push(`LD_PRELOAD=${this.opts.faketimeLib}`, `FAKETIME=+0 x${rate}`, "FAKETIME_DONT_RESET=1");
    const cluster = this.opts.net.addresses.map((a, j) => `${j}=${a}`).join(",");
    const args = ["netns", "exec", this.opts.net.nodes[i] ?? "", "env", ...env, process.execPath, this.opts.nodeBin, mode === "now" ? "--now" : "--standby", "serve"];
    args.push("--id", String(i), "--cluster", cluster, "--data-dir", this.opts.dataDir, "--drift-ppm", String(this.opts.driftPpm), "--quiet");
    args.push("--snapshot-entries", String(this.opts.snapshotEntries), "--snapshot-keep", String(this.opts.snapshotKeep));
    const t = JEPSEN_TIMING;
    args.push("--heartbeat-ms", String(t.heartbeatMs), "--election-timeout-ms", `${t.electionTimeoutMinMs}-${t.electionTimeoutMaxMs}`, "--lease-ms", String(t.leaseMs));
    const fd = openSync(path.join(this.opts.dataDir, `node-${i}.console.log`), "a");
    const child = spawn("ip", args, { stdio: ["ignore", "pipe", fd] });
    closeSync(fd);
    const standby: Standby = { child, rate, ready: false };
    child.stdout?.on("data", (chunk: Buffer) => {
      if (!standby.ready && chunk.toString("utf8").includes("ready")) standby.ready = true;
      else appendFileSync(path.join(this.opts.dataDir, `node-${i}.console.log`), chunk);
    });
    return standby;
  }

  async kill(i: number): Promise<void> {
    const s = this.slot(i);
    if (s.child === null) return;
    this.opts.onAction(`SIGKILL node ${i}`);
    s.child.kill("SIGKILL");
    await s.exited;
  }

  pause(i: number): void {
    const s = this.slot(i);
    if (s.child === null || s.state !== "running") return;
    s.child.kill("SIGSTOP");
    s.state = "paused";
    this.opts.onAction(`SIGSTOP node ${i}`);
  }

  resume(i: number): void {
    const s = this.slot(i);
    if (s.child === null || s.state !== "paused") return;
    s.child.kill("SIGCONT");
    s.state = "running";
    this.opts.onAction(`SIGCONT node ${i}`);
  }

  /** SIGTERM (after SIGCONT), then SIGKILL if it has not exited within the grace period. */
  async stop(i: number): Promise<void> {
    const s = this.slot(i);
    const child = s.child;
    if (child === null) return;
    this.resume(i);
    child.kill("SIGTERM");
    const timedOut = await Promise.race([s.exited.then(() => false), sleep(STOP_GRACE_MS).then(() => true)]);
    if (timedOut) {
      this.opts.onAction(`node ${i} did not stop within ${STOP_GRACE_MS} ms of SIGTERM`);
      await this.kill(i);
    }
  }

  /** SIGKILL, then start again at `rate`. */
  async restart(i: number, rate = 1): Promise<void> {
    await this.kill(i);
    this.start(i, rate);
  }

  /** Kills every node still running and every standby; used on the way out, whatever happened. */
  async killAll(): Promise<void> {
    for (const s of this.slots) {
      s.standby?.child.kill("SIGKILL");
      s.standby = null;
    }
    await Promise.all(this.slots.map((_, i) => this.kill(i)));
  }

  private slot(i: number): NodeSlot {
    const s = this.slots[i];
    if (s === undefined) throw new Error(`no node ${i}`);
    return s;
  }
}
