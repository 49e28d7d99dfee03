// The member-list token of CONFIG lines and MEMBERS lines: round trips, old forms, damage.

import { describe, expect, it } from "vitest";
import { nodeId, term, type Member } from "../../src/raft/index.js";
import { encodeEntryLine, parseEntryLine } from "../../src/runtime/grpc/log-line.js";
import { checkMemberAddress, decodeMembers, encodeMembers } from "../../src/runtime/grpc/members-text.js";

const members: Member[] = [
  { id: nodeId(0), address: "10.0.0.1:5000", role: "voter" },
  { id: nodeId(2), address: "[::1]:5002", role: "voter" },
  { id: nodeId(5), address: "node-5.example:5000", role: "learner" },
];

describe("member lists as text", () => {
  it("round-trip, learners marked, in the documented form", () => {
    const text = encodeMembers(members);
    expect(text).toBe("0=10.0.0.1:5000,2=[::1]:5002,5=node-5.example:5000/learner");
    expect(decodeMembers(text)).toEqual({ ok: true, value: members });
    expect(decodeMembers(encodeMembers([]))).toEqual({ ok: true, value: [] });
  });

  it("read the bare ids of snapshots written before membership changes as voters with no address", () => {
    expect(decodeMembers("0,1,2")).toEqual({ ok: true, value: [0, 1, 2].map((i) => ({ id: nodeId(i), address: "", role: "voter" })) });
  });

  it("refuse damaged lists with a reason", () => {
    expect(decodeMembers("1,0")).toMatchObject({ ok: false, error: expect.stringContaining("out of order") });
    expect(decodeMembers("0,0")).toMatchObject({ ok: false, error: expect.stringContaining("out of order") });
    expect(decodeMembers("x=a:1")).toMatchObject({ ok: false, error: expect.stringContaining("bad member id") });
    expect(decodeMembers("1=%ZZ")).toMatchObject({ ok: false, error: expect.stringContaining("bad address") });
  });

  it("a CONFIG line of logs.txt round-trips, and a damaged one is refused", () => {
    const entry = { term: term(4), command: { kind: "config" as const, members } };
    const line = encodeEntryLine(entry);
    expect(line).toBe("CONFIG 4 0=10.0.0.1:5000,2=[::1]:5002,5=node-5.example:5000/learner");
    expect(parseEntryLine(line)).toEqual({ ok: true, entry });
    expect(parseEntryLine("CONFIG 4")).toMatchObject({ ok: false });
    expect(parseEntryLine("CONFIG 0 0=a:1")).toMatchObject({ ok: false, error: expect.stringContaining("bad term") });
  });

  it("addresses a member may have: host:port, nothing the formats use as separators", () => {
    expect(checkMemberAddress("10.0.0.1:5000")).toBeNull();
    expect(checkMemberAddress("[::1]:5000")).toBeNull();
    for (const bad of ["", "host", "a b:1", "a,b:1", "a/b:1", "a=b:1", "a:port"]) expect(checkMemberAddress(bad), bad).not.toBeNull();
  });
});
