// Snapshots with real processes: a follower that missed more than --snapshot-entries plus
// --snapshot-keep entries catches up by InstallSnapshot (its dump line says so); every node's state
// machine, rebuilt from its own snapshot.txt and logs.txt, is the same; logs.txt stays bounded;
// a full-cluster restart from snapshots keeps every acknowledged write; and a SET retried after
// that restart is still a duplicate, because the snapshots keep the session table (with the
// snapshot-forgets-sessions failpoint, the negative control, the retry is applied again). The probe
// waits for a node still catching up once its fill bound is reached: a follower stopped through
// the fill and resumed during the wait lets it go on; one stopped for good makes it skip, saying why.

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

describe("the session probe's catch-up wait: a node still behind when the fill bound is reached", () => {
  /** A 3-node cluster with a follower stopped (SIGSTOP) and a probe on it; the probe's lines go to `said`. */
  async function probeWithStoppedFollower(): Promise<{ c: ProcessCluster; follower: number; probe: SessionProbe; said: string[] }> {
    const c = await ProcessCluster.create({ size: 3, extraArgs: ["--snapshot-entries", "10", "--snapshot-keep", "2"] });
    cluster = c;
    c.startAll();
    const leader = await c.waitForLeader();
    // The probe asks the nodes in order until one succeeds: a stopped node it asks before the leader costs
    // each call a deadline, so the follower stopped is the highest-numbered (after the leader unless it is last).
    const follower = Math.max(...c.ids.filter((id) => id !== leader));
    c.signal(follower, "SIGSTOP");
    const said: string[] = [];
    const probe = new SessionProbe({ addresses: c.ports.map((p) => `127.0.0.1:${p}`), dataDir: c.dataDir, seed: 0, snapshotEntries: 10, snapshotKeep: 2, say: (t) => said.push(t) });
    return { c, follower, probe, said };
  }

  it("goes on once the node catches up within the wait", async () => {
    const { c, follower, probe, said } = await probeWithStoppedFollower();
    try {
      const prepared = probe.prepare();
      await waitFor("the probe to reach its fill bound and wait", async () => said.some((t) => /waiting up to 10 s for a node still catching up/.test(t)), 30_000);
      c.signal(follower, "SIGCONT");
      expect(await prepared).toBeNull();
      expect(said.join("\n")).toMatch(/every node's snapshot holds probe=plain after \d+ fill SETs and \d+ ms of catching up/);
    } finally {
      probe.close();
    }
  }, 60_000);

  it("skips, saying why, when the node stays behind for the whole wait (the negative control)", async () => {
    const { probe, said } = await probeWithStoppedFollower();
    try {
      const prepared = await probe.prepare();
      expect(prepared).toMatch(/^after \d+ more SETs and 10 s more, not every node's snapshot.txt held probe=plain$/);
      expect(said.join("\n")).not.toMatch(/snapshot holds probe=plain after/);
    } finally {
      probe.close();
    }
  }, 60_000);
});
