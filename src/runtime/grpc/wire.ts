// Translation between the generated wire types (src/gen/raft.ts) and the core's messages.
//
// Core -> wire is total. Wire -> core validates every field, because the bytes come from the
// network: ids must be uint32, terms and indexes safe integers (uint64 beyond 2^53 is refused
// earlier, by the decoder), clocks finite, entry kinds known, entry terms ordered. A bad value
// becomes a `WireError` the server answers with INVALID_ARGUMENT; it never reaches the core.

import {
  EntryKind,
  type AppendEntriesArgs,
  type AppendEntriesReply,
  type InstallSnapshotChunk,
  type InstallSnapshotReply,
  type LogEntry,
  type Member as WireMember,
  type RequestVoteArgs,
  type RequestVoteReply,
  type TimeoutNowArgs,
} from "../../gen/raft.js";
import {
  assertNever,
  logIndex,
  nodeId,
  term,
  type AppendReply,
  type AppendRequest,
  type Entry,
  type LeaseParams,
  type Member,
  type NodeId,
  type VoteReply,
  type LogIndex,
  type Result,
  type SnapshotReply,
  type SnapshotRequest,
  type Term,
  type TimeoutNow,
  type VoteRequest,
} from "../../raft/index.js";

/** Thrown inside a translation; caught at its entry point and turned into a Result. */
class WireError extends Error {}

const UINT32_MAX = 0xffff_ffff;

// ---------------------------------------------------------------- core -> wire

export function entryToWire(e: Entry): LogEntry {
  const c = e.command;
  switch (c.kind) {
    case "noop":
      return { term: e.term, kind: EntryKind.ENTRY_KIND_NOOP, key: "", value: "", clientId: "", sequence: 0, firstUnanswered: 0, members: [] };
    case "config": {
      const members = c.members.map((m) => ({ id: m.id, address: m.address, learner: m.role === "learner" }));
      return { term: e.term, kind: EntryKind.ENTRY_KIND_CONFIG, key: "", value: "", clientId: "", sequence: 0, firstUnanswered: 0, members };
    }
    case "set": {
      // 0 on the wire stands for the sequence itself (what a leader without the field sends).
      const firstUnanswered = c.firstUnanswered === c.sequence ? 0 : c.firstUnanswered;
      return { term: e.term, kind: EntryKind.ENTRY_KIND_SET, key: c.key, value: c.value, clientId: c.clientId, sequence: c.sequence, firstUnanswered, members: [] };
    }
    default:
      return assertNever(c);
  }
}

export function voteRequestToWire(m: VoteRequest): RequestVoteArgs {
  const { leaseMs, driftPpmMax } = m.lease;
  return { term: m.term, candidateId: m.from, lastLogIndex: m.lastLogIndex, lastLogTerm: m.lastLogTerm, preVote: m.preVote, to: m.to, leaseMs, driftPpmMax };
}

export function voteReplyToWire(m: VoteReply): RequestVoteReply {
  return { term: m.term, requestTerm: m.requestTerm, voteGranted: m.granted, voterId: m.from, preVote: m.preVote, leaseRemainingMs: m.leaseRemainingMs, leaseTerm: m.leaseTerm };
}

export function appendRequestToWire(m: AppendRequest): AppendEntriesArgs {
  return {
    term: m.term,
    leaderId: m.from,
    prevLogIndex: m.prevLogIndex,
    prevLogTerm: m.prevLogTerm,
    entries: m.entries.map(entryToWire),
    leaderCommit: m.leaderCommit,
    leaseMs: m.lease.leaseMs,
    driftPpmMax: m.lease.driftPpmMax,
    leaderSendMs: m.leaderSendMs,
    to: m.to,
  };
}

export function appendReplyToWire(m: AppendReply): AppendEntriesReply {
  return {
    term: m.term,
    requestTerm: m.requestTerm,
    success: m.success,
    followerId: m.from,
    matchIndex: m.matchIndex,
    conflictIndex: m.conflictIndex,
    conflictTerm: m.conflictTerm,
    rejectedPrevIndex: m.rejectedPrevIndex,
    leaderSendMs: m.leaderSendMs,
  };
}

// ---------------------------------------------------------------- wire -> core

function count(name: string, v: number, min = 0): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) throw new WireError(`${name} ${String(v)} must be a whole number >= ${min} below 2^53`);
  return v;
}

function id(name: string, v: number): NodeId {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > UINT32_MAX) throw new WireError(`${name} ${String(v)} is not a node id`);
  return nodeId(v);
}

function ms(name: string, v: number): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new WireError(`${name} ${String(v)} must be a finite number of ms >= 0`);
  return v;
}

function translate<T>(what: string, f: () => T): Result<T> {
  try {
    return { ok: true, value: f() };
  } catch (err) {
    if (err instanceof WireError) return { ok: false, error: `${what}: ${err.message}` };
    throw err;
  }
}

function entryFromWire(e: LogEntry, where = "entry"): Entry {
  const entryTerm = term(count(`${where} term`, e.term, 1));
  switch (e.kind) {
    case EntryKind.ENTRY_KIND_NOOP:
      return { term: entryTerm, command: { kind: "noop" } };
    case EntryKind.ENTRY_KIND_SET: {
      const sequence = count(`${where} sequence`, e.sequence);
      const first = count(`${where} first_unanswered`, e.firstUnanswered);
      if (first > sequence) throw new WireError(`${where} first_unanswered ${first} is above its sequence ${sequence}`);
      if (typeof e.key !== "string" || e.key.length === 0) throw new WireError(`${where} is a SET with an empty key`);
      const firstUnanswered = first === 0 ? sequence : first;
      return { term: entryTerm, command: { kind: "set", key: e.key, value: e.value, clientId: e.clientId, sequence, firstUnanswered } };
    }
    case EntryKind.ENTRY_KIND_CONFIG:
      return { term: entryTerm, command: { kind: "config", members: membersFromWire(e.members ?? [], where) } };
    case EntryKind.UNRECOGNIZED:
    default:
      throw new WireError(`${where} has unknown kind ${String(e.kind)} (want NOOP, SET or CONFIG)`);
  }
}

export function voteRequestFromWire(a: RequestVoteArgs): Result<VoteRequest> {
  return translate("RequestVote", () => ({
    type: "vote-request",
    from: id("candidate_id", a.candidateId),
    to: id("to", a.to),
    term: term(count("term", a.term, 1)),
    lastLogIndex: logIndex(count("last_log_index", a.lastLogIndex)),
    lastLogTerm: term(count("last_log_term", a.lastLogTerm)),
    preVote: a.preVote === true,
    lease: leaseFromWire(a.leaseMs, a.driftPpmMax),
  }));
}

/** `from` is the peer the request went to: a reply that names another voter is refused. */
export function voteReplyFromWire(r: RequestVoteReply, from: NodeId, to: NodeId): Result<VoteReply> {
  return translate(`RequestVote reply from node ${from}`, () => {
    if (id("voter_id", r.voterId) !== from) throw new WireError(`voter_id ${r.voterId} is not the node asked (${from})`);
    return {
      type: "vote-reply",
      from,
      to,
      term: term(count("term", r.term)),
      requestTerm: term(count("request_term", r.requestTerm)),
      granted: r.voteGranted === true,
      preVote: r.preVote === true,
      leaseRemainingMs: ms("lease_remaining_ms", r.leaseRemainingMs),
      leaseTerm: term(count("lease_term", r.leaseTerm ?? 0)),
    };
  });
}

export function appendRequestFromWire(a: AppendEntriesArgs): Result<AppendRequest> {
  return translate("AppendEntries", () => {
    const requestTerm = term(count("term", a.term, 1));
    const prevLogIndex = logIndex(count("prev_log_index", a.prevLogIndex));
    const prevLogTerm = term(count("prev_log_term", a.prevLogTerm));
    if (prevLogTerm > requestTerm) throw new WireError(`prev_log_term ${prevLogTerm} is above the term ${requestTerm}`);
    const entries = a.entries.map((e, i) => entryFromWire(e, `entry ${i + 1}`));
    count("prev_log_index + entries", prevLogIndex + entries.length);
    checkEntryTerms(entries, prevLogTerm, requestTerm);
    return {
      type: "append-request",
      from: id("leader_id", a.leaderId),
      to: id("to", a.to),
      term: requestTerm,
      prevLogIndex,
      prevLogTerm,
      entries,
      leaderCommit: logIndex(count("leader_commit", a.leaderCommit)),
      lease: leaseFromWire(a.leaseMs, a.driftPpmMax),
      leaderSendMs: ms("leader_send_ms", a.leaderSendMs),
    };
  });
}

function leaseFromWire(leaseMs: number, driftPpmMax: number): LeaseParams {
  return { leaseMs: count("lease_ms", leaseMs), driftPpmMax: count("drift_ppm_max", driftPpmMax) };
}

/** A leader's entries have terms that never decrease, start at or after prevLogTerm and end at or before its term. */
function checkEntryTerms(entries: readonly Entry[], prevLogTerm: number, requestTerm: number): void {
  let previous = prevLogTerm;
  entries.forEach((e, i) => {
    if (e.term < previous) throw new WireError(`entry ${i + 1} term ${e.term} is below the term before it (${previous})`);
    if (e.term > requestTerm) throw new WireError(`entry ${i + 1} term ${e.term} is above the leader's term ${requestTerm}`);
    previous = e.term;
  });
}

export function appendReplyFromWire(r: AppendEntriesReply, from: NodeId, to: NodeId): Result<AppendReply> {
  return translate(`AppendEntries reply from node ${from}`, () => {
    if (id("follower_id", r.followerId) !== from) throw new WireError(`follower_id ${r.followerId} is not the node asked (${from})`);
    return {
      type: "append-reply",
      from,
      to,
      term: term(count("term", r.term)),
      requestTerm: term(count("request_term", r.requestTerm)),
      success: r.success === true,
      matchIndex: logIndex(count("match_index", r.matchIndex)),
      conflictIndex: logIndex(count("conflict_index", r.conflictIndex)),
      conflictTerm: term(count("conflict_term", r.conflictTerm)),
      rejectedPrevIndex: logIndex(count("rejected_prev_index", r.rejectedPrevIndex)),
      leaderSendMs: ms("leader_send_ms", r.leaderSendMs),
    };
  });
}

// ---------------------------------------------------------------- InstallSnapshot

/** The fields every chunk of one snapshot transfer repeats; `snapshotHeaderFromWire` checks them. */
export interface SnapshotHeader {
  readonly term: Term;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly lease: LeaseParams;
  readonly leaderSendMs: number;
  readonly lastIndex: LogIndex;
  readonly lastTerm: Term;
}

export function snapshotChunkToWire(m: SnapshotRequest, seq: number, data: string): InstallSnapshotChunk {
  const { leaseMs, driftPpmMax } = m.lease;
  const s = m.snapshot;
  return { term: m.term, leaderId: m.from, to: m.to, leaseMs, driftPpmMax, leaderSendMs: m.leaderSendMs, lastIndex: s.lastIndex, lastTerm: s.lastTerm, seq, data };
}

export function snapshotHeaderFromWire(c: InstallSnapshotChunk): Result<SnapshotHeader> {
  return translate("InstallSnapshot", () => ({
    term: term(count("term", c.term, 1)),
    from: id("leader_id", c.leaderId),
    to: id("to", c.to),
    lease: leaseFromWire(c.leaseMs, c.driftPpmMax),
    leaderSendMs: ms("leader_send_ms", c.leaderSendMs),
    lastIndex: logIndex(count("last_index", c.lastIndex, 1)),
    lastTerm: term(count("last_term", c.lastTerm, 1)),
  }));
}

export function snapshotReplyToWire(m: SnapshotReply): InstallSnapshotReply {
  return { term: m.term, followerId: m.from, requestTerm: m.requestTerm, matchIndex: m.matchIndex, snapshotIndex: m.snapshotIndex, leaderSendMs: m.leaderSendMs };
}

export function snapshotReplyFromWire(r: InstallSnapshotReply, from: NodeId, to: NodeId): Result<SnapshotReply> {
  return translate(`InstallSnapshot reply from node ${from}`, () => {
    if (id("follower_id", r.followerId) !== from) throw new WireError(`follower_id ${r.followerId} is not the node asked (${from})`);
    return {
      type: "snapshot-reply",
      from,
      to,
      term: term(count("term", r.term)),
      requestTerm: term(count("request_term", r.requestTerm)),
      matchIndex: logIndex(count("match_index", r.matchIndex)),
      snapshotIndex: logIndex(count("snapshot_index", r.snapshotIndex)),
      leaderSendMs: ms("leader_send_ms", r.leaderSendMs),
    };
  });
}

function membersFromWire(members: readonly WireMember[], where: string): Member[] {
  const out: Member[] = [];
  for (const m of members) {
    const memberId = id(`${where} member id`, m.id);
    const previous = out[out.length - 1];
    if (previous !== undefined && previous.id >= memberId) throw new WireError(`${where} lists members out of order at ${memberId} (want ascending ids, each once)`);
    out.push({ id: memberId, address: typeof m.address === "string" ? m.address : "", role: m.learner === true ? "learner" : "voter" });
  }
  return out;
}

// ---------------------------------------------------------------- TimeoutNow

export function timeoutNowToWire(m: TimeoutNow): TimeoutNowArgs {
  const { leaseMs, driftPpmMax } = m.lease;
  return { term: m.term, leaderId: m.from, to: m.to, oldLeaseRemainingMs: m.oldLeaseRemainingMs, leaseMs, driftPpmMax };
}

export function timeoutNowFromWire(a: TimeoutNowArgs): Result<TimeoutNow> {
  return translate("TimeoutNow", () => ({
    type: "timeout-now",
    from: id("leader_id", a.leaderId),
    to: id("to", a.to),
    term: term(count("term", a.term, 1)),
    oldLeaseRemainingMs: ms("old_lease_remaining_ms", a.oldLeaseRemainingMs),
    lease: leaseFromWire(a.leaseMs, a.driftPpmMax),
  }));
}
