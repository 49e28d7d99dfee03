// Entry point of `npm run jepsen`. On the host: check the machine (root, ip netns, nftables,
// libfaketime when clocks are faulted), create the run's namespaces, run the test inside the
// clients' namespace (this same program with --inner), and remove every namespace and every
// process in them at the end, also on failure and on Ctrl-C. Exit 0 clean, 1 anomaly, 2 when
// the flags are wrong or the machine cannot run it.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError } from "../cli/args.js";
import { run } from "./exec.js";
import { createNetwork, destroyNetwork, layoutFor } from "./netns.js";
import { findFaketimeLib } from "./nodes.js";
import { parseJepsenArgs, USAGE, type JepsenOptions } from "./options.js";
import { runJepsen, type RunInput } from "./run.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** raft-node, run through its standby launcher (standby.ts). */
const NODE_BIN = path.join(ROOT, "dist/jepsen/standby.js");
const SELF = fileURLToPath(import.meta.url);

export async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === "--inner") return runJepsen(JSON.parse(Buffer.from(argv[1] ?? "", "base64").toString("utf8")) as RunInput);
  let options: JepsenOptions | "help";
  try {
    options = parseJepsenArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`jepsen: ${err.message}\n${USAGE}\n`);
    return 2;
  }
  if (options === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const missing = await whatIsMissing(options);
  if (missing !== null) {
    process.stderr.write(`jepsen: cannot run here: ${missing}\n`);
    return 2;
  }
  return runOnHost(options);
}

/** Null when this machine can run the test; otherwise what is missing and how to get it. */
async function whatIsMissing(o: JepsenOptions): Promise<string | null> {
  if (process.getuid?.() !== 0) return "it must run as root (it creates network namespaces and firewall rules); try sudo";
  if ((await run("ip", ["netns", "list"]).catch(() => null)) === null) return "`ip netns` does not work; install iproute2 (apt-get install iproute2) and run where namespaces are allowed";
  if ((await run("nft", ["--version"]).catch(() => null)) === null) return "nft is missing; apt-get install nftables";
  const needsClock = o.nemesis === "clock" || o.nemesis === "mixed";
  if (needsClock && findFaketimeLib() === null) return `the ${o.nemesis} nemesis needs libfaketime; apt-get install faketime`;
  return null;
}

async function runOnHost(options: JepsenOptions): Promise<number> {
  const net = layoutFor(process.pid, options.nodes);
  const outDir = path.resolve(options.outDir ?? mkdtempSync(path.join(os.tmpdir(), "raft-jepsen-")));
  let interrupted = false;
  let child: ReturnType<typeof spawn> | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted = true;
    process.stderr.write(`jepsen: ${signal}: stopping the run and removing its namespaces\n`);
    child?.kill("SIGTERM");
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await createNetwork(net);
    if (interrupted) return 130;
    const input: RunInput = { options, net, outDir, nodeBin: NODE_BIN, faketimeLib: findFaketimeLib() };
    const encoded = Buffer.from(JSON.stringify(input)).toString("base64");
    child = spawn("ip", ["netns", "exec", net.clients, process.execPath, SELF, "--inner", encoded], { stdio: "inherit" });
    const code = await new Promise<number>((resolve) => child?.once("exit", (c, sig) => resolve(c ?? (sig === null ? 1 : 130))));
    if (code === 0 && options.outDir === null) rmSync(outDir, { recursive: true, force: true });
    else process.stdout.write(`history, node files and report.html: ${outDir}\n`);
    return interrupted ? 130 : code;
  } catch (err) {
    process.stderr.write(`jepsen: the run could not be set up: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  } finally {
    const problems = await destroyNetwork(net.prefix);
    for (const p of problems) process.stderr.write(`jepsen: cleanup: ${p}\n`);
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
}

const invokedDirectly = process.argv[1] !== undefined && path.resolve(process.argv[1]) === SELF;
if (invokedDirectly) {
  // The inner run may leave gRPC channels closing in the background; its verdict is final.
  const code = await main(process.argv.slice(2));
  process.exit(code);
}
