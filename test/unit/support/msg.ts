// Builders for peer messages in unit tests.
import { logIndex, nodeId, term, type AppendRequest, type Entry, type VoteRequest, type AppendReply } from "../../../src/raft/index.js";

export const noop = (t: number): Entry => ({ term: term(t), command: { kind: "noop" } });
export const setEntry = (t: number, key: string, value: string, clientId = "", sequence = 0): Entry => ({
  term: term(t),
  command: { kind: "set", key, value, clientId, sequence },
});

export function appendReq(p: Partial<Omit<AppendRequest, "type" | "from" | "to" | "term">> & { from: number; to: number; term: number }): AppendRequest {
  return {
    type: "append-request",
    prevLogIndex: logIndex(0),
    prevLogTerm: term(0),
    entries: [],
    leaderCommit: logIndex(0),
    leaseMs: 800,
    leaderSendMs: 0,
    ...p,
    from: nodeId(p.from),
    to: nodeId(p.to),
    term: term(p.term),
  } as AppendRequest;
}

export function voteReq(p: { from: number; to: number; term: number; lastLogIndex?: number; lastLogTerm?: number; preVote?: boolean }): VoteRequest {
  return {
    type: "vote-request",
    from: nodeId(p.from),
    to: nodeId(p.to),
    term: term(p.term),
    lastLogIndex: logIndex(p.lastLogIndex ?? 0),
    lastLogTerm: term(p.lastLogTerm ?? 0),
    preVote: p.preVote ?? false,
  };
}

export function appendReply(p: Partial<Omit<AppendReply, "type" | "from" | "to" | "term">> & { from: number; to: number; term: number }): AppendReply {
  return {
    type: "append-reply",
    success: true,
    matchIndex: logIndex(0),
    conflictIndex: logIndex(0),
    conflictTerm: term(0),
    rejectedPrevIndex: logIndex(0),
    leaderSendMs: 0,
    ...p,
    from: nodeId(p.from),
    to: nodeId(p.to),
    term: term(p.term),
  } as AppendReply;
}
