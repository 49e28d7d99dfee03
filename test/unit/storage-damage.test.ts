// Storage against damage and failure: torn tails and corruption, the wrong data dir, failed
// writes, large logs, and dump.txt's bound.

import { appendFile, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { abbreviate, DUMP_BYTES_MAX_MIN, DUMP_FILES_KEPT, EVENT_OPERATION_CHARS_MAX } from "../../src/runtime/grpc/dump-writer.js";
import { nodeFileLayer, type FileLayer } from "../../src/runtime/grpc/file-layer.js";
import { withChecksum } from "../../src/runtime/grpc/line-checksum.js";
import { LOG_READ_CHUNK_BYTES } from "../../src/runtime/grpc/log-file.js";
import { append, CLUSTER, delegatingFile, folder, fx, hard, logsText, noop, nothing, openStorage, plain, reopen, resealed, sealed, set, useTempDataDir } from "./support/storage-kit.js";

useTempDataDir();

describe("FileStorage: damage on disk", () => {
  async function storageWithThreeEntries(): Promise<void> {
    const storage = await openStorage(1);
    await storage.persist(append(1, [noop(1), set("a", "1", 1), set("b", "2", 2)], hard(2, null, 2)));
    await storage.close();
  }

  it("a torn last line (no newline) is dropped with a warning and the file is repaired", async () => {
    await storageWithThreeEntries();
    await appendFile(path.join(folder(1), "logs.txt"), "SET c 3");
    const storage = await openStorage(1);
    expect(storage.recovered.entries).toEqual([noop(1), set("a", "1", 1), set("b", "2", 2)]);
    expect(fx.warnings).toHaveLength(1);
    expect(fx.warnings[0]).toMatch(/logs\.txt line 4: dropped a torn tail \(no newline at its end/);
    expect(await logsText()).toBe("NO-OP 1\nSET a 1 1\nSET b 2 2\n");
    await storage.persist(append(4, [set("c", "3", 2)]));
    expect(await logsText()).toBe("NO-OP 1\nSET a 1 1\nSET b 2 2\nSET c 3 2\n");
  });

  // Before lines had checksums, a last line without its newline was dropped even when it parsed,
  // since its term might have been cut short. A checksum proves the line whole: it is kept.
  it("a last line whole under its checksum but for its newline is kept and its newline added", async () => {
    await storageWithThreeEntries();
    await appendFile(path.join(folder(1), "logs.txt"), withChecksum("NO-OP 2", "*"));
    const storage = await openStorage(1);
    expect(storage.recovered.entries).toEqual([noop(1), set("a", "1", 1), set("b", "2", 2), noop(2)]);
    expect(await readFile(path.join(folder(1), "logs.txt"), "utf8")).toMatch(/NO-OP 2 \*[0-9a-f]{8}\n$/);
  });

  it("a last line cut inside its checksum token is torn and dropped", async () => {
    await storageWithThreeEntries();
    await appendFile(path.join(folder(1), "logs.txt"), withChecksum("NO-OP 2", "*").slice(0, -3));
    const storage = await openStorage(1);
    expect(storage.recovered.entries).toHaveLength(3);
    expect(fx.warnings[0]).toMatch(/line 4: dropped a torn tail \(no newline/);
  });

  // Zeros after the last line are the reserved space a crash left (or pages of an unsynced write
  // never written, which hold nothing acknowledged either): free space, not damage.
  it("zeros after the last line are free space: kept without a warning, and the next append writes over them", async () => {
    await storageWithThreeEntries();
    await appendFile(path.join(folder(1), "logs.txt"), Buffer.alloc(9000));
    const storage = await openStorage(1);
    expect(storage.recovered.entries).toHaveLength(3);
    expect(fx.warnings).toEqual([]);
    await storage.persist(append(4, [set("c", "3", 2)]));
    expect(await logsText()).toBe("NO-OP 1\nSET a 1 1\nSET b 2 2\nSET c 3 2\n");
    const again = await reopen(storage);
    expect(again.recovered.entries).toHaveLength(4);
    await again.close();
  });

  it("a line cut short inside the reserved space (the write torn, the zeros after it) is dropped as torn", async () => {
    await storageWithThreeEntries();
    const torn = Buffer.concat([Buffer.from(sealed(["SET c 3 2"]).slice(0, 6), "latin1"), Buffer.alloc(9000)]);
    await appendFile(path.join(folder(1), "logs.txt"), torn);
    const storage = await openStorage(1);
    expect(storage.recovered.entries).toHaveLength(3);
    expect(fx.warnings[0]).toMatch(/line 4: dropped a torn tail \(no newline at its end/);
  });

  it("zeros then the rest of the same write (pages persisted out of order) are dropped as torn", async () => {
    await storageWithThreeEntries();
    const tail = sealed(["SET c 3 2", "SET d 4 2", "SET e 5 2"]);
    const zeroedFirstLine = "\u0000".repeat(tail.indexOf("\n") + 1) + tail.slice(tail.indexOf("\n") + 1);
    await appendFile(path.join(folder(1), "logs.txt"), zeroedFirstLine);
    const storage = await openStorage(1);
    expect(storage.recovered.entries).toHaveLength(3);
    expect(fx.warnings[0]).toMatch(/line 4: dropped a torn tail \(zeros/);
  });

  it("zeros followed by a later write are synced data gone bad: refused with the line", async () => {
    await storageWithThreeEntries();
    const logPath = path.join(folder(1), "logs.txt");
    const zeroedWrite = "\u0000".repeat(20) + "\n" + sealed(["SET d 4 2"]);
    await appendFile(logPath, zeroedWrite + sealed(["SET e 5 2"]));
    await expect(openStorage(1)).rejects.toThrow(/logs\.txt line 4: zeros inside data that was synced \(a later write follows line 5\)/);
  });

  it("one flipped byte in an acknowledged line, the last one too, is refused with the file and line; the file is left alone", async () => {
    await storageWithThreeEntries();
    const logPath = path.join(folder(1), "logs.txt");
    const good = await readFile(logPath, "latin1");
    for (const [at, line] of [[good.indexOf("SET a") + 4, 2], [good.indexOf("SET b") + 4, 3]] as const) {
      const flipped = good.slice(0, at) + String.fromCharCode(good.charCodeAt(at) ^ 0x01) + good.slice(at + 1);
      await writeFile(logPath, flipped, "latin1");
      await expect(openStorage(1)).rejects.toThrow(new RegExp(`data dir ${logPath} line ${line}: checksum mismatch .*; the file is corrupt, restore it from a replica`));
      expect(await readFile(logPath, "latin1")).toBe(flipped);
    }
  });

  it("a line without a checksum token (or an old-format file) is refused with the line", async () => {
    await storageWithThreeEntries();
    const logPath = path.join(folder(1), "logs.txt");
    await writeFile(logPath, "NO-OP 1\nSET a 1 1\nSET b 2 2\n");
    await expect(openStorage(1)).rejects.toThrow(/logs\.txt line 1: no checksum token/);
  });

  it("a bad escape, an unknown command or terms going down under valid checksums are refused with the line", async () => {
    await storageWithThreeEntries();
    const logPath = path.join(folder(1), "logs.txt");
    const cases: [string[], RegExp][] = [
      [["NO-OP 1", "SET a%4 1 1", "SET b 2 2"], /line 2: bad key: bad escape "%4/],
      [["NO-OP 1", "DEL a 1", "SET b 2 2"], /line 2: unknown command "DEL"/],
      [["NO-OP 2", "SET a 1 1", "SET b 2 2"], /line 2: term 1 is below the previous entry's term 2/],
      [["NO-OP 1", "SET a 1 1", "NO-OP 0", "SET b 2 2"], /line 3: bad term "0"/],
      [["NO-OP 2", "SET a 1 2", "SET b 2 1"], /line 3: term 1 is below the previous entry's term 2/], // a last line that parses is not torn
    ];
    for (const [lines, error] of cases) {
      await writeFile(logPath, sealed(lines));
      await expect(openStorage(1)).rejects.toThrow(error);
    }
  });

  it("commit_length beyond the log is refused with metadata.txt's line", async () => {
    await storageWithThreeEntries();
    const metadataPath = path.join(folder(1), "metadata.txt");
    const metadata = await readFile(metadataPath, "utf8");
    await writeFile(metadataPath, resealed(metadata.replace("commit_length 2", "commit_length 9")));
    await expect(openStorage(1)).rejects.toThrow(`data dir ${metadataPath} line 5: commit_length 9 is beyond the 3 entries of logs.txt`);
  });

  it("metadata.txt with a missing or bad field is refused", async () => {
    await storageWithThreeEntries();
    const metadataPath = path.join(folder(1), "metadata.txt");
    const metadata = await readFile(metadataPath, "utf8");
    await writeFile(metadataPath, resealed(plain(metadata).replace("voted_for none\n", "")));
    await expect(openStorage(1)).rejects.toThrow(/metadata\.txt line 5: the voted_for line is missing/);
    await writeFile(metadataPath, resealed(metadata.replace("current_term 2", "current_term two")));
    await expect(openStorage(1)).rejects.toThrow(/metadata\.txt line 3: bad current_term "two"/);
    await writeFile(metadataPath, resealed(`${metadata}colour blue\n`));
    await expect(openStorage(1)).rejects.toThrow(/metadata\.txt line 6: bad line "colour blue"/);
    await writeFile(metadataPath, metadata.replace("current_term 2", "current_term 3"));
    await expect(openStorage(1)).rejects.toThrow(/metadata\.txt line 3: checksum mismatch/);
  });

  it("a missing metadata.txt beside a non-empty log is refused; beside an empty log it is a fresh node", async () => {
    await storageWithThreeEntries();
    await rm(path.join(folder(1), "metadata.txt"));
    await expect(openStorage(1)).rejects.toThrow(/metadata\.txt is missing but .*logs\.txt is not empty; the folder is corrupt/);
    await writeFile(path.join(folder(1), "logs.txt"), "");
    const storage = await openStorage(1);
    expect(storage.recovered).toEqual({ hardState: hard(0, null, 0), snapshot: null, logStart: { prevIndex: 0, prevTerm: 0 }, entries: [] });
  });
});

describe("FileStorage: the wrong data dir", () => {
  it("another node's data dir is refused", async () => {
    const storage = await openStorage(1);
    await storage.close();
    await rename(folder(1), folder(2));
    await expect(openStorage(2)).rejects.toThrow(`data dir ${folder(2)} belongs to node 1, not node 2; give the right --data-dir or --id`);
  });

  it("another cluster's data dir is refused", async () => {
    const storage = await openStorage(1);
    await storage.close();
    await expect(openStorage(1, "0=10.0.0.1:5000,1=10.0.0.2:5000")).rejects.toThrow(
      /data dir .*logs_node_1 belongs to cluster "0=127\.0\.0\.1:5000,.*", not "0=10\.0\.0\.1:5000,1=10\.0\.0\.2:5000"; give the right --data-dir or --cluster/,
    );
  });

  it("an unwritable data dir gives an error naming the path and the OS error", async () => {
    const regularFile = path.join(fx.dir, "not-a-folder");
    await writeFile(regularFile, "");
    const dataDir = path.join(regularFile, "data");
    await expect(openStorage(1, CLUSTER, dataDir)).rejects.toThrow(`cannot use data dir ${dataDir}: ENOTDIR`);
    await expect(openStorage(1, CLUSTER, dataDir)).rejects.toThrow(/give a --data-dir that this user can create and write/);
  });
});

describe("FileStorage: dump.txt", () => {
  it("event lines are appended, one a line, and flushed on close", async () => {
    const storage = await openStorage(1);
    storage.appendDump("Node 1 election timer timed out, Starting election.");
    storage.appendDump("Node 1 (leader) received an SET a\nb request.");
    await storage.close();
    const again = await openStorage(1);
    again.appendDump("Node 1 became the leader for term 2.");
    await again.close();
    expect(await readFile(path.join(folder(1), "dump.txt"), "utf8")).toBe(
      "Node 1 election timer timed out, Starting election.\nNode 1 (leader) received an SET a\\nb request.\nNode 1 became the leader for term 2.\n",
    );
  });

  it("dump.txt is rotated at its bound, keeping a fixed number of old files, so the events take bounded space", async () => {
    const storage = await openStorage(1, CLUSTER, fx.dir, { dumpBytesMax: DUMP_BYTES_MAX_MIN });
    const line = `Node 1 (leader) received an ${abbreviate(`SET k ${"v".repeat(40_000)}`, EVENT_OPERATION_CHARS_MAX)} request.`;
    expect(line.length).toBeLessThan(EVENT_OPERATION_CHARS_MAX + 100);
    const lineCount = (DUMP_FILES_KEPT + 3) * Math.ceil(DUMP_BYTES_MAX_MIN / line.length);
    for (let i = 0; i < lineCount; i++) {
      storage.appendDump(`${i} ${line}`);
      if (i % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await storage.close();
    const names = (await readdir(folder(1))).filter((n) => n.startsWith("dump")).sort();
    expect(names).toEqual(["dump.1.txt", "dump.2.txt", "dump.3.txt", "dump.txt"]);
    for (const name of names) expect((await stat(path.join(folder(1), name))).size).toBeLessThanOrEqual(DUMP_BYTES_MAX_MIN);
    const newest = await readFile(path.join(folder(1), "dump.txt"), "utf8");
    expect(newest.trimEnd().split("\n").at(-1)).toMatch(new RegExp(`^${lineCount - 1} Node 1`));
    const older = await readFile(path.join(folder(1), "dump.1.txt"), "utf8");
    expect(Number(older.trimEnd().split("\n").at(-1)!.split(" ")[0]) + 1).toBe(Number(newest.split(" ")[0])); // no line lost between files
  });
});

describe("FileStorage: a failed write", () => {
  it("is not retried: logs.txt is cut back to its durable length and synced, every later call is refused, and the failure is reported", async () => {
    let failDatasync = false;
    const layer = failingLayer(() => failDatasync);
    const failures: Error[] = [];
    const storage = await openStorage(1, CLUSTER, fx.dir, { layer, onFailure: (e) => failures.push(e) });
    await storage.persist(append(1, [noop(1), set("a", "1", 1)], hard(1, null, 0)));
    const durable = await readFile(path.join(folder(1), "logs.txt"), "utf8");
    failDatasync = true;
    await expect(storage.persist(append(3, [set("b", "2", 1)]))).rejects.toThrow(/a write failed \(EIO: injected\); cut logs\.txt back to its \d+ durable bytes; the node must stop/);
    failDatasync = false;
    expect(await readFile(path.join(folder(1), "logs.txt"), "utf8")).toBe(durable.replace(/\0+$/, "")); // the unsynced line is gone from the file (and the reserved space after the lines)
    await expect(storage.persist(append(3, [set("c", "3", 1)]))).rejects.toThrow(/a write failed/); // no retry
    expect(failures).toHaveLength(1);
    expect(layer.datasyncCalls).toBe(2); // the good write and the failed one, never retried
  });

  it("a failed commit-index write (off every call's path) is reported at once", async () => {
    let failRename = false;
    const layer = failingLayer(() => false, () => failRename);
    const failures: Error[] = [];
    // Interval 0: the commit index is due at once, so its write starts with the call below.
    const storage = await openStorage(1, CLUSTER, fx.dir, { layer, onFailure: (e) => failures.push(e), commitPersistIntervalMs: 0 });
    await storage.persist(append(1, [noop(1), set("a", "1", 1)], hard(1, null, 0)));
    failRename = true;
    await storage.persist({ ...nothing, hardState: hard(1, null, 2) }); // resolves: the commit index is written later
    await vi.waitFor(() => expect(failures).toHaveLength(1));
    expect(failures[0]!.message).toMatch(/writing metadata\.txt failed/);
  });
});

describe("FileStorage: reading the log", () => {
  it("a log larger than one read chunk is read line by line across chunk boundaries", async () => {
    const storage = await openStorage(1);
    const entries = Array.from({ length: 600 }, (_, i) => set(`key${i}`, "x".repeat(1000 + (i % 7) * 997), 1));
    for (let i = 0; i < entries.length; i += 100) await storage.persist(append(i + 1, entries.slice(i, i + 100), hard(1, null, 0)));
    expect((await stat(path.join(folder(1), "logs.txt"))).size).toBeGreaterThan(LOG_READ_CHUNK_BYTES * 2);
    const again = await reopen(storage);
    expect(again.recovered.entries).toEqual(entries);
  });
});

interface CountingLayer extends FileLayer {
  datasyncCalls: number;
}

/** The real file system, with datasync (and rename) failing while `failDatasync()` (`failRename()`) says so. */
function failingLayer(failDatasync: () => boolean, failRename: () => boolean = () => false): CountingLayer {
  const layer: CountingLayer = {
    datasyncCalls: 0,
    makeDirs: (p) => nodeFileLayer.makeDirs(p),
    syncDir: (p) => nodeFileLayer.syncDir(p),
    async rename(from, to) {
      if (failRename()) throw Object.assign(new Error("EIO: injected"), { code: "EIO" });
      return nodeFileLayer.rename(from, to);
    },
    async open(filePath, how) {
      const file = await nodeFileLayer.open(filePath, how);
      if (file === null) return null;
      return delegatingFile(file, {
        async datasync() {
          layer.datasyncCalls++;
          if (failDatasync()) throw Object.assign(new Error("EIO: injected"), { code: "EIO" });
          return file.datasync();
        },
      });
    },
  };
  return layer;
}
