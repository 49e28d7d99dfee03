// A load generator thread for the cluster benchmarks (started by bench/kit.mjs). It runs closed
// loops through one client of the system under test: raft-lease's RaftClient, or etcd through the
// `etcd3` client (put, and get = etcd's default range, a linearizable read). Keys are 16 bytes,
// values 100. Every call has a 10 s bound on both sides.
//
// mode "load": `concurrency` loops for `seconds`; posts { latencies, errors, elapsed }.
// mode "failover": one SET loop; posts { ready } after warming up, then gets { killedAtMs,
// giveUpAtMs } (times on the process-wide clock performance.timeOrigin + now) and posts
// { firstOkAtMs, okBeforeKill, errorsAfterKill, firstErrorAfterKill, inFlightAtKill } once a SET
// sent after the kill has succeeded (firstOkAtMs null at giveUpAtMs); inFlightAtKill says when the
// SET in flight at the kill ended, after the kill, and whether it succeeded.

import { parentPort, workerData } from "node:worker_threads";
import { setImmediate as yieldToEvents } from "node:timers/promises";

const CALL_TIMEOUT_MS = 10_000;
const { mode, system, target, op, concurrency, seconds, loaderIndex, keyCount } = workerData;
const value = "v".repeat(100);
const key = (i) => ("k" + String(i).padStart(15, "0")).slice(0, 16);
const nowAbsMs = () => performance.timeOrigin + performance.now();

async function connect() {
  if (system === "raft-lease") {
    const { RaftClient } = await import(new URL("../dist/index.js", import.meta.url).href);
    const client = new RaftClient({ nodes: target, timeoutMs: CALL_TIMEOUT_MS });
    return { set: (k, v) => client.set(k, v), get: (k) => client.get(k), close: () => client.close() };
  }
  if (system === "etcd") {
    const { Etcd3 } = await import("etcd3");
    // etcd3's defaults otherwise: each call goes to a random member (a follower forwards a put to
    // the leader and asks it for a read index on a get), up to 3 tries on a member that fails.
    const client = new Etcd3({ hosts: target, defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_TIMEOUT_MS }) });
    return { set: (k, v) => client.put(k).value(v).exec(), get: (k) => client.get(k).string(), close: () => client.close() };
  }
  throw new Error(`unknown system ${system}`);
}

async function load(client) {
  // warm up: connect, fill the keys GETs read
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
      } catch {
        errors++;
        await yieldToEvents();
      }
    }
  }
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsed = (performance.now() - t0) / 1000;
  return { latencies, errors, elapsed };
}

async function failover(client) {
  let killedAtMs = null;
  let giveUpAtMs = Infinity;
  parentPort.on("message", (m) => { killedAtMs = m.killedAtMs; giveUpAtMs = m.giveUpAtMs; });
  await client.set(key(0), value);
  parentPort.postMessage({ ready: true });
  const hardEnd = performance.now() + seconds * 1000;
  let okBeforeKill = 0;
  let errorsAfterKill = 0;
  let firstErrorAfterKill = null;
  let inFlightAtKill = null; // the SET sent before the kill that ended after it: { endedAfterKillMs, ok }
  let n = 0;
  const result = (firstOkAtMs) => ({ firstOkAtMs, okBeforeKill, errorsAfterKill, firstErrorAfterKill, inFlightAtKill });
  while (performance.now() < hardEnd && nowAbsMs() < giveUpAtMs) {
    const sentAt = nowAbsMs();
    let ok = true;
    try {
      await client.set(key((n++ * 31) % keyCount), value);
    } catch (e) {
      ok = false;
      if (killedAtMs !== null) {
        errorsAfterKill++;
        firstErrorAfterKill ??= String((e && e.message) || e).slice(0, 200);
      }
    }
    const doneAt = nowAbsMs();
    if (killedAtMs !== null && sentAt < killedAtMs && doneAt >= killedAtMs) inFlightAtKill = { endedAfterKillMs: +(doneAt - killedAtMs).toFixed(1), ok };
    if (ok && killedAtMs !== null && sentAt >= killedAtMs) return result(doneAt);
    if (ok && (killedAtMs === null || sentAt < killedAtMs)) okBeforeKill++;
    if (!ok) await yieldToEvents();
  }
  return result(null);
}

async function soak(client) {
  await client.set(key(0), value);
  let latencies = [];
  let errors = 0;
  let errorTexts = {};
  let stopping = false;
  let started;
  const start = new Promise((r) => { started = r; });
  const take = (flush) => {
    const out = { flush, latencies: Float64Array.from(latencies), errors, errorTexts };
    latencies = [];
    errors = 0;
    errorTexts = {};
    return out;
  };
  parentPort.on("message", (m) => {
    if (m.start) started();
    else if (m.stop) { stopping = true; started(); }
    else if (m.flush !== undefined) { const out = take(m.flush); parentPort.postMessage(out, [out.latencies.buffer]); }
  });
  parentPort.postMessage({ ready: true });
  await start;
  async function loop() {
    while (!stopping) {
      const k = key(Math.floor(Math.random() * keyCount));
      const t0 = performance.now();
      try {
        await client.set(k, value);
        latencies.push(performance.now() - t0);
      } catch (e) {
        errors++;
        const text = String((e && e.message) || e).slice(0, 160);
        errorTexts[text] = (errorTexts[text] ?? 0) + 1;
        await yieldToEvents();
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, loop));
  return take("final");
}

try {
  const client = await connect();
  try {
    if (mode === "soak") { const out = await soak(client); parentPort.postMessage(out, [out.latencies.buffer]); }
    else parentPort.postMessage(mode === "failover" ? await failover(client) : await load(client));
  } finally {
    client.close();
  }
} catch (e) {
  parentPort.postMessage({ error: String((e && e.stack) || e) });
}
