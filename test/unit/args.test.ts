import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseArgs, parseDuration, parseRangeMs, UsageError, type FlagSpec } from "../../src/cli/args.js";
import { parseClientArgs } from "../../src/cli/raft-client.js";
import { parseServeArgs } from "../../src/cli/raft-node.js";
import { getLine, RaftClientError, requestLine, setLine } from "../../src/client/raft-client.js";
import { clusterFingerprint, normalizeNodes, parseNodeList } from "../../src/client/nodes.js";
import { TIMING_FAST, TIMING_SPEC } from "../../src/raft/index.js";

const CLUSTER = "0=127.0.0.1:5000,1=127.0.0.1:5001,2=127.0.0.1:5002";
const serve = (...extra: string[]) => parseServeArgs(["--id", "0", "--cluster", CLUSTER, "--data-dir", "/tmp/raft", ...extra]);
const SPECS: FlagSpec[] = [
  { name: "name", value: "<n>", help: "" },
  { name: "verbose", value: null, help: "" },
];

describe("flag parsing", () => {
  it("an unknown flag is refused with the list of valid flags", () => {
    expect(() => parseArgs(["--nmae", "x"], SPECS)).toThrow(new UsageError("unknown flag --nmae; valid flags: --name, --verbose"));
  });

  it("a flag given twice is refused", () => {
    expect(() => parseArgs(["--name", "a", "--name=b"], SPECS)).toThrow(/--name is given twice/);
  });

  it("a flag missing its value is refused, also when the next word is a flag", () => {
    expect(() => parseArgs(["--name"], SPECS)).toThrow(/--name needs a value/);
    expect(() => parseArgs(["--name", "--verbose"], SPECS)).toThrow(/--name needs a value/);
  });

  it("a boolean flag takes no value", () => {
    expect(() => parseArgs(["--verbose=yes"], SPECS)).toThrow(/takes no value/);
  });

  it("--flag=value, words with one dash and everything after -- are accepted", () => {
    const args = parseArgs(["--name=x", "-5", "--", "--verbose"], SPECS);
    expect(args.flags.get("name")).toBe("x");
    expect(args.positionals).toEqual(["-5", "--verbose"]);
  });

  it("durations take ms, s and m units and bare seconds", () => {
    expect(parseDuration("500ms", "timeout")).toBe(500);
    expect(parseDuration("10s", "timeout")).toBe(10_000);
    expect(parseDuration("2m", "timeout")).toBe(120_000);
    expect(parseDuration("3", "timeout")).toBe(3_000);
    expect(() => parseDuration("ten", "timeout")).toThrow(/--timeout "ten" must be a duration/);
    expect(() => parseDuration("0s", "timeout")).toThrow(UsageError);
  });

  it("a range is MIN-MAX", () => {
    expect(parseRangeMs("1000-2000", "x")).toEqual({ minMs: 1000, maxMs: 2000 });
    expect(() => parseRangeMs("1000", "x")).toThrow(/MIN-MAX/);
  });
});

describe("node lists", () => {
  it("duplicate ids are refused", () => {
    expect(() => parseNodeList("0=a:1,0=b:2", "--cluster")).toThrow("--cluster: node id 0 appears twice (a:1 and b:2); give each node its own id");
  });

  it("duplicate addresses are refused", () => {
    expect(() => parseNodeList("0=a:1,1=A:1", "--cluster")).toThrow(/share the address/);
  });

  it("malformed items are refused with the item named", () => {
    expect(() => parseNodeList("0=a:1,,1=b:2")).toThrow(/item 2 is empty/);
    expect(() => parseNodeList("a:1")).toThrow(/has no id/);
    expect(() => parseNodeList("0=a")).toThrow(/has no port/);
    expect(() => parseNodeList("0=a:0")).toThrow(/1-65535/);
    expect(() => parseNodeList("0=a b:1")).toThrow(/bad host/);
    expect(() => parseNodeList("x=a:1")).toThrow(/whole number/);
    expect(() => parseNodeList("0=::1:5000")).toThrow(/brackets/);
  });

  it("IPv6 addresses in brackets and host names are accepted", () => {
    expect(parseNodeList("0=[::1]:5000,1=node-b.example:5001").map((n) => n.address)).toEqual(["[::1]:5000", "node-b.example:5001"]);
  });

  it("the cluster fingerprint does not depend on the order of --cluster", () => {
    expect(clusterFingerprint(parseNodeList("1=b:2,0=a:1"))).toBe(clusterFingerprint(parseNodeList("0=a:1,1=b:2")));
  });

  it("the client accepts a string, a record, an id list or bare addresses", () => {
    const expected = ["0=a:1", "1=b:2"];
    const forms = [normalizeNodes("0=a:1,1=b:2"), normalizeNodes({ 0: "a:1", 1: "b:2" }), normalizeNodes([{ id: 0, address: "a:1" }, { id: 1, address: "b:2" }]), normalizeNodes(["a:1", "b:2"])];
    for (const nodes of forms) expect(nodes.map((n) => `${n.id}=${n.address}`)).toEqual(expected);
  });
});

describe("raft-node serve flags", () => {
  it("the default timing is the fast preset", () => {
    const c = serve();
    expect(c !== "help" && c.timing).toEqual(TIMING_FAST);
  });

  it("timing flags override the chosen preset", () => {
    const c = serve("--timing", "spec", "--lease-ms", "3000", "--election-timeout-ms", "6000-9000");
    expect(c !== "help" && c.timing).toEqual({ ...TIMING_SPEC, leaseMs: 3000, electionTimeoutMinMs: 6000, electionTimeoutMaxMs: 9000 });
  });

  it("own id missing from --cluster is refused, naming the ids there", () => {
    expect(() => parseServeArgs(["--id", "3", "--cluster", CLUSTER, "--data-dir", "/d"])).toThrow("--id 3 is not in --cluster (its ids are 0, 1, 2); add this node to --cluster, fix --id, or start it with --join");
  });

  it("bad timing is refused with validateTiming's reason", () => {
    expect(() => serve("--lease-ms", "5000")).toThrow(/lease 5000 ms must be below the election timeout minimum 1000 ms/);
    expect(() => serve("--timing", "slow")).toThrow(/not a preset; use spec or fast/);
  });

  it("required flags are named when missing", () => {
    expect(() => parseServeArgs(["--id", "0", "--cluster", CLUSTER])).toThrow("--data-dir is required: --data-dir <dir>");
    expect(() => parseServeArgs(["--cluster", CLUSTER, "--data-dir", "/d"])).toThrow(/--id is required/);
  });

  it("a malformed --listen address is refused", () => {
    expect(() => serve("--listen", "0.0.0.0")).toThrow(/--listen "0.0.0.0" has no port/);
  });

  it("every problem is a UsageError (exit status 2)", () => {
    expect(() => serve("--bogus")).toThrow(UsageError);
    expect(() => parseServeArgs(["--id", "0", "--cluster", "0=a:1,0=b:2", "--data-dir", "/d"])).toThrow(UsageError);
  });
});

describe("raft-client flags", () => {
  it("set joins the words after the key into the value", () => {
    const a = parseClientArgs(["--nodes", CLUSTER, "set", "k", "hello", "world"]);
    expect(typeof a === "object" && a.command).toEqual({ kind: "set", key: "k", value: "hello world" });
  });

  it("no command opens the prompt; --nodes may come from RAFT_NODES", () => {
    const a = parseClientArgs([], { RAFT_NODES: CLUSTER });
    expect(typeof a === "object" && a.command).toEqual({ kind: "prompt" });
  });

  it("wrong arity and unknown commands are refused", () => {
    expect(() => parseClientArgs(["--nodes", CLUSTER, "get"])).toThrow(/get takes one key/);
    expect(() => parseClientArgs(["--nodes", CLUSTER, "set", "k"])).toThrow(/set needs a key and a value/);
    expect(() => parseClientArgs(["--nodes", CLUSTER, "del", "k"])).toThrow(/unknown command "del"/);
    expect(() => parseClientArgs(["get", "k"])).toThrow(/--nodes is required/);
  });

  it("--timeout takes a duration", () => {
    const a = parseClientArgs(["--nodes", CLUSTER, "--timeout", "1.5s", "status"]);
    expect(typeof a === "object" && a.timeoutMs).toBe(1500);
  });
});

describe("client request lines", () => {
  it("a key with a space or a value ending in a line break is refused before sending", () => {
    expect(() => requestLine({ kind: "get", key: "a b" })).toThrow(RaftClientError);
    expect(() => requestLine({ kind: "set", key: "k", value: "v\n", clientId: "", sequence: 0, firstUnanswered: 0 })).toThrow(/line break/);
  });

  it("a value with spaces and unicode makes a request line", () => {
    expect(requestLine({ kind: "set", key: "ключ", value: " a b 😀", clientId: "", sequence: 0, firstUnanswered: 0 })).toBe("SET ключ  a b 😀");
  });

  it("an oversized key is refused with the node's own message", () => {
    expect(() => requestLine({ kind: "get", key: "k".repeat(2000) })).toThrow("the key is 2000 bytes; keys are at most 1024 bytes");
  });

  it("the fast path for plain ASCII keys and values makes exactly the line the parser's round trip makes, or refuses alike", () => {
    const outcome = (f: () => string): string => {
      try {
        return `line ${f()}`;
      } catch (err) {
        return `refused ${err instanceof RaftClientError ? err.code : String(err)}: ${err instanceof Error ? err.message : ""}`;
      }
    };
    const same = (key: string, value: string): void => {
      expect(outcome(() => setLine(key, value))).toBe(outcome(() => requestLine({ kind: "set", key, value, clientId: "", sequence: 0, firstUnanswered: 0 })));
      expect(outcome(() => getLine(key))).toBe(outcome(() => requestLine({ kind: "get", key })));
    };
    const unit = fc.constantFrom("a", "Z", "~", "!", "%", " ", "\t", "\r", "\n", "\u007f", "\u0000", "é", "😀", "\u00a0", "\ud800");
    fc.assert(fc.property(fc.string({ unit, maxLength: 12 }), fc.string({ unit, maxLength: 12 }), same), { numRuns: 2000 });
    for (const [key, value] of [["k".repeat(1024), "v"], ["k".repeat(1025), "v"], ["k", "v".repeat(65_536)], ["k", "v".repeat(65_537)], ["", ""], ["k", ""], ["k", " "]]) same(key!, value!);
  });
});

describe("failpoints (fault tests only)", () => {
  const withEnv = (value: string | undefined) =>
    parseServeArgs(["--id", "0", "--cluster", CLUSTER, "--data-dir", "/tmp/raft"], value === undefined ? {} : { RAFT_LEASE_FAILPOINT: value });

  it("a node runs the correct protocol unless RAFT_LEASE_FAILPOINT names a mutation", () => {
    expect(withEnv(undefined)).toMatchObject({ failpoint: null });
    expect(withEnv("")).toMatchObject({ failpoint: null });
    expect(withEnv("no-lease-wait")).toMatchObject({ failpoint: "no-lease-wait" });
  });

  it("an unknown failpoint is a usage error naming the valid ones", () => {
    expect(() => withEnv("no-lease")).toThrow(/RAFT_LEASE_FAILPOINT="no-lease" is not a failpoint; use one of no-lease-wait, /);
  });
});
