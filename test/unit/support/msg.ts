// Builders for peer messages in unit tests.
import { logIndex, nodeId, term, TIMING_FAST, type AppendReply, type AppendRequest, type Entry, type LeaseParams, type VoteRequest } from "../../../src/raft/index.js";

/** The lease parameters of the fast preset, which the unit tests' nodes use. */
export const FAST_LEASE: LeaseParams = { leaseMs: TIMING_FAST.leaseMs, driftPpmMax: TIMING_FAST.driftPpmMax };

export const noop = (t: number): Entry => ({ term: term(t), command: { kind: "noop" } });
export const setEntry = (t: number, key: string, value: string, clientId = "", sequence = 0, firstUnanswered = sequence): Entry => ({
  term: term(t),
  command: { kind: "set", key, value, clientId, sequence, firstUnanswered },
});

export function appendReq(p: Partial<Omit<AppendRequest, "type" | "from" | "to" | "term">> & { from: number; to: number; term: number }): AppendRequest {
  return {
    type: "append-request",
    prevLogIndex: logIndex(0),
    prevLogTerm: term(0),
    entries: [],
    leaderCommit: logIndex(0),
    lease: FAST_LEASE,
    leaderSendMs: 0,
    ...p,
    from: nodeId(p.from),
    to: nodeId(p.to),
    term: term(p.term),
  } as AppendRequest;
}

export function voteReq(p: { from: number; to: number; term: number; lastLogIndex?: number; lastLogTerm?: number; preVote?: boolean; lease?: LeaseParams }): VoteRequest {
  return {
    type: "vote-request",
    from: nodeId(p.from),
    to: nodeId(p.to),
    term: term(p.term),
    lastLogIndex: logIndex(p.lastLogIndex ?? 0),
    lastLogTerm: term(p.lastLogTerm ?? 0),
    preVote: p.preVote ?? false,
    lease: p.lease ?? FAST_LEASE,
  };
}

/** A reply; it answers a request of its own term unless requestTerm says otherwise. */
export function appendReply(p: Partial<Omit<AppendReply, "type" | "from" | "to" | "term">> & { from: number; to: number; term: number }): AppendReply {
  return {
    type: "append-reply",
    requestTerm: term(p.term),
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
