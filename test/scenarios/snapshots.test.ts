// Snapshots with real processes: a follower that missed more than --snapshot-entries plus
// --snapshot-keep entries catches up by InstallSnapshot (its dump line says so); every node's state
// machine, rebuilt from its own snapshot.txt and logs.txt, is the same; logs.txt stays bounded;
// a full-cluster restart from snapshots keeps every acknowledged write; and a SET retried after
// that restart is still a duplicate, because the snapshots keep the session table (with the
// snapshot-forgets-sessions failpoint, the negative control, the retry is applied again).

import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SessionProbe } from "../../src/jepsen/session-probe.js";
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

describe("a SET retried after a full restart from snapshots (the fault test's session probe)", () => {
  for (const failpoint of [null, "snapshot-forgets-sessions"] as const) {
    const name = failpoint === null ? "is a duplicate: the snapshots keep the session table" : "is applied again with the snapshot-forgets-sessions failpoint (the negative control)";
    it(name, async () => {
      const c = await ProcessCluster.create({ size: 3, extraArgs: ["--snapshot-entries", "10", "--snapshot-keep", "2"], env: failpoint === null ? {} : { RAFT_LEASE_FAILPOINT: failpoint } });
      cluster = c;
      c.startAll();
      await c.waitForLeader();
      const said: string[] = [];
      const probe = new SessionProbe({ addresses: c.ports.map((p) => `127.0.0.1:${p}`), dataDir: c.dataDir, seed: 0, snapshotEntries: 10, snapshotKeep: 2, say: (t) => said.push(t) });
      try {
        const prepared = await probe.prepare();
        expect(prepared).toBeNull();
        expect(said.join("\n")).toMatch(/every node's snapshot holds probe=plain after \d+ fill SETs/);
        await Promise.all(c.ids.map((id) => c.kill(id)));
        c.startAll();
        await c.waitForLeader();
        const outcome = await probe.check(prepared);
        if (failpoint === null) expect(outcome).toEqual({ kind: "passed" });
        else expect(outcome).toEqual({ kind: "failed", why: 'after every node restarted from its snapshot, probe is "session", want "plain": the retried SET was applied a second time (session jepsen-0-probe, sequence 1)' });
      } finally {
        probe.close();
      }
    }, 60_000);
  }
});
