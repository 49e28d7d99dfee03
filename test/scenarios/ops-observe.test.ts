// Observability with real processes: 3 `raft-node` processes on loopback, each with
// --metrics-listen. Prometheus metrics scraped during a SET load (counters move, histograms
// fill); the gRPC health service flips to NOT_SERVING on a node cut off from the majority (its
// peers stopped with SIGSTOP) and back; server reflection lets a client with no copy of the
// .proto call ServeClient.

import path from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RaftClient } from "../../src/client/raft-client.js";
import { freePorts } from "../unit/support/loopback.js";
import { ProcessCluster, sleep, waitFor } from "./support/procs.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
let cluster: ProcessCluster | null = null;
let metricsPorts: number[] = [];
let leader = -1;

beforeAll(async () => {
  metricsPorts = await freePorts(3);
  cluster = await ProcessCluster.create({ size: 3, argsFor: (id) => ["--metrics-listen", `127.0.0.1:${metricsPorts[id]}`, "--grpc-reflection"] });
  cluster.startAll();
  leader = await cluster.waitForLeader(cluster.ids, 40_000);
});

afterAll(async () => {
  await cluster?.stopAll(); // SIGCONT, then SIGKILL, by pid
  cluster?.cleanUp();
});

// ---------------------------------------------------------------- metrics

async function scrape(id: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${metricsPorts[id]}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
  return res.text();
}

/** The value of one sample, `name{labels}` with the labels in the order prom-client writes them. */
function sample(text: string, name: string, labels = ""): number | undefined {
  const key = labels === "" ? name : `${name}{${labels}}`;
  const line = text.split("\n").find((l) => l.startsWith(`${key} `));
  return line === undefined ? undefined : Number(line.slice(key.length + 1));
}

const SETS = 300;
const CONCURRENCY = 10;

describe("observing a 3-node cluster (real processes)", { timeout: 180_000 }, () => {
  it("metrics: counters move and histograms fill during a SET load", async () => {
    const before = await scrape(leader);
    const client = new RaftClient({ nodes: cluster!.clusterFlag, timeoutMs: 30_000 });
    let done = 0;
    const load = Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, w) => {
        for (let i = w; i < SETS; i += CONCURRENCY) {
          await client.set(`m${i}`, `v${i}`);
          done++;
        }
      }),
    ).finally(() => client.close());
    // Scrape while the load runs (bounded in count), so scraping under load is exercised too.
    const committedSeen: number[] = [];
    for (let i = 0; i < 100 && done < SETS; i++) {
      committedSeen.push(sample(await scrape(leader), "raft_proposals_committed_total") ?? NaN);
      await sleep(100);
    }
    await load;
    const after = await scrape(leader);

    const delta = (name: string, labels = "") => (sample(after, name, labels) ?? NaN) - (sample(before, name, labels) ?? 0);
    expect(delta("raft_proposals_committed_total")).toBeGreaterThanOrEqual(SETS);
    expect(delta("raft_commit_index")).toBeGreaterThanOrEqual(SETS);
    expect(delta("raft_applied_index")).toBeGreaterThanOrEqual(SETS);
    // Counters never go backwards between scrapes.
    const series = [sample(before, "raft_proposals_committed_total") ?? 0, ...committedSeen, sample(after, "raft_proposals_committed_total")!];
    expect(series.every((v, i) => i === 0 || v >= series[i - 1]!)).toBe(true);

    // The client latency histogram filled: count, sum, and buckets that add up.
    const set = 'op="set",outcome="ok"';
    expect(delta("raft_client_request_duration_seconds_count", set)).toBeGreaterThanOrEqual(SETS);
    expect(delta("raft_client_request_duration_seconds_sum", set)).toBeGreaterThan(0);
    const count = sample(after, "raft_client_request_duration_seconds_count", set)!;
    expect(sample(after, "raft_client_request_duration_seconds_bucket", `le="+Inf",${set}`)).toBe(count);
    expect(sample(after, "raft_client_request_duration_seconds_bucket", `le="10",${set}`)).toBeGreaterThan(0);
    // Every node timed its disk writes.
    for (const id of cluster!.ids) {
      const text = id === leader ? after : await scrape(id);
      expect(sample(text, "raft_storage_persist_duration_seconds_count"), `node ${id}`).toBeGreaterThan(0);
      expect(sample(text, "raft_leader_changes_seen_total"), `node ${id}`).toBeGreaterThanOrEqual(1);
      expect(sample(text, "raft_has_leader"), `node ${id}`).toBe(1);
      expect(sample(text, "raft_role", `role="leader"`), `node ${id}`).toBe(id === leader ? 1 : 0);
      expect(sample(text, "raft_term"), `node ${id}`).toBeGreaterThanOrEqual(1);
      expect(sample(text, "process_cpu_seconds_total"), `node ${id}`).toBeGreaterThan(0);
    }
    // The leader reports each follower's replication lag and its lease; followers report neither.
    for (const id of cluster!.ids.filter((i) => i !== leader)) {
      expect(sample(after, "raft_peer_replication_lag_entries", `peer="${id}"`)).toBeGreaterThanOrEqual(0);
      expect(sample(await scrape(id), "raft_peer_replication_lag_entries", `peer="${leader}"`)).toBeUndefined();
    }
    expect(sample(after, "raft_pending_requests", 'queue="calls"')).toBeGreaterThanOrEqual(0);
  });

  it("metrics: only /metrics is served", async () => {
    const res = await fetch(`http://127.0.0.1:${metricsPorts[0]}/other`);
    expect(res.status).toBe(404);
  });

  it("reflection: a client with no copy of the .proto lists the services and calls ServeClient", async () => {
    const reflection = reflectionClient(`127.0.0.1:${cluster!.ports[leader]}`);
    try {
      const listed = await reflect(reflection, { list_services: "" });
      const names = (listed.list_services_response?.service ?? []).map((s) => s.name);
      expect(names).toEqual(expect.arrayContaining(["raftlease.RaftClient", "raftlease.RaftPeer", "grpc.health.v1.Health"]));
      const files = await reflect(reflection, { file_containing_symbol: "raftlease.RaftClient" });
      const protos = files.file_descriptor_response?.file_descriptor_proto ?? [];
      expect(protos.length).toBeGreaterThan(0);
      // Build a client from the descriptors alone, as grpcurl does.
      const definition = protoLoader.loadFileDescriptorSetFromBuffer(fileDescriptorSet(protos), { keepCase: true });
      const pkg = grpc.loadPackageDefinition(definition) as unknown as { raftlease: { RaftClient: grpc.ServiceClientConstructor } };
      const raw = new pkg.raftlease.RaftClient(`127.0.0.1:${cluster!.ports[leader]}`, grpc.credentials.createInsecure());
      const reply = await new Promise<{ Data: string; Success: boolean }>((resolve, reject) =>
        (raw as unknown as { ServeClient: (a: object, cb: (e: Error | null, r: { Data: string; Success: boolean }) => void) => void }).ServeClient({ Request: "GET m7" }, (e, r) => (e ? reject(e) : resolve(r))),
      );
      raw.close();
      expect(reply).toMatchObject({ Success: true, Data: "v7" });
    } finally {
      reflection.close();
    }
  });

  it("health: SERVING with a known leader, NOT_SERVING when cut off from the majority, SERVING again after", async () => {
    const c = cluster!;
    for (const id of c.ids) {
      expect(await health(c, id, "")).toBe("SERVING");
      expect(await health(c, id, "raftlease.RaftClient")).toBe("SERVING");
    }
    await expect(health(c, 0, "no.such.Service")).rejects.toThrow(/NOT_FOUND/);
    const cutOff = leader;
    const others = c.ids.filter((id) => id !== cutOff);
    for (const id of others) c.signal(id, "SIGSTOP");
    try {
      await waitFor(`node ${cutOff} to report NOT_SERVING`, async () => (await health(c, cutOff, "")) === "NOT_SERVING", 30_000);
      expect(sample(await scrape(cutOff), "raft_has_leader")).toBe(0);
    } finally {
      for (const id of others) c.signal(id, "SIGCONT");
    }
    await waitFor("every node to report SERVING again", async () => (await Promise.all(c.ids.map((id) => health(c, id, "")))).every((s) => s === "SERVING"), 40_000);
  });
});

// ---------------------------------------------------------------- gRPC helpers

const Health = grpc.makeClientConstructor(healthService as unknown as grpc.ServiceDefinition, "Health");

function health(c: ProcessCluster, id: number, service: string): Promise<string> {
  const client = new Health(`127.0.0.1:${c.ports[id]}`, grpc.credentials.createInsecure());
  return new Promise<string>((resolve, reject) => {
    (client as unknown as { check: (a: object, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: { status: string }) => void) => void }).check(
      { service },
      { deadline: Date.now() + 3_000 },
      (e, r) => (e ? reject(new Error(`${grpc.status[e.code]}: ${e.details}`)) : resolve(r.status)),
    );
  }).finally(() => client.close());
}

interface ReflectionReply {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
}

function reflectionClient(address: string): grpc.Client {
  const file = path.join(ROOT, "node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto");
  const def = protoLoader.loadSync(file, { keepCase: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } } };
  return new pkg.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure());
}

function reflect(client: grpc.Client, request: object): Promise<ReflectionReply> {
  return new Promise((resolve, reject) => {
    const stream = (client as unknown as { ServerReflectionInfo: () => grpc.ClientDuplexStream<object, ReflectionReply> }).ServerReflectionInfo();
    stream.once("data", (reply: ReflectionReply) => {
      resolve(reply);
      stream.end();
    });
    stream.once("error", reject);
    stream.write(request);
  });
}

/** A FileDescriptorSet (field 1, repeated) holding the given serialized FileDescriptorProtos. */
function fileDescriptorSet(protos: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const p of protos) {
    const length: number[] = [];
    for (let n = p.length; ; n >>>= 7) {
      if (n < 0x80) {
        length.push(n);
        break;
      }
      length.push((n & 0x7f) | 0x80);
    }
    parts.push(Buffer.from([0x0a, ...length]), p);
  }
  return Buffer.concat(parts);
}
