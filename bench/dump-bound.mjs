#!/usr/bin/env node
// dump.txt stays bounded under load: a local 3-node cluster (real processes, --quiet, a small
// --dump-max-bytes so that rotation happens often) takes SETs with large values for a while; every
// second the size of every node's dump.txt and rotated files is sampled. Prints one JSON line of
// samples a minute and a summary; exit 1 if any file exceeded the bound or a node's event files
// exceeded (kept files + 1) x the bound.
//
//   node bench/dump-bound.mjs [--minutes 10] [--dump-max-bytes 1048576] [--value-bytes 40000] [--concurrency 8]
//
// Every process it starts is stopped by pid when it ends, also on failure or Ctrl-C.

import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { children, freePorts, parseFlags, stopChildren } from "./kit.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = parseFlags(process.argv.slice(2), "--minutes N --dump-max-bytes N --value-bytes N --concurrency N");
const MINUTES = Number(args.minutes ?? 10);
const DUMP_MAX_BYTES = Number(args["dump-max-bytes"] ?? 1 << 20);
const VALUE_BYTES = Number(args["value-bytes"] ?? 40_000);
const CONCURRENCY = Number(args.concurrency ?? 8);
const { DUMP_FILES_KEPT } = await import(new URL("../dist/runtime/grpc/dump-writer.js", import.meta.url).href);
const { RaftClient } = await import(new URL("../dist/index.js", import.meta.url).href);

/** Sizes of a node's event files: dump.txt and dump.<k>.txt. */
function dumpSizes(folder) {
  if (!fs.existsSync(folder)) return [];
  return fs.readdirSync(folder).filter((n) => /^dump(\.\d+)?\.txt$/.test(n)).map((n) => ({ name: n, bytes: fs.statSync(path.join(folder, n)).size }));
}

async function main() {
  const ports = await freePorts(3);
  const cluster = ports.map((p, i) => `${i}=127.0.0.1:${p}`).join(",");
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "raft-lease-dump-"));
  try {
    for (let id = 0; id < 3; id++) {
      const argv = [path.join(ROOT, "bin/raft-node.js"), "serve", "--id", String(id), "--cluster", cluster, "--data-dir", dataDir, "--quiet", "--dump-max-bytes", String(DUMP_MAX_BYTES)];
      children.push(spawn(process.execPath, argv, { stdio: "ignore" }));
    }
    // One client a loop: a client keeps one SET in flight (its exactly-once session).
    const clients = Array.from({ length: CONCURRENCY }, () => new RaftClient({ nodes: cluster, timeoutMs: 10_000 }));
    const value = "v".repeat(VALUE_BYTES);
    const endAt = Date.now() + MINUTES * 60_000;
    let sets = 0;
    let errors = 0;
    let maxFileBytes = 0;
    let maxNodeBytes = 0;
    let maxFiles = 0;
    const sample = () => {
      for (let id = 0; id < 3; id++) {
        const sizes = dumpSizes(path.join(dataDir, `logs_node_${id}`));
        maxFileBytes = Math.max(maxFileBytes, ...sizes.map((s) => s.bytes), 0);
        maxNodeBytes = Math.max(maxNodeBytes, sizes.reduce((a, s) => a + s.bytes, 0));
        maxFiles = Math.max(maxFiles, sizes.length);
      }
    };
    const sampler = setInterval(sample, 1000);
    const reporter = setInterval(() => {
      console.log(JSON.stringify({ minute: Math.round((MINUTES * 60_000 - (endAt - Date.now())) / 60_000), sets, errors, maxFileBytes, maxNodeBytes, maxFiles }));
    }, 60_000);
    let n = 0;
    const loop = async (client) => {
      while (Date.now() < endAt) {
        try {
          await client.set(`k${n++ % 1000}`, value);
          sets++;
        } catch {
          errors++;
        }
      }
    };
    await Promise.all(clients.map(loop));
    clearInterval(sampler);
    clearInterval(reporter);
    sample();
    for (const client of clients) client.close();
    const logsBytes = [0, 1, 2].map((id) => fs.statSync(path.join(dataDir, `logs_node_${id}`, "logs.txt")).size);
    const nodeBound = (DUMP_FILES_KEPT + 1) * DUMP_MAX_BYTES;
    const ok = maxFileBytes <= DUMP_MAX_BYTES && maxNodeBytes <= nodeBound;
    console.log(JSON.stringify({ minutes: MINUTES, valueBytes: VALUE_BYTES, concurrency: CONCURRENCY, sets, errors, dumpMaxBytes: DUMP_MAX_BYTES, maxFileBytes, maxNodeBytes, nodeBoundBytes: nodeBound, maxFiles, logsTxtBytes: logsBytes, ok }));
    process.exitCode = ok ? 0 : 1;
  } finally {
    stopChildren();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
