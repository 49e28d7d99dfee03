// The fault test's snapshot coverage: snapshot.txt read as it is on disk, snapshots of the same
// index compared across nodes, acknowledged writes found in a snapshot, the counts of snapshots
// taken and installed, and the check that fails a run that should have compacted and did not.
// Each check with the broken input it must catch.

import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { opId, type Op } from "../../src/check/history.js";
import { lostWrites, readNodeFiles, type NodeFiles } from "../../src/jepsen/checks.js";
import { JEPSEN_SNAPSHOT_ENTRIES, JEPSEN_SNAPSHOT_KEEP, parseJepsenArgs, replayCommand } from "../../src/jepsen/options.js";
import { missingCompaction, missingInstall, snapshotCounts, snapshotDisagreement, type SnapshotFile } from "../../src/jepsen/snapshots.js";
import { parseSnapshot as parseSnapshotText } from "../../src/runtime/grpc/snapshot-file.js";
import { withChecksum } from "../../src/runtime/grpc/line-checksum.js";

const body = ["MEMBERS 0=10.0.0.1:5000,1=10.0.0.2:5000", "KEY k0 a", "KEY k1 b", "SESSION c0 4"];
const snapshotText = (lastIndex: number, lines = body, header = `SNAPSHOT ${lastIndex} 3 2 1`): string[] => [header, ...lines, "END"].map((l) => withChecksum(l, "#"));
/** The lines of a snapshot.txt read as the fault test reads the file: by the node's own reader. */
const parseSnapshot = (lines: string[]): SnapshotFile => parseSnapshotText(lines.map((l) => l + "\n").join(""));
const snap = (lastIndex: number, lines = body): SnapshotFile => parseSnapshot(snapshotText(lastIndex, lines));
const problem = (f: SnapshotFile): string | null => (f.ok ? null : f.error);
const node = (id: number, snapshot: SnapshotFile | null, dump: string[] = [], commitLength = 0): NodeFiles => ({ id, lines: [], prevIndex: 0, commitLength, dump, snapshot });
const okSet = (id: number, key: string, value: string): Op => ({ id: opId(id), kind: "set", clientId: "c0", key, value, invokeMs: id, completeMs: id + 1, outcome: "ok" });
const at = (text: string): string => `2026-01-01T00:00:00.000Z ${text}`;

describe("jepsen snapshot flags", () => {
  it("the nodes snapshot often by default; --snapshot-entries and --snapshot-keep change it, and a replay keeps it", () => {
    expect(parseJepsenArgs([])).toMatchObject({ snapshotEntries: JEPSEN_SNAPSHOT_ENTRIES, snapshotKeep: JEPSEN_SNAPSHOT_KEEP });
    expect(JEPSEN_SNAPSHOT_ENTRIES).toBeLessThan(1_000);
    const o = parseJepsenArgs(["--snapshot-entries", "10000", "--snapshot-keep", "5000", "--seed", "3"]);
    if (o === "help") throw new Error("not help");
    expect(o).toMatchObject({ snapshotEntries: 10_000, snapshotKeep: 5_000 });
    expect(replayCommand(o)).toMatch(/ --snapshot-entries 10000 --snapshot-keep 5000$/);
    expect(parseJepsenArgs(replayCommand(o).split(" ").slice(4))).toEqual({ ...o, outDir: null });
  });

  it("an interval that is not a whole number of at least 1 is a usage error that says what to give", () => {
    expect(() => parseJepsenArgs(["--snapshot-entries", "0"])).toThrow(/--snapshot-entries "0" must be a whole number in 1-/);
    expect(() => parseJepsenArgs(["--snapshot-entries", "1e3"])).toThrow(/--snapshot-entries "1e3" must be a whole number/);
    expect(() => parseJepsenArgs(["--snapshot-keep", "-1"])).toThrow(/--snapshot-keep "-1" must be a whole number in 0-/);
  });
});

describe("snapshot.txt as the checks read it", () => {
  it("a whole file gives its index, term, members, keys and sessions", () => {
    const s = snap(400);
    if (!s.ok) throw new Error(s.error);
    expect(s.value).toMatchObject({ lastIndex: 400, lastTerm: 3 });
    expect([...s.value.data]).toEqual([["k0", "a"], ["k1", "b"]]);
    expect([...s.value.sessions.keys()]).toEqual(["c0"]);
  });

  it("a damaged line, a count that does not match and a missing END are problems", () => {
    const damaged = snapshotText(400);
    damaged[2] = damaged[2]!.replace("KEY k0 a", "KEY k0 z");
    expect(problem(parseSnapshot(damaged))).toMatch(/^line 3: /);
    expect(problem(parseSnapshot(snapshotText(400, body, "SNAPSHOT 400 3 3 1")))).toMatch(/^line 5: want KEY <key> <value> \(1 more\)/);
    expect(problem(parseSnapshot(snapshotText(400).slice(0, -1)))).toMatch(/before its END line/);
  });
});

describe("snapshots compared across nodes", () => {
  it("snapshots of the same index that agree pass, and so do snapshots of different indexes", () => {
    expect(snapshotDisagreement([node(0, snap(400)), node(1, snap(400)), node(2, snap(600, ["MEMBERS 0", "KEY k0 q", "KEY k1 b", "SESSION c0 9"])), node(3, null)])).toBeNull();
  });

  it("a key's value that differs between snapshots of the same index is reported with both lines", () => {
    const other = ["MEMBERS 0=10.0.0.1:5000,1=10.0.0.2:5000", "KEY k0 a", "KEY k1 x", "SESSION c0 4"];
    expect(snapshotDisagreement([node(0, snap(400)), node(3, snap(400, other))])).toBe('snapshots through entry 400 differ: key "k1" is "x", want "b", on node 3 against node 0');
  });

  it("a session, a missing line or another term at the same index is reported too", () => {
    expect(snapshotDisagreement([node(0, snap(400)), node(1, snap(400, [...body.slice(0, 3), "SESSION c0 5"]))])).toMatch(/differ: session "c0" is 5, want 4, on node 1 against node 0$/);
    const noSession = parseSnapshot(snapshotText(400, body.slice(0, 3), "SNAPSHOT 400 3 2 0"));
    expect(snapshotDisagreement([node(0, snap(400)), node(1, noSession)])).toMatch(/differ: session "c0" is \(missing\), want 4, on node 1 against node 0$/);
    const otherTerm = parseSnapshot(snapshotText(400, body, "SNAPSHOT 400 4 2 1"));
    expect(snapshotDisagreement([node(0, snap(400)), node(1, otherTerm)])).toBe("snapshots through entry 400 differ: term 4, want 3, on node 1 against node 0");
  });

  it("a damaged snapshot.txt is reported, whatever the other nodes hold", () => {
    const damaged = snapshotText(400);
    damaged[1] = damaged[1]!.slice(0, -1);
    expect(snapshotDisagreement([node(0, snap(200)), node(1, parseSnapshot(damaged))])).toMatch(/^node 1: snapshot.txt is damaged: line 2/);
  });
});

describe("acknowledged writes held by a snapshot", () => {
  it("a SET compacted out of every log and out of the dumps counts when a snapshot holds it as its key's value, and only then", () => {
    const nodes = [node(0, snap(400)), node(1, null)];
    expect(lostWrites([okSet(0, "k0", "a"), okSet(1, "k1", "b")], nodes)).toEqual([]);
    expect(lostWrites([okSet(2, "k1", "c")], nodes)).toEqual(["SET k1 c by c0, acknowledged at 3.0 ms"]);
  });

  it("a damaged snapshot vouches for nothing", () => {
    const damaged = snapshotText(400);
    damaged[2] = damaged[2]!.replace("#", "*");
    expect(lostWrites([okSet(0, "k0", "a")], [node(0, parseSnapshot(damaged))])).toHaveLength(1);
  });
});

describe("snapshot counts and coverage", () => {
  const saved = (i: number, index: number): string => at(`Node ${i} saved a snapshot through entry ${index}; its log now starts at entry ${index - 49}.`);
  const installed = (i: number, index: number): string => at(`Node ${i} installed snapshot through entry ${index} (term 3) from Leader 0.`);
  const sent = (to: number, index: number): string => at(`Leader 0 sending snapshot through entry ${index} (term 3) to Node ${to}.`);

  it("saved, installed and sent snapshots are counted from the dump lines", () => {
    const nodes = [node(0, snap(600), [saved(0, 200), saved(0, 400), sent(1, 400), sent(1, 400), saved(0, 600)]), node(1, snap(400), [installed(1, 400)]), node(2, null)];
    expect(snapshotCounts(nodes)).toEqual([
      { id: 0, saved: 3, installed: 0, sent: 2, lastIndex: 600 },
      { id: 1, saved: 0, installed: 1, sent: 0, lastIndex: 400 },
      { id: 2, saved: 0, installed: 0, sent: 0, lastIndex: null },
    ]);
  });

  it("nodes that snapshotted as they applied pass; a short run is not required to snapshot", () => {
    expect(missingCompaction([node(0, snap(1000), [saved(0, 800), saved(0, 1000)], 1100), node(1, snap(800), [installed(1, 800)], 1100), node(2, null, [], 399)], 200)).toBeNull();
  });

  it("a node that applied two intervals and saved or installed nothing fails the run", () => {
    expect(missingCompaction([node(0, snap(1000), [saved(0, 1000)], 1100), node(1, null, [], 1100)], 200)).toBe(
      "node 1 knew 1100 entries committed but its dump shows no snapshot saved or installed (one every 200 entries)",
    );
  });

  it("a node whose last snapshot lags its commit by two intervals fails the run", () => {
    expect(missingCompaction([node(0, snap(600), [saved(0, 400), saved(0, 600)], 1100)], 200)).toBe(
      "node 0 knew 1100 entries committed but its snapshot.txt ends at entry 600, not above 700 (one every 200 entries)",
    );
    expect(missingCompaction([node(0, null, [saved(0, 400)], 1100)], 200)).toMatch(/its snapshot.txt is missing, not above 700/);
  });
});

describe("snapshot installs a fast run must show", () => {
  const installed = at("Node 1 installed snapshot through entry 4000 (term 3) from Leader 0.");
  const killFollower = { kind: "leader-majority", label: "leader-majority: {3} | {0,1,2,4}" };
  const fast = (dump: string[]): NodeFiles[] => [node(0, snap(4400), [], 4500), node(1, snap(4400), dump, 4500)];

  it("a run of 4,500 entries in 60 s with a minority cut off from the leader's side and no install fails; with one it passes", () => {
    expect(missingInstall(fast([]), [killFollower], 100, 20, 60)).toBe(
      "4500 entries committed in 60 s (a snapshot every 100) and 1 faults that left a follower behind, but no node had a snapshot installed",
    );
    expect(missingInstall(fast([installed]), [killFollower], 100, 20, 60)).toBeNull();
  });

  it("a slow run, faults that may not leave a follower behind, and a large keep only report", () => {
    expect(missingInstall([node(0, snap(4000), [], 4400)], [killFollower], 100, 20, 60)).toBeNull();
    // A kill or pause may have hit the leader (random victims can include it), a random minority may hold it.
    const mayNotLag = ["kill", "pause", "minority", "leader-minority", "handover", "bridge", "one-way", "clock-skew"].map((kind) => ({ kind, label: `${kind}: nodes {3}` }));
    expect(missingInstall(fast([]), mayNotLag, 100, 20, 60)).toBeNull();
    expect(missingInstall(fast([]), [killFollower], 100, 60, 60)).toBeNull();
  });
});

describe("a node's files on disk", () => {
  it("rotated dumps are read oldest first, then dump.txt; snapshot.txt is read and checked", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "rlj-snap-"));
    try {
      const folder = path.join(dir, "logs_node_0");
      mkdirSync(folder);
      writeFileSync(path.join(folder, "logs.txt"), ["START 350 3", "SET k0 a 3"].map((l) => withChecksum(l, "#")).join("\n") + "\n");
      writeFileSync(path.join(folder, "metadata.txt"), withChecksum("commit_length 351", "#") + "\n");
      writeFileSync(path.join(folder, "snapshot.txt"), snapshotText(400).join("\n") + "\n");
      writeFileSync(path.join(folder, "dump.2.txt"), "oldest\n");
      writeFileSync(path.join(folder, "dump.1.txt"), "older\n");
      writeFileSync(path.join(folder, "dump.txt"), "newest\n");
      const files = readNodeFiles(dir, 0);
      expect(files.dump).toEqual(["oldest", "older", "newest"]);
      expect(files.snapshot).toEqual(snap(400));
      expect(files.snapshot?.ok).toBe(true);
      expect(readNodeFiles(dir, 1).snapshot).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
