// The cluster under test: real `raft-node serve` processes, each started inside its own network
// namespace (`ip netns exec`, which execs, so the pid we hold is the node's), optionally under
// libfaketime at a chosen clock rate and with a failpoint. Kill, pause, resume, stop, restart,
// all by pid.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, openSync, closeSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Mutation } from "../raft/config.js";
import type { NetLayout } from "./netns.js";

export type NodeState = "running" | "paused" | "down";

/** Where Debian's libfaketime (package faketime) keeps the multi-threaded library. */
const FAKETIME_LIBS = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1", "/usr/lib/faketime/libfaketimeMT.so.1"];

export function findFaketimeLib(): string | null {
  return FAKETIME_LIBS.find((p) => existsSync(p)) ?? null;
}

/** A graceful stop that takes longer than this becomes a SIGKILL. */
const STOP_GRACE_MS = 10_000;

export interface ClusterOptions {
  readonly net: NetLayout;
  readonly dataDir: string;
  readonly nodeBin: string;
  readonly driftPpm: number;
  readonly failpoint: Mutation | null;
  readonly faketimeLib: string | null;
  /** Called with every start, kill, pause, resume, with the node and the clock rate. */
  readonly onAction: (text: string) => void;
}

interface NodeSlot {
  child: ChildProcess | null;
  exited: Promise<void>;
  state: NodeState;
  rate: number;
}

export class Cluster {
  private readonly slots: NodeSlot[];

  constructor(private readonly opts: ClusterOptions) {
    this.slots = opts.net.nodes.map(() => ({ child: null, exited: Promise.resolve(), state: "down", rate: 1 }));
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

  /** Starts node i (it must be down) with its clock running at `rate` (1: the real clock). */
  start(i: number, rate = 1): void {
    const s = this.slot(i);
    if (s.state !== "down") throw new Error(`node ${i} is ${s.state}; stop it before starting it`);
    if (rate !== 1 && this.opts.faketimeLib === null) throw new Error("clock rates need libfaketime: apt-get install faketime");
    const env = [];
    if (this.opts.failpoint !== null) env.push(`RAFT_LEASE_FAILPOINT=${this.opts.failpoint}`);
    if (rate !== 1) env.push(`LD_PRELOAD=${this.opts.faketimeLib}`, `FAKETIME=+0 x${rate}`, "FAKETIME_DONT_RESET=1");
    const cluster = this.opts.net.addresses.map((a, j) => `${j}=${a}`).join(",");
    const args = ["netns", "exec", this.opts.net.nodes[i] ?? "", "env", ...env, process.execPath, this.opts.nodeBin, "serve"];
    args.push("--id", String(i), "--cluster", cluster, "--data-dir", this.opts.dataDir, "--drift-ppm", String(this.opts.driftPpm), "--quiet");
    const logPath = path.join(this.opts.dataDir, `node-${i}.console.log`);
    const fd = openSync(logPath, "a");
    const child = spawn("ip", args, { stdio: ["ignore", fd, fd] });
    closeSync(fd);
    s.child = child;
    s.state = "running";
    s.rate = rate;
    s.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    void s.exited.then(() => {
      if (s.child === child) {
        s.child = null;
        s.state = "down";
      }
    });
    this.opts.onAction(`start node ${i}${rate === 1 ? "" : ` (clock x${rate})`}${this.opts.failpoint === null ? "" : ` (failpoint ${this.opts.failpoint})`}`);
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

  /** Kills every node still running; used on the way out, whatever happened. */
  async killAll(): Promise<void> {
    await Promise.all(this.slots.map((_, i) => this.kill(i)));
  }

  private slot(i: number): NodeSlot {
    const s = this.slots[i];
    if (s === undefined) throw new Error(`no node ${i}`);
    return s;
  }
}
