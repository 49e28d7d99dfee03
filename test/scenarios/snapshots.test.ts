// Snapshots with real processes: a follower that missed more than --snapshot-entries plus
// --snapshot-keep entries catches up by InstallSnapshot (its dump line says so); every node's state
// machine, rebuilt from its own snapshot.txt and logs.txt, is the same; logs.txt stays bounded;
// and a full-cluster restart from snapshots keeps every acknowledged write.

import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readNodeFiles } from "./support/node-files.js";
import { ProcessCluster, waitFor } from "./support/procs.js";

const EVERY = 50;
const KEEP = 20;

let cluster: ProcessCluster | null = null;

afterEach(async () => {
  await cluster?.stopAll();
  cluster?.cleanUp();
  cluster = null;
});

describe("snapshots with real processes", () => {
  it("a follower behind the compacted log catches up by InstallSnapshot, and a full restart from snapshots keeps every write", async () => {
    const c = await ProcessCluster.create({ size: 3, extraArgs: ["--snapshot-entries", String(EVERY), "--snapshot-keep", String(KEEP)] });
    cluster = c;
    c.startAll();
    const leader = await c.waitForLeader();
    const follower = c.ids.find((id) => id !== leader)!;
    expect((await c.request("SET before stop")).Success).toBe(true);
    await c.kill(follower);
    const acked = new Map<string, string>([["before", "stop"]]);
    const writes = 3 * (EVERY + KEEP);
    for (let i = 0; i < writes; i++) {
      const key = `k${i % 40}`;
      const value = `v${i} with space`;
      expect((await c.request(`SET ${key} ${value}`)).Success).toBe(true);
      acked.set(key, value);
    }
    const others = c.ids.filter((id) => id !== follower);
    await waitFor("a snapshot and a compacted log on the running nodes", async () => others.every((id) => readNodeFiles(c, id).firstIndex > 1));
    for (const id of others) expect(c.logLines(id).length).toBeLessThanOrEqual(EVERY + KEEP + 2 + 10);

    c.start(follower);
    await waitFor(`node ${follower} to install a snapshot`, async () => /installed snapshot through entry \d+ \(term \d+\) from Leader \d+\./.test(c.dumpText(follower)));
    expect(c.dumpText(c.ids.find((id) => id !== follower && /sending snapshot/.test(c.dumpText(id)))!)).toMatch(new RegExp(`sending snapshot through entry \\d+ \\(term \\d+\\) to Node ${follower}\\.`));
    expect((await c.request("SET after install")).Success).toBe(true);
    acked.set("after", "install");
    const states = await waitFor("every node's state machine to hold every acknowledged write", async () => {
      const s = c.ids.map((id) => readNodeFiles(c, id).data);
      return s.every((d) => [...acked].every(([k, v]) => d.get(k) === v)) ? s : null;
    });
    for (const s of states) expect([...s].sort()).toEqual([...states[0]!].sort());

    await Promise.all(c.ids.map((id) => c.kill(id)));
    c.startAll();
    await c.waitForLeader();
    for (const [k, v] of acked) expect((await c.request(`GET ${k}`)).Data).toBe(v);
    expect(fs.readFileSync(path.join(c.dataDir, `node-${follower}.out`), "utf8")).not.toMatch(/Error|invariant/);
  }, 120_000);
});
