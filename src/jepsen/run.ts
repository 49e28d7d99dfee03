// One fault-test run, executed inside the clients' namespace: start the nodes, run the workload
// and the nemesis, heal, write the session probe's SETs, restart every node, check liveness and
// read every key, finish the session probe, stop the nodes, then check the history and the files
// and write the report. Returns the exit status.

import { mkdirSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import seedrandom from "seedrandom";
import { RaftClient } from "../client/raft-client.js";
import { JEPSEN_TIMING } from "./nodes.js";
import { checkHistory, committedPrefixDisagreement, countOps, leadersSeen, lostWrites, readNodeFiles } from "./checks.js";
import { Workload } from "./clients.js";
import type { NetLayout } from "./netns.js";
import { Nemesis } from "./nemesis.js";
import { Cluster } from "./nodes.js";
import { replayCommand, type JepsenOptions } from "./options.js";
import { writeReport } from "./report.js";
import { SessionProbe, type ProbeOutcome } from "./session-probe.js";
import { snapshotReplayDisagreement } from "./snapshot-replay.js";
import { missingCompaction, missingInstall, snapshotCounts, snapshotDisagreement } from "./snapshots.js";

export interface RunInput {
  readonly options: JepsenOptions;
  readonly net: NetLayout;
  readonly outDir: string;
  readonly nodeBin: string;
  readonly faketimeLib: string | null;
}

/** After healing and restarting every node, a leader and successful reads of every key must come within this. */
export const LIVENESS_BOUND_MS = 30_000;
/** The first leader must come within this of starting the nodes (loading Node on a busy machine included). */
const START_BOUND_MS = 60_000;
/** A final read gives up after this. */
const FINAL_READ_TIMEOUT_MS = 10_000;

export async function runJepsen(input: RunInput): Promise<number> {
  const o = input.options;
  const startPerf = performance.now();
  const wallStartMs = Date.now();
  const nowMs = (): number => performance.now() - startPerf;
  const say = (text: string): void => void process.stdout.write(`[${(nowMs() / 1000).toFixed(1).padStart(6)} s] ${text}\n`);
  const dataDir = path.join(input.outDir, "nodes");
  mkdirSync(dataDir, { recursive: true });
  const cluster = new Cluster({ net: input.net, dataDir, nodeBin: input.nodeBin, driftPpm: o.driftPpm, snapshotEntries: o.snapshotEntries, snapshotKeep: o.snapshotKeep, failpoint: o.failpoint, faketimeLib: input.faketimeLib, onAction: say });
  const nodes = input.net.addresses.map((a, i) => `${i}=${a}`).join(",");
  const statusClient = new RaftClient({ nodes, timeoutMs: 2_000 });
  const probe = new SessionProbe({ addresses: input.net.addresses, dataDir, seed: o.seed, snapshotEntries: o.snapshotEntries, snapshotKeep: o.snapshotKeep, say });
  const findLeader = async (): Promise<number | null> => {
    const reports = await statusClient.status();
    const leaders = reports.flatMap((r) => (r.reachable && r.role === "leader" ? [{ id: r.id as number, term: r.term }] : []));
    return leaders.sort((a, b) => b.term - a.term)[0]?.id ?? null;
  };
  const stopSignal = (): void => {
    say("interrupted: killing the nodes");
    void cluster.killAll().then(() => process.exit(130));
  };
  process.once("SIGINT", stopSignal);
  process.once("SIGTERM", stopSignal);
  try {
    say(`seed ${o.seed}, nemesis ${o.nemesis}, ${o.nodes} nodes, ${o.clients} clients, ${o.keys} keys, ${o.seconds} s, a snapshot every ${o.snapshotEntries} entries (${o.snapshotKeep} kept)${o.failpoint === null ? "" : `, FAILPOINT ${o.failpoint}`}`);
    for (let i = 0; i < o.nodes; i++) cluster.start(i);
    const firstLeaderMs = await waitForLeader(findLeader, START_BOUND_MS);
    if (firstLeaderMs === null) return finish(input, { nowMs, wallStartMs, say, cluster, workload: null, nemesis: null, liveness: `no leader within ${START_BOUND_MS} ms of the start`, probe: null });
    say(`node ${await findLeader()} leads, ${(firstLeaderMs / 1000).toFixed(1)} s after the start; clients and nemesis begin`);
    const workload = new Workload({ addresses: input.net.addresses, clients: o.clients, keys: o.keys, seed: o.seed, nowMs });
    const nemesis = new Nemesis({
      nemesis: o.nemesis, faults: o.faults, cluster, net: input.net, rng: seedrandom(`${o.seed}/nemesis`), driftPpm: o.driftPpm, clockBeyondBound: o.clockBeyondBound,
      timing: JEPSEN_TIMING, nowMs, findLeader, log: say, pauseWrites: (ms) => workload.pauseWrites(ms),
    });
    workload.start();
    await nemesis.run(nowMs() + o.seconds * 1000);
    say("fault phase over: clients stop, the session probe writes, every node restarts with the real clock");
    await workload.stop();
    const prepared = await probe.prepare();
    for (let i = 0; i < o.nodes; i++) await cluster.stop(i);
    for (let i = 0; i < o.nodes; i++) cluster.start(i);
    const liveness = await finalReads(workload, findLeader, nodes, o.keys, nowMs);
    const probed = liveness === null ? await probe.check(prepared) : { kind: "skipped" as const, why: "the cluster was not live after the restart" };
    return await finish(input, { nowMs, wallStartMs, say, cluster, workload, nemesis, liveness, probe: probed });
  } finally {
    probe.close();
    statusClient.close();
    process.removeListener("SIGINT", stopSignal);
    process.removeListener("SIGTERM", stopSignal);
    await cluster.killAll();
  }
}

async function waitForLeader(findLeader: () => Promise<number | null>, boundMs: number): Promise<number | null> {
  const start = performance.now();
  while (performance.now() - start < boundMs) {
    if ((await findLeader()) !== null) return performance.now() - start;
    await sleep(200);
  }
  return null;
}

/** A leader and one successful GET of every key within the bound; the GETs join the history. Null when live. */
async function finalReads(workload: Workload, findLeader: () => Promise<number | null>, nodes: string, keys: number, nowMs: () => number): Promise<string | null> {
  const healedMs = nowMs();
  const leaderMs = await waitForLeader(findLeader, LIVENESS_BOUND_MS);
  if (leaderMs === null) return `no leader within ${LIVENESS_BOUND_MS} ms of healing and restarting every node`;
  const client = new RaftClient({ nodes, timeoutMs: FINAL_READ_TIMEOUT_MS, clientId: "jepsen-final" });
  try {
    for (let k = 0; k < keys; k++) {
      const id = workload.recorder.invoke({ kind: "get", clientId: "final", key: `k${k}` }, nowMs());
      try {
        const value = await client.get(`k${k}`);
        workload.recorder.complete(id, "ok", value, nowMs());
      } catch (err) {
        workload.recorder.complete(id, "unknown", undefined, nowMs());
        return `final read of k${k} failed: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
  } finally {
    client.close();
  }
  const tookMs = nowMs() - healedMs;
  return tookMs > LIVENESS_BOUND_MS ? `a leader and the final reads took ${tookMs.toFixed(0)} ms after healing, beyond ${LIVENESS_BOUND_MS} ms` : null;
}

interface Finish {
  readonly nowMs: () => number;
  readonly wallStartMs: number;
  readonly say: (text: string) => void;
  readonly cluster: Cluster;
  readonly workload: Workload | null;
  readonly nemesis: Nemesis | null;
  readonly liveness: string | null;
  /** The session probe's outcome; null when the run ended before it. */
  readonly probe: ProbeOutcome | null;
}

/** Stops the nodes, runs every check, prints the summary, writes the report; 0 clean, 1 anomaly. */
async function finish(input: RunInput, f: Finish): Promise<number> {
  const o = input.options;
  for (let i = 0; i < o.nodes; i++) await f.cluster.stop(i);
  const dataDir = path.join(input.outDir, "nodes");
  const files = Array.from({ length: o.nodes }, (_, i) => readNodeFiles(dataDir, i));
  const history = f.workload?.recorder.history() ?? [];
  f.say(`checking ${history.length} operations`);
  const lin = checkHistory(history);
  const lost = lostWrites(history, files);
  const prefix = committedPrefixDisagreement(files);
  const leaders = leadersSeen(files);
  const counts = countOps(history);
  const snapshots = snapshotCounts(files);
  const snapshotDiff = snapshotDisagreement(files) ?? snapshotReplayDisagreement(files);
  const compaction = missingCompaction(files, o.snapshotEntries) ?? missingInstall(files, f.nemesis?.bands ?? [], o.snapshotEntries, o.snapshotKeep, o.seconds);
  const anomalies: string[] = [];
  if (!lin.ok) anomalies.push(`not linearizable: ${lin.message}`);
  if (lost.length > 0) anomalies.push(`${lost.length} acknowledged writes missing from the committed log, e.g. ${lost.slice(0, 3).join("; ")}`);
  if (prefix !== null) anomalies.push(`committed logs disagree: ${prefix}`);
  if (f.liveness !== null) anomalies.push(`liveness: ${f.liveness}`);
  if (snapshotDiff !== null) anomalies.push(`snapshots disagree: ${snapshotDiff}`);
  if (compaction !== null) anomalies.push(`too few snapshots: ${compaction}`);
  if (f.probe?.kind === "failed") anomalies.push(`session probe: ${f.probe.why}`);
  const summary = {
    seed: o.seed, nemesis: o.nemesis, failpoint: o.failpoint, clockBeyondBound: o.clockBeyondBound, seconds: o.seconds,
    ...counts, lostAcknowledgedWrites: lost.length, leaderChanges: Math.max(0, leaders.length - 1), faults: f.nemesis?.bands.length ?? 0,
    committedEntries: Math.max(0, ...files.map((n) => n.commitLength)), snapshotEntries: o.snapshotEntries, snapshotKeep: o.snapshotKeep,
    snapshotsSaved: snapshots.map((c) => c.saved), snapshotsInstalled: snapshots.map((c) => c.installed), snapshotsSent: snapshots.reduce((a, c) => a + c.sent, 0),
    sessionProbe: f.probe === null ? "not run" : f.probe.kind === "passed" ? "passed" : `${f.probe.kind}: ${f.probe.why}`,
    anomalies, replay: replayCommand(o),
  };
  writeReport({
    outDir: input.outDir, title: `raft-lease fault test: ${replayCommand(o)}`, history, bands: f.nemesis?.bands ?? [], nodes: files,
    wallStartMs: f.wallStartMs, endMs: f.nowMs(), leaseMs: JEPSEN_TIMING.leaseMs, anomalyOps: lin.ok ? [] : lin.ops, summary,
  });
  f.say(
    `ops ${counts.ops}: ok ${counts.ok} (${counts.okSets} SET, ${counts.okGets} GET), failed ${counts.failed}, indeterminate ${counts.indeterminate}; ` +
      `leader changes ${summary.leaderChanges}; faults ${summary.faults}; acknowledged writes lost ${lost.length}; anomalies ${anomalies.length}`,
  );
  f.say(
    `committed entries ${summary.committedEntries}; snapshots (one every ${o.snapshotEntries} entries, ${o.snapshotKeep} kept) saved per node ${summary.snapshotsSaved.join(",")}, ` +
      `installed per node ${summary.snapshotsInstalled.join(",")}, ${summary.snapshotsSent} sent by leaders (resends included)`,
  );
  f.say(`session probe (a SET retried after every node restarted from its snapshot is a duplicate): ${summary.sessionProbe}`);
  if (anomalies.length === 0) return 0;
  for (const a of anomalies) process.stdout.write(`ANOMALY ${a}\n`);
  process.stdout.write(`seed ${o.seed}; replay: ${replayCommand(o)}\n`);
  return 1;
}
