// Pieces the cluster benchmarks share: flag parsing, free loopback ports, and child processes
// that are killed by pid when the benchmark ends, also on failure or Ctrl-C.

import net from "node:net";

/** `--name value` pairs; anything else is an error that lists the flags (`usage`). */
export function parseFlags(argv, usage) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}; flags: ${usage}`);
    out[a.slice(2)] = argv[++i];
  }
  return out;
}

/** n ports on 127.0.0.1 that were free a moment ago. */
export async function freePorts(n) {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise((res, rej) => {
    const s = net.createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => res(s));
  })));
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Processes this benchmark started; all are SIGKILLed by pid at exit. Push each child here. */
export const children = [];
export function stopChildren() {
  for (const c of children) {
    try { process.kill(c.pid, "SIGKILL"); } catch { /* already gone */ }
  }
}
process.on("exit", stopChildren);
process.on("SIGINT", () => { stopChildren(); process.exit(130); });
