// Membership changes with real processes, under a SET load: a 3-node cluster grows to 5 (nodes 3
// and 4 started with --join, added by an operator), replaces node 0 by a new node 5 (which catches
// up by InstallSnapshot: the others compacted their logs before it joins), removes its
// leader, and shrinks back to 3. Then: the history of every client operation is linearizable (so
// no acknowledged write is lost: every final read returns the last write or a later one), the
// remaining members' logs.txt agree after their common start (a late joiner may start from a
// snapshot), their state machines rebuilt from their files equal each other and the final reads,
// and the dump lines of the changes are there.

import { afterEach, describe, expect, it } from "vitest";
import { RaftClient } from "../../src/client/raft-client.js";
import { SetLoad } from "./support/load.js";
import { readNodeFiles, type NodeFiles } from "./support/node-files.js";
import { ProcessCluster, waitFor } from "./support/procs.js";

let cluster: ProcessCluster | null = null;
let load: SetLoad | null = null;
let admin: RaftClient | null = null;

afterEach(async () => {
  await load?.stop();
  admin?.close();
  await cluster?.stopAll();
  cluster?.cleanUp();
  cluster = null;
  load = null;
  admin = null;
});

const address = (c: ProcessCluster, id: number) => `127.0.0.1:${c.ports[id]}`;

/**
 * A node's files; null when the two were read across a compaction (a newer snapshot replaced the
 * one read, and the log was cut after it): read again.
 */
function filesOf(c: ProcessCluster, id: number): NodeFiles | null {
  const f = readNodeFiles(c, id);
  return f.firstIndex - 1 > f.snapshotIndex ? null : f;
}

async function addMember(a: RaftClient, c: ProcessCluster, id: number): Promise<void> {
  c.startWith(id, ["--join", "--address", address(c, id)]);
  await a.addMember(id, address(c, id));
  await a.waitForVoter(id, 20_000);
}

/** Removes `id` and waits until the leader's configuration no longer lists it; then stops its process. */
async function removeMember(a: RaftClient, c: ProcessCluster, id: number): Promise<void> {
  await a.removeMember(id);
  await waitFor(`node ${id} to leave the configuration`, async () => !(await a.members()).members.some((m) => m.id === id), 15_000);
  c.signal(id, "SIGTERM");
  await c.exits.get(id);
  c.procs.delete(id);
}

describe("membership changes with real processes under a SET load", () => {
  it("3 nodes grow to 5, replace node 0 by node 5, remove the leader and shrink to 3: nothing acknowledged is lost, logs and state agree", async () => {
    const c = await ProcessCluster.create({ size: 6, extraArgs: ["--snapshot-entries", "100", "--snapshot-keep", "20"] });
    cluster = c;
    const initial = [0, 1, 2].map((id) => `${id}=${address(c, id)}`).join(",");
    for (const id of [0, 1, 2]) c.startWith(id, ["--cluster", initial]);
    await c.waitForLeader([0, 1, 2]);
    const every = c.clusterFlag; // all six addresses, so clients follow the cluster as it changes
    admin = new RaftClient({ nodes: every, timeoutMs: 15_000 });
    load = new SetLoad({ nodes: every, clients: 4, keys: 8, opsMax: 20_000, timeoutMs: 10_000 });
    load.start();
    await waitFor("some acknowledged SETs", async () => load!.ackedSets >= 50);

    await addMember(admin, c, 3);
    await addMember(admin, c, 4);
    expect((await admin.members()).members.map((m) => `${m.id}/${m.role}`)).toEqual(["0/voter", "1/voter", "2/voter", "3/voter", "4/voter"]);
    // Node 5 joins once every member has compacted its log: it must catch up by InstallSnapshot.
    await waitFor("every member to compact its log", async () => [0, 1, 2, 3, 4].every((id) => /^START /.test(c.logLines(id)[0] ?? "")), 30_000);
    await addMember(admin, c, 5);
    await waitFor("node 5's dump line of the snapshot it installed", async () => /Node 5 installed snapshot through entry \d+ \(term \d+\) from Leader \d+\./.test(c.dumpText(5)), 5_000);
    await removeMember(admin, c, 0);
    const leader = (await admin.members()).leaderId;
    await removeMember(admin, c, leader);
    const newLeader = (await admin.members()).leaderId;
    const another = (await admin.members()).members.map((m) => m.id).find((id) => id !== newLeader)!;
    await removeMember(admin, c, another);
    const remaining = (await admin.members()).members;
    expect(remaining.map((m) => m.role)).toEqual(["voter", "voter", "voter"]);
    const ackedBefore = load.ackedSets;
    await waitFor("more acknowledged SETs after the changes", async () => load!.ackedSets >= ackedBefore + 50, 10_000);

    await load.stop();
    const reads = await load.finalReads(every);
    const verdict = load.check();
    const handedOver = new RegExp(`Leader ${leader} sent TimeoutNow`).test(c.dumpText(leader));
    process.stdout.write(`membership scenario: ${load.ackedSets} SETs acknowledged; removed leader ${leader} handed over by TimeoutNow: ${handedOver}; failures: ${JSON.stringify([...load.failures])}; history check: ${JSON.stringify(verdict)}\n`);
    expect(verdict.ok, verdict.ok ? "" : verdict.message).toBe(true);

    const ids = remaining.map((m) => m.id);
    const files = await waitFor("the remaining members to hold the same last entry", async () => {
      const read = ids.map((id) => filesOf(c, id));
      if (read.some((x) => x === null)) return null;
      const f = read as NonNullable<(typeof read)[number]>[];
      const lasts = f.map((x) => Math.max(...x.entries.keys()));
      return lasts.every((l) => l === lasts[0]) ? f : null;
    });
    const commonStart = Math.max(...files.map((f) => Math.min(...f.entries.keys())));
    const tail = (f: (typeof files)[number]) => [...f.entries].filter(([i]) => i >= commonStart).sort((a, b) => a[0] - b[0]);
    for (const f of files.slice(1)) expect(tail(f)).toEqual(tail(files[0]!));
    for (const f of files) expect([...f.data].sort()).toEqual([...reads].filter(([, v]) => v !== "").sort());

    const dumps = [0, 1, 2, 3, 4, 5].map((id) => c.dumpText(id)).join("\n");
    expect(dumps).toMatch(/now uses the configuration of entry \d+: voters 0,1,2; learners 3\./);
    expect(dumps).toMatch(/now uses the configuration of entry \d+: voters 1,2,3,4,5\./);
    // The removed leader hands leadership over once its removal commits (a transfer to its most
    // up-to-date voter), and steps down.
    expect(c.dumpText(leader)).toMatch(new RegExp(`Node ${leader} is not in the configuration of entry \\d+: once that entry commits it takes no further part`));
    expect(c.dumpText(leader)).toMatch(new RegExp(`Leader ${leader} transferring leadership to Node \\d+`));
    expect(c.dumpText(leader)).toMatch(new RegExp(`${leader} Stepping down`));
    expect(c.output(0)).toMatch(/node 0 is no longer a member of the cluster/);
    for (const id of ids) expect(c.output(id)).not.toMatch(/invariant|failed and stopped/);
  }, 90_000);
});
