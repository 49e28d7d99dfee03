// A leader that writes its own log in parallel with its sends (Raft thesis §10.2.1, as the gRPC
// runtime runs it): it may count itself toward a majority only once its write is durable, and a
// crash before then loses its copy but never an acknowledged write.

import { describe, expect, it } from "vitest";
import { nodeId } from "../../src/raft/index.js";
import { jitter } from "./support/jitter.js";
import { World } from "./support/world.js";

const [A, B, C] = [0, 1, 2].map(nodeId) as [ReturnType<typeof nodeId>, ReturnType<typeof nodeId>, ReturnType<typeof nodeId>];
const SYNC_MS = 50;

function parallelLeader(): World {
  const w = new World({
    size: 3,
    overrides: { leaderPersistsInParallel: true },
    syncDelayMs: () => SYNC_MS,
    random: jitter({ [A]: 0, [B]: 0.5, [C]: 0.9 }),
  });
  w.runUntil("A leading with its lease", () => w.status(A)?.leaseReadable === true, 5000);
  w.run(200);
  return w;
}

describe("a leader writing its log in parallel with its sends", () => {
  it("counts itself toward a majority only once its own write is durable", () => {
    const w = parallelLeader();
    w.crash(C);
    const askedMs = w.trueMs;
    const s = w.set(A, "k", "v");
    w.runUntil("SET answered", () => w.history.op(s).result !== null, 1000);
    expect(w.history.op(s).result?.ok).toBe(true);
    // With C down, the majority is A and B: A's own copy counts only once it is on A's disk.
    expect(w.history.op(s).responseTrueMs! - askedMs).toBeGreaterThanOrEqual(SYNC_MS);
    expect(w.problems()).toEqual([]);
  });

  it("a crash before its own write is durable loses its copy, never an acknowledged write", () => {
    const w = parallelLeader();
    const s = w.set(A, "k", "v");
    w.runUntil("SET answered", () => w.history.op(s).result !== null, SYNC_MS - 10);
    expect(w.history.op(s).result?.ok).toBe(true); // B and C are a majority without A
    const lengthBefore = w.disk(A).length;
    w.crash(A);
    expect(w.disk(A).length).toBe(lengthBefore - 1);
    w.restart(A, 12);
    w.runUntil("a new leader with its lease", () => w.leaders().some((l) => l.leaseReadable), 5000);
    const leader = w.leaders()[0]!.id;
    const read = w.get(leader, "k");
    w.run(10);
    expect(w.history.op(read).result).toEqual({ ok: true, value: "v" });
    w.run(1000);
    expect(w.disk(A).entries().some((e) => e.command.kind === "set" && e.command.value === "v")).toBe(true);
    expect(w.problems()).toEqual([]);
  });
});
