// A rolling restart with real processes under a SET load (fast timing): each of 3 nodes in turn
// gets SIGTERM (a leader first hands leadership over), exits, and is started again, caught up
// before the next. Leaderships move by transfer only: no node's election timer fires during the
// roll ("election timer timed out" appears in no dump.txt after the roll began), and the history
// of every client operation is linearizable (no acknowledged write lost). The longest client stall
// (the longest gap between consecutive acknowledged SETs) is printed, not asserted: it is a
// benchmark number of this machine. ROLL_DEBUG=1 also prints the longest gaps' times and the dump
// lines of the roll (without heartbeats and requests), to see where a stall went.

import { afterEach, describe, expect, it } from "vitest";
import { SetLoad } from "./support/load.js";
import { ProcessCluster, waitFor } from "./support/procs.js";

let cluster: ProcessCluster | null = null;
let load: SetLoad | null = null;

afterEach(async () => {
  await load?.stop();
  await cluster?.stopAll();
  cluster?.cleanUp();
  cluster = null;
  load = null;
});

const ELECTION_TIMEOUT_LINE = /election timer timed out/g;

/** Wall-clock times (ms) of the TimeoutNow lines written since `dumpBefore`. */
function transferTimes(c: ProcessCluster, dumpBefore: readonly number[]): number[] {
  const lines = c.ids.flatMap((id) => c.dumpText(id).slice(dumpBefore[id]).split("\n"));
  return lines.filter((l) => l.includes("sent TimeoutNow")).map((l) => Date.parse(l.slice(0, l.indexOf(" "))));
}

/** Waits until `id` serves again and holds everything the leader has committed. */
async function caughtUp(c: ProcessCluster, id: number): Promise<void> {
  await waitFor(`node ${id} to rejoin and catch up`, async () => {
    const leader = await c.waitForLeader(c.ids, 10_000);
    const [mine, theirs] = await Promise.all([c.status(id), c.status(leader)]);
    return mine.leader_id === String(leader) && mine.commit_index >= theirs.commit_index - 5;
  });
}

describe("a rolling restart with SIGTERM under load", () => {
  it("moves leadership by transfer only (no election timeout) and loses no acknowledged write", async () => {
    const c = await ProcessCluster.create({ size: 3 });
    cluster = c;
    c.startAll();
    await c.waitForLeader();
    load = new SetLoad({ nodes: c.clusterFlag, clients: 4, keys: 8, opsMax: 20_000, timeoutMs: 10_000 });
    load.start();
    await waitFor("some acknowledged SETs", async () => load!.ackedSets >= 50);
    const dumpBefore = c.ids.map((id) => c.dumpText(id).length);
    const rollStart = performance.now();
    const leaders: number[] = [];
    for (const id of c.ids) {
      leaders.push(await c.waitForLeader());
      c.signal(id, "SIGTERM");
      expect(await c.exits.get(id), `node ${id} exit status after SIGTERM`).toBe(0);
      c.procs.delete(id);
      c.start(id);
      await caughtUp(c, id);
    }
    const ackedBefore = load.ackedSets;
    await waitFor("acknowledged SETs after the roll", async () => load!.ackedSets >= ackedBefore + 20);
    const rollEnd = performance.now();
    await load.stop();
    await load.finalReads(c.clusterFlag);

    const stallMs = load.longestStallMs(rollStart, rollEnd);
    if (process.env["ROLL_DEBUG"] !== undefined) {
      const offset = Date.now() - performance.now();
      const acks = load.acks.filter((t) => t > rollStart && t < rollEnd);
      const gaps = acks.slice(1).map((t, i) => [acks[i]!, t - acks[i]!] as const).sort((a, b) => b[1] - a[1]).slice(0, 4);
      for (const [at, gap] of gaps) process.stdout.write(`gap ${gap.toFixed(0)} ms from ${new Date(at + offset).toISOString()}\n`);
      process.stdout.write(c.ids.map((id) => c.dumpText(id).slice(dumpBefore[id]).split("\n").filter((l) => !/heartbeat|accepted AppendEntries|committed|received SET|received GET/.test(l)).join("\n")).join("\n"));
    }
    const timeouts = c.ids.map((id) => (c.dumpText(id).slice(dumpBefore[id]).match(ELECTION_TIMEOUT_LINE) ?? []).length);
    const transfers = c.ids.map((id) => (c.dumpText(id).slice(dumpBefore[id]).match(/sent TimeoutNow/g) ?? []).length).reduce((a, b) => a + b, 0);
    const transferStalls = transferTimes(c, dumpBefore).map((atMs) => load!.gapAround(atMs - (Date.now() - performance.now())).toFixed(0));
    process.stdout.write(
      `rolling restart: longest client stall ${stallMs.toFixed(1)} ms over a ${((rollEnd - rollStart) / 1000).toFixed(1)} s roll (the longest within 500 ms of each transfer: ${transferStalls.join(", ")} ms); leaders before each restart ${leaders.join(",")}; ` +
        `${transfers} transfers; ${load.ackedSets} SETs acknowledged; failures: ${JSON.stringify([...load.failures])}\n`,
    );
    expect(timeouts, "election timer timed out lines per node during the roll").toEqual([0, 0, 0]);
    expect(transfers).toBeGreaterThanOrEqual(1);
    const verdict = load.check();
    expect(verdict.ok, verdict.ok ? "" : verdict.message).toBe(true);
  }, 90_000);
});
