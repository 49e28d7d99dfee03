import { describe, expect, it } from "vitest";
import { CLIENT_ID_BYTES_MAX, KEY_BYTES_MAX, parseRequest, VALUE_BYTES_MAX, type ClientRequest } from "../../src/raft/index.js";
import { TestCluster } from "./support/cluster.js";

describe("request lines (the ServeClient protocol, docs/exercise.md)", () => {
  it("a SET value is the rest of the line and may hold spaces", () => {
    expect(parseRequest("SET k hello world")).toEqual({ ok: true, value: { kind: "set", key: "k", value: "hello world", clientId: "", sequence: 0, firstUnanswered: 0 } });
  });

  it("commands are case-insensitive and a GET takes one key", () => {
    expect(parseRequest("get k")).toEqual({ ok: true, value: { kind: "get", key: "k" } });
    expect(parseRequest("GET a b")).toMatchObject({ ok: false });
  });

  it("empty, unknown and incomplete requests are refused with what to send instead", () => {
    expect(parseRequest("")).toMatchObject({ ok: false, error: expect.stringMatching(/empty request/) });
    expect(parseRequest("DELETE k")).toMatchObject({ ok: false, error: expect.stringMatching(/unknown command "DELETE"/) });
    expect(parseRequest("SET k")).toMatchObject({ ok: false, error: expect.stringMatching(/SET needs a key and a value/) });
  });

  it("keys and values over their limits are refused with the limit", () => {
    expect(parseRequest(`GET ${"k".repeat(KEY_BYTES_MAX + 1)}`)).toMatchObject({ ok: false, error: expect.stringMatching(/at most 1024 bytes/) });
    expect(parseRequest(`SET k ${"é".repeat(VALUE_BYTES_MAX / 2 + 1)}`)).toMatchObject({ ok: false, error: expect.stringMatching(/at most 65536 bytes/) });
  });

  it("a lone surrogate is refused, but U+FFFD and other non-ASCII text are ordinary characters", () => {
    expect(parseRequest("GET \ud800")).toMatchObject({ ok: false });
    expect(parseRequest("SET k \ufffd é 😀")).toMatchObject({ ok: true, value: { value: "\ufffd é 😀" } });
  });
});

describe("the core checks what a runtime hands it, so it never logs an entry storage would refuse", () => {
  const bad: [string, ClientRequest][] = [
    ["a lone surrogate in the key", { kind: "set", key: "k\ud800", value: "v", clientId: "", sequence: 0, firstUnanswered: 0 }],
    ["a lone surrogate in the value", { kind: "set", key: "k", value: "\udc00", clientId: "", sequence: 0, firstUnanswered: 0 }],
    ["a lone surrogate in the client id", { kind: "set", key: "k", value: "v", clientId: "c\ud800", sequence: 1, firstUnanswered: 1 }],
    ["a client id over its limit", { kind: "set", key: "k", value: "v", clientId: "c".repeat(CLIENT_ID_BYTES_MAX + 1), sequence: 1, firstUnanswered: 1 }],
    ["a sequence without a client id", { kind: "set", key: "k", value: "v", clientId: "", sequence: 3, firstUnanswered: 3 }],
    ["a client id without a sequence", { kind: "set", key: "k", value: "v", clientId: "c", sequence: 0, firstUnanswered: 0 }],
    ["a value over its limit", { kind: "set", key: "k", value: "v".repeat(VALUE_BYTES_MAX + 1), clientId: "", sequence: 0, firstUnanswered: 0 }],
    ["a lone surrogate in a GET's key", { kind: "get", key: "\ud800" }],
  ];
  for (const [what, request] of bad) {
    it(`a leader refuses ${what} as invalid and appends nothing`, () => {
      const c = new TestCluster(1);
      const leader = c.elect(0);
      const lastBefore = leader.status().lastLogIndex;
      const rid = c.client(0, request);
      expect(c.replyFor(rid)?.result).toMatchObject({ ok: false, code: "invalid" });
      expect(leader.status().lastLogIndex).toBe(lastBefore);
    });
  }
});
