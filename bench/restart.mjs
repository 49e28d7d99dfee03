#!/usr/bin/env node
// npm run bench:restart: how long a node takes to restart after a long history. Builds the data
// dir a node has after --writes SETs (default 1,000,000) over --keys distinct keys (default
// 100,000), 16-byte keys and 100-byte values, with the default snapshot settings (a snapshot
// every 10,000 entries, 5,000 kept below): snapshot.txt at the last multiple of 10,000 and
// logs.txt from 5,000 entries before it. Then it times, --runs times (default 5):
//  - recovery in this process: opening the storage (reading and checking every line) and
//    starting the core from it (restoring the snapshot, replaying the tail);
//  - a real `raft-node serve` process, from spawn to its "serving on" line.
// Prints each run and the medians, and the files' sizes.
//
//   node bench/restart.mjs [--writes N] [--keys N] [--runs N]

import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { children, cleanUp, freePorts, median, parseFlags, tempDirs } from "./kit.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = (p) => import(path.join(ROOT, "dist", p));
const args = parseFlags(process.argv.slice(2), "--writes N --keys N --runs N");
const WRITES = Number(args.writes ?? 1_000_000);
const KEYS = Number(args.keys ?? 100_000);
const RUNS = Number(args.runs ?? 5);

const { CONFIG_DEFAULTS, RaftNode, makeConfig, TIMING_FAST, nodeId, logIndex, term } = await dist("raft/index.js");
const { FileStorage } = await dist("runtime/grpc/storage.js");
const { writeSnapshotFile } = await dist("runtime/grpc/snapshot-file.js");
const { encodeStartLine, encodeLogLine } = await dist("runtime/grpc/log-file.js");
const { encodeMetadata } = await dist("runtime/grpc/metadata-file.js");
const { nodeFileLayer } = await dist("runtime/grpc/file-layer.js");

const key = (i) => `k${String(i % KEYS).padStart(15, "0")}`;
const value = (i) => `v${String(i).padStart(99, "0")}`;
const entry = (i) => ({ term: term(1), command: { kind: "set", key: key(i), value: value(i), clientId: "", sequence: 0, firstUnanswered: 0 } });

async function buildDataDir(dir, cluster) {
  const every = CONFIG_DEFAULTS.snapshotEveryEntries;
  const keep = CONFIG_DEFAULTS.snapshotKeepEntries;
  const snapIndex = Math.floor(WRITES / every) * every;
  const data = new Map();
  for (let i = Math.max(1, snapIndex - KEYS + 1); i <= snapIndex; i++) data.set(key(i), value(i)); // the last write of each key
  const folder = path.join(dir, "logs_node_0");
  fs.mkdirSync(folder, { recursive: true });
  await writeSnapshotFile(nodeFileLayer, folder, { lastIndex: logIndex(snapIndex), lastTerm: term(1), members: cluster.split(",").map((m) => ({ id: nodeId(Number(m.split("=")[0])), address: m.split("=")[1], role: "voter" })), data, sessions: new Map() });
  const prev = Math.max(0, snapIndex - keep);
  const lines = prev > 0 ? [encodeStartLine({ prevIndex: logIndex(prev), prevTerm: term(prev > 0 ? 1 : 0) })] : [];
  for (let i = prev + 1; i <= WRITES; i++) lines.push(encodeLogLine(entry(i), i === WRITES ? "*" : "#"));
  fs.writeFileSync(path.join(folder, "logs.txt"), lines.join(""), "latin1");
  const hard = { currentTerm: term(1), votedFor: null, commitIndex: logIndex(WRITES) };
  fs.writeFileSync(path.join(folder, "metadata.txt"), encodeMetadata(nodeId(0), cluster, hard));
  return { folder, snapIndex, prev };
}

async function inProcess(dir, cluster) {
  const t0 = performance.now();
  const storage = await FileStorage.open({ dataDir: dir, nodeId: nodeId(0), clusterFingerprint: cluster, warn: () => {}, dumpBytesMax: 1 << 20 });
  const t1 = performance.now();
  const node = RaftNode.start(makeConfig(nodeId(0), [0, 1, 2].map(nodeId), TIMING_FAST), storage.recovered, 0, Math.random);
  const t2 = performance.now();
  const v = node.inspect();
  if (v.commitIndex !== WRITES || v.valueOf(key(WRITES)) !== value(WRITES)) throw new Error(`restart lost state: commit ${v.commitIndex}`);
  await storage.close();
  return { openMs: t1 - t0, coreMs: t2 - t1, totalMs: t2 - t0 };
}

async function processStart(dir, cluster) {
  const t0 = performance.now();
  const child = spawn(process.execPath, [path.join(ROOT, "bin/raft-node.js"), "serve", "--id", "0", "--cluster", cluster, "--data-dir", dir], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  const ms = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`no "serving on" line within 60 s: ${out.slice(-500)}`)), 60_000);
    const onData = (b) => {
      out += b.toString();
      if (out.includes("serving on")) {
        clearTimeout(timer);
        resolve(performance.now() - t0);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`raft-node exited ${code}: ${out.slice(-500)}`)));
  });
  child.removeAllListeners("exit");
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
  return ms;
}

try {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "raft-lease-restart-"));
  tempDirs.add(dir);
  const ports = await freePorts(3);
  const cluster = ports.map((p, i) => `${i}=127.0.0.1:${p}`).join(",");
  const t0 = performance.now();
  const built = await buildDataDir(dir, cluster);
  const size = (f) => (fs.statSync(path.join(built.folder, f)).size / 1e6).toFixed(1);
  console.log(`# a node after ${WRITES.toLocaleString("en-US")} writes over ${KEYS.toLocaleString("en-US")} keys: snapshot.txt through entry ${built.snapIndex} (${size("snapshot.txt")} MB), logs.txt entries ${built.prev + 1}..${WRITES} (${size("logs.txt")} MB); built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const rows = [];
  for (let r = 0; r < RUNS; r++) {
    const ip = await inProcess(dir, cluster);
    const proc = await processStart(dir, cluster);
    rows.push({ ...ip, processMs: proc });
    console.log(JSON.stringify({ run: r + 1, openStorageMs: +ip.openMs.toFixed(1), startCoreMs: +ip.coreMs.toFixed(1), inProcessMs: +ip.totalMs.toFixed(1), raftNodeServingMs: +proc.toFixed(1) }));
  }
  const m = (k) => median(rows.map((x) => x[k])).toFixed(0);
  console.log(`median over ${RUNS} runs: open storage ${m("openMs")} ms + start core ${m("coreMs")} ms = ${m("totalMs")} ms in process; raft-node serve to "serving on": ${m("processMs")} ms`);
} finally {
  cleanUp();
}
