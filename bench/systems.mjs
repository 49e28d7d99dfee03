// The two systems the cluster benchmarks start: raft-lease (3 raft-node processes) and etcd (3
// members of Debian's etcd-server). Both run on 127.0.0.1 with free ports from kit.mjs, keep their
// data in a fresh temp dir under os.tmpdir() (fsync on: the default of both), and are stopped by
// pid. Each start() resolves once a write has succeeded; a cluster offers `target` (what the load
// worker connects to), findLeader() ({ name, pid }) and stop().

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { children, freePorts, killAndWait, sleep, tempDirs, withDeadline } from "./kit.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const START_TIMEOUT_MS = 30_000;

function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

async function removeDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  tempDirs.delete(dir);
}

function tail(file, lines = 15) {
  try { return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n"); } catch { return "(no log)"; }
}

// ---- raft-lease ---------------------------------------------------------------------------------

export const raftLease = {
  name: "raft-lease",
  timing: "raft-node --timing fast (the default): heartbeat 100 ms, election timeout 1000-2000 ms (randomized), lease 800 ms",
  async start() {
    const { RaftClient } = await import(new URL("../dist/index.js", import.meta.url).href);
    const ports = await freePorts(3);
    const cluster = ports.map((p, i) => `${i}=127.0.0.1:${p}`).join(",");
    const dataDir = tempDir("raft-lease-bench-");
    const procs = [0, 1, 2].map((id) => {
      const child = spawn(process.execPath, [path.join(ROOT, "bin/raft-node.js"), "serve", "--id", String(id), "--cluster", cluster, "--data-dir", dataDir, "--quiet"], { stdio: "ignore" });
      children.push(child);
      return child;
    });
    const stop = async () => { await killAndWait(procs); await removeDir(dataDir); };
    try {
      const client = new RaftClient({ nodes: cluster, timeoutMs: START_TIMEOUT_MS });
      try { await withDeadline(client.set("bench-ready", "1"), START_TIMEOUT_MS + 5_000, "raft-lease: the first write"); } finally { client.close(); }
    } catch (e) {
      await stop();
      throw e;
    }
    return {
      target: cluster,
      stop,
      async findLeader() {
        const client = new RaftClient({ nodes: cluster, timeoutMs: 5_000 });
        try {
          for (const until = performance.now() + 10_000; performance.now() < until; await sleep(50)) {
            const leaders = (await client.status()).filter((r) => r.reachable && r.role === "leader").sort((a, b) => b.term - a.term);
            if (leaders.length > 0) return { name: `node ${leaders[0].id}`, pid: procs[Number(leaders[0].id)].pid };
          }
          throw new Error("raft-lease: no node reports itself leader");
        } finally {
          client.close();
        }
      },
    };
  },
};

// ---- etcd ---------------------------------------------------------------------------------------

const ETCD_HEARTBEAT_MS = 100;
const ETCD_ELECTION_MS = 1000;
export const ETCD_INSTALL = "apt-get update && apt-get install -y etcd-server etcd-client   (Debian/Ubuntu, as root; etcd 3.4)";

/** The etcd binary: `etcd` on PATH, else /usr/bin/etcd, else null. */
export function findEtcd() {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter).filter(Boolean).concat("/usr/bin")) {
    const file = path.join(dir, "etcd");
    try { fs.accessSync(file, fs.constants.X_OK); if (fs.statSync(file).isFile()) return file; } catch { /* not here */ }
  }
  return null;
}

/** `etcd --version`'s first line, e.g. "etcd Version: 3.4.23". */
export function etcdVersion(bin) {
  const r = spawnSync(bin, ["--version"], { encoding: "utf8", timeout: 10_000 });
  return (r.stdout ?? "").split("\n")[0].trim() || "etcd (version unknown)";
}

export function etcdSystem(bin) {
  return {
    name: "etcd",
    timing: `etcd --heartbeat-interval ${ETCD_HEARTBEAT_MS} --election-timeout ${ETCD_ELECTION_MS} (etcd randomizes the election timeout in 1000-2000 ms); pre-vote off (3.4's default), fsync on`,
    async start() {
      const { Etcd3 } = await import("etcd3");
      const ports = await freePorts(6);
      const dataDir = tempDir("etcd-bench-");
      const members = [0, 1, 2].map((i) => ({ name: `m${i}`, client: `http://127.0.0.1:${ports[i]}`, peer: `http://127.0.0.1:${ports[3 + i]}` }));
      const initialCluster = members.map((m) => `${m.name}=${m.peer}`).join(",");
      const token = `bench-${process.pid}-${Date.now()}`;
      const procs = members.map((m) => {
        const log = fs.openSync(path.join(dataDir, `${m.name}.log`), "w");
        const child = spawn(bin, [
          "--name", m.name, "--data-dir", path.join(dataDir, m.name),
          "--listen-client-urls", m.client, "--advertise-client-urls", m.client,
          "--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
          "--initial-cluster", initialCluster, "--initial-cluster-state", "new", "--initial-cluster-token", token,
          "--heartbeat-interval", String(ETCD_HEARTBEAT_MS), "--election-timeout", String(ETCD_ELECTION_MS),
          "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
        ], { stdio: ["ignore", log, log] });
        fs.closeSync(log);
        children.push(child);
        return child;
      });
      const stop = async () => { await killAndWait(procs); await removeDir(dataDir); };
      const endpoints = members.map((m) => m.client);
      /** Each member's status ({ member, leader } as decimal strings), or null where it does not answer. */
      const statuses = async () => Promise.all(members.map(async (m) => {
        const c = new Etcd3({ hosts: m.client, dialTimeout: 2_000, defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 1_000 }) });
        try {
          const s = await withDeadline(c.maintenance.status(), 2_000, `etcd ${m.name}: status`);
          return { member: String(s.header.member_id), leader: String(s.leader) };
        } catch {
          return null;
        } finally {
          c.close();
        }
      }));
      try {
        const until = performance.now() + START_TIMEOUT_MS;
        for (;;) {
          const st = await statuses();
          if (st.every((s) => s !== null && s.leader !== "0")) {
            const c = new Etcd3({ hosts: endpoints, defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 10_000 }) });
            try { await c.put("bench-ready").value("1").exec(); } finally { c.close(); }
            break;
          }
          if (performance.now() > until) throw new Error(`etcd: no leader within ${START_TIMEOUT_MS} ms; member m0's log ends:\n${tail(path.join(dataDir, "m0.log"))}`);
          await sleep(100);
        }
      } catch (e) {
        await stop();
        throw e;
      }
      return {
        target: endpoints,
        stop,
        async findLeader() {
          for (const until = performance.now() + 10_000; performance.now() < until; await sleep(50)) {
            const st = await statuses();
            const leader = st.find((s) => s !== null && s.leader !== "0")?.leader;
            const i = st.findIndex((s) => s !== null && s.member === leader);
            if (i >= 0) return { name: `member ${members[i].name}`, pid: procs[i].pid };
          }
          throw new Error("etcd: no member reports a leader");
        },
      };
    },
  };
}
