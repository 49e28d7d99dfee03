#!/usr/bin/env node
// npm run bench: a local 3-node cluster (real processes, fsync on, fast timing) under closed-loop
// load: 16-byte keys, 100-byte values; SET and GET throughput and p50/p99 latency at 1 and at 128
// concurrent requests. Prints one JSON line per measurement, then the medians over --runs.
//
//   node bench/cluster.mjs [--runs 3] [--seconds 5] [--concurrency 1,128] [--loaders 1]
//
// Every process it starts is stopped by pid when it ends, also on failure or Ctrl-C.

import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { children, freePorts, parseFlags, stopChildren } from "./kit.mjs";
import { Worker } from "node:worker_threads";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = parseFlags(process.argv.slice(2), "--runs N --seconds N --concurrency 1,128 --loaders N");
const RUNS = Number(args.runs ?? 3);
const SECONDS = Number(args.seconds ?? 5);
const CONCURRENCY = String(args.concurrency ?? "1,128").split(",").map(Number);
const LOADERS = Number(args.loaders ?? 1);
const KEY_COUNT = 10_000;

async function startCluster() {
  const ports = await freePorts(3);
  const cluster = ports.map((p, i) => `${i}=127.0.0.1:${p}`).join(",");
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "raft-lease-bench-"));
  for (let id = 0; id < 3; id++) {
    const child = spawn(process.execPath, [path.join(ROOT, "bin/raft-node.js"), "serve", "--id", String(id), "--cluster", cluster, "--data-dir", dataDir, "--quiet"], { stdio: "ignore" });
    children.push(child);
  }
  return { cluster, dataDir };
}

/** One loader: a worker thread with its own RaftClient, running `concurrency` closed loops. */
function runLoader({ cluster, op, concurrency, seconds, loaderIndex }) {
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    (async () => {
      const { RaftClient } = await import(workerData.entry);
      const { cluster, op, concurrency, seconds, loaderIndex, keyCount } = workerData;
      const client = new RaftClient({ nodes: cluster, timeoutMs: 10000 });
      const value = "v".repeat(100);
      const key = (i) => ("k" + String(i).padStart(15, "0")).slice(0, 16);
      // warm up: find the leader, fill the keys GETs read
      if (op === "get") { for (let i = 0; i < 200; i++) await client.set(key(i), value); }
      else await client.set(key(0), value);
      const latencies = [];
      let errors = 0;
      const endAt = performance.now() + seconds * 1000;
      let n = loaderIndex * 7919;
      async function loop() {
        while (performance.now() < endAt) {
          const k = key((n++ * 31) % (op === "get" ? 200 : keyCount));
          const t0 = performance.now();
          try {
            if (op === "set") await client.set(k, value); else await client.get(k);
            latencies.push(performance.now() - t0);
          } catch { errors++; }
        }
      }
      const t0 = performance.now();
      await Promise.all(Array.from({ length: concurrency }, loop));
      const elapsed = (performance.now() - t0) / 1000;
      client.close();
      parentPort.postMessage({ latencies, errors, elapsed });
    })().catch((e) => { parentPort.postMessage({ error: String(e && e.stack || e) }); });
  `;
  const entry = new URL("../dist/index.js", import.meta.url).href;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { entry, cluster, op, concurrency, seconds, loaderIndex, keyCount: KEY_COUNT } });
    w.once("message", (m) => (m.error ? reject(new Error(m.error)) : resolve(m)));
    w.once("error", reject);
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(cluster, op, concurrency) {
  const perLoader = Math.max(1, Math.round(concurrency / LOADERS));
  const loaders = concurrency === 1 ? 1 : LOADERS;
  const results = await Promise.all(Array.from({ length: loaders }, (_, i) => runLoader({ cluster, op, concurrency: perLoader, seconds: SECONDS, loaderIndex: i })));
  const latencies = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const elapsed = Math.max(...results.map((r) => r.elapsed));
  const errors = results.reduce((a, r) => a + r.errors, 0);
  return {
    op, concurrency, ops: latencies.length, errors, seconds: +elapsed.toFixed(2),
    opsPerSec: Math.round(latencies.length / elapsed),
    p50Ms: +percentile(latencies, 50).toFixed(3), p99Ms: +percentile(latencies, 99).toFixed(3),
  };
}

async function waitForLeader(cluster) {
  const { RaftClient } = await import(new URL("../dist/index.js", import.meta.url).href);
  const client = new RaftClient({ nodes: cluster, timeoutMs: 20_000 });
  await client.set("bench-ready", "1");
  client.close();
}

async function main() {
  if (!fs.existsSync(path.join(ROOT, "dist/index.js"))) throw new Error("dist/ is missing: run npm run build first");
  const all = [];
  for (let run = 1; run <= RUNS; run++) {
    const { cluster, dataDir } = await startCluster();
    try {
      await waitForLeader(cluster);
      for (const concurrency of CONCURRENCY) {
        for (const op of ["set", "get"]) {
          const r = { run, ...(await measure(cluster, op, concurrency)) };
          all.push(r);
          console.log(JSON.stringify(r));
        }
      }
    } finally {
      stopChildren();
      children.length = 0;
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }
  for (const concurrency of CONCURRENCY) {
    for (const op of ["set", "get"]) {
      const rows = all.filter((r) => r.op === op && r.concurrency === concurrency);
      const med = (f) => { const xs = rows.map(f).sort((a, b) => a - b); return xs[Math.floor(xs.length / 2)]; };
      console.log(JSON.stringify({ summary: "median", runs: rows.length, op, concurrency, opsPerSec: med((r) => r.opsPerSec), p50Ms: med((r) => r.p50Ms), p99Ms: med((r) => r.p99Ms) }));
    }
  }
}

main().catch((e) => { console.error(`bench: ${e.message}`); stopChildren(); process.exit(1); });
