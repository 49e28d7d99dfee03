// Membership changes over gRPC in this process: a 3-node cluster on loopback adds a node started to
// join (it is reached by peers that never were in its --cluster, and reaches them back once the
// configuration names them), moves leadership by TimeoutNow, removes a member, and answers the
// operators' calls the way proto/raft.proto says (followers: not-leader with the leader's id; bad
// input: invalid). A restart with a stale --cluster uses the stored configuration and says so.
import { credentials } from "@grpc/grpc-js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RaftClient, RaftClientError } from "../../src/client/raft-client.js";
import { clusterFingerprint, parseNodeList, type NodeAddress } from "../../src/client/nodes.js";
import { RaftClientClient, type AdminReply } from "../../src/gen/raft.js";
import type { TimingConfig } from "../../src/raft/index.js";
import { startNode, type NodeOptions, type RunningNode } from "../../src/runtime/grpc/node-runtime.js";
import { freePorts, waitFor } from "./support/loopback.js";

const TIMING: TimingConfig = { heartbeatMs: 50, electionTimeoutMinMs: 500, electionTimeoutMaxMs: 1000, leaseMs: 400, driftPpmMax: 1000 };

/** A raw AddMember call, as any client built from the proto would send it. */
function addRaw(address: string, id: number, memberAddress: string): Promise<AdminReply> {
  const client = new RaftClientClient(address, credentials.createInsecure());
  return new Promise<AdminReply>((resolve, reject) => {
    client.addMember({ id, address: memberAddress }, (err, reply) => (err !== null ? reject(err) : resolve(reply)));
  }).finally(() => client.close());
}

/** Lines a node wrote to its console (events and warnings). */
function sink(lines: string[]): { write(text: string): boolean } {
  return { write: (text: string) => (lines.push(text), true) };
}

describe("membership changes over gRPC on loopback", () => {
  let dataDir = "";
  let members: NodeAddress[] = [];
  let joiner: NodeAddress | null = null;
  const nodes = new Map<number, RunningNode>();
  const consoles = new Map<number, string[]>();
  let client: RaftClient | null = null;

  const start = async (id: number, overrides: Partial<NodeOptions> = {}): Promise<RunningNode> => {
    const lines: string[] = [];
    consoles.set(id, lines);
    const base = { id: members.find((m) => m.id === id)?.id ?? joiner!.id, members, clusterFingerprint: clusterFingerprint(members), dataDir, timing: TIMING };
    const node = await startNode({ ...base, console: sink(lines), warnings: sink(lines), metricsListen: { host: "127.0.0.1", port: 0 }, ...overrides });
    nodes.set(id, node);
    return node;
  };
  /** Waits until node `id` has written a console line matching `pattern` (console writes are batched). */
  const said = (id: number, pattern: RegExp) => waitFor(`node ${id} to print ${String(pattern)}`, async () => (pattern.test(consoles.get(id)!.join("")) ? true : null), 5_000);
  const leader = (): RunningNode | null => [...nodes.values()].find((n) => n.status().role === "leader" && n.status().leaseRemainingMs > 0) ?? null;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "raft-lease-members-"));
    const ports = await freePorts(4);
    members = parseNodeList(ports.slice(0, 3).map((p, i) => `${i}=127.0.0.1:${p}`).join(","));
    joiner = parseNodeList(`3=127.0.0.1:${ports[3]}`)[0]!;
    for (const id of [0, 1, 2]) await start(id);
    client = new RaftClient({ nodes: [...members, joiner].map((m) => ({ id: m.id, address: m.address })), timeoutMs: 15_000 });
    await waitFor("a leader", async () => leader());
  });

  afterAll(async () => {
    client?.close();
    await Promise.all([...nodes.values()].map((n) => n.stop()));
    if (dataDir !== "") await rm(dataDir, { recursive: true, force: true });
  });

  it("answers the operators' calls: members from the leader, not-leader with its id from a follower, invalid for a bad address", async () => {
    await client!.set("before", "1");
    const list = await client!.members();
    expect(list.members.map((m) => `${m.id}=${m.address}/${m.role}`)).toEqual(members.map((m) => `${m.id}=${m.address}/voter`));
    const follower = members.find((m) => m.id !== list.leaderId)!;
    const refused = await addRaw(follower.address, 7, "127.0.0.1:1");
    expect(refused).toMatchObject({ Success: false, ErrorCode: "not-leader", LeaderID: String(list.leaderId) });
    const bad = await addRaw(members.find((m) => m.id === list.leaderId)!.address, 7, "a b:1");
    expect(bad).toMatchObject({ Success: false, ErrorCode: "invalid" });
    expect(bad.Data).toMatch(/is not host:port/);
    await expect(client!.addMember(7, "nowhere")).rejects.toThrow(RaftClientError);
    await expect(client!.removeMember(9)).rejects.toThrow(/node 9 is not a member of the cluster/);
  });

  it("a node started to join is added as a learner, promoted to voter, and holds the log", async () => {
    await start(3, { members: [], join: true, address: joiner!.address, clusterFingerprint: `join:3=${joiner!.address}` });
    await said(3, /Node 3 joins a running cluster: it waits for a leader to add it/);
    await client!.addMember(3, joiner!.address);
    const roles: string[] = [];
    await client!.waitForVoter(3, 10_000, (role) => roles.push(role));
    expect(roles.at(-1)).toBe("voter");
    await waitFor("node 3 to apply the write made before it joined", async () => (nodes.get(3)!.status().appliedIndex >= leader()!.status().commitIndex ? true : null));
    expect(nodes.get(3)!.status().members.map((m) => m.id)).toEqual([0, 1, 2, 3]);
  });

  it("transfers leadership to a named voter, which then serves", async () => {
    const before = leader()!.id;
    const to = [0, 1, 2, 3].find((id) => id !== before)!;
    expect(await client!.transferLeader(to)).toBe(to);
    await waitFor(`node ${to} to lead`, async () => (leader()?.id === to ? true : null));
    await client!.set("after-transfer", "2");
    expect(await client!.get("after-transfer")).toBe("2");
    await said(before, new RegExp(`Leader ${before} sent TimeoutNow to Node ${to} and gave up its lease\\.`));
    const metrics = await (await fetch(`http://127.0.0.1:${nodes.get(before)!.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^raft_leadership_transfers_total 1$/m);
    expect(metrics).toMatch(/^raft_members\{role="voter"\} 4$/m);
    expect(metrics).toMatch(/^raft_members\{role="learner"\} 0$/m);
  });

  it("removes a member, which says it is no longer one", async () => {
    const removed = [0, 1, 2].find((id) => id !== leader()!.id)!;
    await client!.removeMember(removed);
    expect((await client!.members()).members.map((m) => m.id)).not.toContain(removed);
    await said(removed, new RegExp(`node ${removed} is no longer a member of the cluster`));
    await nodes.get(removed)!.stop();
    nodes.delete(removed);
    await client!.set("after-remove", "3");
  });

  it("a restart with a stale --cluster uses the stored configuration and says which and why", async () => {
    const id = [0, 1, 2].find((i) => nodes.has(i) && nodes.get(i)!.status().role !== "leader")!;
    await nodes.get(id)!.stop();
    nodes.delete(id);
    await start(id);
    await said(id, new RegExp(`Node ${id} uses the configuration stored in its data dir, .*3=${joiner!.address}.*, not --cluster `));
    expect(nodes.get(id)!.status().members.map((m) => m.id)).toContain(3);
    await client!.set("after-restart", "4");
  });

  it("a leader hands leadership over before it stops", async () => {
    const old = leader()!;
    expect(await old.handOverLeadership()).toMatch(/^leadership handed over/);
    expect(old.status().role).not.toBe("leader");
    await waitFor("a new leader", async () => (leader() !== null && leader() !== old ? true : null));
  });
});
