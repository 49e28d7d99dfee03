// Real `raft-node` processes on loopback for scenario tests.
//
// Every process is started from bin/raft-node.js (the built dist/), tracked by pid, and killed by
// `stopAll` (SIGKILL), which tests call in afterEach/afterAll so nothing outlives a failed test.
// The client side is a third-party client: built at test time from proto/raft.proto with
// @grpc/proto-loader, not from our generated code.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts } from "../../unit/support/loopback.js";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const BIN = path.join(ROOT, "bin/raft-node.js");
export const NODE_BIN = BIN;
export const CLIENT_BIN = path.join(ROOT, "bin/raft-client.js");

export interface ServeReply {
  readonly Data: string;
  readonly LeaderID: string;
  readonly Success: boolean;
}

export interface StatusReply {
  readonly node_id: number;
  readonly role: string;
  readonly term: number;
  readonly leader_id: string;
  readonly commit_index: number;
  readonly last_log_index: number;
  readonly lease_remaining_ms: number;
}

type Callback<T> = (err: grpc.ServiceError | null, reply: T) => void;
interface ProtoClient extends grpc.Client {
  ServeClient(args: { Request: string; ClientId?: string; Sequence?: number }, opts: grpc.CallOptions, cb: Callback<ServeReply>): void;
  Status(args: object, opts: grpc.CallOptions, cb: Callback<StatusReply>): void;
}

function loadClientConstructor(): new (address: string, creds: grpc.ChannelCredentials) => ProtoClient {
  const def = protoLoader.loadSync(path.join(ROOT, "proto/raft.proto"), { keepCase: true, longs: Number, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { raftlease: { RaftClient: new (a: string, c: grpc.ChannelCredentials) => ProtoClient } };
  return pkg.raftlease.RaftClient;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== null && v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `; last error: ${String(last)}` : ""}`);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ClusterOptions {
  readonly size: number;
  readonly extraArgs?: readonly string[];
  /** Flags for one node only (certificates, metrics ports), after extraArgs. */
  readonly argsFor?: (id: number) => readonly string[];
  /** Environment variables for every node, besides this process's (RAFT_LEASE_FAILPOINT, say). */
  readonly env?: Readonly<Record<string, string>>;
}

export class ProcessCluster {
  readonly dataDir: string;
  readonly procs = new Map<number, ChildProcess>();
  readonly exits = new Map<number, Promise<number | null>>();
  private readonly clients = new Map<number, ProtoClient>();
  /** strace processes started by startTraced, killed (by pid) at the end if still there. */
  private readonly tracers: ChildProcess[] = [];
  private readonly Client = loadClientConstructor();
  private constructor(
    readonly ports: readonly number[],
    readonly opts: ClusterOptions,
  ) {
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "raft-lease-scenario-"));
  }

  static async create(opts: ClusterOptions): Promise<ProcessCluster> {
    return new ProcessCluster(await freePorts(opts.size), opts);
  }

  get clusterFlag(): string {
    return this.ports.map((p, i) => `${i}=127.0.0.1:${p}`).join(",");
  }

  get ids(): number[] {
    return this.ports.map((_, i) => i);
  }

  start(id: number): void {
    this.startWith(id, ["--cluster", this.clusterFlag]);
  }

  /** Starts node `id` with `membership` flags (`--cluster ...`, or `--join --address ...`) instead of the whole --cluster. */
  startWith(id: number, membership: readonly string[]): void {
    if (this.procs.has(id)) throw new Error(`node ${id} is already running`);
    const args = [BIN, "serve", "--id", String(id), ...membership, "--data-dir", this.dataDir, "--quiet", ...(this.opts.extraArgs ?? []), ...(this.opts.argsFor?.(id) ?? [])];
    const out = fs.openSync(path.join(this.dataDir, `node-${id}.out`), "a");
    const child = spawn(process.execPath, args, { stdio: ["ignore", out, out], env: { ...process.env, ...this.opts.env } });
    fs.closeSync(out);
    this.procs.set(id, child);
    this.exits.set(id, new Promise((resolve) => child.once("exit", (code) => resolve(code))));
  }

  /**
   * Starts a node under `strace -f`, recording file syncs, opens and network calls to `tracePath`.
   * The node is the traced child; it is stopped by its own pid (read from the trace), never strace's.
   */
  startTraced(id: number, tracePath: string): void {
    if (this.procs.has(id)) throw new Error(`node ${id} is already running`);
    if (spawnSync("strace", ["-V"]).status !== 0) throw new Error("strace is not installed: apt-get install -y strace (.ci/run installs it)");
    const args = [BIN, "serve", "--id", String(id), "--cluster", this.clusterFlag, "--data-dir", this.dataDir, "--quiet", ...(this.opts.extraArgs ?? [])];
    const straceArgs = ["-f", "-ttt", "-o", tracePath, "-e", "trace=openat,fsync,fdatasync,connect,accept4", process.execPath, ...args];
    const out = fs.openSync(path.join(this.dataDir, `node-${id}.out`), "a");
    const child = spawn("strace", straceArgs, { stdio: ["ignore", out, out] });
    fs.closeSync(out);
    // The handle kills the traced node, whose pid is the first in the trace; strace then exits.
    const tracee = { pid: undefined as number | undefined };
    const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const handle = {
      get pid(): number | undefined {
        if (tracee.pid === undefined && fs.existsSync(tracePath)) tracee.pid = Number(fs.readFileSync(tracePath, "utf8").match(/^(\d+) /)?.[1]) || undefined;
        return tracee.pid;
      },
    } as unknown as ChildProcess;
    this.procs.set(id, handle);
    this.exits.set(id, exit);
    this.tracers.push(child);
  }

  startAll(): void {
    for (const id of this.ids) this.start(id);
  }

  /** SIGKILL (or another signal) by pid; waits until the process is gone. */
  async kill(id: number, signal: NodeJS.Signals = "SIGKILL"): Promise<number | null> {
    const child = this.procs.get(id);
    if (child === undefined) throw new Error(`node ${id} is not running`);
    process.kill(child.pid!, signal);
    const code = await this.exits.get(id)!;
    this.procs.delete(id);
    this.clients.get(id)?.close();
    this.clients.delete(id);
    return code;
  }

  signal(id: number, signal: NodeJS.Signals): void {
    const child = this.procs.get(id);
    if (child?.pid !== undefined) process.kill(child.pid, signal);
  }

  async stopAll(): Promise<void> {
    for (const id of [...this.procs.keys()]) {
      this.signal(id, "SIGCONT");
      await this.kill(id).catch(() => undefined);
    }
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    for (const t of this.tracers.splice(0)) if (t.exitCode === null && t.pid !== undefined) process.kill(t.pid, "SIGKILL");
  }

  cleanUp(): void {
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  private client(id: number): ProtoClient {
    let c = this.clients.get(id);
    if (c === undefined) {
      c = new this.Client(`127.0.0.1:${this.ports[id]}`, grpc.credentials.createInsecure());
      this.clients.set(id, c);
    }
    return c;
  }

  serve(id: number, request: string, timeoutMs = 3_000, session?: { clientId: string; sequence: number }): Promise<ServeReply> {
    return new Promise((resolve, reject) => {
      const args = session === undefined ? { Request: request } : { Request: request, ClientId: session.clientId, Sequence: session.sequence };
      this.client(id).ServeClient(args, { deadline: Date.now() + timeoutMs }, (err, reply) => (err ? reject(err) : resolve(reply)));
    });
  }

  status(id: number, timeoutMs = 1_000): Promise<StatusReply> {
    return new Promise((resolve, reject) => {
      this.client(id).Status({}, { deadline: Date.now() + timeoutMs }, (err, reply) => (err ? reject(err) : resolve(reply)));
    });
  }

  /** The one leader among `among` that every live node agrees on, once there is one. */
  async waitForLeader(among: readonly number[] = this.ids, timeoutMs = 15_000): Promise<number> {
    return waitFor(
      "a leader",
      async () => {
        const statuses = await Promise.all(among.map((id) => this.status(id).catch(() => null)));
        const leaders = statuses.filter((s) => s !== null && s.role === "leader");
        if (leaders.length !== 1) return null;
        const leader = leaders[0]!.node_id;
        const agree = statuses.every((s) => s !== null && s.leader_id === String(leader));
        return agree ? leader : null;
      },
      timeoutMs,
    );
  }

  /** Sends to the leader, following LeaderID hints, until Success or the deadline. */
  async request(request: string, timeoutMs = 10_000, session?: { clientId: string; sequence: number }): Promise<ServeReply> {
    const deadline = Date.now() + timeoutMs;
    let target = [...this.procs.keys()][0] ?? 0;
    let last: ServeReply | Error = new Error("no attempt");
    while (Date.now() < deadline) {
      try {
        const reply = await this.serve(target, request, Math.min(2_000, deadline - Date.now()), session);
        if (reply.Success) return reply;
        last = reply;
        const hint = Number(reply.LeaderID);
        target = reply.LeaderID !== "" && this.procs.has(hint) && hint !== target ? hint : this.nextLive(target);
      } catch (err) {
        last = err as Error;
        target = this.nextLive(target);
      }
      await sleep(50);
    }
    throw new Error(`${request}: no success within ${timeoutMs} ms; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
  }

  private nextLive(after: number): number {
    const live = [...this.procs.keys()].sort((a, b) => a - b);
    return live.find((id) => id > after) ?? live[0] ?? 0;
  }

  folder(id: number): string {
    return path.join(this.dataDir, `logs_node_${id}`);
  }

  /** The node's logs.txt lines without their checksum tokens (which differ with how writes were grouped). */
  logLines(id: number): string[] {
    const file = path.join(this.folder(id), "logs.txt");
    if (!fs.existsSync(file)) return [];
    return fs
      .readFileSync(file, "utf8")
      .replace(/\0+$/, "") // the space a running (or killed) node reserves after its lines
      .split("\n")
      .filter((l) => l.length > 0)
      .map((l) => l.replace(/ [#*][0-9a-f]{8}$/, ""));
  }

  dumpText(id: number): string {
    const file = path.join(this.folder(id), "dump.txt");
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  }

  output(id: number): string {
    const file = path.join(this.dataDir, `node-${id}.out`);
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  }
}

/** Runs raft-node (or `bin`) to completion; returns exit code and output (stdout and stderr). */
export function runNode(args: readonly string[], timeoutMs = 15_000, bin: string = BIN): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += String(d)));
    child.stderr.on("data", (d) => (output += String(d)));
    const timer = setTimeout(() => {
      process.kill(child.pid!, "SIGKILL");
      reject(new Error(`${path.basename(bin)} ${args.join(" ")} did not exit within ${timeoutMs} ms; output: ${output}`));
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
