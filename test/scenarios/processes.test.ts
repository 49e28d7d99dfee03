// The original exercise's six situations (docs/exercise.md) with real processes: 5 `raft-node`
// processes on loopback, fast timing preset, SIGKILL and restart, checking replies, every node's
// logs.txt and the dump lines. Plus durability (full restart, torn and corrupted logs.txt, see
// docs/file-formats.md) and bad input.
// The client is a third-party one, built here from proto/raft.proto with @grpc/proto-loader.

import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ProcessCluster, runNode, waitFor } from "./support/procs.js";

let cluster: ProcessCluster | null = null;

async function startCluster(size: number): Promise<{ c: ProcessCluster; leader: number }> {
  const c = await ProcessCluster.create({ size });
  cluster = c;
  c.startAll();
  const leader = await c.waitForLeader();
  return { c, leader };
}

afterEach(async () => {
  await cluster?.stopAll();
  cluster?.cleanUp();
  cluster = null;
});

const followersOf = (c: ProcessCluster, leader: number) => c.ids.filter((id) => id !== leader);

/** Waits until every node in `ids` has `line` in its logs.txt. */
async function inEveryLog(c: ProcessCluster, ids: readonly number[], line: string | RegExp): Promise<void> {
  const has = (id: number) => c.logLines(id).some((l) => (typeof line === "string" ? l === line : line.test(l)));
  await waitFor(`${String(line)} in logs.txt of nodes ${ids.join(", ")}`, async () => ids.every(has));
}

/** Waits until the node's logs.txt equals the leader's. */
async function caughtUp(c: ProcessCluster, id: number, leader: number): Promise<void> {
  await waitFor(`node ${id} to catch up with leader ${leader}`, async () => {
    const mine = c.logLines(id);
    const theirs = c.logLines(leader);
    return mine.length > 0 && mine.length === theirs.length && mine.every((l, i) => l === theirs[i]);
  });
}

describe("the exercise's situations with 5 real raft-node processes", () => {
  it("5 nodes start: one leader is elected and a NO-OP reaches every log", async () => {
    const { c, leader } = await startCluster(5);
    const term = (await c.status(leader)).term;
    await inEveryLog(c, c.ids, `NO-OP ${term}`);
    await waitFor("the leader's dump lines", async () => {
      const dump = c.dumpText(leader);
      return dump.includes(`Node ${leader} became the leader for term ${term}.`) && dump.includes(`Leader ${leader} sending heartbeat & Renewing Lease`);
    });
    const votes = followersOf(c, leader).filter((id) => c.dumpText(id).includes(`Vote granted for Node ${leader} in term ${term}.`));
    expect(votes.length).toBeGreaterThanOrEqual(2);
    const roles = await Promise.all(c.ids.map((id) => c.status(id)));
    expect(roles.filter((s) => s.role === "leader")).toHaveLength(1);
  });

  it("3 SETs then 3 GETs: every log holds the SETs, and the GETs are served from the lease with no round trip", async () => {
    const { c, leader } = await startCluster(5);
    for (const [k, v] of [["a", "1"], ["b", "2"], ["c", "3"]]) expect((await c.request(`SET ${k} ${v}`)).Success).toBe(true);
    const term = (await c.status(leader)).term;
    for (const line of [`SET a 1 ${term}`, `SET b 2 ${term}`, `SET c 3 ${term}`]) await inEveryLog(c, c.ids, line);
    // Freeze every follower: no heartbeat round can complete, yet the GETs are answered.
    await waitFor("a fresh lease", async () => (await c.status(leader)).lease_remaining_ms > 500);
    for (const id of followersOf(c, leader)) c.signal(id, "SIGSTOP");
    const replies = await Promise.all(["a", "b", "c"].map((k) => c.serve(leader, `GET ${k}`, 1_000)));
    for (const id of followersOf(c, leader)) c.signal(id, "SIGCONT");
    expect(replies.map((r) => [r.Success, r.Data])).toEqual([[true, "1"], [true, "2"], [true, "3"]]);
    await waitFor("GET dump lines", async () => c.dumpText(leader).includes(`Node ${leader} (leader) received an GET a request.`));
    await waitFor("follower commit lines", async () =>
      followersOf(c, leader).every((id) => c.dumpText(id).includes(`Node ${id} (follower) committed the entry SET c 3 to the state machine.`)),
    );
  });

  it("1 and then 2 followers killed: SETs and GETs continue, and restarted followers catch up", async () => {
    const { c, leader } = await startCluster(5);
    const [f1, f2] = followersOf(c, leader) as [number, number];
    await c.kill(f1);
    expect((await c.request("SET x 1")).Success).toBe(true);
    expect((await c.request("GET x")).Data).toBe("1");
    await c.kill(f2);
    expect((await c.request("SET y 2")).Success).toBe(true);
    expect((await c.request("GET y")).Data).toBe("2");
    c.start(f1);
    c.start(f2);
    await caughtUp(c, f1, leader);
    await caughtUp(c, f2, leader);
    const term = (await c.status(leader)).term;
    expect(c.logLines(f1)).toContain(`SET y 2 ${term}`);
    await waitFor("followers' errors logged by the leader", async () => c.dumpText(leader).includes(`Error occurred while sending RPC to Node ${f1}.`));
  });

  it("the leader killed: a new leader is elected, nothing is lost, and the old leader rejoins as a follower and catches up", async () => {
    const { c, leader } = await startCluster(5);
    expect((await c.request("SET before 1")).Success).toBe(true);
    const oldTerm = (await c.status(leader)).term;
    await c.kill(leader);
    const survivors = followersOf(c, leader);
    const next = await c.waitForLeader(survivors);
    expect(next).not.toBe(leader);
    expect((await c.request("GET before")).Data).toBe("1");
    expect((await c.request("SET after 2")).Success).toBe(true);
    const newTerm = (await c.status(next)).term;
    expect(newTerm).toBeGreaterThan(oldTerm);
    expect(c.dumpText(next)).toContain(`Node ${next} became the leader for term ${newTerm}.`);
    c.start(leader);
    await caughtUp(c, leader, next);
    const status = await c.status(leader);
    expect(status.role).toBe("follower");
    expect(status.leader_id).toBe(String(next));
    expect(c.logLines(leader).some((l) => l.startsWith("SET after 2 "))).toBe(true);
  });

  it("3 followers of the 5 nodes killed: a GET within the lease succeeds, then the lease runs out and the leader steps down", async () => {
    const { c, leader } = await startCluster(5);
    expect((await c.request("SET k v")).Success).toBe(true);
    await waitFor("a fresh lease", async () => (await c.status(leader)).lease_remaining_ms > 500);
    await Promise.all(followersOf(c, leader).slice(0, 3).map((id) => c.kill(id)));
    const read = await c.serve(leader, "GET k", 1_000);
    expect([read.Success, read.Data]).toEqual([true, "v"]);
    await waitFor("the leader to step down", async () => (await c.status(leader)).role !== "leader", 5_000);
    await waitFor("the step-down dump line", async () => c.dumpText(leader).includes(`Leader ${leader} lease renewal failed. Stepping Down.`));
    expect(c.dumpText(leader)).toContain(`${leader} Stepping down`);
    const after = await c.serve(leader, "GET k", 1_000);
    expect(after.Success).toBe(false);
  });

  it("only 2 of 5 nodes alive: GET and SET fail, and no leader is elected", async () => {
    const { c, leader } = await startCluster(5);
    const alive = followersOf(c, leader).slice(0, 2);
    const count = (id: number, line: string) => c.dumpText(id).split("\n").filter((l) => l.endsWith(line)).length;
    const timeouts = (id: number) => count(id, `Node ${id} election timer timed out, Starting election.`);
    const elected = (id: number) => c.dumpText(id).split(`Node ${id} became the leader for term `).length - 1;
    const before = new Map(alive.map((id) => [id, { timeouts: timeouts(id), elected: elected(id) }]));
    await Promise.all(c.ids.filter((id) => !alive.includes(id)).map((id) => c.kill(id)));
    // Not a sleep: wait until each survivor has tried to get elected twice, and failed.
    await waitFor("two election attempts by each survivor", async () => alive.every((id) => timeouts(id) >= before.get(id)!.timeouts + 2), 15_000);
    for (const id of alive) {
      const set = await c.serve(id, "SET z 1", 1_000);
      const get = await c.serve(id, "GET z", 1_000);
      expect(set.Success).toBe(false);
      expect(get.Success).toBe(false);
      expect((await c.status(id)).role).not.toBe("leader");
      expect(elected(id), `node ${id} became leader without a majority`).toBe(before.get(id)!.elected);
    }
  });
});

describe("durability with real processes", () => {
  it("a full-cluster restart recovers every acknowledged write", async () => {
    const { c } = await startCluster(3);
    const acked: [string, string][] = [];
    for (let i = 0; i < 20; i++) {
      const value = `value ${i} with spaces/é`;
      expect((await c.request(`SET key${i} ${value}`)).Success).toBe(true);
      acked.push([`key${i}`, value]);
    }
    await Promise.all(c.ids.map((id) => c.kill(id)));
    c.startAll();
    await c.waitForLeader();
    for (const [k, v] of acked) expect((await c.request(`GET ${k}`)).Data).toBe(v);
  });

  it("SIGTERM stops a node gracefully: it exits 0 and rejoins with everything it had", async () => {
    const { c, leader } = await startCluster(3);
    expect((await c.request("SET graceful yes")).Success).toBe(true);
    const victim = followersOf(c, leader)[0]!;
    await inEveryLog(c, [victim], /^SET graceful yes /);
    expect(await c.kill(victim, "SIGTERM")).toBe(0);
    expect(c.dumpText(victim)).toMatch(/stopping: got SIGTERM/);
    c.start(victim);
    await caughtUp(c, victim, leader);
    expect(c.logLines(victim).some((l) => l.startsWith("SET graceful yes "))).toBe(true);
  });

  it("a torn last line in logs.txt (a crash mid-write) is dropped with a warning and the node rejoins", async () => {
    const { c, leader } = await startCluster(3);
    expect((await c.request("SET a 1")).Success).toBe(true);
    const victim = followersOf(c, leader)[0]!;
    await inEveryLog(c, [victim], /^SET a 1 /);
    await c.kill(victim);
    const logPath = path.join(c.folder(victim), "logs.txt");
    fs.writeFileSync(logPath, fs.readFileSync(logPath, "latin1").replace(/\0+$/, "") + "SET half-writ", "latin1"); // after its lines, over the space it reserved
    expect((await c.request("SET b 2")).Success).toBe(true);
    c.start(victim);
    await caughtUp(c, victim, leader);
    expect(c.output(victim) + c.dumpText(victim)).toMatch(/torn|dropp/i);
    expect(c.logLines(victim).some((l) => l.startsWith("SET half-writ"))).toBe(false);
  });

  it("a corrupted middle line in logs.txt is refused with the file and line, and the node does not start", async () => {
    const { c, leader } = await startCluster(3);
    for (const k of ["a", "b", "c"]) expect((await c.request(`SET ${k} 1`)).Success).toBe(true);
    const victim = followersOf(c, leader)[0]!;
    await inEveryLog(c, [victim], /^SET c 1 /);
    await c.kill(victim);
    const file = path.join(c.folder(victim), "logs.txt");
    const lines = fs.readFileSync(file, "utf8").split("\n");
    lines[1] = "SET b 1 notaterm";
    fs.writeFileSync(file, lines.join("\n"));
    const run = await runNode(["serve", "--id", String(victim), "--cluster", c.clusterFlag, "--data-dir", c.dataDir]);
    expect(run.code).toBe(1);
    expect(run.output).toContain(`${file} line 2`);
  });
});

describe("a node killed between a write and its sync, with real processes", () => {
  // What such a kill leaves on the disk, made directly: the lines the leader sent, written to
  // logs.txt and not synced (the page cache holds them, as after SIGKILL between write and
  // fdatasync). The node restarts under strace: it must fsync logs.txt before it can reply.
  it("restarts, fsyncs logs.txt (seen by strace) before its first acknowledgement, and catches up", async () => {
    const { c, leader } = await startCluster(3);
    for (const k of ["a", "b"]) expect((await c.request(`SET ${k} 1`)).Success).toBe(true);
    const victim = followersOf(c, leader)[0]!;
    await inEveryLog(c, [victim], /^SET b 1 /);
    await c.kill(victim);
    for (const k of ["c", "d", "e"]) expect((await c.request(`SET ${k} 1`)).Success).toBe(true);
    const logPath = path.join(c.folder(victim), "logs.txt");
    // Both files end in the zeros a node reserves after its lines (the leader's is running, the
    // victim was killed): the lines go where the victim's next append would have put them.
    const linesOf = (file: string): string => fs.readFileSync(file, "latin1").replace(/\0+$/, "");
    const leaderLines = linesOf(path.join(c.folder(leader), "logs.txt")).split("\n");
    const unsynced = leaderLines.slice(c.logLines(victim).length).join("\n");
    expect(unsynced).toMatch(/^SET c 1 /m);
    fs.writeFileSync(logPath, linesOf(logPath) + unsynced, "latin1"); // written, never synced
    const tracePath = path.join(c.dataDir, `strace-${victim}.txt`);
    c.startTraced(victim, tracePath);
    // Its log already matches the leader's (the unsynced lines are readable): wait until it serves,
    // then until it takes a new entry and commits it.
    await waitFor(`node ${victim} serving`, async () => (await c.status(victim).catch(() => null)) !== null);
    expect((await c.request("SET f 1")).Success).toBe(true);
    await inEveryLog(c, [victim], /^SET f 1 /);
    await caughtUp(c, victim, leader);
    const leaderCommit = (await c.status(leader)).commit_index;
    await waitFor(`node ${victim} to commit ${leaderCommit}`, async () => (await c.status(victim)).commit_index >= leaderCommit);
    expect(await c.kill(victim, "SIGTERM")).toBe(0);
    const trace = fs.readFileSync(tracePath, "utf8").split("\n");
    const openAt = trace.findIndex((l) => /openat\(AT_FDCWD, "[^"]*\/logs\.txt", /.test(l));
    const logFd = trace[openAt]?.match(/\) = (\d+)$/)?.[1];
    expect(logFd, `logs.txt opened in ${tracePath}`).toBeDefined();
    const syncLine = trace.slice(openAt).find((l) => new RegExp(`\\b(fsync|fdatasync)\\(${logFd}\\)`).test(l));
    expect(syncLine, `fsync of logs.txt (fd ${logFd}) in ${tracePath}`).toBeDefined();
    const syncMs = Number(syncLine!.split(/\s+/)[1]) * 1000; // strace -ttt: seconds since the epoch
    // The first acknowledgement: its "accepted AppendEntries" event is recorded before its reply leaves.
    const dump = c.dumpText(victim).split("\n");
    const restartedAt = dump.length - 1 - [...dump].reverse().findIndex((l) => / serving on /.test(l));
    const firstAck = dump.slice(restartedAt).find((l) => l.includes(`Node ${victim} accepted AppendEntries RPC`));
    expect(firstAck, "an acknowledgement after the restart").toBeDefined();
    const ackMs = Date.parse(firstAck!.split(" ")[0]!);
    expect(syncMs, `logs.txt synced at ${syncMs} ms, first acknowledgement at ${ackMs} ms`).toBeLessThan(ackMs);
  });
});

describe("clients and bad input with real processes", () => {
  it("a third-party client built from the .proto does SET and GET through ServeClient, following LeaderID", async () => {
    const { c, leader } = await startCluster(3);
    const follower = followersOf(c, leader)[0]!;
    const refused = await c.serve(follower, "SET p q");
    expect(refused).toMatchObject({ Success: false, LeaderID: String(leader) });
    expect(await c.serve(leader, "SET p q")).toMatchObject({ Success: true });
    expect(await c.serve(leader, "GET p")).toMatchObject({ Success: true, Data: "q" });
    expect(await c.serve(leader, "GET never-set")).toMatchObject({ Success: true, Data: "" });
  });

  it("bad requests get Success=false with the reason in Data, and the node keeps serving", async () => {
    const { c, leader } = await startCluster(3);
    const bad = ["", "DELETE x", "SET onlykey", "GET", `SET k ${"v".repeat(70_000)}`, `GET ${"k".repeat(2_000)}`, "GET \ud800"];
    for (const request of bad) {
      const reply = await c.serve(leader, request);
      expect(reply.Success, request.slice(0, 20)).toBe(false);
      expect(reply.Data.length, request.slice(0, 20)).toBeGreaterThan(5);
    }
    expect((await c.request("SET still works")).Success).toBe(true);
    expect((await c.status(leader)).role).toBe("leader");
  });

  it("a retried SET with the same client id and sequence is applied once", async () => {
    const { c } = await startCluster(3);
    const session = { clientId: "scenario-client", sequence: 1 };
    expect((await c.request("SET once first", 10_000, session)).Success).toBe(true);
    expect((await c.request("SET once other")).Success).toBe(true);
    expect((await c.request("SET once first", 10_000, session)).Success).toBe(true); // the retry
    expect((await c.request("GET once")).Data).toBe("other");
  });

  it("a port in use and a data dir of another node are refused at start with a clear error", async () => {
    const { c } = await startCluster(3);
    const busy = await runNode(["serve", "--id", "0", "--cluster", c.clusterFlag, "--data-dir", path.join(c.dataDir, "other")]);
    expect(busy.code).toBe(1);
    expect(busy.output).toMatch(new RegExp(`${c.ports[0]}`));
    await c.kill(1);
    fs.rmSync(c.folder(1), { recursive: true, force: true });
    fs.cpSync(c.folder(0), c.folder(1), { recursive: true }); // node 0's folder under node 1's name
    const wrong = await runNode(["serve", "--id", "1", "--cluster", c.clusterFlag, "--data-dir", c.dataDir]);
    expect(wrong.code).toBe(1);
    expect(wrong.output).toMatch(/belongs to node 0/);
  });
});
