// The flags and commands of membership changes: raft-node serve --join, raft-client member ... and
// transfer-leader, and the line a node prints when its stored configuration differs from its flags.
import { describe, expect, it } from "vitest";
import { parseServeArgs } from "../../src/cli/raft-node.js";
import { parseClientArgs } from "../../src/cli/raft-client.js";
import { formatMembers } from "../../src/cli/member-commands.js";
import { UsageError } from "../../src/cli/args.js";
import { logIndex, nodeId, term, type PersistedState } from "../../src/raft/index.js";
import { configurationNotice, storedMembers } from "../../src/runtime/grpc/node-membership.js";

const CLUSTER = "0=127.0.0.1:5000,1=127.0.0.1:5001,2=127.0.0.1:5002";
const client = (...words: string[]) => parseClientArgs(["--nodes", CLUSTER, ...words]);

describe("raft-node serve --join", () => {
  it("takes --address instead of --cluster and starts with no configuration", () => {
    const c = parseServeArgs(["--id", "3", "--join", "--address", "127.0.0.1:5003", "--data-dir", "/d"]);
    expect(c !== "help" && { join: c.join, members: c.members }).toEqual({ join: { address: "127.0.0.1:5003" }, members: [] });
  });

  it("refuses --join without --address, with --cluster, and --address without --join", () => {
    expect(() => parseServeArgs(["--id", "3", "--join", "--data-dir", "/d"])).toThrow(/--join needs --address <host:port>/);
    expect(() => parseServeArgs(["--id", "3", "--join", "--address", "127.0.0.1:5003", "--cluster", CLUSTER, "--data-dir", "/d"])).toThrow(/--join and --cluster exclude each other/);
    expect(() => parseServeArgs(["--id", "0", "--address", "127.0.0.1:5003", "--cluster", CLUSTER, "--data-dir", "/d"])).toThrow(/--address is for --join/);
    expect(() => parseServeArgs(["--id", "3", "--join", "--address", "nowhere", "--data-dir", "/d"])).toThrow(UsageError);
  });

  it("still needs --cluster or --join", () => {
    expect(() => parseServeArgs(["--id", "0", "--data-dir", "/d"])).toThrow(/--cluster is required: --cluster <id=host:port,...> \(or --join --address <host:port>\)/);
  });
});

describe("raft-client member and transfer-leader", () => {
  it("parses member list, add, remove and transfer-leader", () => {
    const command = (a: ReturnType<typeof parseClientArgs>) => (typeof a === "object" ? a.command : null);
    expect(command(client("member", "list"))).toEqual({ kind: "member-list" });
    expect(command(client("member", "add", "5=10.0.0.6:5000"))).toEqual({ kind: "member-add", id: 5, address: "10.0.0.6:5000" });
    expect(command(client("member", "remove", "0"))).toEqual({ kind: "member-remove", id: 0 });
    expect(command(client("transfer-leader"))).toEqual({ kind: "transfer-leader", to: null });
    expect(command(client("transfer-leader", "--to", "2"))).toEqual({ kind: "transfer-leader", to: 2 });
  });

  it("refuses bad input with what to write", () => {
    expect(() => client("member", "add", "10.0.0.6:5000")).toThrow(/write <id>=<host:port>/);
    expect(() => client("member", "add", "x=10.0.0.6:5000")).toThrow(/the node id "x" must be a whole number/);
    expect(() => client("member", "add", "5=10.0.0.6")).toThrow(/is not host:port/);
    expect(() => client("member", "add", "5=a,b:1")).toThrow(/no spaces, commas/);
    expect(() => client("member", "remove")).toThrow(/member remove takes one node id/);
    expect(() => client("member", "drop", "1")).toThrow(/member needs list, add <id>=<host:port> or remove <id>, not "drop"/);
    expect(() => client("transfer-leader", "--to", "two")).toThrow(/--to "two" must be a whole number/);
    expect(() => client("status", "--to", "1")).toThrow(/--to is for transfer-leader only/);
  });

  it("member list shows each member's address and role, and who leads", () => {
    const text = formatMembers({ leaderId: nodeId(1), transferringTo: nodeId(2), members: [
      { id: nodeId(0), address: "10.0.0.1:5000", role: "voter" },
      { id: nodeId(1), address: "10.0.0.2:5000", role: "voter" },
      { id: nodeId(5), address: "", role: "learner" },
    ] });
    expect(text.split("\n")).toEqual([
      "node  address         role",
      "0     10.0.0.1:5000   voter",
      "1     10.0.0.2:5000   voter    leader",
      "5     (not recorded)  learner",
      "leadership is being handed to node 2",
    ]);
  });
});

describe("the configuration a node starts with", () => {
  const given = [0, 1, 2].map((i) => ({ id: nodeId(i), address: `127.0.0.1:500${i}` }));
  const hard = { currentTerm: term(2), votedFor: null, commitIndex: logIndex(2) };
  const config = (ids: number[]): PersistedState["entries"][number] => ({ term: term(2), command: { kind: "config", members: ids.map((i) => ({ id: nodeId(i), address: `127.0.0.1:500${i}`, role: "voter" as const })) } });

  it("the newest CONFIG entry is the stored configuration; none stored means --cluster, silently", () => {
    const r: PersistedState = { hardState: hard, entries: [config([0, 1, 2, 3]), { term: term(2), command: { kind: "noop" } }, config([1, 2, 3])] };
    expect(storedMembers(r)?.map((m) => m.id)).toEqual([1, 2, 3]);
    expect(configurationNotice(nodeId(0), given, false, { hardState: hard, entries: [] })).toBeNull();
  });

  it("says which configuration it uses when the stored one differs from --cluster, and why", () => {
    const r: PersistedState = { hardState: hard, entries: [config([1, 2, 3])] };
    expect(configurationNotice(nodeId(0), given, false, r)).toBe(
      "Node 0 uses the configuration stored in its data dir, 1=127.0.0.1:5001,2=127.0.0.1:5002,3=127.0.0.1:5003 (node 0 is not in it: it was removed, or not yet added), " +
        "not --cluster 0=127.0.0.1:5000,1=127.0.0.1:5001,2=127.0.0.1:5002: the cluster's membership is kept in its log and changes through it (raft-client member ...); --cluster only starts a new cluster.",
    );
    expect(configurationNotice(nodeId(1), given, false, { hardState: hard, entries: [config([0, 1, 2])] })).toBeNull();
  });

  it("a joining node says it waits to be added", () => {
    expect(configurationNotice(nodeId(3), [], true, { hardState: hard, entries: [] })).toMatch(/Node 3 joins a running cluster: it waits for a leader to add it/);
  });
});
