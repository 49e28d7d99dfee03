// Where the real file layer's fdatasync waits, and that storage asks for the thread only for the
// writes its caller waits for.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { nodeFileLayer, type FileLayer, type LayerFile, type SyncOn } from "../../src/runtime/grpc/file-layer.js";
import { append, delegatingFile, hard, noop, openStorage, set } from "./support/storage-kit.js";

let dir = "";
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "raft-file-layer-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Whether a setImmediate queued just before `sync` started ran before the sync resolved. */
async function turnPassed(sync: () => Promise<void>): Promise<boolean> {
  let turned = false;
  setImmediate(() => (turned = true));
  await sync();
  return turned;
}

async function openFile(): Promise<LayerFile> {
  const file = await nodeFileLayer.open(path.join(dir, "f"), "create");
  if (file === null) throw new Error("the file was not created");
  return file;
}

describe("NodeFile.datasync", () => {
  it("on the thread after a small write: the event loop does not turn while it waits", async () => {
    const file = await openFile();
    await file.write(Buffer.from("SET k v 1\n"), 0);
    expect(await turnPassed(() => file.datasync("thread"))).toBe(false);
    await file.write(Buffer.from("SET k w 1\n"), 10);
    expect(await turnPassed(() => file.datasync("pool"))).toBe(true);
    await file.close();
  });

  it("after a write too large for the thread, the sync waits in the pool even when asked for the thread", async () => {
    const file = await openFile();
    await file.write(Buffer.alloc(1 << 20), 0);
    expect(await turnPassed(() => file.datasync("thread"))).toBe(true);
    await file.write(Buffer.from("small\n"), 0); // the large write is synced: the thread may wait again
    expect(await turnPassed(() => file.datasync("thread"))).toBe(false);
    await file.close();
  });
});

describe("FileStorage passes on where a sync may wait", () => {
  function recordingLayer(seen: (SyncOn | undefined)[]): FileLayer {
    return {
      ...nodeFileLayer,
      async open(filePath, how) {
        const file = await nodeFileLayer.open(filePath, how);
        if (file === null || path.basename(filePath) !== "logs.txt") return file;
        return delegatingFile(file, { datasync: (on) => (seen.push(on), file.datasync(on)) });
      },
    };
  }

  it("an append persisted for a waiting caller syncs on the thread; one persisted in the background in the pool", async () => {
    const seen: (SyncOn | undefined)[] = [];
    const storage = await openStorage(1, undefined, dir, { layer: recordingLayer(seen) });
    await storage.persist(append(1, [noop(1)], hard(1, null, 0)), "thread");
    await storage.persist(append(2, [set("k", "v", 1)]));
    await storage.persist(append(3, [set("k", "w", 1)]), "pool");
    expect(seen).toEqual(["thread", "pool", "pool"]);
    await storage.close();
  });
});
