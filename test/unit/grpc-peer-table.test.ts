// The peer table follows the configuration: a client per member at its address (--cluster's where
// a configuration records none), reopened when an address changes, and a member left out keeps its
// client until the configuration that left it out is committed (so it can learn of its removal).
import { describe, expect, it } from "vitest";
import { nodeId, type Member, type NodeId } from "../../src/raft/index.js";
import { PeerTable, type PeerHandle } from "../../src/runtime/grpc/peer-table.js";

function table(): { peers: PeerTable; opened: string[]; closed: string[] } {
  const opened: string[] = [];
  const closed: string[] = [];
  const open = (id: NodeId, address: string): PeerHandle => {
    opened.push(`${id}@${address}`);
    return { send: () => undefined, close: () => closed.push(`${id}@${address}`), outstanding: 0, skipped: 0 };
  };
  return { peers: new PeerTable(nodeId(0), new Map([[nodeId(2), "h2:1"]]), open), opened, closed };
}

const member = (id: number, address: string, role: Member["role"] = "voter"): Member => ({ id: nodeId(id), address, role });

describe("the peer table", () => {
  it("opens a client per other member, from --cluster where the configuration has no address", () => {
    const t = table();
    t.peers.update([member(0, "h0:1"), member(1, "h1:1"), member(2, "")], 0);
    expect(t.opened).toEqual(["1@h1:1", "2@h2:1"]);
    expect(t.peers.addresses()).toEqual([[1, "h1:1"], [2, "h2:1"]]);
  });

  it("keeps a removed member until the configuration leaving it out is committed, and reopens a moved one", () => {
    const t = table();
    t.peers.update([member(0, "h0:1"), member(1, "h1:1"), member(2, "h2:1")], 0);
    t.peers.update([member(0, "h0:1"), member(1, "h1:1")], 7);
    t.peers.sweep(6);
    expect(t.closed).toEqual([]);
    t.peers.sweep(7);
    expect(t.closed).toEqual(["2@h2:1"]);
    t.peers.update([member(0, "h0:1"), member(1, "h9:1"), member(3, "h3:1", "learner")], 8);
    expect(t.closed).toEqual(["2@h2:1", "1@h1:1"]);
    expect(t.peers.addresses()).toEqual([[1, "h9:1"], [3, "h3:1"]]);
  });

  it("a configuration truncated away before it committed brings the member back", () => {
    const t = table();
    t.peers.update([member(0, "h0:1"), member(1, "h1:1")], 0);
    t.peers.update([member(0, "h0:1")], 5);
    t.peers.update([member(0, "h0:1"), member(1, "h1:1")], 0);
    t.peers.sweep(10);
    expect(t.closed).toEqual([]);
    expect(t.opened).toEqual(["1@h1:1"]);
  });
});
