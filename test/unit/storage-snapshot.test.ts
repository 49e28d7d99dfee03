// snapshot.txt and log compaction in the production storage: the file format, atomic saves that
// never go backwards, compaction of logs.txt behind a START line, a follower's install, and restart.

import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { logIndex, nodeId, term, type Entry, type LogStart, type SessionWindow, type Snapshot } from "../../src/raft/index.js";
import { parseSnapshot, snapshotChunks, snapshotLines } from "../../src/runtime/grpc/snapshot-file.js";
import { append, folder, hard, logsText, noop, nothing, openStorage, plain, reopen, resealed, set, useTempDataDir } from "./support/storage-kit.js";

useTempDataDir();

function snapshotOf(lastIndex: number, lastTerm: number, data: Record<string, string>, sessions: Record<string, SessionWindow> = {}): Snapshot {
  return { lastIndex: logIndex(lastIndex), lastTerm: term(lastTerm), members: [0, 1, 2].map((i) => ({ id: nodeId(i), address: "", role: "voter" as const })), data: new Map(Object.entries(data)), sessions: new Map(Object.entries(sessions)) };
}
const start = (prevIndex: number, prevTerm: number): LogStart => ({ prevIndex: logIndex(prevIndex), prevTerm: term(prevTerm) });
const entries = (from: number, to: number, t = 1): Entry[] => Array.from({ length: to - from + 1 }, (_, i) => set(`k${from + i}`, `v${from + i}`, t));

describe("snapshot.txt", () => {
  it("round-trips awkward keys, values and sessions, in order, whole or in chunks", () => {
    const s = snapshotOf(7, 2, { "with space": "a\nb", "100%": "", "": "empty key", "ключ": "😀" }, { "client 1": { firstUnanswered: 3, applied: [3] }, c2: { firstUnanswered: 0, applied: [0] }, c3: { firstUnanswered: 5, applied: [6, 7, 8, 10] }, c4: { firstUnanswered: 9, applied: [] } });
    const text = [...snapshotLines(s)].join("");
    expect(plain(text).split("\n")[0]).toBe("SNAPSHOT 7 2 4 4");
    expect(plain(text).split("\n").slice(-6, -2)).toEqual(["SESSION client%201 3", "SESSION c2 0", "SESSION c3 5 6-8,10", "SESSION c4 9 -"]);
    const back = parseSnapshot(text);
    expect(back.ok && [...back.value.data]).toEqual([...s.data]);
    expect(back.ok && [...back.value.sessions]).toEqual([...s.sessions]);
    expect(back.ok && back.value.members).toEqual(s.members);
    const chunks = [...snapshotChunks(s, 40)];
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.join("")).toBe(text);
  });

  it("a SESSION line holds a window: the short form for one-at-a-time clients, runs of applied sequences otherwise; a bad window is refused", () => {
    const text = (session: string): string => resealed(`SNAPSHOT 3 1 0 1\nMEMBERS 0,1,2\n${session}\nEND\n`);
    const read = (session: string) => parseSnapshot(text(session));
    expect(read("SESSION c 42")).toMatchObject({ ok: true, value: { sessions: new Map([["c", { firstUnanswered: 42, applied: [42] }]]) } });
    expect(read("SESSION c 40 41-43,45,47-48")).toMatchObject({ ok: true, value: { sessions: new Map([["c", { firstUnanswered: 40, applied: [41, 42, 43, 45, 47, 48] }]]) } });
    const cases: [string, RegExp][] = [
      ["SESSION c 5 3", /not ascending separate runs at or above 5/],
      ["SESSION c 5 6,7", /not ascending separate runs/],
      ["SESSION c 5 8,6", /not ascending separate runs/],
      ["SESSION c 5 9-7", /bad run "9-7"/],
      ["SESSION c 5 6-6", /bad run "6-6"/],
      ["SESSION c 5 x", /bad run "x"/],
      ["SESSION c 5 5", /has the short form: SESSION <clientId> 5/],
      ["SESSION c 1 4097", /4096 or more past the window's start 1/],
      ["SESSION c 5 6 7", /want SESSION <clientId> <sequence> or SESSION <clientId> <firstUnanswered> <applied>/],
      ["SESSION c -1", /bad sequence "-1"/],
    ];
    for (const [line, error] of cases) expect(read(line), line).toMatchObject({ ok: false, error: expect.stringMatching(error) });
  });

  it("refuses a damaged, truncated or miscounted snapshot, naming the line", () => {
    const text = [...snapshotLines(snapshotOf(3, 1, { a: "1", b: "2" }))].join("");
    expect(parseSnapshot(text.replace("KEY a 1", "KEY a 9"))).toMatchObject({ ok: false, error: expect.stringMatching(/line 3: checksum mismatch/) });
    const lines = text.split("\n");
    expect(parseSnapshot(lines.slice(0, 4).join("\n") + "\n")).toMatchObject({ ok: false, error: expect.stringMatching(/before its END line/) });
    expect(parseSnapshot(text.slice(0, -3))).toMatchObject({ ok: false, error: expect.stringMatching(/no newline/) });
  });
});

describe("snapshots and compaction in FileStorage", () => {
  it("saves a snapshot atomically and never replaces it by an older one", async () => {
    const storage = await openStorage();
    await storage.saveSnapshot(snapshotOf(20, 1, { a: "new" }));
    await storage.saveSnapshot(snapshotOf(15, 1, { a: "old" }));
    const text = await readFile(path.join(folder(), "snapshot.txt"), "utf8");
    expect(plain(text)).toContain("KEY a new");
    expect(storage.snapshotIndex).toBe(20);
  });

  it("compacts logs.txt behind a START line and restarts from the snapshot and the tail", async () => {
    let storage = await openStorage();
    await storage.persist(append(1, entries(1, 20), hard(1, 0, 20)));
    await storage.saveSnapshot(snapshotOf(15, 1, { k1: "v1" }));
    await storage.persist({ ...nothing, compactTo: start(10, 1) });
    expect((await logsText()).split("\n").slice(0, 2)).toEqual(["START 10 1", "SET k11 v11 1"]);
    await storage.persist(append(21, entries(21, 22), hard(1, 0, 20)));
    storage = await reopen(storage);
    const r = storage.recovered;
    expect(r.logStart).toEqual(start(10, 1));
    expect(r.entries.map((e) => (e.command.kind === "set" ? e.command.key : ""))).toEqual(entries(11, 22).map((e) => (e.command.kind === "set" ? e.command.key : "")));
    expect(r.snapshot?.lastIndex).toBe(15);
    expect(r.hardState.commitIndex).toBe(20);
    // Truncation and appends go on working after the rewrite.
    await storage.persist(append(21, [noop(2)], hard(2, null, 20), 21));
    storage = await reopen(storage);
    expect(storage.recovered.entries.at(-1)).toEqual(noop(2));
    expect(storage.lastIndex).toBe(21);
  });

  it("leaves logs.txt exactly as before when nothing is compacted", async () => {
    const storage = await openStorage();
    await storage.persist(append(1, entries(1, 3), hard(1, 0, 3)));
    expect(await logsText()).toBe("SET k1 v1 1\nSET k2 v2 1\nSET k3 v3 1\n");
  });

  it("a follower's install replaces the snapshot, drops a conflicting log, and restarts after it", async () => {
    let storage = await openStorage();
    await storage.persist(append(1, entries(1, 8), hard(1, 0, 4)));
    const s = snapshotOf(30, 2, { k1: "v1", k29: "v29" });
    await storage.persist({ hardState: hard(2, null, 30), installSnapshot: s, truncateFrom: logIndex(5), compactTo: start(30, 2), appendFrom: null, append: [] });
    expect(await logsText()).toBe("START 30 2\n");
    await storage.persist(append(31, [noop(2)], hard(2, null, 31)));
    storage = await reopen(storage);
    expect(storage.recovered.snapshot?.data.get("k29")).toBe("v29");
    expect(storage.recovered.logStart).toEqual(start(30, 2));
    expect(storage.recovered.entries).toEqual([noop(2)]);
  });

  it("refuses a compacted log without its snapshot, and a damaged snapshot, naming the file", async () => {
    const storage = await openStorage();
    await storage.persist(append(1, entries(1, 12), hard(1, 0, 12)));
    await storage.saveSnapshot(snapshotOf(10, 1, { a: "1" }));
    await storage.persist({ ...nothing, compactTo: start(8, 1) });
    await storage.close();
    const snapPath = path.join(folder(), "snapshot.txt");
    const text = await readFile(snapPath, "utf8");
    await writeFile(snapPath, text.replace("KEY a 1", "KEY a 2"));
    await expect(openStorage()).rejects.toThrow(/snapshot\.txt line 3: checksum mismatch.*move this data dir aside/);
    await writeFile(snapPath, "");
    await expect(openStorage()).rejects.toThrow(/before its END line/);
    await rm(snapPath);
    await expect(openStorage()).rejects.toThrow(/starts after entry 8, but snapshot\.txt, which holds the entries before, is missing/);
  });
});
