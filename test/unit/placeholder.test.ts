import { describe, expect, it } from "vitest";
import { parseRequest } from "../../src/raft/request.js";
describe("request lines", () => {
  it("a SET value may hold spaces", () => {
    expect(parseRequest("SET k hello world")).toEqual({ ok: true, request: { kind: "set", key: "k", value: "hello world", clientId: "", sequence: 0 } });
  });
});
