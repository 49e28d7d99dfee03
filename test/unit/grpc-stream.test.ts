// ServeClientStream, with nodes in this process on loopback: the server side request by request
// (raw bytes, so that malformed messages can be sent), and RaftClient multiplexing all its requests
// over one stream per node with one windowed session.
import { credentials, makeGenericClientConstructor, type ClientDuplexStream } from "@grpc/grpc-js";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RaftClient } from "../../src/client/raft-client.js";
import { clusterFingerprint, parseNodeList, type NodeAddress } from "../../src/client/nodes.js";
import { ServeClientArgs, ServeClientReply } from "../../src/gen/raft.js";
import type { TimingConfig } from "../../src/raft/index.js";
import type { DriverLimits } from "../../src/runtime/grpc/driver.js";
import { startNode, type RunningNode } from "../../src/runtime/grpc/node-runtime.js";
import { freePorts, waitFor } from "./support/loopback.js";

const TIMING: TimingConfig = { heartbeatMs: 50, electionTimeoutMinMs: 500, electionTimeoutMaxMs: 1000, leaseMs: 400, driftPpmMax: 1000 };

/** A ServeClientStream that sends bytes as they are, so a test can send what no encoder would. */
const RawStreamClient = makeGenericClientConstructor(
  {
    serveClientStream: {
      path: "/raftlease.RaftClient/ServeClientStream",
      requestStream: true,
      responseStream: true,
      requestSerialize: (bytes: Buffer) => bytes,
      requestDeserialize: (bytes: Buffer) => bytes,
      responseSerialize: (reply: ServeClientReply) => Buffer.from(ServeClientReply.encode(reply).finish()),
      responseDeserialize: (bytes: Buffer) => ServeClientReply.decode(bytes),
    },
  },
  "RaftClient",
);

const encode = (args: Partial<ServeClientArgs>): Buffer => Buffer.from(ServeClientArgs.encode({ Request: "", ClientId: "", Sequence: 0, FirstUnanswered: 0, RequestId: 0, ...args }).finish());

/** Writes every message on one stream, ends it, and collects the replies in arrival order until the node ends the stream. */
function exchange(address: string, messages: readonly Buffer[]): Promise<ServeClientReply[]> {
  const raw = new RawStreamClient(address, credentials.createInsecure());
  const stream = (raw as unknown as { serveClientStream(): ClientDuplexStream<Buffer, ServeClientReply> }).serveClientStream();
  const replies: ServeClientReply[] = [];
  return new Promise<ServeClientReply[]>((resolve, reject) => {
    stream.on("data", (reply: ServeClientReply) => replies.push(reply));
    stream.on("error", reject);
    stream.on("end", () => resolve(replies));
    for (const m of messages) stream.write(m);
    stream.end();
  }).finally(() => raw.close());
}

async function startCluster(size: number, driverLimits?: Partial<DriverLimits>): Promise<{ members: NodeAddress[]; nodes: Map<number, RunningNode>; dataDir: string; start(id: number): Promise<void> }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "raft-lease-stream-"));
  const ports = await freePorts(size);
  const members = parseNodeList(ports.map((p, i) => `${i}=127.0.0.1:${p}`).join(","));
  const nodes = new Map<number, RunningNode>();
  const start = async (id: number): Promise<void> => {
    const node = await startNode({ id: members[id]!.id, members, clusterFingerprint: clusterFingerprint(members), dataDir, timing: TIMING, console: null, warnings: null, ...(driverLimits ? { driverLimits } : {}) });
    nodes.set(id, node);
  };
  for (let id = 0; id < size; id++) await start(id);
  return { members, nodes, dataDir, start };
}

async function leaderOf(nodes: Map<number, RunningNode>): Promise<number | null> {
  for (const [id, n] of nodes) {
    const s = n.status();
    if (s.role === "leader" && s.leaseReadable) return id;
  }
  return null;
}

describe("ServeClientStream on a 3-node cluster", () => {
  let cluster: Awaited<ReturnType<typeof startCluster>>;
  let client: RaftClient;

  beforeAll(async () => {
    cluster = await startCluster(3);
    client = new RaftClient({ nodes: cluster.members.map((m) => ({ id: m.id, address: m.address })), timeoutMs: 15_000 });
    await waitFor("a leader", () => leaderOf(cluster.nodes));
  });

  afterAll(async () => {
    client.close();
    await Promise.all([...cluster.nodes.values()].map((n) => n.stop()));
    await rm(cluster.dataDir, { recursive: true, force: true });
  });

  it("answers each request with its RequestId, in any order; a bad request gets its own error and ends nothing else", async () => {
    const leader = await waitFor("a leader", () => leaderOf(cluster.nodes));
    const address = cluster.members[leader]!.address;
    const notUtf8 = Buffer.concat([Buffer.from([0x0a, 7]), Buffer.from("SET k "), Buffer.from([0xff]), Buffer.from([0x28, 4])]); // Request "SET k \xff", RequestId 4
    const malformed = Buffer.from([0x28, 9, 0x0a, 0x05, 0x41]); // RequestId 9, then a Request that claims 5 bytes and has 1
    const replies = await exchange(address, [
      encode({ Request: "SET s1 v1", ClientId: "raw", Sequence: 1, FirstUnanswered: 1, RequestId: 1 }),
      encode({ Request: "DEL a", RequestId: 2 }),
      encode({ Request: `SET big ${"v".repeat(70_000)}`, RequestId: 3 }),
      notUtf8,
      encode({ Request: "SET s2 v2", ClientId: "raw", Sequence: 5000, FirstUnanswered: 1, RequestId: 5 }),
      encode({ Request: "SET s3 v3", ClientId: "raw", Sequence: 0, RequestId: 6 }),
      malformed,
      encode({ Request: "GET s1", RequestId: 8 }),
      encode({ Request: "SET s4 v4", ClientId: "raw", Sequence: 2, FirstUnanswered: 1, RequestId: 10 }),
    ]);
    const byId = new Map(replies.map((r) => [r.RequestId, r]));
    expect(replies).toHaveLength(9);
    expect(byId.get(1)).toMatchObject({ Success: true, LeaderID: String(leader) });
    expect(byId.get(10)).toMatchObject({ Success: true });
    const invalid: [number, RegExp][] = [
      [2, /unknown command "DEL"/],
      [3, /the request is longer than \d+ bytes/],
      [4, /the Request field is not valid UTF-8 text/],
      [5, /at most 4096 SETs outstanding/],
      [6, /client id needs a sequence of 1 or more/],
      [0, /malformed message/], // its RequestId could not be read
    ];
    for (const [id, reason] of invalid) {
      expect(byId.get(id), `request ${id}`).toMatchObject({ Success: false, ErrorCode: "invalid" });
      expect(byId.get(id)!.Data).toMatch(reason);
    }
    expect(byId.get(8)).toMatchObject({ Success: true });
    // Answers come as they are ready: the refusal of request 2 is written at once, while the SET
    // sent ahead of it waits for its commit.
    expect(replies.findIndex((r) => r.RequestId === 2)).toBeLessThan(replies.findIndex((r) => r.RequestId === 1));
    expect(await client.get("s1")).toBe("v1");
    expect(await client.get("s4")).toBe("v4");
    expect(cluster.nodes.get(leader)!.status().role).toBe("leader");
  });

  it("RaftClient sends concurrent SETs on one session, several outstanding at once, and each lands", async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `pipelined-${i}`);
    await Promise.all(keys.map((k) => client.set(k, `v-${k}`)));
    expect(await Promise.all(keys.map((k) => client.get(k)))).toEqual(keys.map((k) => `v-${k}`));
    const leader = await waitFor("a leader", () => leaderOf(cluster.nodes));
    const logs = await readFile(path.join(cluster.nodes.get(leader)!.folderPath, "logs.txt"), "utf8");
    const sessions = [...logs.matchAll(/^SET pipelined-\d+ \S+ \d+ @(\S+):(\d+)(?:\/(\d+))? /gm)];
    expect(new Set(sessions.map((m) => m[1]))).toEqual(new Set([client.clientId])); // one session, no pool
    const sequences = new Set(sessions.map((m) => Number(m[2])));
    expect(sequences.size).toBe(300);
    expect(sessions.some((m) => m[3] !== undefined)).toBe(true); // some sent while earlier ones were unanswered
  });

  it("a stream cut in flight (its node stops) costs no SET: the client retries on the new leader and each applies once", async () => {
    const leader = await waitFor("a leader", () => leaderOf(cluster.nodes));
    const keys = Array.from({ length: 200 }, (_, i) => `cut-${i}`);
    const writes = keys.map((k) => client.set(k, `v-${k}`));
    await Promise.all(writes.slice(0, 20)); // some done; the rest in flight on the leader's stream
    await cluster.nodes.get(leader)!.stop();
    cluster.nodes.delete(leader);
    await Promise.all(writes);
    expect(await Promise.all(keys.map((k) => client.get(k)))).toEqual(keys.map((k) => `v-${k}`));
    const now = await waitFor("a new leader", () => leaderOf(cluster.nodes));
    const logs = await readFile(path.join(cluster.nodes.get(now)!.folderPath, "logs.txt"), "utf8");
    // Every SET is in the log, some twice (sent again after the cut); the session rule applied each once.
    const lines = [...logs.matchAll(/^SET (cut-\d+) \S+ \d+ @\S+:(\d+)/gm)];
    expect(new Set(lines.map((m) => m[1])).size).toBe(200);
    expect(lines.length).toBeGreaterThanOrEqual(200);
    await cluster.start(leader);
  });
});

describe("ServeClientStream on a node with a small bound on pending calls", () => {
  it("counts stream requests against the node's bound: beyond it they are answered overloaded, the others served", async () => {
    const cluster = await startCluster(1, { pendingCallCountMax: 4 });
    try {
      await waitFor("a leader", () => leaderOf(cluster.nodes));
      const messages = Array.from({ length: 60 }, (_, i) => encode({ Request: `SET burst-${i} v`, RequestId: i + 1 }));
      const replies = await exchange(cluster.members[0]!.address, messages);
      expect(new Set(replies.map((r) => r.RequestId))).toEqual(new Set(messages.map((_, i) => i + 1)));
      const overloaded = replies.filter((r) => r.ErrorCode === "overloaded");
      expect(overloaded.length).toBeGreaterThan(0);
      expect(overloaded[0]!.Data).toMatch(/requests are pending on this node; retry later/);
      expect(replies.filter((r) => r.Success).length).toBeGreaterThan(0);
      expect(replies.every((r) => r.Success || r.ErrorCode === "overloaded")).toBe(true);
    } finally {
      await Promise.all([...cluster.nodes.values()].map((n) => n.stop()));
      await rm(cluster.dataDir, { recursive: true, force: true });
    }
  });
});
