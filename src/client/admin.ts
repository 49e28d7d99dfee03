// Operators' calls of the RaftClient library: list, add and remove members, hand leadership over,
// and wait for their effects (a learner promoted to voter, a new leader serving).
//
// Each call goes to the leader this client knows (or the next node), follows a not-leader answer's
// hint, and retries "overloaded" (a change or transfer in progress) and unreachable nodes with a
// short backoff until the client's timeout; "invalid" is final. A call whose outcome is unknown (a
// timeout, a node that went away, a leader that stepped down) may have taken effect: before it is
// sent again, the member list is read, so an add or a remove that did happen is not refused as
// "already a member" / "not a member" on the retry.

import { nodeId, type NodeId } from "../raft/index.js";
import type { AdminReply, MembersReply } from "../gen/raft.js";
import { RaftClientError } from "./errors.js";
import { checkMemberAddress } from "../runtime/grpc/members-text.js";
import type { AdminCall, NodeConnection } from "./transport.js";
import type { LeaderTracker } from "./retry.js";

export interface MemberInfo {
  readonly id: NodeId;
  /** host:port ("" when the configuration does not record it). */
  readonly address: string;
  readonly role: "voter" | "learner";
}

/** The leader's configuration. */
export interface MemberList {
  readonly leaderId: NodeId;
  readonly members: readonly MemberInfo[];
  /** The voter leadership is being handed to, or null. */
  readonly transferringTo: NodeId | null;
}

/** What the calls need of a RaftClient. */
export interface AdminHost {
  readonly tracker: LeaderTracker;
  readonly timeoutMs: number;
  connection(id: NodeId): Pick<NodeConnection, "admin">;
}

const BACKOFF_MS = 100;
const ATTEMPT_TIMEOUT_MS_MAX = 5_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends `call` to the leader until it succeeds, is refused as invalid, or the timeout passes. */
export async function callLeader(host: AdminHost, call: AdminCall, alreadyDone?: (list: MemberList) => boolean): Promise<AdminReply | MembersReply> {
  const deadline = performance.now() + host.timeoutMs;
  let last = "no node answered";
  let unsure = false;
  while (performance.now() < deadline) {
    const target = host.tracker.target();
    const attemptMs = Math.max(1, Math.min(ATTEMPT_TIMEOUT_MS_MAX, deadline - performance.now()));
    try {
      if (unsure && alreadyDone !== undefined && alreadyDone(await listMembers({ ...host, timeoutMs: attemptMs }))) return { Success: true, Data: "", LeaderID: "", ErrorCode: "" };
      const reply = await host.connection(target).admin(call, attemptMs);
      if (reply.Success) {
        host.tracker.heardLeader(target);
        return reply;
      }
      last = `node ${target}: ${reply.Data}`;
      if (reply.ErrorCode === "invalid") throw new RaftClientError("invalid", reply.Data);
      unsure = reply.ErrorCode === "stepped-down" || reply.ErrorCode === "timeout";
      follow(host.tracker, target, reply);
    } catch (err) {
      if (err instanceof RaftClientError) throw err;
      last = `node ${target}: ${err instanceof Error ? err.message : String(err)}`;
      unsure = call.kind !== "list";
      host.tracker.moveOn(target);
    }
    await sleep(BACKOFF_MS);
  }
  throw new RaftClientError("timeout", `no leader completed the request within ${host.timeoutMs} ms; last: ${last}`);
}

/** A refusal: go where the hint points, or on to the next node. */
function follow(tracker: LeaderTracker, from: NodeId, reply: AdminReply | MembersReply): void {
  const hint = /^[0-9]{1,10}$/.test(reply.LeaderID) ? nodeId(Number(reply.LeaderID)) : null;
  if (reply.ErrorCode !== "not-leader") return; // overloaded and the like: the same leader, later
  if (hint !== null && hint !== from && tracker.nodes.includes(hint)) tracker.heardLeader(hint);
  else tracker.moveOn(from);
}

export async function listMembers(host: AdminHost): Promise<MemberList> {
  const reply = (await callLeader(host, { kind: "list" })) as MembersReply;
  return {
    leaderId: nodeId(Number(reply.LeaderID)),
    members: reply.members.map((m) => ({ id: nodeId(m.id), address: m.address, role: m.learner ? "learner" : "voter" })),
    transferringTo: reply.transferringTo === "" ? null : nodeId(Number(reply.transferringTo)),
  };
}

/** Adds a learner; resolves once its configuration entry is committed. */
export async function addMember(host: AdminHost, id: NodeId, address: string): Promise<void> {
  const bad = checkMemberAddress(address);
  if (bad !== null) throw new RaftClientError("invalid", `${bad}; give the new member's host:port`);
  await callLeader(host, { kind: "add", id, address }, (list) => list.members.some((m) => m.id === id && m.address === address));
}

export async function removeMember(host: AdminHost, id: NodeId): Promise<void> {
  await callLeader(host, { kind: "remove", id }, (list) => !list.members.some((m) => m.id === id));
}

/** Asks the leader to hand leadership over; resolves with the voter it was handed to. */
export async function transferLeader(host: AdminHost, to: NodeId | null): Promise<NodeId> {
  const reply = await callLeader(host, { kind: "transfer", to });
  return nodeId(Number(reply.Data));
}

/**
 * Waits until the leader lists `id` as a voter (it promotes a learner once its log caught up).
 * `onProgress` hears the member's role after each look; throws "timeout" after `timeoutMs`.
 */
export async function waitForVoter(host: AdminHost, id: NodeId, timeoutMs: number, onProgress?: (role: MemberInfo["role"] | "absent", elapsedMs: number) => void): Promise<void> {
  const started = performance.now();
  for (;;) {
    const list = await listMembers({ ...host, timeoutMs: Math.max(1, Math.min(host.timeoutMs, timeoutMs)) });
    const role = list.members.find((m) => m.id === id)?.role ?? "absent";
    const elapsedMs = performance.now() - started;
    onProgress?.(role, elapsedMs);
    if (role === "voter") return;
    if (role === "absent") throw new RaftClientError("invalid", `node ${id} is not a member (was it removed?); add it first`);
    if (elapsedMs >= timeoutMs) {
      throw new RaftClientError("timeout", `node ${id} is still a learner after ${Math.round(elapsedMs)} ms: the leader promotes it once its log has caught up; check that it runs (raft-node serve --join) and that the leader reaches it at its address`);
    }
    await sleep(2 * BACKOFF_MS);
  }
}
