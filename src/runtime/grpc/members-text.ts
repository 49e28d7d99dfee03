// A cluster configuration as one token of text, in logs.txt (CONFIG lines) and snapshot.txt
// (the MEMBERS line): members by ascending id, separated by commas, each `<id>=<address>`, with
// `/learner` after a learner. An address is escaped as escape.ts says (so it holds no space, and
// `,` `/` `=` inside it are refused when a member is added). A bare `<id>` (a voter whose address
// is not recorded) is what snapshots written before membership changes hold.
//
// Example: `0=10.0.0.1:5000,1=10.0.0.2:5000,5=10.0.0.6:5000/learner`.

import { nodeId, type Member, type Result } from "../../raft/index.js";
import { decodeToken, encodeToken } from "./escape.js";
import { parseCount, quote } from "./text-fields.js";

const LEARNER = "/learner";

export function encodeMembers(members: readonly Member[]): string {
  if (members.length === 0) return "-";
  return members.map((m) => `${m.id}=${encodeToken(m.address)}${m.role === "learner" ? LEARNER : ""}`).join(",");
}

export function decodeMembers(text: string): Result<Member[]> {
  if (text === "-") return { ok: true, value: [] };
  const members: Member[] = [];
  for (const item of text.split(",")) {
    const member = decodeMember(item);
    if (typeof member === "string") return { ok: false, error: member };
    const previous = members[members.length - 1];
    if (previous !== undefined && previous.id >= member.id) return { ok: false, error: `members out of order at ${quote(item)} (want ascending ids, each once)` };
    members.push(member);
  }
  return { ok: true, value: members };
}

function decodeMember(item: string): Member | string {
  const learner = item.endsWith(LEARNER);
  const body = learner ? item.slice(0, -LEARNER.length) : item;
  const eq = body.indexOf("=");
  const idText = eq < 0 ? body : body.slice(0, eq);
  const id = parseCount(idText, 0);
  if (id === null) return `bad member id ${quote(idText)} in ${quote(item)}`;
  if (eq < 0) return { id: nodeId(id), address: "", role: learner ? "learner" : "voter" };
  const address = decodeToken(body.slice(eq + 1));
  if (!address.ok) return `bad address of member ${id}: ${address.error}`;
  return { id: nodeId(id), address: address.value, role: learner ? "learner" : "voter" };
}

/** Why `address` cannot be a member's address (null when it can): host:port, nothing the formats use as separators. */
export function checkMemberAddress(address: string): string | null {
  if (!/^[^\s,/=%@]+:[0-9]{1,5}$/.test(address)) return `the address ${quote(address)} is not host:port (no spaces, commas, slashes, '=', '%' or '@')`;
  return null;
}
