// The fault test's replay check: a node's snapshot must equal another node's older snapshot with
// the committed entries in between applied by the session rule. Each case with the broken input
// it must catch, and the cases the files cannot tell, which it must leave alone.

import { describe, expect, it } from "vitest";
import type { NodeFiles } from "../../src/jepsen/checks.js";
import { snapshotReplayDisagreement } from "../../src/jepsen/snapshot-replay.js";
import type { SnapshotFile } from "../../src/jepsen/snapshots.js";
import { parseSnapshot } from "../../src/runtime/grpc/snapshot-file.js";
import { withChecksum } from "../../src/runtime/grpc/line-checksum.js";

const MEMBERS = "MEMBERS 0=10.0.0.1:5000,1=10.0.0.2:5000";
const snapshot = (lastIndex: number, keys: string[], sessions: string[], lastTerm = 2): SnapshotFile =>
  parseSnapshot([`SNAPSHOT ${lastIndex} ${lastTerm} ${keys.length} ${sessions.length}`, MEMBERS, ...keys, ...sessions, "END"].map((l) => withChecksum(l, "#") + "\n").join(""));
/** A node whose snapshot ends at 100 and whose logs.txt starts at 80 (20 kept) and runs on. */
const node = (id: number, s: SnapshotFile, lines: string[], commitLength: number, prevIndex = 80): NodeFiles => ({ id, lines, prevIndex, commitLength, dump: [], snapshot: s });
const kept = Array.from({ length: 20 }, () => "NO-OP 2");
const older = snapshot(100, ["KEY k0 a", "KEY k1 b"], ["SESSION c0 4"]);
// Entries 101-104: a new value, a retried SET (a duplicate: sequence 5 again), a new key, a second client.
const after = ["SET k0 x 2 @c0:5", "SET k0 y 2 @c0:5", "SET k%20two z 2", "SET k1 w 2 @c1:1"];

describe("a snapshot replayed from another node's older snapshot and log", () => {
  it("a snapshot equal to the replay passes, the retried SET applied once", () => {
    const newer = snapshot(104, ["KEY k0 x", "KEY k1 w", "KEY k%20two z"], ["SESSION c0 5", "SESSION c1 1"]);
    expect(snapshotReplayDisagreement([node(0, older, [...kept, ...after], 104), node(1, newer, [], 104, 104)])).toBeNull();
  });

  it("a snapshot that applied the duplicate SET is reported", () => {
    const newer = snapshot(104, ["KEY k0 y", "KEY k1 w", "KEY k%20two z"], ["SESSION c0 5", "SESSION c1 1"]);
    expect(snapshotReplayDisagreement([node(0, older, [...kept, ...after], 104), node(1, newer, [], 104, 104)])).toBe(
      'node 1\'s snapshot through entry 104 differs from node 0\'s snapshot through entry 100 and its log after it: key "k0" is "y", want "x"',
    );
  });

  it("a lost key, an extra key, a wrong session window and another term are reported", () => {
    const check = (keys: string[], sessions: string[], term = 2): string | null => snapshotReplayDisagreement([node(0, older, [...kept, ...after], 104), node(1, snapshot(104, keys, sessions, term), [], 104, 104)]);
    expect(check(["KEY k0 x", "KEY k1 w"], ["SESSION c0 5", "SESSION c1 1"])).toMatch(/key "k two" is \(missing\), want "z"$/);
    expect(check(["KEY k0 x", "KEY k1 w", "KEY k%20two z", "KEY k9 q"], ["SESSION c0 5", "SESSION c1 1"])).toMatch(/key "k9" is in it, not wanted$/);
    expect(check(["KEY k0 x", "KEY k1 w", "KEY k%20two z"], ["SESSION c0 4", "SESSION c1 1"])).toMatch(/session "c0" is 4, want 5$/);
    expect(check(["KEY k0 x", "KEY k1 w", "KEY k%20two z"], ["SESSION c0 5"])).toMatch(/session "c1" is \(missing\), want 1$/);
    expect(check(["KEY k0 x", "KEY k1 w", "KEY k%20two z"], ["SESSION c0 5", "SESSION c1 1"], 3)).toMatch(/entry 104 has term 2 in its log, the snapshot says 3$/);
  });

  it("windows of a client with several SETs outstanding follow the documented rule", () => {
    const base = snapshot(100, ["KEY k0 a"], ["SESSION c0 40 41-43,45"]);
    // 44 raises the bound to 44 (43 and below forgotten); 42 is below it: a duplicate; 46 joins.
    const log = [...kept, "SET k0 p 2 @c0:44", "SET k0 q 2 @c0:42/40", "SET k0 r 2 @c0:46/44"];
    expect(snapshotReplayDisagreement([node(0, base, log, 103), node(1, snapshot(103, ["KEY k0 r"], ["SESSION c0 44 44-46"]), [], 103, 103)])).toBeNull();
    expect(snapshotReplayDisagreement([node(0, base, log, 103), node(1, snapshot(103, ["KEY k0 q"], ["SESSION c0 44 44-46"]), [], 103, 103)])).toMatch(/key "k0" is "q", want "r"$/);
  });

  it("pairs the files cannot tell are left alone: entries beyond the commit or the log, a log that starts after the older snapshot", () => {
    const newer = snapshot(104, ["KEY k0 wrong"], []);
    expect(snapshotReplayDisagreement([node(0, older, [...kept, ...after], 103), node(1, newer, [], 104, 104)])).toBeNull();
    expect(snapshotReplayDisagreement([node(0, older, [...kept, ...after.slice(0, 3)], 104), node(1, newer, [], 104, 104)])).toBeNull();
    expect(snapshotReplayDisagreement([node(0, older, after, 104, 101), node(1, newer, [], 104, 104)])).toBeNull();
  });
});
