#!/usr/bin/env node
// npm run bench: a local 3-node cluster (real processes, fsync on, fast timing) under closed-loop
// load: 16-byte keys, 100-byte values; SET and GET throughput and p50/p99 latency at 1 and at 128
// concurrent requests. Prints one JSON line per measurement, then the medians over --runs.
//
//   node bench/cluster.mjs [--runs 3] [--seconds 5] [--concurrency 1,128] [--loaders 1] [--vs etcd]
//
// --vs etcd: the same loads against a 3-member etcd on loopback (the `etcd` binary on PATH or
// /usr/bin/etcd; fsync on; heartbeat 100 ms, election 1000 ms) through the `etcd3` client, plus
// failover (SIGKILL the leader under a 1-concurrent SET load: time to the first SET that succeeds
// after it). Alternates etcd, raft-lease, etcd, ... --runs times with fresh clusters, then prints
// a table of medians and ratios. Without etcd it says how to install it and runs raft-lease alone.
//
// Every process it starts is stopped by pid and every temp dir removed when it ends, also on
// failure or Ctrl-C; every wait is bounded.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { cleanUp, failover, measure, median, parseFlags } from "./kit.mjs";
import { ETCD_INSTALL, etcdSystem, etcdVersion, findEtcd, raftLease } from "./systems.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const USAGE = "--runs N --seconds N --concurrency 1,128 --loaders N --vs etcd";
let args;
try {
  args = parseFlags(process.argv.slice(2), USAGE);
  if (args.vs !== undefined && args.vs !== "etcd") throw new Error(`--vs takes etcd, got ${args.vs}`);
  for (const flag of ["runs", "seconds", "loaders", "concurrency"]) {
    if (args[flag] !== undefined && !String(args[flag]).split(",").every((v) => /^[1-9][0-9]*$/.test(v))) throw new Error(`--${flag} takes a positive whole number${flag === "concurrency" ? " or a comma-separated list" : ""}, got ${args[flag]}`);
  }
} catch (e) {
  console.error(`bench: ${e.message}`);
  process.exit(2);
}
const RUNS = Number(args.runs ?? 3);
const SECONDS = Number(args.seconds ?? 5);
const CONCURRENCY = String(args.concurrency ?? "1,128").split(",").map(Number);
const LOADERS = Number(args.loaders ?? 1);
const VS = args.vs ?? null;
const OPS = ["set", "get"];

/** Our cluster alone, as npm run bench always did: the loads, then medians over the runs. */
async function oursAlone() {
  const all = [];
  for (let run = 1; run <= RUNS; run++) {
    const cluster = await raftLease.start();
    try {
      for (const concurrency of CONCURRENCY) {
        for (const op of OPS) {
          const r = { run, ...(await measure({ system: "raft-lease", target: cluster.target, op, concurrency, seconds: SECONDS, loaders: LOADERS })) };
          all.push(r);
          console.log(JSON.stringify(r));
        }
      }
    } finally {
      await cluster.stop();
    }
  }
  for (const concurrency of CONCURRENCY) {
    for (const op of OPS) {
      const rows = all.filter((r) => r.op === op && r.concurrency === concurrency);
      console.log(JSON.stringify({ summary: "median", runs: rows.length, op, concurrency, opsPerSec: median(rows.map((r) => r.opsPerSec)), p50Ms: median(rows.map((r) => r.p50Ms)), p99Ms: median(rows.map((r) => r.p99Ms)) }));
    }
  }
}

/** One system's share of an alternation: a fresh cluster, every load, failover last (it kills the leader). */
async function runSystem(system, run, all) {
  const cluster = await system.start();
  try {
    for (const concurrency of CONCURRENCY) {
      for (const op of OPS) {
        const r = { system: system.name, run, ...(await measure({ system: system.name, target: cluster.target, op, concurrency, seconds: SECONDS, loaders: LOADERS })) };
        all.push(r);
        console.log(JSON.stringify(r));
      }
    }
    const f = { system: system.name, run, op: "failover", ...(await failover({ system: system.name, target: cluster.target, findLeader: cluster.findLeader })) };
    all.push(f);
    console.log(JSON.stringify(f));
  } finally {
    await cluster.stop();
  }
}

const fmt = (x, digits) => (x === null ? "n/a" : x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }));

/** The medians table: one column per system; the ratio says how raft-lease compares (>1: better). */
function printTable(systems, all, etcdLabel) {
  const cell = (name, pick, digits) => {
    const xs = pick(name);
    const m = median(xs);
    const finite = xs.filter((x) => x !== null).sort((a, b) => a - b);
    const range = finite.length > 1 ? ` [${fmt(finite[0], digits)}-${fmt(finite[finite.length - 1], digits)}]` : "";
    const missing = xs.length - finite.length > 0 ? ` (${xs.length - finite.length} of ${xs.length} none)` : "";
    return { m, text: `${fmt(m, digits)}${range}${missing}` };
  };
  const rows = [];
  for (const concurrency of CONCURRENCY) {
    for (const op of OPS) {
      const label = `${op.toUpperCase()} at ${concurrency} concurrent`;
      const rowsOf = (name) => all.filter((r) => r.system === name && r.op === op && r.concurrency === concurrency);
      rows.push({ label: `${label}: ops/s`, higherIsBetter: true, digits: 0, pick: (name) => rowsOf(name).map((r) => r.opsPerSec) });
      rows.push({ label: `${label}: p50 ms`, higherIsBetter: false, digits: 2, pick: (name) => rowsOf(name).map((r) => r.p50Ms) });
      rows.push({ label: `${label}: p99 ms`, higherIsBetter: false, digits: 2, pick: (name) => rowsOf(name).map((r) => r.p99Ms) });
    }
  }
  rows.push({ label: "failover: leader SIGKILL to first SET ok, ms", higherIsBetter: false, digits: 0, pick: (name) => all.filter((r) => r.system === name && r.op === "failover").map((r) => r.failoverMs) });

  const both = systems.length === 2;
  const header = both ? ["", `${etcdLabel} (median [min-max])`, "raft-lease (median [min-max])", "ratio"] : ["", "raft-lease (median [min-max])"];
  const lines = rows.map((row) => {
    const ours = cell("raft-lease", row.pick, row.digits);
    if (!both) return [row.label, ours.text];
    const theirs = cell("etcd", row.pick, row.digits);
    const ratio = ours.m === null || theirs.m === null || ours.m === 0 || theirs.m === 0 ? "n/a" : `${(row.higherIsBetter ? ours.m / theirs.m : theirs.m / ours.m).toFixed(2)}x`;
    return [row.label, theirs.text, ours.text, ratio];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const show = (cols) => `| ${cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ")} |`;
  console.log("");
  console.log(show(header));
  console.log(`|${widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`);
  for (const l of lines) console.log(show(l));
  if (both) console.log("ratio: above 1 means raft-lease is better. Throughput: raft-lease/etcd; latencies and failover: etcd/raft-lease.");
}

async function versus() {
  const bin = findEtcd();
  const systems = [];
  let etcdLabel = "etcd";
  if (bin === null) {
    console.log("# no etcd binary on PATH or at /usr/bin/etcd: running raft-lease alone. To compare, install etcd:");
    console.log(`#   ${ETCD_INSTALL}`);
  } else {
    try { await import("etcd3"); } catch (e) { throw new Error(`the etcd3 client (a devDependency) does not load: run npm install (${e.message})`); }
    const version = etcdVersion(bin);
    etcdLabel = `etcd ${version.replace(/^etcd Version:\s*/, "")}`;
    systems.push(etcdSystem(bin));
    console.log(`# ${etcdLabel} (${bin}) vs raft-lease, alternating ${RUNS} times, a fresh cluster for each side each time`);
  }
  systems.push(raftLease);
  console.log(`# each side: 3 members on 127.0.0.1, data in a fresh temp dir under ${os.tmpdir()}, fsync on`);
  for (const s of systems) console.log(`# ${s.name} timing: ${s.timing}`);
  console.log(`# load: closed loop, 16-byte keys, 100-byte values, ${SECONDS} s per measurement at ${CONCURRENCY.join(" and ")} concurrent, ${LOADERS} loader thread(s) per measurement`);
  if (bin !== null) console.log("# etcd: SET = put, GET = get (etcd's default range: linearizable), etcd3 client, each call to a random member (a follower forwards it to the leader)");
  console.log("# raft-lease: SET = RaftClient.set, GET = RaftClient.get (a lease read at the leader); the client sends to the leader it knows");
  console.log("# failover: SIGKILL the leader while a 1-concurrent SET loop runs; time until the first SET sent after the kill succeeds (the SET in flight at the kill is waited out first, see inFlightAtKill; 10 s per call, 20 s bound)");
  if (bin !== null) console.log("# etcd failover: a put that a follower forwarded to the killed leader is answered only at etcd's request timeout (5 s + 2 x election timeout = 7 s), then etcd3 retries it: etcd's figure is an election or about 7 s");
  const all = [];
  for (let run = 1; run <= RUNS; run++) {
    for (const system of systems) await runSystem(system, run, all);
  }
  for (const system of systems) {
    for (const op of [...OPS, "failover"]) {
      for (const concurrency of op === "failover" ? [1] : CONCURRENCY) {
        const rows = all.filter((r) => r.system === system.name && r.op === op && (op === "failover" || r.concurrency === concurrency));
        const summary = op === "failover"
          ? { summary: "median", system: system.name, runs: rows.length, op, failoverMs: median(rows.map((r) => r.failoverMs)) }
          : { summary: "median", system: system.name, runs: rows.length, op, concurrency, opsPerSec: median(rows.map((r) => r.opsPerSec)), p50Ms: median(rows.map((r) => r.p50Ms)), p99Ms: median(rows.map((r) => r.p99Ms)) };
        console.log(JSON.stringify(summary));
      }
    }
  }
  printTable(systems.map((s) => s.name), all, etcdLabel);
}

async function main() {
  if (!fs.existsSync(path.join(ROOT, "dist/index.js"))) throw new Error("dist/ is missing: run npm run build first");
  if (VS === "etcd") await versus(); else await oursAlone();
}

main().then(() => { cleanUp(); process.exit(0); }, (e) => { console.error(`bench: ${e.message}`); cleanUp(); process.exit(1); });
