import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import { AppendEntriesArgs, EntryKind, ServeClientArgs, type LogEntry } from "../../src/gen/raft.js";
import { CLIENT_SERVICE, PEER_SERVICE } from "../../src/runtime/grpc/codec.js";
import {
  appendReplyFromWire,
  appendReplyToWire,
  appendRequestFromWire,
  appendRequestToWire,
  voteReplyFromWire,
  voteReplyToWire,
  voteRequestFromWire,
  voteRequestToWire,
} from "../../src/runtime/grpc/wire.js";
import { logIndex, nodeId, term, type AppendReply, type AppendRequest, type VoteReply, type VoteRequest } from "../../src/raft/index.js";

const appendRequest: AppendRequest = {
  type: "append-request",
  from: nodeId(0),
  to: nodeId(2),
  term: term(7),
  prevLogIndex: logIndex(41),
  prevLogTerm: term(6),
  entries: [
    { term: term(6), command: { kind: "noop" } },
    { term: term(7), command: { kind: "set", key: "ключ 🔑", value: "a b\nc", clientId: "host-1/3", sequence: 12, firstUnanswered: 9 } },
    { term: term(7), command: { kind: "set", key: "k", value: "", clientId: "", sequence: 0, firstUnanswered: 0 } },
  ],
  leaderCommit: logIndex(40),
  lease: { leaseMs: 800, driftPpmMax: 1000 },
  leaderSendMs: 12345.678,
};

const appendReply: AppendReply = {
  type: "append-reply",
  from: nodeId(2),
  to: nodeId(0),
  term: term(7),
  requestTerm: term(6),
  success: false,
  matchIndex: logIndex(0),
  conflictIndex: logIndex(30),
  conflictTerm: term(5),
  rejectedPrevIndex: logIndex(41),
  leaderSendMs: 12345.678,
};

const voteRequest: VoteRequest = {
  type: "vote-request",
  from: nodeId(1),
  to: nodeId(2),
  term: term(9),
  lastLogIndex: logIndex(44),
  lastLogTerm: term(7),
  preVote: true,
  lease: { leaseMs: 4000, driftPpmMax: 250 },
};

const voteReply: VoteReply = {
  type: "vote-reply",
  from: nodeId(2),
  to: nodeId(1),
  term: term(8),
  requestTerm: term(9),
  granted: true,
  preVote: true,
  leaseRemainingMs: 321.5,
  leaseTerm: term(7),
};

/** Encodes then decodes with the server's own deserializer, as a real call would. */
function overTheWire(args: AppendEntriesArgs) {
  const decoded = PEER_SERVICE.appendEntries.requestDeserialize(Buffer.from(AppendEntriesArgs.encode(args).finish()));
  if (!decoded.ok) throw new Error(decoded.error);
  return decoded.value;
}

function setEntry(overrides: Partial<LogEntry>): LogEntry {
  return { term: 7, kind: EntryKind.ENTRY_KIND_SET, key: "k", value: "v", clientId: "", sequence: 0, firstUnanswered: 0, members: [], ...overrides };
}

describe("wire translation", () => {
  it("every peer message survives a trip over the wire unchanged", () => {
    expect(appendRequestFromWire(overTheWire(appendRequestToWire(appendRequest)))).toEqual({ ok: true, value: appendRequest });
    expect(appendReplyFromWire(appendReplyToWire(appendReply), nodeId(2), nodeId(0))).toEqual({ ok: true, value: appendReply });
    expect(voteRequestFromWire(voteRequestToWire(voteRequest))).toEqual({ ok: true, value: voteRequest });
    expect(voteReplyFromWire(voteReplyToWire(voteReply), nodeId(2), nodeId(1))).toEqual({ ok: true, value: voteReply });
  });

  it("a term beyond 2^53 is refused at decoding, never rounded", () => {
    const bytes = new BinaryWriter().uint32(8).uint64(2n ** 60n).finish(); // field 1 (term), varint
    const decoded = PEER_SERVICE.appendEntries.requestDeserialize(Buffer.from(bytes));
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.error).toMatch(/MAX_SAFE_INTEGER/);
  });

  it("malformed bytes are refused, not thrown", () => {
    expect(PEER_SERVICE.requestVote.requestDeserialize(Buffer.from([0xff, 0xff, 0xff])).ok).toBe(false);
    expect(CLIENT_SERVICE.serveClient.requestDeserialize(Buffer.from([0x0a, 0x10, 0x41])).ok).toBe(false);
  });

  it("an unknown entry kind is refused", () => {
    const args = { ...appendRequestToWire(appendRequest), entries: [setEntry({ kind: 7 as EntryKind })] };
    const r = appendRequestFromWire(overTheWire(args));
    expect(r).toEqual({ ok: false, error: expect.stringMatching(/unknown kind 7/) as unknown });
  });

  it("entry terms that go down, exceed the leader's term, or are 0 are refused", () => {
    const base = appendRequestToWire(appendRequest);
    const cases = [
      [setEntry({ term: 7 }), setEntry({ term: 6 })],
      [setEntry({ term: 8 })],
      [setEntry({ term: 0 })],
    ];
    for (const entries of cases) expect(appendRequestFromWire({ ...base, entries }).ok).toBe(false);
  });

  it("a SET entry with an empty key is refused", () => {
    expect(appendRequestFromWire({ ...appendRequestToWire(appendRequest), entries: [setEntry({ key: "" })] }).ok).toBe(false);
  });

  it("non-finite or negative clock readings are refused", () => {
    const base = appendRequestToWire(appendRequest);
    for (const leaderSendMs of [NaN, Infinity, -1]) expect(appendRequestFromWire({ ...base, leaderSendMs }).ok).toBe(false);
    expect(voteReplyFromWire({ ...voteReplyToWire(voteReply), leaseRemainingMs: NaN }, nodeId(2), nodeId(1)).ok).toBe(false);
  });

  it("a reply that names a node other than the one asked is refused", () => {
    expect(appendReplyFromWire(appendReplyToWire(appendReply), nodeId(1), nodeId(0)).ok).toBe(false);
    expect(voteReplyFromWire(voteReplyToWire(voteReply), nodeId(0), nodeId(1)).ok).toBe(false);
  });

  it("numbers that are not whole or not safe are refused even when built in code", () => {
    expect(voteRequestFromWire({ ...voteRequestToWire(voteRequest), lastLogIndex: 1.5 }).ok).toBe(false);
    expect(voteRequestFromWire({ ...voteRequestToWire(voteRequest), term: 2 ** 60 }).ok).toBe(false);
    expect(voteRequestFromWire({ ...voteRequestToWire(voteRequest), candidateId: -1 }).ok).toBe(false);
  });
});

describe("strict UTF-8 at decoding", () => {
  it("a request line that is not valid UTF-8 is refused with the field named", () => {
    const bytes = Buffer.from([0x0a, 0x07, 0x53, 0x45, 0x54, 0x20, 0x6b, 0x20, 0xff]); // Request = "SET k \xff"
    const decoded = CLIENT_SERVICE.serveClient.requestDeserialize(bytes);
    expect(decoded).toEqual({ ok: false, error: "the Request field is not valid UTF-8 text" });
  });

  it("a key inside an AppendEntries entry that is not valid UTF-8 is refused", () => {
    const entry = new BinaryWriter().uint32(8).uint64(1).uint32(16).int32(1).uint32(26).bytes(new Uint8Array([0xc3])).finish();
    const bytes = new BinaryWriter().uint32(8).uint64(1).uint32(42).bytes(entry).finish();
    const decoded = PEER_SERVICE.appendEntries.requestDeserialize(Buffer.from(bytes));
    expect(decoded).toEqual({ ok: false, error: "the entries.key field is not valid UTF-8 text" });
  });

  it("valid text of every kind decodes unchanged", () => {
    const args: ServeClientArgs = { Request: "SET ключ 😀 é\u0000x", ClientId: "c", Sequence: 3, FirstUnanswered: 0, RequestId: 0 };
    const decoded = CLIENT_SERVICE.serveClient.requestDeserialize(Buffer.from(ServeClientArgs.encode(args).finish()));
    expect(decoded).toEqual({ ok: true, value: args });
  });
});
