import fc from "fast-check";
import { readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { decodeToken, EMPTY_TOKEN, encodeToken } from "../../src/runtime/grpc/escape.js";
import { LOG_RESERVE_BYTES } from "../../src/runtime/grpc/log-file.js";
import { encodeEntryLine, parseEntryLine } from "../../src/runtime/grpc/storage.js";
import type { Entry } from "../../src/raft/index.js";
import { append, CLUSTER, folder, fx, hard, logsText, noop, nothing, openStorage, plain, reopen, resealed, sealed, set, useTempDataDir } from "./support/storage-kit.js";

useTempDataDir();

/** Entries whose keys and values need every part of the escaping rule. */
const AWKWARD_ENTRIES: Entry[] = [
  noop(1),
  set("plain", "value", 1),
  set("with space", "hello world", 1),
  set("multi\nline", "a\r\nb\tc", 2),
  set("100%", "%41 is not A", 2),
  set("@user", "me@example.com", 2),
  set("ключ", "значение 😀 é", 2),
  set("k", "", 3),
  set("", "empty key", 3),
  set("session", "once", 3, "client-7", 42),
  set("odd session", "x", 3, "id with space@%", 1),
  set("window", "w", 3, "host:1/2", 4100, 5),
  set("nul", "\u0000\u007f\ufeff\ufffd", 3),
  set("\ufeffbom first", "\ufeff", 3),
  noop(4),
];

// ---------------------------------------------------------------- escaping

describe("escaping keys and values (escape.ts)", () => {
  it("follows the documented examples", () => {
    expect(encodeToken("hello world")).toBe("hello%20world");
    expect(encodeToken("50%")).toBe("50%25");
    expect(encodeToken("a@b.c")).toBe("a%40b.c");
    expect(encodeToken("é")).toBe("%C3%A9");
    expect(encodeToken("😀")).toBe("%F0%9F%98%80");
    expect(encodeToken("a\nb")).toBe("a%0Ab");
    expect(encodeToken("")).toBe(EMPTY_TOKEN);
    expect(encodeToken("\ufeff")).toBe("%EF%BB%BF"); // a leading byte-order mark is kept, not eaten
    expect(encodeToken("x=1,y:2!~")).toBe("x=1,y:2!~");
  });

  it("every string round-trips through its token", () => {
    const anyText = fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: "binary-ascii" }), fc.string({ unit: "grapheme" }), fc.string());
    fc.assert(
      fc.property(anyText, (s) => {
        expect(decodeToken(encodeToken(s))).toEqual({ ok: true, value: s });
      }),
      { numRuns: 2000 },
    );
  });

  it("a token is one non-empty word of printable ASCII with no % escapes of literal characters and no @", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        const token = encodeToken(s);
        expect(token).toMatch(/^[\x21-\x7e]+$/);
        expect(token).not.toContain("@");
        expect(token.replace(/%[0-9A-F]{2}/g, "").replace(/^%-$/, "")).not.toContain("%");
      }),
      { numRuns: 1000 },
    );
  });

  it("decoding accepts only what encoding produces, so every string has one spelling", () => {
    const tokenChars = fc.constantFrom("%", "0", "4", "1", "A", "F", "a", "C", "3", "-", "@", " ", "x", "é", "E", "D", "8");
    fc.assert(
      fc.property(fc.string({ unit: tokenChars, maxLength: 12 }), (token) => {
        const decoded = decodeToken(token);
        if (decoded.ok) expect(encodeToken(decoded.value)).toBe(token);
      }),
      { numRuns: 5000 },
    );
  });

  it("a leading byte-order mark is part of the string", () => {
    expect(decodeToken("%EF%BB%BFx")).toEqual({ ok: true, value: "\ufeffx" });
  });

  it("malformed tokens are refused with a reason", () => {
    const malformed = ["", "%", "%4", "%zz", "%4a", "%41", "%25%", "%C3", "%ED%A0%80", "%C0%AF", "%FF", "a b", "a@b", "é", "x\n", "%-x", "%--"];
    for (const token of malformed) {
      const decoded = decodeToken(token);
      expect(decoded.ok, `token ${JSON.stringify(token)}`).toBe(false);
      if (!decoded.ok) expect(decoded.error.length).toBeGreaterThan(0);
    }
  });

  it("a string with a lone surrogate cannot be stored and says so", () => {
    expect(() => encodeToken("a\ud800b")).toThrow(/lone surrogate/);
  });
});

// ---------------------------------------------------------------- logs.txt lines

describe("logs.txt lines", () => {
  it("an entry with spaces, newlines, %, @, unicode, empty strings or a session round-trips", () => {
    for (const entry of AWKWARD_ENTRIES) {
      const line = encodeEntryLine(entry);
      expect(line).toMatch(/^[\x21-\x7e]+( [\x21-\x7e]+)*$/);
      expect(parseEntryLine(line)).toEqual({ ok: true, entry });
    }
  });

  it("lines read as the spec writes them", () => {
    expect(encodeEntryLine(noop(4))).toBe("NO-OP 4");
    expect(encodeEntryLine(set("x", "6", 2))).toBe("SET x 6 2");
    expect(encodeEntryLine(set("with space", "", 3))).toBe("SET with%20space %- 3");
    expect(encodeEntryLine(set("k", "v", 3, "client-7", 42))).toBe("SET k v 3 @client-7:42");
    // A client with several SETs outstanding: its first unanswered sequence after a slash.
    expect(encodeEntryLine(set("k", "v", 3, "client-7", 42, 40))).toBe("SET k v 3 @client-7:42/40");
  });

  it("a line written before windows reads as it always did: the first unanswered sequence is the sequence", () => {
    // A client id may hold ":", so "@host:1:3" is client "host:1", sequence 3 (split at the last ":").
    expect(parseEntryLine("SET k v 3 @host:1:3")).toEqual({ ok: true, entry: set("k", "v", 3, "host:1", 3, 3) });
    expect(parseEntryLine("SET k v 3 @client-7:42")).toEqual({ ok: true, entry: set("k", "v", 3, "client-7", 42, 42) });
    expect(parseEntryLine("SET k v 3")).toEqual({ ok: true, entry: set("k", "v", 3, "", 0, 0) });
  });

  it("bad lines are refused with what is wrong", () => {
    const cases: [string, RegExp][] = [
      ["PUT k v 1", /unknown command "PUT"/],
      ["SET k v x", /bad term "x"/],
      ["SET k v 0", /bad term "0"/],
      ["SET k v 01", /bad term "01"/],
      ["NO-OP", /NO-OP takes 1 field/],
      ["NO-OP 1 2", /NO-OP takes 1 field/],
      ["SET k 1", /SET takes 3 or 4 fields/],
      ["SET k%zz v 1", /bad key/],
      ["SET k v 1 client:1", /bad session/],
      ["SET k v 1 @c:x", /bad session sequence/],
      ["SET k v 1 @c:5/", /bad session first unanswered sequence ""/],
      ["SET k v 1 @c:5/0", /bad session first unanswered sequence "0"/],
      ["SET k v 1 @c:5/05", /bad session first unanswered sequence "05"/],
      ["SET k v 1 @c:5/5", /must be below the sequence 5/],
      ["SET k v 1 @c:5/7", /must be below the sequence 5/],
      ["SET k v 1 @c:x/3", /bad session sequence "x"/],
      ["SET k  v 1", /SET takes 3 or 4 fields|bad/],
    ];
    for (const [line, error] of cases) {
      const parsed = parseEntryLine(line);
      expect(parsed.ok, line).toBe(false);
      if (!parsed.ok) expect(parsed.error).toMatch(error);
    }
  });
});

// ---------------------------------------------------------------- FileStorage

describe("FileStorage: layout and recovery", () => {
  it("a fresh data dir starts empty and metadata.txt names the node and cluster", async () => {
    const storage = await openStorage(1);
    expect(storage.recovered).toEqual({ hardState: hard(0, null, 0), snapshot: null, logStart: { prevIndex: 0, prevTerm: 0 }, entries: [] });
    expect(storage.folderPath).toBe(folder(1));
    expect(await logsText()).toBe("");
    expect(plain(await readFile(path.join(folder(1), "metadata.txt"), "utf8"))).toBe(
      `node_id 1\ncluster ${CLUSTER}\ncurrent_term 0\nvoted_for none\ncommit_length 0\n`,
    );
    expect(fx.warnings).toEqual([]);
  });

  it("reopening recovers the log and the hard state", async () => {
    const storage = await openStorage(1);
    await storage.persist(append(1, AWKWARD_ENTRIES, hard(4, 2, 9)));
    const again = await reopen(storage);
    expect(again.recovered.entries).toEqual(AWKWARD_ENTRIES);
    expect(again.recovered.hardState).toEqual(hard(4, 2, 9));
    expect(again.lastIndex).toBe(AWKWARD_ENTRIES.length);
    expect(fx.warnings).toEqual([]);
  });

  it("a commit-index-only change is written beside the log, never beyond the durable entries, and is on disk after close", async () => {
    const storage = await openStorage(1);
    await storage.persist(append(1, [noop(1), set("a", "1", 1)], hard(1, 1, 0)));
    const syncsBefore = storage.syncCount;
    // The commit index alone moves: the persist resolves without waiting for metadata.txt...
    await storage.persist({ ...nothing, hardState: hard(1, 1, 2) });
    await storage.persist(append(3, [set("b", "2", 1)]));
    const again = await reopen(storage);
    // ...yet after close it is there, and the term and vote were never rolled back.
    expect(again.recovered.hardState).toEqual(hard(1, 1, 2));
    expect(again.recovered.entries).toHaveLength(3);
    expect(syncsBefore).toBeGreaterThan(0);
  });

  it("appends write into zeros reserved ahead, so the file grows once per LOG_RESERVE_BYTES, not at every append; close cuts the rest off", async () => {
    const storage = await openStorage(1);
    const size = async (): Promise<number> => (await stat(path.join(folder(1), "logs.txt"))).size;
    await storage.persist(append(1, [noop(1)], hard(1, null, 0)));
    const lineBytes = sealed(["NO-OP 1"]).length;
    expect(await size()).toBe(lineBytes + LOG_RESERVE_BYTES);
    for (let i = 2; i <= 20; i++) await storage.persist(append(i, [set(`k${i}`, "v", 1)]));
    expect(await size()).toBe(lineBytes + LOG_RESERVE_BYTES); // nineteen appends later: the same length
    expect(await logsText()).toMatch(/^NO-OP 1\nSET k2 v 1\n(.*\n){17}SET k20 v 1\n$/);
    await storage.close();
    const raw = await readFile(path.join(folder(1), "logs.txt"));
    expect(raw.includes(0)).toBe(false);
    expect(plain(raw.toString("latin1")).split("\n")).toHaveLength(21); // 20 lines and the empty piece after the last newline
  });

  it("logs.txt and metadata.txt are human-readable, one entry a line", async () => {
    const storage = await openStorage(1);
    await storage.persist(append(1, [noop(1), set("x", "6", 1), set("greeting", "hello world", 1, "c", 3)], hard(1, 1, 2)));
    expect(await logsText()).toBe("NO-OP 1\nSET x 6 1\nSET greeting hello%20world 1 @c:3\n");
    await storage.close(); // a stopped node's logs.txt is its lines alone: close cuts the reserved space off
    const raw = await readFile(path.join(folder(1), "logs.txt"), "utf8");
    expect(raw).toBe(sealed(["NO-OP 1", "SET x 6 1", "SET greeting hello%20world 1 @c:3"])); // one write: the last line marked *
    const metadata = await readFile(path.join(folder(1), "metadata.txt"), "utf8");
    expect(plain(metadata)).toContain("current_term 1\nvoted_for 1\ncommit_length 2\n");
    expect(metadata).toMatch(/^current_term 1 #[0-9a-f]{8}$/m);
  });

  it("truncating then appending cuts the log in place (same file), and survives a restart", async () => {
    const storage = await openStorage(1);
    await storage.persist(append(1, [noop(1), set("a", "1", 1), set("b", "2", 1), set("c", "3", 1)], hard(1, null, 1)));
    const inodeBefore = (await stat(path.join(folder(1), "logs.txt"))).ino;
    await storage.persist(append(3, [noop(2), set("d", "4", 2)], hard(2, 0, 1), 3));
    await storage.persist(append(5, [set("e", "5", 2)]));
    expect(await logsText()).toBe("NO-OP 1\nSET a 1 1\nNO-OP 2\nSET d 4 2\nSET e 5 2\n");
    expect((await stat(path.join(folder(1), "logs.txt"))).ino).toBe(inodeBefore); // not rewritten through a temporary file
    const again = await reopen(storage);
    expect(again.recovered.entries).toEqual([noop(1), set("a", "1", 1), noop(2), set("d", "4", 2), set("e", "5", 2)]);
    expect(again.recovered.hardState).toEqual(hard(2, 0, 1));
  });

  it("a gap between the log and appendFrom is a bug and is refused without touching the log", async () => {
    const storage = await openStorage(1);
    await storage.persist(append(1, [noop(1)], hard(1, null, 0)));
    await expect(storage.persist(append(3, [set("a", "1", 1)]))).rejects.toThrow(/appendFrom 3 leaves a gap/);
    await expect(storage.persist(append(2, [set("a", "1", 1)], null, 1))).rejects.toThrow(/appendFrom 2 leaves a gap/);
    expect(storage.lastIndex).toBe(1);
    await storage.persist(append(2, [set("a", "1", 1)]));
    expect(await logsText()).toBe("NO-OP 1\nSET a 1 1\n");
  });

  it("truncating a committed entry, lowering the term or outrunning the current term is refused", async () => {
    const storage = await openStorage(1);
    await storage.persist(append(1, [noop(1), set("a", "1", 1)], hard(1, null, 1)));
    await expect(storage.persist(append(1, [noop(2)], hard(2, null, 0), 1))).rejects.toThrow(/would drop committed entries/);
    await expect(storage.persist({ ...nothing, hardState: hard(0, null, 1) })).rejects.toThrow(/current term 0 is below 1/);
    await expect(storage.persist(append(3, [noop(5)]))).rejects.toThrow(/last term 5 would exceed the current term 1/);
    await expect(storage.persist({ ...nothing, hardState: hard(1, null, 3) })).rejects.toThrow(/commit index 3 is outside 0..2/);
  });

  it("a current_term behind the log's last term (a crash between the two writes) continues in the log's term with no vote", async () => {
    const storage = await openStorage(1);
    await storage.persist(append(1, [noop(1), noop(3)], hard(3, 2, 1)));
    await storage.close();
    const metadataPath = path.join(folder(1), "metadata.txt");
    const metadata = await readFile(metadataPath, "utf8");
    await writeFile(metadataPath, resealed(metadata.replace("current_term 3", "current_term 2")));
    const again = await openStorage(1);
    expect(again.recovered.hardState).toEqual(hard(3, null, 1));
    expect(fx.warnings.join("\n")).toMatch(/current_term 2 is behind the log's last term 3/);
  });
});

describe("FileStorage: group commit", () => {
  it("concurrent persist calls are all durable, resolve in call order, and take fewer syncs than calls", async () => {
    const storage = await openStorage(1);
    const syncsBefore = storage.syncCount;
    const callCount = 200;
    const resolved: number[] = [];
    const calls = Array.from({ length: callCount }, (_, i) =>
      storage.persist(append(i + 1, [set(`k${i}`, `v ${i}`, 1)], hard(1, 1, i))).then(() => resolved.push(i)),
    );
    await Promise.all(calls);
    expect(resolved).toEqual(Array.from({ length: callCount }, (_, i) => i));
    const syncs = storage.syncCount - syncsBefore;
    expect(syncs).toBeGreaterThan(0);
    expect(syncs).toBeLessThan(callCount / 10);
    const again = await reopen(storage);
    expect(again.recovered.entries).toEqual(Array.from({ length: callCount }, (_, i) => set(`k${i}`, `v ${i}`, 1)));
    expect(again.recovered.hardState).toEqual(hard(1, 1, callCount - 1));
  });

  it("calls arriving while a write is on the disk join the next batch, truncations included", async () => {
    const storage = await openStorage(1);
    const first = storage.persist(append(1, [noop(1), set("a", "1", 1), set("b", "2", 1)], hard(1, null, 1)));
    await new Promise((resolve) => setImmediate(resolve)); // the first batch is now being written
    const rest = [
      storage.persist(append(4, [set("c", "3", 1)])),
      storage.persist(append(3, [noop(2)], hard(2, null, 1), 3)),
      storage.persist(append(4, [set("d", "4", 2)], hard(2, null, 4))),
      storage.persist(nothing),
    ];
    await Promise.all([first, ...rest]);
    expect(await logsText()).toBe("NO-OP 1\nSET a 1 1\nNO-OP 2\nSET d 4 2\n");
    const again = await reopen(storage);
    expect(again.recovered.entries).toEqual([noop(1), set("a", "1", 1), noop(2), set("d", "4", 2)]);
    expect(again.recovered.hardState).toEqual(hard(2, null, 4));
  });

  it("a call with nothing to persist touches no disk, yet resolves only after earlier writes", async () => {
    const storage = await openStorage(1);
    const syncsBefore = storage.syncCount;
    await storage.persist(nothing);
    expect(storage.syncCount).toBe(syncsBefore);
    const order: string[] = [];
    const write = storage.persist(append(1, [noop(1)], hard(1, null, 0))).then(() => order.push("write"));
    const empty = storage.persist(nothing).then(() => order.push("empty"));
    const sameHardState = storage.persist({ ...nothing, hardState: hard(1, null, 0) }).then(() => order.push("same"));
    await Promise.all([write, empty, sameHardState]);
    expect(order).toEqual(["write", "empty", "same"]);
    expect(storage.syncCount - syncsBefore).toBe(3); // the log's fdatasync, metadata.txt's fsync, the folder's fsync
  });

  it("persist after close is refused", async () => {
    const storage = await openStorage(1);
    await storage.close();
    await expect(storage.persist(append(1, [noop(1)], hard(1, null, 0)))).rejects.toThrow(/is closed/);
  });
});

describe("FileStorage: when the commit index alone reaches metadata.txt", () => {
  /** A clock the test moves by hand. */
  const manualClock = () => ({ atMs: 0, nowMs(): number { return this.atMs; } });

  async function commitLengthOnDisk(): Promise<number> {
    const text = plain(await readFile(path.join(folder(1), "metadata.txt"), "utf8"));
    return Number(/^commit_length (\d+)$/m.exec(text)?.[1]);
  }

  /** Waits for something storage does off the caller's path (a positive condition, never a lull). */
  async function until(what: string, condition: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 3_000;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`still waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  it("within the interval, changes of the commit index alone write nothing; close writes the newest", async () => {
    const clock = manualClock();
    const storage = await openStorage(1, CLUSTER, fx.dir, { clock, commitPersistIntervalMs: 60_000 });
    await storage.persist(append(1, [noop(1), set("a", "1", 1), set("b", "2", 1)], hard(1, 1, 0))); // term and vote: at once
    const syncs = storage.syncCount;
    for (const commitIndex of [1, 2, 3]) {
      clock.atMs += 1_000;
      await storage.persist({ ...nothing, hardState: hard(1, 1, commitIndex) });
    }
    // Nothing was started: no write is in flight that could land later.
    expect(storage.syncCount).toBe(syncs);
    expect(await commitLengthOnDisk()).toBe(0);
    const again = await reopen(storage);
    expect(storage.syncCount - syncs).toBe(2); // one replacement of metadata.txt: its fsync and the folder's
    expect(again.recovered.hardState).toEqual(hard(1, 1, 3));
  });

  it("once the interval is over, the next change is written after the log writes queued with it", async () => {
    const clock = manualClock();
    const storage = await openStorage(1, CLUSTER, fx.dir, { clock, commitPersistIntervalMs: 60_000 });
    await storage.persist(append(1, [noop(1)], hard(1, 1, 0)));
    clock.atMs = 60_000;
    await storage.persist(append(2, [set("a", "1", 1)], hard(1, 1, 2))); // commits the entry it brings
    await until("commit_length 2 in metadata.txt", async () => (await commitLengthOnDisk()) === 2);
    expect(await logsText()).toBe("NO-OP 1\nSET a 1 1\n");
  });

  it("a change inside the interval is written when the interval ends, with no further call", async () => {
    const storage = await openStorage(1, CLUSTER, fx.dir, { commitPersistIntervalMs: 50 });
    await storage.persist(append(1, [noop(1), set("a", "1", 1)], hard(1, 1, 0)));
    await storage.persist({ ...nothing, hardState: hard(1, 1, 1) });
    await storage.persist({ ...nothing, hardState: hard(1, 1, 2) });
    await until("commit_length 2 in metadata.txt", async () => (await commitLengthOnDisk()) === 2);
  });
});
