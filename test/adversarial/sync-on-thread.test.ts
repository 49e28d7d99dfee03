// Adversarial tests of where a log append's fdatasync waits (0.5.1): a follower's append, whose
// reply waits for it, syncs on the node's thread; a leader's own parallel append, and any sync after
// a write larger than 64 KiB, in libuv's pool. None of this may change what is durable, the order
// calls resolve in, group commit, or what a failed sync does.
//
// Written from docs/file-formats.md ("Writes and failures"), the README's 0.5.1 paragraph and the
// exported interfaces of file-layer.ts, storage.ts and driver-options.ts.
import { readFile } from "node:fs/promises";
import path from "node:path";
import seedrandom from "seedrandom";
import { afterEach, describe, expect, it } from "vitest";
import { logIndex, makeConfig, nodeId, term, type AppendRequest, type Entry, type Message, type PersistedState, type RaftConfig, type TimingConfig } from "../../src/raft/index.js";
import { MonotonicClock } from "../../src/runtime/grpc/clock.js";
import { defaultDriverLimits, NodeDriver, type DriverStorage, type PeerReply, type PersistRequest } from "../../src/runtime/grpc/driver.js";
import { nodeFileLayer, type FileLayer, type LayerFile, type SyncOn } from "../../src/runtime/grpc/file-layer.js";
import type { FileStorage, StorageOptions } from "../../src/runtime/grpc/storage.js";
import { append, CLUSTER, delegatingFile, fx, hard, logsText, noop, nothing, openStorage, set, useTempDataDir } from "../unit/support/storage-kit.js";

useTempDataDir();

const KIB64 = 64 << 10;

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Whether a setImmediate queued just before `sync` started ran before the sync resolved. */
async function turnPassed(sync: () => Promise<void>): Promise<boolean> {
  let turned = false;
  setImmediate(() => (turned = true));
  await sync();
  return turned;
}

async function openFile(name = "f"): Promise<LayerFile> {
  const file = await nodeFileLayer.open(path.join(fx.dir, name), "create");
  if (file === null) throw new Error("the file was not created");
  return file;
}

/** One datasync of logs.txt as storage asked for it: where, and whether the event loop turned while it waited. */
interface SyncSeen {
  readonly on: SyncOn | undefined;
  readonly turned: boolean;
}

/** The real file system; logs.txt's writes and datasyncs are recorded (datasync: where, and whether a turn passed). */
function recordingLayer(writes: number[], syncs: SyncSeen[]): FileLayer {
  return {
    ...nodeFileLayer,
    async open(filePath, how) {
      const file = await nodeFileLayer.open(filePath, how);
      if (file === null || path.basename(filePath) !== "logs.txt") return file;
      return delegatingFile(file, {
        write: (bytes, position) => (writes.push(bytes.length), file.write(bytes, position)),
        async datasync(on) {
          let turned = false;
          setImmediate(() => (turned = true));
          await file.datasync(on);
          syncs.push({ on, turned });
        },
      });
    },
  };
}

/** Storage of node `id` on a recording layer, with the lists the layer fills. */
async function openRecorded(extra: Partial<StorageOptions> = {}, id = 1): Promise<{ storage: FileStorage; writes: number[]; syncs: SyncSeen[] }> {
  const writes: number[] = [];
  const syncs: SyncSeen[] = [];
  const storage = await openStorage(id, CLUSTER, fx.dir, { layer: recordingLayer(writes, syncs), ...extra });
  return { storage, writes, syncs };
}

/** SET entries whose lines together take more than `bytes`. */
function bigEntries(bytes: number, t = 1, prefix = "big"): Entry[] {
  const valueLength = 4_000;
  return Array.from({ length: Math.ceil(bytes / valueLength) + 1 }, (_, i) => set(`${prefix}${i}`, "x".repeat(valueLength), t));
}

// ---------------------------------------------------------------- the file layer

describe("NodeFile.datasync: where it waits", () => {
  it("a write of exactly 64 KiB is made on the thread and its sync may block; one byte more and the sync waits in the pool", async () => {
    const file = await openFile();
    await file.write(Buffer.alloc(KIB64, 0x61), 0);
    expect(await turnPassed(() => file.datasync("thread"))).toBe(false);
    await file.write(Buffer.alloc(KIB64 + 1, 0x62), 0);
    expect(await turnPassed(() => file.datasync("thread"))).toBe(true);
    await file.close();
  });

  it("a large write followed by a small one, not synced in between: the sync still waits in the pool", async () => {
    const file = await openFile();
    await file.write(Buffer.alloc(1 << 20, 0x61), 0);
    await file.write(Buffer.from("small\n"), 1 << 20);
    expect(await turnPassed(() => file.datasync("thread"))).toBe(true);
    // The large write is synced now: a small write after it may sync on the thread again.
    await file.write(Buffer.from("small\n"), 0);
    expect(await turnPassed(() => file.datasync("thread"))).toBe(false);
    await file.close();
  });

  it("datasync without `on` waits in the pool (the documented default)", async () => {
    const file = await openFile();
    await file.write(Buffer.from("SET k v 1\n"), 0);
    expect(await turnPassed(() => file.datasync())).toBe(true);
    await file.close();
  });

  it("what a thread sync makes durable reads back as written (the bytes of both kinds of writes)", async () => {
    const file = await openFile();
    const big = Buffer.alloc(KIB64 * 2, 0x41);
    await file.write(big, 0);
    await file.datasync("thread");
    await file.write(Buffer.from("tail\n"), big.length);
    await file.datasync("thread");
    expect(await file.size()).toBe(big.length + 5);
    await file.close();
    const text = await readFile(path.join(fx.dir, "f"), "latin1");
    expect(text).toBe(`${"A".repeat(big.length)}tail\n`);
  });

  for (const on of ["thread", "pool"] as const) {
    it(`a failing fdatasync on "${on}" rejects the promise (never throws at the caller) with the system's error`, async () => {
      // fdatasync on /dev/null fails with EINVAL, while a small positional write to it succeeds.
      const file = await nodeFileLayer.open("/dev/null", "existing");
      if (file === null) throw new Error("no /dev/null");
      await file.write(Buffer.from("x\n"), 0);
      let thrownAtCall: unknown = null;
      let promise: Promise<void> | null = null;
      try {
        promise = file.datasync(on);
      } catch (err) {
        thrownAtCall = err;
      }
      expect(thrownAtCall).toBeNull();
      await expect(promise).rejects.toMatchObject({ code: "EINVAL" });
      await file.close();
    });
  }
});

// ---------------------------------------------------------------- storage: order, group commit, durability

describe("FileStorage: thread and pool calls mixed", () => {
  it("calls of both kinds in one event-loop turn resolve in call order, as one write and one sync on the thread, and read back after reopen", async () => {
    const { storage, writes, syncs } = await openRecorded();
    await storage.persist(append(1, [noop(1)], hard(1, null, 0)), "pool"); // reserves the space the next appends write into
    writes.length = 0;
    syncs.length = 0;
    const order: number[] = [];
    const modes: SyncOn[] = ["pool", "thread", "pool", "thread", "pool"];
    const calls = modes.map((on, i) => storage.persist(append(2 + i, [set(`k${i}`, `v${i}`, 1)]), on).then(() => order.push(i)));
    await Promise.all(calls);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(writes).toHaveLength(1); // group commit: the five appends are one write
    expect(syncs.map((s) => s.on)).toEqual(["thread"]); // some caller waits: the group's sync may block
    expect(syncs[0]!.turned).toBe(false);
    await storage.close();
    const again = await openStorage(1);
    expect(again.recovered.entries).toEqual([noop(1), ...modes.map((_, i) => set(`k${i}`, `v${i}`, 1))]);
    expect(await logsText()).toMatch(/SET k4 v4/);
  });

  it("a group whose calls all ask for the pool syncs in the pool; a thread call first and pool calls after still syncs on the thread", async () => {
    const { storage, syncs } = await openRecorded();
    await storage.persist(append(1, [noop(1)], hard(1, null, 0)), "pool");
    syncs.length = 0;
    await Promise.all([storage.persist(append(2, [set("a", "1", 1)]), "pool"), storage.persist(append(3, [set("b", "1", 1)]), "pool")]);
    await Promise.all([storage.persist(append(4, [set("c", "1", 1)]), "thread"), storage.persist(append(5, [set("d", "1", 1)]), "pool")]);
    expect(syncs.map((s) => s.on)).toEqual(["pool", "thread"]);
    expect(syncs.map((s) => s.turned)).toEqual([true, false]); });

  it("calls made while a write is on the disk, thread and pool and empty ones, resolve in call order after it", async () => {
    const storage = await openStorage(1);
    await storage.persist(append(1, [noop(1)], hard(1, null, 0)));
    const order: string[] = [];
    const track = (name: string, p: Promise<void>) => p.then(() => order.push(name));
    const all: Promise<unknown>[] = [];
    all.push(track("a-pool", storage.persist(append(2, [set("a", "1", 1)]), "pool")));
    all.push(track("b-thread", storage.persist(append(3, [set("b", "1", 1)]), "thread")));
    await turn(); // the first group's write has started
    all.push(track("c-nothing-thread", storage.persist(nothing, "thread")));
    all.push(track("d-thread", storage.persist(append(4, [set("d", "1", 1)]), "thread")));
    all.push(track("e-pool", storage.persist(append(5, [set("e", "1", 1)]), "pool")));
    all.push(track("f-nothing-pool", storage.persist(nothing, "pool")));
    await turn();
    all.push(track("g-thread", storage.persist(append(6, [set("g", "1", 1)], hard(2, 1, 0)), "thread")));
    all.push(track("h-commit", storage.persist({ ...nothing, hardState: hard(2, 1, 6) }, "thread")));
    await Promise.all(all);
    expect(order).toEqual(["a-pool", "b-thread", "c-nothing-thread", "d-thread", "e-pool", "f-nothing-pool", "g-thread", "h-commit"]);
    await storage.close();
    const again = await openStorage(1);
    expect(again.recovered.entries.map((e) => (e.command.kind === "set" ? e.command.key : "noop"))).toEqual(["noop", "a", "b", "d", "e", "g"]);
    expect(again.recovered.hardState).toMatchObject({ currentTerm: 2, votedFor: 1 });
  });

  it("every persist of a thread append is durable when it resolves: the file holds its line at that moment", async () => {
    const storage = await openStorage(1);
    await storage.persist(append(1, [noop(1)], hard(1, null, 0)), "thread");
    for (let i = 0; i < 20; i++) {
      await storage.persist(append(2 + i, [set(`k${i}`, `v${i}`, 1)]), i % 3 === 0 ? "pool" : "thread");
      expect(await logsText()).toContain(`SET k${i} v${i}`);
    }
  });
});

// ---------------------------------------------------------------- storage: where the sync waits

describe("FileStorage: a sync after a large write waits in the pool, a small thread append blocks", () => {
  it("a small thread append resolves without an event-loop turn after storage's write starts; a pool one lets the loop turn", async () => {
    const storage = await openStorage(1);
    await storage.persist(append(1, [noop(1)], hard(1, null, 0)), "pool");
    const turnedBeforeResolved = async (on: SyncOn, index: number): Promise<boolean> => {
      let turned = false;
      const p = storage.persist(append(index, [set(`k${index}`, "v", 1)]), on);
      setImmediate(() => (turned = true)); // queued after storage's own end-of-turn write
      await p;
      return turned;
    };
    expect(await turnedBeforeResolved("thread", 2)).toBe(false);
    expect(await turnedBeforeResolved("pool", 3)).toBe(true);
    expect(await turnedBeforeResolved("thread", 4)).toBe(false);
  });

  it("a small thread append inside the reserved space blocks while it syncs; the first append (which writes the 1 MiB reserve) does not", async () => {
    const { storage, writes, syncs } = await openRecorded();
    await storage.persist(append(1, [noop(1)], hard(1, null, 0)), "thread");
    expect(writes[0]).toBeGreaterThan(KIB64); // the reserve
    expect(syncs).toEqual([{ on: "thread", turned: true }]);
    await storage.persist(append(2, [set("k", "v", 1)]), "thread");
    expect(syncs[1]).toEqual({ on: "thread", turned: false });
  });

  it("an append of more than 64 KiB of entries with thread: its sync waits in the pool, and the node's loop turns meanwhile", async () => {
    const { storage, writes, syncs } = await openRecorded();
    await storage.persist(append(1, [noop(1)], hard(1, null, 0)), "pool");
    writes.length = 0;
    syncs.length = 0;
    const entries = bigEntries(KIB64 + 1_000);
    await storage.persist(append(2, entries), "thread");
    expect(writes).toHaveLength(1);
    expect(writes[0]).toBeGreaterThan(KIB64);
    expect(writes[0]).toBeLessThan(1 << 20); // inside the reserve: the large write is the entries themselves
    expect(syncs).toEqual([{ on: "thread", turned: true }]);
    // And a small one right after is back on the thread.
    await storage.persist(append(2 + entries.length, [set("after", "1", 1)]), "thread");
    expect(syncs[1]).toEqual({ on: "thread", turned: false });
    await storage.close();
    const again = await openStorage(1);
    expect(again.recovered.entries).toEqual([noop(1), ...entries, set("after", "1", 1)]);
  });

  it("several small thread calls grouped into one write of more than 64 KiB: the sync waits in the pool", async () => {
    const { storage, writes, syncs } = await openRecorded();
    await storage.persist(append(1, [noop(1)], hard(1, null, 0)), "pool");
    writes.length = 0;
    syncs.length = 0;
    const entries = bigEntries(KIB64 + 1_000);
    await Promise.all(entries.map((e, i) => storage.persist(append(2 + i, [e]), "thread")));
    expect(writes).toHaveLength(1);
    expect(writes[0]).toBeGreaterThan(KIB64);
    expect(syncs).toEqual([{ on: "thread", turned: true }]);
  });

  it("a small thread append that runs past the reserve (new reserve written) waits in the pool", async () => {
    const { storage, writes, syncs } = await openRecorded({ logReserveBytes: 256 << 10 });
    await storage.persist(append(1, [noop(1)], hard(1, null, 0)), "pool");
    // Fill the reserve with small appends on the thread; the one that reaches its end writes a new one.
    let index = 2;
    for (let i = 0; i < 200; i++) await storage.persist(append(index++, [set(`k${i}`, "y".repeat(2_000), 1)]), "thread");
    const big = writes.map((n, i) => ({ n, i })).filter((w) => w.n > KIB64 && w.i > 0);
    expect(big.length).toBeGreaterThan(0); // some append wrote a new reserve
    // syncs[i] follows writes[i] (one write, one sync per append here).
    expect(syncs).toHaveLength(writes.length);
    for (let i = 1; i < writes.length; i++) {
      expect(syncs[i]!.on).toBe("thread");
      expect(syncs[i]!.turned, `sync after a write of ${writes[i]} bytes`).toBe(writes[i]! > KIB64);
    }
    await storage.close();
    const again = await openStorage(1);
    expect(again.recovered.entries).toHaveLength(index - 1);
  });
});

describe("FileStorage: truncation, install and compaction with thread", () => {
  /** Every file's datasyncs: where, whether the loop turned, and whether a write over 64 KiB to that file came since its last sync. */
  interface AnySync extends SyncSeen {
    readonly file: string;
    readonly afterLargeWrite: boolean;
  }
  function allFilesLayer(seen: AnySync[]): FileLayer {
    return {
      ...nodeFileLayer,
      async open(filePath, how) {
        const file = await nodeFileLayer.open(filePath, how);
        if (file === null) return null;
        let large = false;
        return delegatingFile(file, {
          write: (bytes, position) => ((large ||= bytes.length > KIB64), file.write(bytes, position)),
          async sync() {
            await file.sync();
            large = false;
          },
          async datasync(on) {
            const afterLargeWrite = large;
            let turned = false;
            setImmediate(() => (turned = true));
            await file.datasync(on);
            large = false;
            seen.push({ file: path.basename(filePath), on, turned, afterLargeWrite });
          },
        });
      },
    };
  }

  for (const reserve of [0, undefined]) {
    it(`a follower's truncating append (new leader, conflicting entries) on the thread, reserve ${reserve ?? "default"}: the conflicting lines are gone, the new ones durable, the sync blocks only after a small write`, async () => {
      const { storage, writes, syncs } = await openRecorded(reserve === undefined ? {} : { logReserveBytes: reserve });
      await storage.persist(append(1, [noop(1), set("a", "1", 1), set("b", "1", 1), set("c", "1", 1)], hard(1, null, 2)), "thread");
      syncs.length = 0;
      writes.length = 0;
      await storage.persist(append(3, [set("x", "2", 2), set("y", "2", 2)], hard(2, null, 2), 3), "thread");
      // The cut reaches the end of the file: the append after it writes the reserve again (1 MiB by default).
      expect(writes).toHaveLength(1);
      expect(syncs).toEqual([{ on: "thread", turned: writes[0]! > KIB64 }]);
      expect(reserve === 0 ? writes[0]! < 1_000 : writes[0]! > KIB64).toBe(true);
      expect(await logsText()).not.toMatch(/SET b 1|SET c 1/);
      await storage.close();
      const again = await openStorage(1);
      expect(again.recovered.entries).toEqual([noop(1), set("a", "1", 1), set("x", "2", 2), set("y", "2", 2)]);
    });
  }

  it("installing a large snapshot and appending after it, asked for on the thread: no sync after a write over 64 KiB blocks, and it all reads back", async () => {
    const seen: AnySync[] = [];
    const storage = await openStorage(1, CLUSTER, fx.dir, { layer: allFilesLayer(seen) });
    await storage.persist(append(1, [noop(1), set("a", "1", 1)], hard(1, null, 1)), "thread");
    const data: Record<string, string> = {};
    for (let i = 0; i < 100; i++) data[`key${i}`] = "z".repeat(3_000);
    const snapshot = { lastIndex: logIndex(30), lastTerm: term(2), members: [0, 1, 2].map((i) => ({ id: nodeId(i), address: "", role: "voter" as const })), data: new Map(Object.entries(data)), sessions: new Map() };
    seen.length = 0;
    await Promise.all([
      storage.persist({ hardState: hard(2, null, 30), installSnapshot: snapshot, truncateFrom: logIndex(2), compactTo: { prevIndex: logIndex(30), prevTerm: term(2) }, appendFrom: null, append: [] }, "thread"),
      storage.persist(append(31, [noop(2), ...bigEntries(KIB64 + 1_000, 2)]), "thread"),
    ]);
    expect(seen.some((s) => s.afterLargeWrite)).toBe(true);
    for (const s of seen) if (s.afterLargeWrite) expect(s, "a sync after a write over 64 KiB").toMatchObject({ turned: true });
    await storage.close();
    const again = await openStorage(1);
    expect(again.recovered.snapshot?.data.get("key99")).toBe("z".repeat(3_000));
    expect(again.recovered.entries[0]).toEqual(noop(2));
    expect(again.recovered.entries).toHaveLength(1 + bigEntries(KIB64 + 1_000, 2).length);
  });

  it("compacting a log of more than 64 KiB behind a saved snapshot, asked for on the thread: what is kept reads back, no sync after a large write blocks", async () => {
    const seen: AnySync[] = [];
    const storage = await openStorage(1, CLUSTER, fx.dir, { layer: allFilesLayer(seen) });
    const entries = [noop(1), ...bigEntries(3 * KIB64)];
    await storage.persist(append(1, entries, hard(1, null, entries.length)), "thread");
    await storage.saveSnapshot({ lastIndex: logIndex(10), lastTerm: term(1), members: [0, 1, 2].map((i) => ({ id: nodeId(i), address: "", role: "voter" as const })), data: new Map([["k", "v"]]), sessions: new Map() });
    seen.length = 0;
    await storage.persist({ ...nothing, compactTo: { prevIndex: logIndex(10), prevTerm: term(1) } }, "thread");
    await storage.persist(append(entries.length + 1, [set("after", "1", 1)]), "thread");
    expect(seen.some((s) => s.afterLargeWrite)).toBe(true); // the kept entries (and the reserve) are rewritten in one large write
    for (const s of seen) if (s.afterLargeWrite) expect(s, "a sync after a write over 64 KiB").toMatchObject({ turned: true });
    await storage.close();
    const again = await openStorage(1);
    expect(again.recovered.logStart).toEqual({ prevIndex: 10, prevTerm: 1 });
    expect(again.recovered.entries).toEqual([...entries.slice(10), set("after", "1", 1)]);
  });
});

// ---------------------------------------------------------------- storage: failed syncs

/** The real file system; logs.txt's datasync fails once (rejecting, or throwing at the call) while armed. */
function failingLayer(state: { armed: boolean; how: "reject" | "throw" | "real-einval"; calls: (SyncOn | undefined)[]; gate: Promise<void> | null }): FileLayer {
  return {
    ...nodeFileLayer,
    async open(filePath, how) {
      const file = await nodeFileLayer.open(filePath, how);
      if (file === null || path.basename(filePath) !== "logs.txt") return file;
      const devNull = await nodeFileLayer.open("/dev/null", "existing");
      if (devNull === null) throw new Error("no /dev/null");
      return delegatingFile(file, {
        close: async () => {
          await devNull.close();
          await file.close();
        },
        datasync(on) {
          state.calls.push(on);
          if (!state.armed) return file.datasync(on);
          state.armed = false;
          if (state.how === "throw") throw Object.assign(new Error("EIO: injected"), { code: "EIO" });
          if (state.how === "real-einval") return devNull.datasync(on); // the real NodeFile's failure path (EINVAL)
          const gate = state.gate ?? Promise.resolve();
          return gate.then(() => Promise.reject(Object.assign(new Error("EIO: injected"), { code: "EIO" })));
        },
      });
    },
  };
}

describe("FileStorage: a failed sync", () => {
  const cases: { on: SyncOn; how: "reject" | "throw" | "real-einval" }[] = [
    { on: "thread", how: "reject" },
    { on: "pool", how: "reject" },
    { on: "thread", how: "real-einval" },
    { on: "pool", how: "real-einval" },
    { on: "thread", how: "throw" },
  ];
  for (const { on, how } of cases) {
    it(`on "${on}" (${how}): the waiting calls and those queued behind reject, later ones are refused, logs.txt keeps only the durable lines`, async () => {
      let release: () => void = () => {};
      const state = { armed: false, how, calls: [] as (SyncOn | undefined)[], gate: new Promise<void>((resolve) => (release = resolve)) as Promise<void> | null };
      const failures: Error[] = [];
      const unhandled: unknown[] = [];
      const onUnhandled = (err: unknown) => unhandled.push(err);
      process.on("uncaughtException", onUnhandled);
      process.on("unhandledRejection", onUnhandled);
      try {
        const storage = await openStorage(1, CLUSTER, fx.dir, { layer: failingLayer(state), onFailure: (e) => failures.push(e) });
        await storage.persist(append(1, [noop(1), set("a", "1", 1)], hard(1, null, 0)), on);
        await storage.persist(append(3, [set("b", "1", 1)]), on); // inside the reserve: a small write
        const durable = await logsText();
        expect(durable).toMatch(/SET b 1/);
        state.calls.length = 0;
        state.armed = true;
        if (how !== "reject") state.gate = null;
        const results: string[] = [];
        const track = (name: string, p: Promise<void>) => p.then(() => results.push(`${name} ok`), (e: Error) => results.push(`${name} ${e.message.includes("failed") ? "failed" : e.message}`));
        const waits: Promise<unknown>[] = [];
        waits.push(track("c", storage.persist(append(4, [set("c", "1", 1)]), on)));
        waits.push(track("d", storage.persist(append(5, [set("d", "1", 1)]), on === "thread" ? "pool" : "thread")));
        await turn(); // the failing write is on the disk; these go to the next group
        waits.push(track("e", storage.persist(append(6, [set("e", "1", 1)]), on)));
        waits.push(track("f", storage.persist(nothing, on)));
        release();
        await Promise.race([Promise.all(waits), sleep(3_000)]);
        expect(results).toEqual(["c failed", "d failed", "e failed", "f failed"]);
        expect(state.calls[0]).toBe("thread"); // the failed group had a waiting caller: asked for the thread
        await expect(storage.persist(append(6, [set("g", "1", 1)]), on)).rejects.toThrow(/failed/);
        await expect(storage.persist(append(6, [set("g", "1", 1)]), on === "thread" ? "pool" : "thread")).rejects.toThrow(/failed/);
        expect(failures).toHaveLength(1);
        expect(await logsText()).toBe(durable);
        expect(unhandled).toEqual([]);
        await storage.close().catch(() => {});
        const again = await openStorage(1);
        expect(again.recovered.entries).toEqual([noop(1), set("a", "1", 1), set("b", "1", 1)]);
      } finally {
        process.off("uncaughtException", onUnhandled);
        process.off("unhandledRejection", onUnhandled);
      }
    });
  }
});

// ---------------------------------------------------------------- the driver

const TIMING: TimingConfig = { heartbeatMs: 100, electionTimeoutMinMs: 1_000, electionTimeoutMaxMs: 1_200, leaseMs: 700, driftPpmMax: 1000 };
const LEASE = { leaseMs: TIMING.leaseMs, driftPpmMax: TIMING.driftPpmMax };
const EMPTY: PersistedState = { hardState: { currentTerm: term(0), votedFor: null, commitIndex: logIndex(0) }, entries: [] };

/** Storage whose persists the test releases one by one (or that passes them to a FileStorage first). */
class GatedStorage implements DriverStorage {
  readonly calls: { request: PersistRequest; on: SyncOn; done: boolean; release: () => void }[] = [];
  holding = false;
  constructor(
    readonly recovered: PersistedState = EMPTY,
    private readonly inner: FileStorage | null = null,
  ) {
    gated.push(this);
  }
  saveSnapshot(): Promise<void> {
    return Promise.resolve();
  }
  persist(request: PersistRequest, on: SyncOn): Promise<void> {
    const durable = this.inner === null ? Promise.resolve() : this.inner.persist(request, on);
    let release: () => void = () => {};
    const gate = this.holding ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve();
    const call = { request, on, done: false, release: () => release() };
    this.calls.push(call);
    return Promise.all([durable, gate]).then(() => {
      call.done = true;
    });
  }
  releaseAll(): void {
    this.holding = false;
    for (const c of this.calls) c.release();
  }
  appendsOf(kind: "noop" | "set"): { on: SyncOn; done: boolean }[] {
    return this.calls.filter((c) => c.request.append.some((e) => e.command.kind === kind));
  }
}

/** A started driver, what it sent and the fatal errors it reported (none expected: afterEach checks). */
interface Started {
  readonly storage: GatedStorage;
  readonly driver: NodeDriver;
  readonly sent: Message[];
  readonly fatal: Error[];
}

const drivers: Started[] = [];
const gated: GatedStorage[] = [];
afterEach(async () => {
  for (const g of gated.splice(0)) g.releaseAll(); // a failed test may have left writes held
  const all = drivers.splice(0);
  for (const { driver } of all) await driver.stop();
  for (const { fatal } of all) expect(fatal).toEqual([]);
});

/** Node 0 of a 3-member cluster on `storage`, started. */
function startDriver(storage = new GatedStorage(), overrides: Partial<RaftConfig> = {}): Started {
  const sent: Message[] = [];
  const fatal: Error[] = [];
  const started = { storage, driver: makeDriver(storage, sent, fatal, overrides), sent, fatal };
  drivers.push(started);
  return started;
}

function makeDriver(storage: DriverStorage, sent: Message[], fatal: Error[], overrides: Partial<RaftConfig>): NodeDriver {
  const config = makeConfig(nodeId(0), [0, 1, 2].map(nodeId), TIMING, overrides);
  const driver = new NodeDriver({
    config,
    storage,
    clock: new MonotonicClock(),
    random: seedrandom("sync-on-thread"),
    limits: defaultDriverLimits(config),
    send: (m) => sent.push(m),
    onEvent: () => {},
    onFatal: (err) => fatal.push(err),
  });
  driver.start();
  return driver;
}

function appendRequest(t: number, prevLogIndex: number, prevLogTerm: number, entries: Entry[], leaderCommit = 0): AppendRequest {
  return { type: "append-request", from: nodeId(1), to: nodeId(0), term: term(t), prevLogIndex: logIndex(prevLogIndex), prevLogTerm: term(prevLogTerm), entries, leaderCommit: logIndex(leaderCommit), lease: LEASE, leaderSendMs: 0 };
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

describe("a follower NodeDriver answering AppendEntries", () => {
  it("asks for the thread, and its reply is produced only after the append's persist resolved; nothing leaves meanwhile", async () => {
    const { storage, driver, sent } = startDriver();
    storage.holding = true;
    let reply: PeerReply | null | undefined;
    void driver.deliverRequest(appendRequest(1, 0, 0, [noop(1), set("k", "v", 1)])).then((r) => (reply = r));
    await waitFor("the append's persist", () => storage.appendsOf("noop").length > 0);
    for (let i = 0; i < 5; i++) await turn();
    await sleep(30);
    expect(reply).toBeUndefined();
    expect(sent).toEqual([]);
    expect(storage.appendsOf("noop").map((c) => c.on)).toEqual(["thread"]);
    storage.releaseAll();
    await waitFor("the reply", () => reply !== undefined);
    expect(reply).toMatchObject({ type: "append-reply", success: true, matchIndex: 2 });
    expect(storage.appendsOf("noop")[0]!.done).toBe(true);
  });

  it("two AppendEntries in a row: the second's reply waits for its own persist, the first's reply comes first", async () => {
    const { storage, driver } = startDriver();
    storage.holding = true;
    const replies: string[] = [];
    void driver.deliverRequest(appendRequest(1, 0, 0, [noop(1)])).then((r) => replies.push(`first ${r?.type === "append-reply" ? r.matchIndex : "?"}`));
    await waitFor("the first persist", () => storage.appendsOf("noop").length === 1);
    void driver.deliverRequest(appendRequest(1, 1, 1, [set("k", "v", 1)])).then((r) => replies.push(`second ${r?.type === "append-reply" ? r.matchIndex : "?"}`));
    await waitFor("the second persist", () => storage.appendsOf("set").length === 1);
    expect(storage.appendsOf("set").map((c) => c.on)).toEqual(["thread"]);
    storage.calls.find((c) => c.request.append.some((e) => e.command.kind === "noop"))!.release();
    await waitFor("the first reply", () => replies.length >= 1);
    for (let i = 0; i < 5; i++) await turn();
    expect(replies).toEqual(["first 1"]);
    storage.releaseAll();
    await waitFor("the second reply", () => replies.length === 2);
    expect(replies).toEqual(["first 1", "second 2"]);
  });

  it("with the real FileStorage: the follower's append syncs on the thread without a turn, and what it acknowledged is on the disk", async () => {
    const { storage: files, syncs } = await openRecorded({}, 0);
    const { driver } = startDriver(new GatedStorage(files.recovered, files));
    const first = await driver.deliverRequest(appendRequest(1, 0, 0, [noop(1)]));
    expect(first).toMatchObject({ success: true, matchIndex: 1 });
    syncs.length = 0;
    const entries = [set("a", "1", 1), set("b", "2", 1)];
    const second = await driver.deliverRequest(appendRequest(1, 1, 1, entries));
    expect(second).toMatchObject({ success: true, matchIndex: 3 });
    expect(syncs).toEqual([{ on: "thread", turned: false }]);
    expect(await logsText(0)).toMatch(/SET a 1[^\n]*\n[^\n]*SET b 2/);
    await driver.stop(); // before its storage closes (afterEach stops it again: a no-op)
    await files.close();
    const again = await openStorage(0);
    expect(again.recovered.entries).toEqual([noop(1), ...entries]);
  });

  it("a granted vote's reply waits for the vote to be durable, and the write is asked for on the thread (its output waits)", async () => {
    const { storage, driver } = startDriver();
    storage.holding = true;
    let reply: PeerReply | null | undefined;
    void driver.deliverRequest({ type: "vote-request", from: nodeId(1), to: nodeId(0), term: term(5), lastLogIndex: logIndex(0), lastLogTerm: term(0), preVote: false, lease: LEASE }).then((r) => (reply = r));
    await waitFor("the vote's persist", () => storage.calls.some((c) => c.request.hardState?.votedFor === 1));
    for (let i = 0; i < 5; i++) await turn();
    expect(reply).toBeUndefined();
    const vote = storage.calls.find((c) => c.request.hardState?.votedFor === 1)!;
    storage.releaseAll();
    await waitFor("the reply", () => reply !== undefined);
    expect(reply).toMatchObject({ type: "vote-reply", granted: true });
    expect(vote.on).toBe("thread");
  });
});

describe("a leader persisting in parallel", () => {
  it("syncs its own append in the pool, and its AppendEntries leave before that append is durable", async () => {
    const { storage, driver, sent } = startDriver(new GatedStorage(), { leaderPersistsInParallel: true });
    // Become leader: a pre-vote round, then a vote round (the election timeout is 1-1.2 s).
    await waitFor("a pre-vote request", () => sent.some((m) => m.type === "vote-request" && m.preVote), 3_000);
    driver.deliverReply({ type: "vote-reply", from: nodeId(1), to: nodeId(0), term: term(0), requestTerm: term(1), granted: true, preVote: true, leaseRemainingMs: 0, leaseTerm: term(0) });
    await waitFor("a vote request", () => sent.some((m) => m.type === "vote-request" && !m.preVote));
    storage.holding = true;
    driver.deliverReply({ type: "vote-reply", from: nodeId(1), to: nodeId(0), term: term(1), requestTerm: term(1), granted: true, preVote: false, leaseRemainingMs: 0, leaseTerm: term(0) });
    await waitFor("the leader's NO-OP written", () => storage.appendsOf("noop").length > 0);
    await waitFor("AppendEntries carrying the NO-OP", () => sent.some((m) => m.type === "append-request" && m.entries.length > 0));
    const noopWrite = storage.appendsOf("noop")[0]!;
    expect(noopWrite.on).toBe("pool");
    expect(noopWrite.done).toBe(false); // sent before its own write was durable
    storage.releaseAll();
  });
});
