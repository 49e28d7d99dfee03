#!/usr/bin/env node
// npm run bench:latency: where a SET at 1 concurrent spends its time. Runs a 3-node cluster of
// real processes (fsync on, fast timing) with RAFT_LEASE_LATENCY_TRACE set, sends --count SETs one
// after another (16-byte keys, 100-byte values) through RaftClient from this process, stops the
// nodes (each writes the moments every entry passed through), and prints the median of each
// phase: client to leader, leader step and append, send, network, follower fdatasync, reply,
// network back, commit, answer, leader to client; and the leader's own fdatasync, which runs
// beside the follower's round. All clocks are this machine's, so the phases line up.
//
//   node bench/latency.mjs [--count 2000] [--runs 3]

import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { children, cleanUp, freePorts, median, parseFlags, sleep, tempDirs } from "./kit.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = parseFlags(process.argv.slice(2), "--count N --runs N");
const COUNT = Number(args.count ?? 2000);
const RUNS = Number(args.runs ?? 3);
const WARMUP = 100;
const { RaftClient } = await import(path.join(ROOT, "dist", "index.js"));
const now = () => performance.timeOrigin + performance.now();

async function runOnce() {
  const ports = await freePorts(3);
  const cluster = ports.map((p, i) => `${i}=127.0.0.1:${p}`).join(",");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "raft-lease-latency-"));
  tempDirs.add(dir);
  const procs = [0, 1, 2].map((id) => {
    const child = spawn(process.execPath, [path.join(ROOT, "bin/raft-node.js"), "serve", "--id", String(id), "--cluster", cluster, "--data-dir", dir, "--quiet"], {
      stdio: "ignore",
      env: { ...process.env, RAFT_LEASE_LATENCY_TRACE: dir },
    });
    children.push(child);
    return child;
  });
  const client = new RaftClient({ nodes: cluster, timeoutMs: 10_000 });
  const value = "v".repeat(100);
  const key = (i) => ("k" + String(i).padStart(15, "0")).slice(0, 16);
  for (let i = 0; i < WARMUP; i++) await client.set(key(i), value);
  const sends = [];
  for (let i = 0; i < COUNT; i++) {
    const t0 = now();
    await client.set(key(i), value);
    sends.push([t0, now()]);
  }
  client.close();
  await Promise.all(procs.map((p) => new Promise((r) => { p.once("exit", r); p.kill("SIGTERM"); })));
  return analyse(dir, sends);
}

function readMarks(dir, id) {
  const file = path.join(dir, `latency-${id}.jsonl`);
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

/** phase -> index -> first time, and phase -> times in order (for marks without an index). */
function byPhase(marks) {
  const at = new Map();
  const ordered = new Map();
  for (const m of marks) {
    if (!at.has(m.phase)) at.set(m.phase, new Map());
    if (!at.get(m.phase).has(m.index)) at.get(m.phase).set(m.index, m.atMs);
    if (!ordered.has(m.phase)) ordered.set(m.phase, []);
    ordered.get(m.phase).push(m.atMs);
  }
  return { at, ordered };
}

function analyse(dir, sends) {
  const nodes = [0, 1, 2].map((id) => byPhase(readMarks(dir, id)));
  const leader = nodes.findIndex((n) => (n.ordered.get("appended")?.length ?? 0) >= sends.length);
  if (leader < 0) throw new Error("no node appended every SET (a leader change during the run?); run again");
  const L = nodes[leader];
  const followers = nodes.filter((_, i) => i !== leader);
  const appended = [...L.at.get("appended").keys()].slice(-sends.length);
  const received = L.ordered.get("client-received").slice(-sends.length);
  const answered = L.ordered.get("client-answered").slice(-sends.length);
  const rows = [];
  appended.forEach((index, k) => {
    const t = (n, phase) => n.at.get(phase)?.get(index);
    // The follower whose answer came first is the one whose round committed the entry.
    const f = followers.map((n) => ({ n, ack: t(L, "reply-received") })).sort((a, b) => (t(a.n, "reply-sent") ?? Infinity) - (t(b.n, "reply-sent") ?? Infinity))[0].n;
    rows.push({
      "client to leader": received[k] - sends[k][0],
      "leader step and append": t(L, "appended") - received[k],
      "leader send (to gRPC)": t(L, "append-sent") - t(L, "appended"),
      "network to follower": t(f, "append-received") - t(L, "append-sent"),
      "follower step and fdatasync": t(f, "durable") - t(f, "append-received"),
      "follower reply (to gRPC)": t(f, "reply-sent") - t(f, "durable"),
      "network back to leader": t(L, "reply-received") - t(f, "reply-sent"),
      "leader commit and apply": t(L, "committed") - t(L, "reply-received"),
      "answer (to gRPC)": answered[k] - t(L, "committed"),
      "leader to client": sends[k][1] - answered[k],
      "total (client's view)": sends[k][1] - sends[k][0],
      "beside: leader's own fdatasync": t(L, "durable") - t(L, "appended"),
    });
  });
  return rows.filter((r) => Object.values(r).every((v) => Number.isFinite(v)));
}

try {
  const all = [];
  for (let r = 0; r < RUNS; r++) {
    const rows = await runOnce();
    all.push(rows);
    console.log(`run ${r + 1}: ${rows.length} SETs traced, total p50 ${median(rows.map((x) => x["total (client's view)"])).toFixed(3)} ms`);
    await sleep(200);
  }
  const phases = Object.keys(all[0][0]);
  console.log(`\nSET at 1 concurrent, median per phase (ms), ${RUNS} runs of ${COUNT}:`);
  console.log(`| phase | ${all.map((_, i) => `run ${i + 1}`).join(" | ")} | median of runs |`);
  console.log(`| --- | ${all.map(() => "---").join(" | ")} | --- |`);
  for (const p of phases) {
    const per = all.map((rows) => median(rows.map((x) => x[p])));
    console.log(`| ${p} | ${per.map((v) => v.toFixed(3)).join(" | ")} | ${median(per).toFixed(3)} |`);
  }
} finally {
  cleanUp();
}
