// A real 3-node cluster in this process: gRPC on loopback, files in a temporary data dir.
import { credentials } from "@grpc/grpc-js";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RaftClient, RaftClientError } from "../../src/client/raft-client.js";
import { clusterFingerprint, parseNodeList, type NodeAddress } from "../../src/client/nodes.js";
import { RaftClientClient, type ServeClientArgs, type ServeClientReply } from "../../src/gen/raft.js";
import type { TimingConfig } from "../../src/raft/index.js";
import { startNode, type RunningNode } from "../../src/runtime/grpc/node-runtime.js";
import { freePorts, waitFor } from "./support/loopback.js";

const TIMING: TimingConfig = { heartbeatMs: 50, electionTimeoutMinMs: 500, electionTimeoutMaxMs: 1000, leaseMs: 400, driftPpmMax: 1000 };
const WAIT_MS = 15_000;

/** Sends one raw ServeClient call, as any client built from the proto would. */
function serveRaw(address: string, args: ServeClientArgs): Promise<ServeClientReply> {
  const client = new RaftClientClient(address, credentials.createInsecure());
  return new Promise<ServeClientReply>((resolve, reject) => {
    client.serveClient(args, (err, reply) => (err !== null ? reject(err) : resolve(reply)));
  }).finally(() => client.close());
}

describe("a 3-node cluster over gRPC on loopback", () => {
  let dataDir = "";
  let members: NodeAddress[] = [];
  const nodes = new Map<number, RunningNode>();
  let client: RaftClient | null = null;

  const start = async (id: number): Promise<RunningNode> => {
    const node = await startNode({
      id: members[id]!.id,
      members,
      clusterFingerprint: clusterFingerprint(members),
      dataDir,
      timing: TIMING,
      console: null,
      warnings: null,
    });
    nodes.set(id, node);
    return node;
  };
  const stop = async (id: number): Promise<void> => {
    await nodes.get(id)?.stop();
    nodes.delete(id);
  };
  const leaderOf = async (c: RaftClient): Promise<number | null> => {
    const reports = await c.status();
    const leader = reports.find((r) => r.reachable && r.role === "leader" && r.leaseRemainingMs > 0);
    return leader === undefined ? null : leader.id;
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "raft-lease-grpc-"));
    const ports = await freePorts(3);
    members = parseNodeList(ports.map((p, i) => `${i}=127.0.0.1:${p}`).join(","));
    for (const id of [0, 1, 2]) await start(id);
    client = new RaftClient({ nodes: members.map((m) => ({ id: m.id, address: m.address })), timeoutMs: WAIT_MS });
    await waitFor("a leader", () => leaderOf(client!));
  });

  afterAll(async () => {
    client?.close();
    await Promise.all([...nodes.keys()].map((id) => stop(id)));
    if (dataDir !== "") await rm(dataDir, { recursive: true, force: true });
  });

  it("a SET is read back by a GET", async () => {
    await client!.set("a", "1");
    expect(await client!.get("a")).toBe("1");
  });

  it("a GET of a key never set is the empty string", async () => {
    expect(await client!.get("never-set")).toBe("");
  });

  it("keys and values with spaces, line breaks and non-ASCII survive the round trip", async () => {
    await client!.set("ключ", "hello world\nsecond line 😀");
    expect(await client!.get("ключ")).toBe("hello world\nsecond line 😀");
  });

  it("concurrent SETs through one client all apply", async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `c${i}`);
    await Promise.all(keys.map((k) => client!.set(k, `v-${k}`)));
    expect(await Promise.all(keys.map((k) => client!.get(k)))).toEqual(keys.map((k) => `v-${k}`));
  });

  it("a bad request gets Success=false, the reason in Data and ErrorCode invalid", async () => {
    await client!.set("before-bad-requests", "kept");
    const leader = await waitFor("a leader", () => leaderOf(client!));
    const address = members[leader]!.address;
    const cases: [ServeClientArgs, RegExp][] = [
      [{ Request: "DEL a", ClientId: "", Sequence: 0, FirstUnanswered: 0, RequestId: 0 }, /unknown command "DEL"/],
      [{ Request: "", ClientId: "", Sequence: 0, FirstUnanswered: 0, RequestId: 0 }, /empty request/],
      [{ Request: "SET onlykey", ClientId: "", Sequence: 0, FirstUnanswered: 0, RequestId: 0 }, /SET needs a key and a value/],
      [{ Request: `GET ${"k".repeat(1025)}`, ClientId: "", Sequence: 0, FirstUnanswered: 0, RequestId: 0 }, /keys are at most 1024 bytes/],
      [{ Request: "SET a 1", ClientId: "someone", Sequence: 0, FirstUnanswered: 0, RequestId: 0 }, /client id needs a sequence of 1 or more/],
    ];
    for (const [args, reason] of cases) {
      const reply = await serveRaw(address, args);
      expect(reply).toMatchObject({ Success: false, ErrorCode: "invalid" });
      expect(reply.Data).toMatch(reason);
    }
    expect(await client!.get("before-bad-requests")).toBe("kept"); // and the node still serves
  });

  it("ServeClient with FirstUnanswered: SETs of one client id that arrive out of order each apply, and a retry does not", async () => {
    const leader = await waitFor("a leader", () => leaderOf(client!));
    const address = members[leader]!.address;
    const set = (key: string, value: string, Sequence: number, FirstUnanswered: number) =>
      serveRaw(address, { Request: `SET ${key} ${value}`, ClientId: "unary-window", Sequence, FirstUnanswered, RequestId: 0 });
    // Sequences 1 to 3 in flight together, 3 and 2 arriving before 1 (the rule before windows
    // would take 1 and 2 for duplicates of 3).
    expect(await set("w3", "three", 3, 1)).toMatchObject({ Success: true });
    expect(await set("w2", "two", 2, 1)).toMatchObject({ Success: true });
    expect(await set("w1", "one", 1, 1)).toMatchObject({ Success: true });
    expect(await set("w2", "two-again", 2, 1)).toMatchObject({ Success: true }); // a retry: answered, not applied
    expect(await set("w4", "four", 4, 4)).toMatchObject({ Success: true }); // all before 4 answered
    expect(await set("w1", "one-again", 1, 1)).toMatchObject({ Success: true }); // below the bound now
    expect(await Promise.all(["w1", "w2", "w3", "w4"].map((k) => client!.get(k)))).toEqual(["one", "two", "three", "four"]);
    const logs = await readFile(path.join(nodes.get(leader)!.folderPath, "logs.txt"), "utf8");
    expect(logs).toMatch(/^SET w3 three \d+ @unary-window:3\/1 [#*][0-9a-f]{8}$/m);
    expect(logs).toMatch(/^SET w4 four \d+ @unary-window:4 [#*][0-9a-f]{8}$/m);
  });

  it("a follower answers Success=false naming the leader", async () => {
    const leader = await waitFor("a leader", () => leaderOf(client!));
    const follower = members.find((m) => m.id !== leader)!;
    const reply = await serveRaw(follower.address, { Request: "GET a", ClientId: "", Sequence: 0, FirstUnanswered: 0, RequestId: 0 });
    expect(reply).toMatchObject({ Success: false, LeaderID: String(leader), ErrorCode: "not-leader" });
  });

  it("the RaftClient refuses a bad key before sending anything", async () => {
    await expect(client!.set("two words", "v")).rejects.toThrow(RaftClientError);
  });

  it("status reports every node, and a stopped one as unreachable", async () => {
    const leader = await waitFor("a leader", () => leaderOf(client!));
    const follower = members.find((m) => m.id !== leader)!.id;
    await stop(follower);
    const reports = await client!.status();
    expect(reports.find((r) => r.id === follower)?.reachable).toBe(false);
    expect(reports.filter((r) => r.reachable).map((r) => r.role).sort()).toEqual(["follower", "leader"]);
    await client!.set("while-one-is-down", "yes");
    await start(follower);
  });

  it("a node restarted from its data dir keeps its log and catches up", async () => {
    const leader = await waitFor("a leader", () => leaderOf(client!));
    const follower = members.find((m) => m.id !== leader)!.id;
    await stop(follower);
    await client!.set("after-stop", "caught-up");
    const restarted = await start(follower);
    expect(restarted.status().lastLogIndex).toBeGreaterThan(0);
    const leaderLast = (await client!.status()).find((r) => r.id === leader);
    await waitFor("the restarted node to catch up", async () =>
      leaderLast?.reachable === true && restarted.status().commitIndex >= leaderLast.commitIndex ? true : null,
    );
    const logs = await readFile(path.join(restarted.folderPath, "logs.txt"), "utf8");
    expect(logs).toContain("SET after-stop caught-up");
  });

  it("a full cluster restart recovers every acknowledged write", async () => {
    const writes = Array.from({ length: 20 }, (_, i): [string, string] => [`durable-${i}`, `across restart ${i}`]);
    for (const [k, v] of writes) await client!.set(k, v);
    for (const id of [0, 1, 2]) await stop(id);
    for (const id of [0, 1, 2]) await start(id);
    await waitFor("a leader", () => leaderOf(client!));
    for (const [k, v] of writes) expect(await client!.get(k)).toBe(v);
  });

  it("dump.txt holds the exercise's event lines with a timestamp prefix", async () => {
    await client!.set("dumped", "6");
    const dumpsOf = () => Promise.all([0, 1, 2].map((id) => readFile(path.join(dataDir, `logs_node_${id}`, "dump.txt"), "utf8")));
    // A follower learns of the commit with the leader's next AppendEntries.
    const all = await waitFor("a follower's commit line for SET dumped 6", async () => {
      const text = (await dumpsOf()).join("\n");
      return text.includes("(follower) committed the entry SET dumped 6") ? text : null;
    });
    expect(all).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z Node \d election timer timed out, Starting election\.$/m);
    expect(all).toMatch(/Node \d became the leader for term \d+\./);
    expect(all).toMatch(/Leader \d sending heartbeat & Renewing Lease/);
    expect(all).toMatch(/Node \d \(leader\) received an SET dumped 6 request\./);
    expect(all).toMatch(/Node \d \(leader\) committed the entry SET dumped 6 to the state machine\./);
    expect(all).toMatch(/Node \d \(follower\) committed the entry SET dumped 6 to the state machine\./);
    expect(all).toMatch(/Vote granted for Node \d in term \d+\./);
  });

  it("a data dir of another cluster is refused and a port in use is named", async () => {
    const [p0, p1] = await freePorts(2);
    const other = parseNodeList(`0=127.0.0.1:${p0},1=127.0.0.1:${p1}`);
    const options = { id: other[0]!.id, members: other, dataDir, timing: TIMING, console: null, warnings: null };
    await expect(startNode({ ...options, clusterFingerprint: clusterFingerprint(other) })).rejects.toThrow(/belongs to cluster/);
    const busy = members[0]!.address;
    await expect(startNode({ ...options, clusterFingerprint: clusterFingerprint(other), listen: busy })).rejects.toThrow(`cannot listen on ${busy}: the port is in use`);
  });
});
