// `npm start`: a 3-node raft-lease cluster on 127.0.0.1 plus a client prompt.
//
// Builds first when dist/ is missing or older than src/ or proto/, starts three `raft-node`
// processes (ports 50051-50053, or free ones if those are taken) with data under ./data, waits for
// a leader, then opens the prompt in this process. Leaving the prompt (exit, Ctrl-D, Ctrl-C)
// stops the nodes with SIGTERM and waits for them to exit.

import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const HOST = "127.0.0.1";
const DEFAULT_PORTS = [50051, 50052, 50053];
const PORT_SEARCH_MAX = 200;
const LEADER_WAIT_MS = 30_000;
const STOP_WAIT_MS = 5_000;

function newestMtimeMs(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(full) : statSync(full).mtimeMs);
  }
  return newest;
}

function buildIfNeeded() {
  const built = path.join(ROOT, "dist", "cli", "raft-node.js");
  const sourcesMs = Math.max(newestMtimeMs(path.join(ROOT, "src")), newestMtimeMs(path.join(ROOT, "proto")));
  if (existsSync(built) && statSync(built).mtimeMs >= sourcesMs) return;
  console.log(existsSync(built) ? "Sources changed since the last build; building (npm run build)..." : "No build yet; building (npm run build)...");
  const result = spawnSync("npm", ["run", "build"], { cwd: ROOT, stdio: "inherit", shell: process.platform === "win32" });
  if (result.status !== 0) {
    console.error("npm start: the build failed (see above); fix it, then run npm start again");
    process.exit(1);
  }
}

function portIsFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

/** The default ports where free; a taken one is replaced by the next free port above 50053. */
async function choosePorts() {
  const ports = [];
  let candidate = DEFAULT_PORTS[DEFAULT_PORTS.length - 1] + 1;
  for (const port of DEFAULT_PORTS) {
    if (await portIsFree(port)) {
      ports.push(port);
      continue;
    }
    let found = null;
    for (let i = 0; i < PORT_SEARCH_MAX && found === null; i++, candidate++) {
      if (await portIsFree(candidate)) found = candidate;
    }
    if (found === null) throw new Error(`port ${port} is in use and no free port was found in ${DEFAULT_PORTS[2] + 1}-${candidate}`);
    console.log(`Port ${port} is in use; node ${ports.length} uses port ${found} instead.`);
    ports.push(found);
    candidate = found + 1;
  }
  return ports;
}

function startNodes(ports, dataDir) {
  const cluster = ports.map((p, i) => `${i}=${HOST}:${p}`).join(",");
  return ports.map((port, id) => {
    const logPath = path.join(dataDir, `node-${id}.log`);
    const fd = openSync(logPath, "a");
    const args = [path.join(ROOT, "bin", "raft-node.js"), "serve", "--id", String(id), "--cluster", cluster, "--data-dir", dataDir];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", fd, fd] });
    closeSync(fd);
    const node = { id, port, child, logPath, exited: null };
    node.exit = new Promise((resolve) => child.once("exit", (code, signal) => resolve((node.exited = { code, signal }))));
    return node;
  });
}

function tail(file, lineCount) {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lineCount).join("\n");
  } catch {
    return "(no log)";
  }
}

function describeExit(node) {
  const { code, signal } = node.exited;
  return `node ${node.id} (pid ${node.child.pid}) exited with ${signal === null ? `code ${code}` : `signal ${signal}`}`;
}

async function waitForLeader(client, nodes) {
  const deadline = Date.now() + LEADER_WAIT_MS;
  while (Date.now() < deadline) {
    const dead = nodes.find((n) => n.exited !== null);
    if (dead !== undefined) throw new Error(`${describeExit(dead)} while starting; the end of ${dead.logPath}:\n${tail(dead.logPath, 10)}`);
    const reports = await client.status();
    const leader = reports.find((r) => r.reachable && r.role === "leader");
    if (leader !== undefined) return reports;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`no leader was elected within ${LEADER_WAIT_MS / 1000} s; see the node logs`);
}

async function stopNodes(nodes) {
  for (const n of nodes) if (n.exited === null) n.child.kill("SIGTERM");
  const timeout = new Promise((resolve) => setTimeout(resolve, STOP_WAIT_MS).unref());
  await Promise.race([Promise.all(nodes.map((n) => n.exit)), timeout]);
  for (const n of nodes) {
    if (n.exited === null) {
      console.log(`node ${n.id} (pid ${n.child.pid}) did not stop within ${STOP_WAIT_MS / 1000} s; killing it`);
      n.child.kill("SIGKILL");
      await n.exit;
    }
  }
  console.log(`Stopped: ${nodes.map((n) => describeExit(n)).join("; ")}.`);
}

async function main() {
  buildIfNeeded();
  const { RaftClient } = await import(pathToFileURL(path.join(ROOT, "dist", "index.js")).href);
  const { runPrompt, formatStatus } = await import(pathToFileURL(path.join(ROOT, "dist", "cli", "raft-client.js")).href);
  const ports = await choosePorts();
  const usesDefaults = ports.every((p, i) => p === DEFAULT_PORTS[i]);
  // A data dir remembers its cluster's addresses, so other ports get their own folder.
  const dataDir = path.join(ROOT, "data", usesDefaults ? "" : `cluster-${ports.join("-")}`);
  mkdirSync(dataDir, { recursive: true });
  const nodes = startNodes(ports, dataDir);
  const nodesFlag = ports.map((p, i) => `${i}=${HOST}:${p}`).join(",");
  console.log(`Started 3 nodes (fast timing) with data in ${dataDir}:`);
  for (const n of nodes) console.log(`  node ${n.id}: ${HOST}:${n.port}, pid ${n.child.pid}, console log ${n.logPath}, events ${path.join(dataDir, `logs_node_${n.id}`, "dump.txt")}`);
  const client = new RaftClient({ nodes: nodesFlag, timeoutMs: 10_000 });
  let stopping = false;
  const stopAll = async (code) => {
    if (stopping) return;
    stopping = true;
    client.close();
    await stopNodes(nodes);
    process.exit(code);
  };
  process.on("SIGINT", () => void stopAll(0));
  process.on("SIGTERM", () => void stopAll(0));
  // If this process dies another way (a closed output pipe, a bug), take the nodes with it.
  process.on("exit", () => nodes.forEach((n) => n.exited === null && n.child.kill("SIGTERM")));
  process.stdout.on("error", () => void stopAll(1));
  for (const n of nodes) void n.exit.then(() => !stopping && console.log(`\n${describeExit(n)}; the end of ${n.logPath}:\n${tail(n.logPath, 5)}`));
  try {
    console.log("Waiting for a leader...");
    console.log(formatStatus(await waitForLeader(client, nodes)));
  } catch (err) {
    console.error(`npm start: ${err.message}`);
    await stopAll(1);
    return;
  }
  console.log(`\nOther terminals can connect with: node bin/raft-client.js --nodes ${nodesFlag}`);
  console.log("Type help for commands; exit, Ctrl-D or Ctrl-C stops the cluster.");
  await runPrompt(client);
  await stopAll(0);
}

main().catch((err) => {
  console.error(`npm start: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
