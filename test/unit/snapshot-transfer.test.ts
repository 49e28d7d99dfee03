// A snapshot between two nodes: the chunks a leader streams and the checks the follower makes
// on each (order, duplicates, chunks of another transfer, size, damage) before the core sees it.

import { describe, expect, it } from "vitest";
import { logIndex, nodeId, term, type SnapshotRequest } from "../../src/raft/index.js";
import { SNAPSHOT_CHUNK_BYTES_MAX, snapshotRequestChunks, SnapshotReceiver } from "../../src/runtime/grpc/snapshot-transfer.js";

function request(keys: number, lastIndex = 500): SnapshotRequest {
  const data = new Map(Array.from({ length: keys }, (_, i) => [`key-${i}`, `value ${i} ${"x".repeat(100)}`] as const));
  return {
    type: "snapshot-request",
    from: nodeId(0),
    to: nodeId(2),
    term: term(3),
    lease: { leaseMs: 800, driftPpmMax: 1000 },
    leaderSendMs: 1234.5,
    snapshot: { lastIndex: logIndex(lastIndex), lastTerm: term(3), members: [0, 1, 2].map((i) => ({ id: nodeId(i), address: "", role: "voter" as const })), data, sessions: new Map([["c1", { firstUnanswered: 4, applied: [4] }], ["c2", { firstUnanswered: 10, applied: [11, 12, 13, 20] }]]) },
  };
}

describe("InstallSnapshot chunks", () => {
  it("a large snapshot goes in chunks of at most 1 MiB and arrives whole", () => {
    const m = request(20_000);
    const chunks = [...snapshotRequestChunks(m)];
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) expect(c.data.length).toBeLessThanOrEqual(SNAPSHOT_CHUNK_BYTES_MAX);
    const r = new SnapshotReceiver();
    for (const c of chunks) expect(r.accept(c)).toBeNull();
    const got = r.finish();
    expect(got.ok).toBe(true);
    if (!got.ok) return;
    expect(got.value.snapshot.data.size).toBe(20_000);
    expect(got.value.snapshot.data.get("key-19999")).toBe(m.snapshot.data.get("key-19999"));
    expect(got.value.snapshot.sessions.get("c1")).toEqual({ firstUnanswered: 4, applied: [4] });
    expect(got.value.snapshot.sessions.get("c2")).toEqual({ firstUnanswered: 10, applied: [11, 12, 13, 20] });
    expect(got.value).toMatchObject({ from: 0, to: 2, term: 3, leaderSendMs: 1234.5, lease: m.lease });
  });

  it("a duplicated, reordered or missing chunk, or one of another transfer, is refused", () => {
    const chunks = [...snapshotRequestChunks(request(200), 2000)];
    expect(chunks.length).toBeGreaterThan(3);
    const dup = new SnapshotReceiver();
    dup.accept(chunks[0]!);
    expect(dup.accept(chunks[0]!)).toMatch(/chunk 0 arrived where chunk 1 was due/);
    const reordered = new SnapshotReceiver();
    reordered.accept(chunks[0]!);
    expect(reordered.accept(chunks[2]!)).toMatch(/chunk 2 arrived where chunk 1 was due/);
    const other = [...snapshotRequestChunks(request(200, 600), 2000)];
    const mixed = new SnapshotReceiver();
    mixed.accept(chunks[0]!);
    expect(mixed.accept(other[1]!)).toMatch(/another snapshot transfer/);
    const short = new SnapshotReceiver();
    for (const c of chunks.slice(0, -1)) short.accept(c);
    expect(short.finish()).toMatchObject({ ok: false, error: expect.stringMatching(/before its END line/) });
    expect(new SnapshotReceiver().finish()).toMatchObject({ ok: false, error: expect.stringMatching(/before its first chunk/) });
  });

  it("a damaged line, or a header that disagrees with the lines, is refused", () => {
    const chunks = [...snapshotRequestChunks(request(50), 1500)];
    const damaged = new SnapshotReceiver();
    expect(damaged.accept({ ...chunks[0]!, data: chunks[0]!.data.replace("key-1 ", "key-7 ") })).toMatch(/checksum mismatch/);
    const lying = new SnapshotReceiver();
    for (const c of chunks) lying.accept({ ...c, lastIndex: 499 });
    expect(lying.finish()).toMatchObject({ ok: false, error: expect.stringMatching(/lines say it ends at 500/) });
    const huge = new SnapshotReceiver();
    expect(huge.accept({ ...chunks[0]!, data: "x".repeat(SNAPSHOT_CHUNK_BYTES_MAX + 1) })).toMatch(/above the/);
  });
});
