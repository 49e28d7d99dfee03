import { describe, expect, it } from "vitest";
import { KEY_BYTES_MAX, parseRequest, VALUE_BYTES_MAX } from "../../src/raft/index.js";

describe("request lines (the ServeClient protocol, docs/exercise.md)", () => {
  it("a SET value is the rest of the line and may hold spaces", () => {
    expect(parseRequest("SET k hello world")).toEqual({ ok: true, request: { kind: "set", key: "k", value: "hello world", clientId: "", sequence: 0 } });
  });

  it("commands are case-insensitive and a GET takes one key", () => {
    expect(parseRequest("get k")).toEqual({ ok: true, request: { kind: "get", key: "k" } });
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
    expect(parseRequest("SET k \ufffd é 😀")).toMatchObject({ ok: true, request: { value: "\ufffd é 😀" } });
  });
});
