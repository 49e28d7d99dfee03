#!/usr/bin/env node
// npm run bench:soak: a long closed-loop SET load on a local cluster of real `raft-node serve`
// processes: does memory, the log on disk and latency stay flat, and does the
// leader keep its lease?
//
//   node bench/soak.mjs [--seconds 600] [--nodes 3] [--concurrency 128] [--keys 100000]
//                       [--interval 10] [--loaders 1] [--keep]
//
// The nodes run with default flags (fsync on, --timing fast, a snapshot every 10,000 entries),
// each with its own data dir under one temp dir (node-<id>/logs_node_<id>/). The load: SETs of
// 16-byte keys drawn at random over --keys distinct keys, 100-byte values, --concurrency loops
// through RaftClient, in --loaders worker threads (bench/load-worker.mjs, mode "soak"). Every
// --interval seconds one line: elapsed time, ops/s and p50/p99 latency of the SETs completed in
// the interval, each node's RSS (VmRSS of /proc/<pid>/status), logs.txt and snapshot.txt sizes,
// the leader changes so far ("became the leader" lines in every node's dump*.txt, minus the first
// election) and the failed SETs of the interval. At the end a summary: total ops, mean ops/s,
// p99 of the first minute and of the last (of the first and last half when the run is shorter
// than two minutes) and their ratio, max RSS and logs.txt size per node (sampled every second),
// leader changes. Exit 1 if a node died (the run ends early once a majority is gone), 2 for a
// usage error, 130 on Ctrl-C.
//
// SOAK_NODE_FLAGS="<node flags>" gives the nodes Node.js flags, to look into their memory (e.g.
// "--trace-gc", or "--import <file>" of a script that prints process.memoryUsage()).
//
// Bounded in time: a watchdog ends the run (exit 1) at --seconds + 120 s. Every node is stopped
// by pid at the end (SIGTERM, then SIGKILL), also on failure or Ctrl-C, and the temp dir is
// removed unless --keep.

import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { children, cleanUp, freePorts, killAndWait, parseFlags, percentile, sleep, tempDirs, withDeadline } from "./kit.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WORKER = new URL("./load-worker.mjs", import.meta.url);
const USAGE = "--seconds N --nodes N --concurrency N --keys N --interval N --loaders N --keep";
const START_TIMEOUT_MS = 30_000;
const CALL_TIMEOUT_MS = 10_000; // the load worker's bound on each SET
const WATCHDOG_SLACK_MS = 120_000;
const SAMPLE_MS = 1_000;
const MiB = 1024 * 1024;

let args;
let KEEP = false;
try {
  const argv = process.argv.slice(2);
  KEEP = argv.includes("--keep");
  args = parseFlags(argv.filter((a) => a !== "--keep"), USAGE);
  for (const [flag, value] of Object.entries(args)) {
    if (!["seconds", "nodes", "concurrency", "keys", "interval", "loaders"].includes(flag)) throw new Error(`unknown flag --${flag}; flags: ${USAGE}`);
    if (!/^[1-9][0-9]*$/.test(value)) throw new Error(`--${flag} takes a positive whole number, got ${value}`);
  }
  if (Number(args.keys ?? 1) > 1e15) throw new Error("--keys: at most 10^15 (keys are 16 bytes)");
  if (Number(args.nodes ?? 3) > 9) throw new Error("--nodes: at most 9");
} catch (e) {
  console.error(`bench:soak: ${e.message}`);
  process.exit(2);
}
const SECONDS = Number(args.seconds ?? 600);
const NODES = Number(args.nodes ?? 3);
const CONCURRENCY = Number(args.concurrency ?? 128);
const KEYS = Number(args.keys ?? 100_000);
const INTERVAL = Math.min(Number(args.interval ?? 10), SECONDS);
const LOADERS = Math.min(Number(args.loaders ?? 1), CONCURRENCY);
/** The windows the summary compares: the first and the last minute, or halves of a shorter run. */
const WINDOW = Math.min(60, SECONDS / 2);

/** Node.js flags for the nodes (a measurement aid, e.g. SOAK_NODE_FLAGS="--trace-gc"); none by default. */
const NODE_FLAGS = (process.env.SOAK_NODE_FLAGS ?? "").split(" ").filter((f) => f !== "");

const ids = Array.from({ length: NODES }, (_, i) => i);
const majority = Math.floor(NODES / 2) + 1;

// ---- the nodes ----------------------------------------------------------------------------------

function tail(file, lines = 10) {
  try { return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n") || "(empty)"; } catch { return "(none)"; }
}

let stopping = false;
const deaths = [];
let loadStartMs = null;
let onDeath = () => {};

function startNodes(root, cluster) {
  return ids.map((id) => {
    const dataDir = path.join(root, `node-${id}`);
    fs.mkdirSync(dataDir);
    const stderrPath = path.join(root, `node-${id}.stderr`);
    const fd = fs.openSync(stderrPath, "w");
    // Default flags: the console's event lines go to /dev/null, errors to node-<id>.stderr.
    const child = spawn(process.execPath, [...NODE_FLAGS, path.join(ROOT, "bin/raft-node.js"), "serve", "--id", String(id), "--cluster", cluster, "--data-dir", dataDir], { stdio: ["ignore", "ignore", fd] });
    fs.closeSync(fd);
    children.push(child);
    const node = { id, child, pid: child.pid, folder: path.join(dataDir, `logs_node_${id}`), stderrPath, dead: false };
    child.once("exit", (code, signal) => {
      node.dead = true;
      if (stopping) return;
      const at = loadStartMs === null ? "before the load started" : `${((performance.now() - loadStartMs) / 1000).toFixed(1)} s into the load`;
      deaths.push({ id, code, signal, at });
      console.log(`# node ${id} (pid ${node.pid}) died ${at}: ${signal !== null ? `signal ${signal}` : `exit code ${code}`}; its stderr ends:`);
      console.log(tail(stderrPath).replace(/^/gm, "#   "));
      onDeath();
    });
    return node;
  });
}

/** SIGTERM by pid, up to 10 s to exit, then SIGKILL (kit.killAndWait) for any still running. */
async function stopNodes(nodes) {
  stopping = true;
  const live = nodes.filter((n) => !n.dead);
  const exited = Promise.all(live.map((n) => new Promise((r) => (n.dead ? r() : n.child.once("exit", r)))));
  for (const n of live) { try { process.kill(n.pid, "SIGTERM"); } catch { /* gone */ } }
  await Promise.race([exited, sleep(10_000)]);
  await killAndWait(nodes.map((n) => n.child));
}

// ---- what is sampled ----------------------------------------------------------------------------

function rssMiB(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

function sizeMiB(file) {
  try { return fs.statSync(file).size / MiB; } catch { return null; }
}

/**
 * The "became the leader" lines of one node's dump.txt and rotated dump.<k>.txt, read once each:
 * every file (an inode; rotation renames) is read from where the last scan stopped, whole lines
 * only. Kept as a set of terms, so a file read twice counts nothing twice.
 */
class LeaderLines {
  constructor(node) {
    this.node = node;
    this.offsets = new Map(); // `${ino}:${birthtime}` -> bytes read
    this.terms = new Set();
  }

  scan() {
    let names;
    try { names = fs.readdirSync(this.node.folder).filter((n) => /^dump(\.\d+)?\.txt$/.test(n)); } catch { return; }
    const seen = new Set();
    for (const name of names) {
      let fd;
      try { fd = fs.openSync(path.join(this.node.folder, name), "r"); } catch { continue; } // rotated away meanwhile
      try {
        const st = fs.fstatSync(fd);
        const key = `${st.ino}:${st.birthtimeMs}`;
        seen.add(key);
        let offset = this.offsets.get(key) ?? 0;
        if (offset > st.size) offset = 0;
        const chunk = Buffer.alloc(4 * MiB);
        let carry = Buffer.alloc(0);
        while (offset + carry.length < st.size) {
          const n = fs.readSync(fd, chunk, 0, Math.min(chunk.length, st.size - offset - carry.length), offset + carry.length);
          if (n <= 0) break;
          const buf = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n);
          const lastNl = buf.lastIndexOf(10);
          if (lastNl < 0) { carry = Buffer.from(buf); continue; }
          this.take(buf.subarray(0, lastNl + 1));
          offset += lastNl + 1;
          carry = Buffer.from(buf.subarray(lastNl + 1));
        }
        this.offsets.set(key, offset);
      } finally {
        fs.closeSync(fd);
      }
    }
    for (const key of this.offsets.keys()) if (!seen.has(key)) this.offsets.delete(key);
  }

  take(buf) {
    for (let i = buf.indexOf("became the leader"); i >= 0; i = buf.indexOf("became the leader", i + 1)) {
      const start = buf.lastIndexOf(10, i) + 1;
      const end = buf.indexOf(10, i);
      const m = / became the leader for term (\d+)\./.exec(buf.toString("utf8", start, end < 0 ? buf.length : end));
      if (m) this.terms.add(Number(m[1]));
    }
  }
}

// ---- the load -----------------------------------------------------------------------------------

function startLoaders(cluster) {
  const per = Array.from({ length: LOADERS }, (_, i) => Math.floor(CONCURRENCY / LOADERS) + (i < CONCURRENCY % LOADERS ? 1 : 0));
  return per.map((concurrency, i) => {
    const w = new Worker(WORKER, { workerData: { mode: "soak", system: "raft-lease", target: cluster, op: "set", concurrency, seconds: 0, loaderIndex: i, keyCount: KEYS } });
    const loader = { w, waiting: new Map(), failed: null };
    const fail = (e) => {
      loader.failed = e;
      for (const r of loader.waiting.values()) r.reject(e);
      loader.waiting.clear();
    };
    loader.ready = new Promise((resolve, reject) => { loader.waiting.set("ready", { resolve, reject }); });
    w.on("message", (m) => {
      if (m.error) return fail(new Error(`load worker ${i}: ${m.error}`));
      const k = m.ready ? "ready" : m.flush;
      const r = loader.waiting.get(k);
      if (r) { loader.waiting.delete(k); r.resolve(m); }
    });
    w.once("error", (e) => fail(e));
    w.once("exit", (code) => fail(new Error(`load worker ${i} exited (${code})`)));
    loader.ask = (flush, message) => {
      if (loader.failed) return Promise.reject(loader.failed);
      const p = new Promise((resolve, reject) => loader.waiting.set(flush, { resolve, reject }));
      w.postMessage(message);
      return p;
    };
    return loader;
  });
}

/** Every loader's SETs since the last flush: { latencies (sorted), errors, errorTexts }. */
async function flush(loaders, n, final) {
  const replies = await withDeadline(Promise.all(loaders.map((l) => l.ask(final ? "final" : n, final ? { stop: true } : { flush: n }))), final ? CALL_TIMEOUT_MS + 20_000 : 15_000, "load workers");
  const latencies = new Float64Array(replies.reduce((a, r) => a + r.latencies.length, 0));
  let at = 0;
  for (const r of replies) { latencies.set(r.latencies, at); at += r.latencies.length; }
  latencies.sort();
  const errorTexts = {};
  for (const r of replies) for (const [t, c] of Object.entries(r.errorTexts)) errorTexts[t] = (errorTexts[t] ?? 0) + c;
  return { latencies, errors: replies.reduce((a, r) => a + r.errors, 0), errorTexts };
}

// ---- output -------------------------------------------------------------------------------------

const f1 = (x) => (x === null || Number.isNaN(x) ? "-" : x.toFixed(1));
const f2 = (x) => (x === null || !Number.isFinite(x) ? "-" : x.toFixed(2));
const f0 = (x) => (x === null || Number.isNaN(x) ? "-" : Math.round(x).toString());
const perNode = (xs, fmt) => xs.map(fmt).join("/");
const int = (x) => Math.round(x).toLocaleString("en-US");

const COLUMNS = [
  ["elapsed", 8], ["ops/s", 7], ["p50 ms", 8], ["p99 ms", 8],
  ["RSS MiB", Math.max(9, NODES * 5)], ["logs.txt MiB", Math.max(13, NODES * 5)], ["snapshot.txt MiB", Math.max(17, NODES * 5)],
  ["leader changes", 15], ["errors", 7],
];
const row = (cells) => cells.map((c, i) => String(c).padStart(COLUMNS[i][1])).join(" ");

// ---- main ---------------------------------------------------------------------------------------

async function main() {
  if (!fs.existsSync(path.join(ROOT, "dist/index.js"))) throw new Error("dist/ is missing: run npm run build first");
  if (!fs.existsSync("/proc/self/status")) throw new Error("no /proc: RSS is read from /proc/<pid>/status (Linux)");
  const { RaftClient } = await import(new URL("../dist/index.js", import.meta.url).href);

  const root = fs.mkdtempSync(path.join(os.tmpdir(), "raft-lease-soak-"));
  if (!KEEP) tempDirs.add(root);
  const ports = await freePorts(NODES);
  const cluster = ports.map((p, i) => `${i}=127.0.0.1:${p}`).join(",");
  console.log(`# soak: ${SECONDS} s, ${NODES} raft-node serve processes (default flags: fsync on, --timing fast, snapshot every 10,000 entries) on ${cluster}`);
  console.log(`# load: closed loop, ${CONCURRENCY} concurrent SETs through RaftClient in ${LOADERS} worker thread(s), 16-byte keys drawn over ${int(KEYS)} keys, 100-byte values`);
  console.log(`# data: ${root}${KEEP ? " (kept: --keep)" : " (removed at the end; --keep keeps it)"}; one line every ${INTERVAL} s; RSS and sizes in MiB, per node ${ids.map((i) => `n${i}`).join("/")}`);

  const nodes = startNodes(root, cluster);
  let loaders = [];
  try {
    // Ready: a first write succeeds.
    const client = new RaftClient({ nodes: cluster, timeoutMs: START_TIMEOUT_MS });
    const majorityGone = new Promise((_, reject) => {
      onDeath = () => { if (nodes.filter((n) => !n.dead).length < majority) reject(new Error(`fewer than ${majority} nodes are running (see above)`)); };
    });
    try {
      await withDeadline(Promise.race([client.set("soak-ready", "1"), majorityGone]), START_TIMEOUT_MS + 5_000, "the cluster's first write");
    } finally {
      client.close();
      onDeath = () => {};
      majorityGone.catch(() => {});
    }
    if (deaths.length > 0) throw new Error("a node died while the cluster started");

    loaders = startLoaders(cluster);
    await withDeadline(Promise.all(loaders.map((l) => l.ready)), START_TIMEOUT_MS, "load workers connecting");

    const leaderLines = nodes.map((n) => new LeaderLines(n));
    const leaderChanges = () => {
      for (const l of leaderLines) l.scan();
      return Math.max(0, leaderLines.reduce((a, l) => a + l.terms.size, 0) - 1);
    };
    const maxRss = ids.map(() => 0);
    const maxLogs = ids.map(() => 0);
    const maxSnap = ids.map(() => 0);
    const sample = () => {
      const s = nodes.map((n) => ({ rss: n.dead ? null : rssMiB(n.pid), logs: sizeMiB(path.join(n.folder, "logs.txt")), snap: sizeMiB(path.join(n.folder, "snapshot.txt")) }));
      s.forEach((x, i) => {
        maxRss[i] = Math.max(maxRss[i], x.rss ?? 0);
        maxLogs[i] = Math.max(maxLogs[i], x.logs ?? 0);
        maxSnap[i] = Math.max(maxSnap[i], x.snap ?? 0);
      });
      return s;
    };
    const sampler = setInterval(sample, SAMPLE_MS);

    console.log(row(COLUMNS.map(([h]) => h)));
    for (const l of loaders) l.w.postMessage({ start: true });
    loadStartMs = performance.now();
    const watchdog = setTimeout(() => {
      console.error(`bench:soak: still running ${SECONDS} s + ${WATCHDOG_SLACK_MS / 1000} s after the load started; stopping everything`);
      cleanUp();
      process.exit(1);
    }, SECONDS * 1000 + WATCHDOG_SLACK_MS);
    watchdog.unref();

    let endEarly = () => {};
    const early = new Promise((r) => { endEarly = r; });
    onDeath = () => { if (nodes.filter((n) => !n.dead).length < majority) { console.log(`# fewer than ${majority} nodes are alive: ending the run`); endEarly(); } };
    onDeath();

    let totalOps = 0;
    let totalErrors = 0;
    const errorTexts = {};
    const first = []; // intervals inside the first window
    const last = []; // the latest intervals, enough to cover the last window
    let prevMs = loadStartMs;
    let changes = 0;
    for (let k = 1, stop = false; !stop; k++) {
      const tickSec = Math.min(k * INTERVAL, SECONDS);
      const wait = loadStartMs + tickSec * 1000 - performance.now();
      const ended = await Promise.race([sleep(Math.max(0, wait)).then(() => false), early.then(() => true)]);
      stop = ended || tickSec >= SECONDS;
      const got = await flush(loaders, k, stop);
      const nowMs = performance.now();
      const s = sample();
      changes = leaderChanges();
      const startSec = (prevMs - loadStartMs) / 1000;
      const endSec = (nowMs - loadStartMs) / 1000;
      // Windows go by the nominal ticks (k x --interval), not by when a flush came back.
      const nomEnd = ended ? endSec : tickSec;
      const iv = { startSec, endSec, nomStart: (k - 1) * INTERVAL, latencies: got.latencies };
      if (nomEnd <= WINDOW || first.length === 0) first.push(iv);
      last.push(iv);
      while (last.length > 1 && last[0].nomStart < nomEnd - WINDOW) last.shift();
      totalOps += got.latencies.length;
      totalErrors += got.errors;
      for (const [t, c] of Object.entries(got.errorTexts)) errorTexts[t] = (errorTexts[t] ?? 0) + c;
      console.log(row([
        `${endSec.toFixed(0)}s`, f0(got.latencies.length / ((nowMs - prevMs) / 1000)),
        f1(percentile(got.latencies, 50)), f1(percentile(got.latencies, 99)),
        perNode(s.map((x) => x.rss), f0), perNode(s.map((x) => x.logs), f1), perNode(s.map((x) => x.snap), f1),
        changes, got.errors,
      ]));
      prevMs = nowMs;
    }
    clearInterval(sampler);
    const loadSec = (prevMs - loadStartMs) / 1000;

    // Summary.
    const windowP99 = (ivs) => {
      const all = new Float64Array(ivs.reduce((a, iv) => a + iv.latencies.length, 0));
      let at = 0;
      for (const iv of ivs) { all.set(iv.latencies, at); at += iv.latencies.length; }
      all.sort();
      return { p99: percentile(all, 99), from: ivs[0].startSec, to: ivs[ivs.length - 1].endSec };
    };
    const p1 = windowP99(first);
    const p2 = windowP99(last);
    const label = WINDOW === 60 ? "minute" : `${f0(WINDOW)} s`;
    console.log("");
    console.log(`summary (${loadSec.toFixed(0)} s of load, ${NODES} nodes, ${CONCURRENCY} concurrent, ${int(KEYS)} keys):`);
    console.log(`  total ops          ${int(totalOps)} SETs acknowledged, ${int(totalErrors)} failed`);
    console.log(`  mean ops/s         ${int(totalOps / loadSec)}`);
    console.log(`  p99, first ${label}   ${f1(p1.p99)} ms  (${p1.from.toFixed(0)}-${p1.to.toFixed(0)} s)`);
    console.log(`  p99, last ${label}    ${f1(p2.p99)} ms  (${p2.from.toFixed(0)}-${p2.to.toFixed(0)} s)`);
    console.log(`  ratio last/first   ${f2(p2.p99 / p1.p99)}`);
    console.log(`  max RSS MiB        ${perNode(maxRss, f0)}  (sampled every ${SAMPLE_MS / 1000} s)`);
    console.log(`  max logs.txt MiB   ${perNode(maxLogs, f1)}  (largest ${f1(Math.max(...maxLogs))})`);
    console.log(`  max snapshot MiB   ${perNode(maxSnap, f1)}`);
    console.log(`  leader changes     ${changes}  (terms won per node: ${leaderLines.map((l, i) => `n${i} [${[...l.terms].sort((a, b) => a - b).join(",")}]`).join(" ")})`);
    console.log(`  nodes died         ${deaths.length === 0 ? "none" : deaths.map((d) => `node ${d.id} ${d.at} (${d.signal ?? `code ${d.code}`})`).join(", ")}`);
    const texts = Object.entries(errorTexts).sort((a, b) => b[1] - a[1]).slice(0, 5);
    for (const [t, c] of texts) console.log(`  failed SETs: ${int(c)} x ${t}`);
    console.log(JSON.stringify({
      summary: "soak", seconds: +loadSec.toFixed(1), nodes: NODES, concurrency: CONCURRENCY, keys: KEYS, totalOps, errors: totalErrors,
      meanOpsPerSec: Math.round(totalOps / loadSec), p99FirstMs: Number.isFinite(p1.p99) ? +p1.p99.toFixed(1) : null, p99LastMs: Number.isFinite(p2.p99) ? +p2.p99.toFixed(1) : null, p99Ratio: Number.isFinite(p2.p99 / p1.p99) ? +(p2.p99 / p1.p99).toFixed(2) : null, windowSec: WINDOW,
      maxRssMiB: maxRss.map((x) => Math.round(x)), maxLogsTxtMiB: maxLogs.map((x) => +x.toFixed(1)), maxSnapshotTxtMiB: maxSnap.map((x) => +x.toFixed(1)),
      leaderChanges: changes, deaths,
    }));
  } finally {
    for (const l of loaders) void l.w.terminate();
    await stopNodes(nodes);
    if (KEEP) console.log(`# kept ${root}`);
  }
  return deaths.length === 0 ? 0 : 1;
}

main().then((code) => { cleanUp(); process.exit(code); }, (e) => { console.error(`bench:soak: ${e.message}`); cleanUp(); process.exit(1); });
