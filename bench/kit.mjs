// Pieces the cluster benchmarks share: flag parsing, free loopback ports, child processes that
// are killed by pid and temp dirs that are removed when the benchmark ends (also on failure or
// Ctrl-C), closed-loop load in worker threads (bench/load-worker.mjs), percentiles and medians.

import fs from "node:fs";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Worker } from "node:worker_threads";

export { sleep };

/** `--name value` pairs; anything else is an error that lists the flags (`usage`). */
export function parseFlags(argv, usage) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}; flags: ${usage}`);
    if (i + 1 >= argv.length || argv[i + 1].startsWith("--")) throw new Error(`${a} needs a value; flags: ${usage}`);
    out[a.slice(2)] = argv[++i];
  }
  return out;
}

/**
 * Flags that are all counts: whole numbers of at least 1, `defaults` (name to value) naming every
 * flag there is and its value when not given. Any other flag, or a bad number, is an error that
 * lists the flags (`usage`).
 */
export function parseCountFlags(argv, defaults, usage) {
  const f = parseFlags(argv, usage);
  for (const name of Object.keys(f)) if (!(name in defaults)) throw new Error(`unknown flag --${name}; flags: ${usage}`);
  const out = {};
  for (const [name, fallback] of Object.entries(defaults)) {
    const v = Number(f[name] ?? fallback);
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a whole number of at least 1, got ${f[name]}; flags: ${usage}`);
    out[name] = v;
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

/** Temp dirs this benchmark made; all are removed at exit (after the children are killed). */
export const tempDirs = new Set();
export function removeTempDirs() {
  for (const d of tempDirs) {
    try { fs.rmSync(d, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }); } catch { /* best effort at exit */ }
  }
  tempDirs.clear();
}

/** SIGKILLs `list` (children of one cluster) by pid, waits up to `ms` for each to exit, and forgets them. */
export async function killAndWait(list, ms = 5_000) {
  await Promise.all(list.map((c) => {
    const gone = c.exitCode !== null || c.signalCode !== null;
    const exited = gone ? Promise.resolve() : new Promise((r) => c.once("exit", r));
    try { process.kill(c.pid, "SIGKILL"); } catch { /* already gone */ }
    return Promise.race([exited, sleep(ms)]);
  }));
  for (const c of list) {
    const i = children.indexOf(c);
    if (i >= 0) children.splice(i, 1);
  }
}

/** Stops every child (by pid) and removes every temp dir; safe to call more than once. */
export function cleanUp() {
  stopChildren();
  removeTempDirs();
}
process.on("exit", cleanUp);
process.on("SIGINT", () => { cleanUp(); process.exit(130); });
process.on("SIGTERM", () => { cleanUp(); process.exit(143); });

/** `promise`, or an error naming `what` after `ms`. */
export async function withDeadline(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms); });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Milliseconds on a clock every thread of this process shares (for times a worker reports). */
export function nowAbsMs() {
  return performance.timeOrigin + performance.now();
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The median of the finite numbers in xs (the upper one of an even count), or null. */
export function median(xs) {
  const ys = xs.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
  return ys.length === 0 ? null : ys[Math.floor(ys.length / 2)];
}

const WORKER = new URL("./load-worker.mjs", import.meta.url);

/**
 * One loader: a worker thread (bench/load-worker.mjs) with its own client of `system` ("raft-lease"
 * with `target` a --cluster string, or "etcd" with `target` a list of client URLs), running
 * `concurrency` closed loops of `op` for `seconds`. Resolves to { latencies, errors, elapsed }.
 * The worker is terminated if it has not answered within seconds + `slackMs`.
 */
export function runLoader({ system, target, op, concurrency, seconds, loaderIndex = 0, keyCount = 10_000, slackMs = 60_000 }) {
  const w = new Worker(WORKER, { workerData: { mode: "load", system, target, op, concurrency, seconds, loaderIndex, keyCount } });
  const done = new Promise((resolve, reject) => {
    w.once("message", (m) => (m.error ? reject(new Error(m.error)) : resolve(m)));
    w.once("error", reject);
    w.once("exit", (code) => reject(new Error(`load worker exited (${code}) without an answer`)));
  });
  return withDeadline(done, seconds * 1000 + slackMs, `${system} ${op} load worker`).finally(() => void w.terminate());
}

/** Closed-loop load through `loaders` workers; one measurement: ops/s, p50, p99, errors. */
export async function measure({ system, target, op, concurrency, seconds, loaders = 1, keyCount }) {
  const n = concurrency === 1 ? 1 : loaders;
  const perLoader = Math.max(1, Math.round(concurrency / n));
  const results = await Promise.all(Array.from({ length: n }, (_, i) => runLoader({ system, target, op, concurrency: perLoader, seconds, loaderIndex: i, keyCount })));
  const latencies = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const elapsed = Math.max(...results.map((r) => r.elapsed));
  const errors = results.reduce((a, r) => a + r.errors, 0);
  return {
    op, concurrency, ops: latencies.length, errors, seconds: +elapsed.toFixed(2),
    opsPerSec: Math.round(latencies.length / elapsed),
    p50Ms: +percentile(latencies, 50).toFixed(3), p99Ms: +percentile(latencies, 99).toFixed(3),
  };
}

/**
 * Failover under load: a worker runs SETs at 1 concurrent; once it has run for `warmMs`,
 * `findLeader()` names the leader's process ({ name, pid }) and it is SIGKILLed by pid. The result is the time from the
 * kill to the completion of the first SET that was sent after the kill and succeeded (a SET in
 * flight at the kill is waited out first, as a closed loop does). Null after `boundMs` without one.
 */
export async function failover({ system, target, findLeader, warmMs = 1_000, boundMs = 20_000 }) {
  const w = new Worker(WORKER, { workerData: { mode: "failover", system, target, op: "set", concurrency: 1, seconds: (warmMs + boundMs) / 1000 + 30, loaderIndex: 0, keyCount: 10_000 } });
  const messages = [];
  let wake = () => {};
  w.on("message", (m) => { messages.push(m); wake(); });
  w.once("error", (e) => { messages.push({ error: String(e && e.stack || e) }); wake(); });
  w.once("exit", (code) => { messages.push({ error: `failover worker exited (${code})` }); wake(); });
  const next = async (ms, what) => {
    const until = performance.now() + ms;
    while (messages.length === 0) {
      const left = until - performance.now();
      if (left <= 0) throw new Error(`${what}: no answer from the failover worker within ${ms} ms`);
      await Promise.race([new Promise((r) => { wake = r; }), sleep(left)]);
    }
    const m = messages.shift();
    if (m.error) throw new Error(m.error);
    return m;
  };
  try {
    await next(30_000, "failover warm-up");      // { ready }
    await sleep(warmMs);
    const leader = await withDeadline(findLeader(), 10_000, `${system}: finding the leader`);
    const killedAtMs = nowAbsMs();
    process.kill(leader.pid, "SIGKILL");
    w.postMessage({ killedAtMs, giveUpAtMs: killedAtMs + boundMs });
    const m = await next(boundMs + 15_000, "failover");
    return { killed: leader.name, failoverMs: m.firstOkAtMs === null ? null : +(m.firstOkAtMs - killedAtMs).toFixed(1), inFlightAtKill: m.inFlightAtKill, setsBeforeKill: m.okBeforeKill, errorsAfterKill: m.errorsAfterKill, firstErrorAfterKill: m.firstErrorAfterKill };
  } finally {
    void w.terminate();
  }
}
