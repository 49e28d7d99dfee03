// The operators' calls of the RaftClient service: Status (any node's own view), and ListMembers,
// AddMember, RemoveMember, TransferLeader, which the leader serves (docs in proto/raft.proto).
//
// Requests are checked here (an id that is not a uint32, an address that the formats cannot hold)
// and answered Success=false, ErrorCode "invalid" with the reason; the rest goes to the core as an
// `admin` input, whose answer (or refusal: not-leader with the leader's id, overloaded, invalid)
// comes back as it is. A node that is not the leader answers ListMembers not-leader too: only the
// leader's configuration is the cluster's.

import type { sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from "@grpc/grpc-js";
import type { AddMemberArgs, AdminReply, ListMembersArgs, Member as WireMember, MembersReply, RemoveMemberArgs, StatusArgs, StatusReply, TransferLeaderArgs } from "../../gen/raft.js";
import { nodeId, type AdminRequest, type Member, type NodeId, type Result } from "../../raft/index.js";
import { guard, type GuardOptions } from "./call-guard.js";
import type { CallResult, NodeDriver } from "./driver.js";
import { checkMemberAddress } from "./members-text.js";

type Call<Req> = ServerUnaryCall<Result<Req>, unknown>;

const UINT32_MAX = 0xffff_ffff;

export function adminHandlers(opts: GuardOptions): UntypedServiceImplementation {
  return {
    status: (call: Call<StatusArgs>, callback: sendUnaryData<StatusReply>) => guard(opts, callback, call, "client", (driver) => callback(null, statusReply(driver))),
    listMembers: (call: Call<ListMembersArgs>, callback: sendUnaryData<MembersReply>) => guard(opts, callback, call, "client", (driver) => callback(null, membersReply(driver))),
    addMember: (call: Call<AddMemberArgs>, callback: sendUnaryData<AdminReply>) =>
      guard(opts, callback, call, "client", (driver) => runAdmin(driver, call.request, addRequest, callback)),
    removeMember: (call: Call<RemoveMemberArgs>, callback: sendUnaryData<AdminReply>) =>
      guard(opts, callback, call, "client", (driver) => runAdmin(driver, call.request, (a) => ({ ok: true, value: { kind: "remove-member", id: nodeId(a.id) } }), callback)),
    transferLeader: (call: Call<TransferLeaderArgs>, callback: sendUnaryData<AdminReply>) =>
      guard(opts, callback, call, "client", (driver) => runAdmin(driver, call.request, (a) => ({ ok: true, value: { kind: "transfer-leader", to: a.any ? null : nodeId(a.to) } }), callback)),
  };
}

function addRequest(a: AddMemberArgs): Result<AdminRequest> {
  if (!Number.isInteger(a.id) || a.id < 0 || a.id > UINT32_MAX) return { ok: false, error: `node id ${a.id} must be a whole number in 0-${UINT32_MAX}` };
  const bad = checkMemberAddress(a.address);
  if (bad !== null) return { ok: false, error: `${bad}; give the new member's host:port` };
  return { ok: true, value: { kind: "add-member", id: nodeId(a.id), address: a.address } };
}

/** Checks the request, hands it to the core, answers with the core's result. */
function runAdmin<W>(driver: NodeDriver, decoded: Result<W>, toRequest: (w: W) => Result<AdminRequest>, callback: sendUnaryData<AdminReply>): void {
  const request = decoded.ok ? toRequest(decoded.value) : decoded;
  if (!request.ok) return callback(null, adminReply(driver, { ok: false, code: "invalid", message: request.error, leaderHint: driver.leaderId }));
  void driver.admin(request.value).then((result) => callback(null, adminReply(driver, result)));
}

function adminReply(driver: NodeDriver, result: CallResult): AdminReply {
  if (result.ok) return { Success: true, Data: result.value, LeaderID: String(driver.id), ErrorCode: "" };
  return { Success: false, Data: result.message, LeaderID: idText(result.leaderHint), ErrorCode: result.code };
}

function membersReply(driver: NodeDriver): MembersReply {
  const s = driver.status();
  if (s.role !== "leader") {
    const where = s.leaderId === null ? "no leader is known; retry shortly" : `not the leader; ask node ${s.leaderId}`;
    return { Success: false, Data: where, LeaderID: idText(s.leaderId), ErrorCode: "not-leader", members: [], transferringTo: "" };
  }
  return { Success: true, Data: "", LeaderID: String(s.id), ErrorCode: "", members: s.members.map(memberToWire), transferringTo: idText(s.transferringTo) };
}

function statusReply(driver: NodeDriver): StatusReply {
  const s = driver.status();
  return {
    nodeId: s.id,
    role: s.role,
    term: s.term,
    leaderId: idText(s.leaderId),
    commitIndex: s.commitIndex,
    lastLogIndex: s.lastLogIndex,
    leaseRemainingMs: s.leaseRemainingMs,
    appliedIndex: s.appliedIndex,
    members: s.members.map(memberToWire),
    transferringTo: idText(s.transferringTo),
  };
}

function memberToWire(m: Member): WireMember {
  return { id: m.id, address: m.address, learner: m.role === "learner" };
}

function idText(id: NodeId | null): string {
  return id === null ? "" : String(id);
}
