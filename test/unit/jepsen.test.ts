// The fault-test runner's parts that need no root: flags, what a plain client's reply proves,
// and the file checks, each with the broken input it must catch.

import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/cli/args.js";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { committedPrefixDisagreement, leadersSeen, lostWrites, readNodeFiles, type NodeFiles } from "../../src/jepsen/checks.js";
import { withChecksum } from "../../src/runtime/grpc/line-checksum.js";
import { judge } from "../../src/jepsen/clients.js";
import { parseJepsenArgs, replayCommand } from "../../src/jepsen/options.js";
import { opId, type Op } from "../../src/check/history.js";

const files = (id: number, lines: string[], commitLength: number, dump: string[] = [], prevIndex = 0): NodeFiles => ({ id, lines, prevIndex, commitLength, dump, snapshot: null });
const okSet = (id: number, key: string, value: string, outcome: Op["outcome"] = "ok"): Op => ({ id: opId(id), kind: "set", clientId: "c0", key, value, invokeMs: id, completeMs: id + 1, outcome });

describe("jepsen flags", () => {
  it("defaults: mixed, 60 s, 5 nodes, 10 clients, 5 keys, a drawn seed", () => {
    const o = parseJepsenArgs([]);
    expect(o).toMatchObject({ nemesis: "mixed", seconds: 60, nodes: 5, clients: 10, keys: 5, failpoint: null, clockBeyondBound: false });
  });

  it("a replay command gives back the same options", () => {
    const o = parseJepsenArgs(["--nemesis", "clock", "--seconds", "30", "--seed", "7", "--clock-beyond-bound", "--failpoint", "no-lease-wait"]);
    if (o === "help") throw new Error("not help");
    const again = parseJepsenArgs(replayCommand(o).split(" ").slice(4));
    expect(again).toEqual({ ...o, outDir: null });
  });

  it("an unknown nemesis or failpoint, and a beyond-bound clock without the clock nemesis, are usage errors", () => {
    expect(() => parseJepsenArgs(["--nemesis", "partitions"])).toThrow(/--nemesis "partitions" is not a nemesis; use one of partition, /);
    expect(() => parseJepsenArgs(["--failpoint", "lease"])).toThrow(/--failpoint "lease" is not a failpoint/);
    expect(() => parseJepsenArgs(["--clock-beyond-bound"])).toThrow(new UsageError("--clock-beyond-bound goes with --nemesis clock"));
    expect(() => parseJepsenArgs(["--nodes", "2"])).toThrow(/--nodes "2" must be a whole number in 3-9/);
  });
});

describe("what one ServeClient reply proves", () => {
  const reply = (Success: boolean, ErrorCode = "", LeaderID = "") => ({ Data: "", LeaderID, Success, ErrorCode, RequestId: 0 });

  it("a refusal before anything was appended is a failure", () => {
    expect(judge(reply(false, "not-leader", "3"))).toBe("fail");
    expect(judge(reply(false, "overloaded"))).toBe("fail");
  });

  it("a stepped-down leader, a deadline or a lost connection leave a SET indeterminate", () => {
    expect(judge(reply(false, "stepped-down"))).toBe("unknown");
    expect(judge(reply(false, "timeout"))).toBe("unknown");
    expect(judge(null)).toBe("unknown");
  });

  it("success is ok", () => {
    expect(judge(reply(true))).toBe("ok");
  });
});

describe("file checks", () => {
  const log = ["NO-OP 1", "SET k0 a 1 @c0/0:1", "SET k0 b 2"];

  it("committed prefixes that agree pass, whatever lies beyond each node's commit", () => {
    expect(committedPrefixDisagreement([files(0, log, 3), files(1, [...log.slice(0, 2), "SET k0 x 2"], 2)])).toBeNull();
  });

  it("a committed entry that differs is reported with both versions", () => {
    const bad = committedPrefixDisagreement([files(0, log, 3), files(1, [...log.slice(0, 2), "SET k0 x 2"], 3)]);
    expect(bad).toBe('committed entry 3 differs: node 1 has "SET k0 x 2", node 0 has "SET k0 b 2"');
  });

  it("nodes holding the same entries agree though their checksum marks differ (where each write ended); a changed entry does not", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "rlj-files-"));
    try {
      const write = (id: number, lines: string[]) => {
        mkdirSync(path.join(dir, `logs_node_${id}`));
        writeFileSync(path.join(dir, `logs_node_${id}`, "logs.txt"), lines.join("\n") + "\n");
        writeFileSync(path.join(dir, `logs_node_${id}`, "metadata.txt"), withChecksum("commit_length 3", "*") + "\n");
      };
      write(0, [withChecksum(log[0]!, "#"), withChecksum(log[1]!, "#"), withChecksum(log[2]!, "*")]);
      write(1, [withChecksum(log[0]!, "*"), withChecksum(log[1]!, "*"), withChecksum(log[2]!, "*")]);
      write(2, [withChecksum(log[0]!, "*"), withChecksum(log[1]!, "*"), withChecksum("SET k0 x 2", "*")]);
      const [a, b, c] = [0, 1, 2].map((id) => readNodeFiles(dir, id));
      expect(a!.commitLength).toBe(3);
      expect(committedPrefixDisagreement([a!, b!])).toBeNull();
      expect(committedPrefixDisagreement([a!, c!])).toMatch(/committed entry 3 differs/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a commit length beyond the log is reported", () => {
    expect(committedPrefixDisagreement([files(0, log, 4)])).toMatch(/commit_length 4 is beyond its last log entry 3/);
  });

  it("an acknowledged SET missing from the committed log is lost; an indeterminate one may be missing", () => {
    const nodes = [files(0, log, 2), files(1, log, 3)];
    expect(lostWrites([okSet(0, "k0", "a"), okSet(1, "k0", "b")], nodes)).toEqual([]);
    expect(lostWrites([okSet(2, "k0", "c")], nodes)).toEqual(["SET k0 c by c0, acknowledged at 3.0 ms"]);
    expect(lostWrites([okSet(3, "k0", "d", "unknown")], nodes)).toEqual([]);
  });

  it("an entry beyond every commit length does not count as committed", () => {
    expect(lostWrites([okSet(0, "k0", "b")], [files(0, log, 2)])).toHaveLength(1);
  });

  it("a compacted logs.txt (START line) holds entries from its prevIndex on: compared where both nodes hold them", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "rlj-start-"));
    try {
      mkdirSync(path.join(dir, "logs_node_0"));
      const lines = ["START 1 1", log[1]!, log[2]!].map((l) => withChecksum(l, "#"));
      writeFileSync(path.join(dir, "logs_node_0", "logs.txt"), lines.join("\n") + "\n");
      writeFileSync(path.join(dir, "logs_node_0", "metadata.txt"), withChecksum("commit_length 3", "*") + "\n");
      const compacted = readNodeFiles(dir, 0);
      expect(compacted).toMatchObject({ prevIndex: 1, lines: log.slice(1), commitLength: 3 });
      expect(committedPrefixDisagreement([compacted, files(1, log, 3)])).toBeNull();
      expect(committedPrefixDisagreement([compacted, files(1, [...log.slice(0, 2), "SET k0 x 2"], 3)])).toBe('committed entry 3 differs: node 1 has "SET k0 x 2", node 0 has "SET k0 b 2"');
      expect(committedPrefixDisagreement([files(0, log.slice(2), 4, [], 2)])).toMatch(/commit_length 4 is beyond its last log entry 3/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a SET compacted out of every log counts as committed when a dump says it was applied, and only then", () => {
    const applied = "2026-01-01T00:00:00.000Z Node 0 (follower) committed the entry SET k0 a to the state machine.";
    const compacted = [files(0, log.slice(2), 3, [applied], 2), files(1, log.slice(2), 3, [], 2)];
    expect(lostWrites([okSet(0, "k0", "a"), okSet(1, "k0", "b")], compacted)).toEqual([]);
    expect(lostWrites([okSet(0, "k0", "a")], [files(0, log.slice(2), 3, [], 2)])).toEqual(["SET k0 a by c0, acknowledged at 1.0 ms"]);
  });

  it("leaders are read from the dump lines, one per term", () => {
    const dump = ["2026-01-01T00:00:00.000Z Node 2 became the leader for term 3.", "2026-01-01T00:00:01.000Z Node 0 became the leader for term 5."];
    expect(leadersSeen([files(0, [], 0, dump), files(2, [], 0, dump.slice(0, 1))])).toEqual([{ term: 3, node: 2 }, { term: 5, node: 0 }]);
  });
});
