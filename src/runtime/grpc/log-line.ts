// One logs.txt line: `NO-OP <term>`, `CONFIG <term> <members>` (members-text.ts) or
// `SET <key> <value> <term> [@<clientId>:<sequence>[/<firstUnanswered>]]`,
// keys, values and client ids escaped as escape.ts describes. Only ASCII: everything else is
// escaped. `/<firstUnanswered>` is written only when it differs from the sequence (a client with
// several SETs outstanding), so lines of one-at-a-time clients read as they always did. (Not a
// third `:` field: a client id may hold `:`, and the session token is split at its last `:`.)

import { term as toTerm, type Entry } from "../../raft/index.js";
import { decodeToken, encodeToken } from "./escape.js";
import { decodeMembers, encodeMembers } from "./members-text.js";
import { parseCount, quote } from "./text-fields.js";

export type ParsedLine = { readonly ok: true; readonly entry: Entry } | { readonly ok: false; readonly error: string };

/** One logs.txt line, without its newline. Only ASCII: everything else is escaped. */
export function encodeEntryLine(entry: Entry): string {
  const command = entry.command;
  switch (command.kind) {
    case "noop":
      return `NO-OP ${entry.term}`;
    case "config":
      return `CONFIG ${entry.term} ${encodeMembers(command.members)}`;
    case "set": {
      const line = `SET ${encodeToken(command.key)} ${encodeToken(command.value)} ${entry.term}`;
      const hasSession = command.clientId !== "" || command.sequence !== 0;
      if (!hasSession) return line;
      const session = `${line} @${encodeToken(command.clientId)}:${command.sequence}`;
      return command.firstUnanswered === command.sequence ? session : `${session}/${command.firstUnanswered}`;
    }
  }
}

export function parseEntryLine(line: string): ParsedLine {
  const fields = line.split(" ");
  const command = fields[0] ?? "";
  switch (command) {
    case "NO-OP":
      return parseNoopFields(fields);
    case "SET":
      return parseSetFields(fields);
    case "CONFIG":
      return parseConfigFields(fields);
    default:
      return { ok: false, error: `unknown command ${quote(command)} (want NO-OP, SET or CONFIG)` };
  }
}

function parseConfigFields(fields: readonly string[]): ParsedLine {
  if (fields.length !== 3) return { ok: false, error: `CONFIG takes 2 fields (the term, the members), found ${fields.length - 1}` };
  const entryTerm = parseCount(fields[1] ?? "", 1);
  if (entryTerm === null) return { ok: false, error: `bad term ${quote(fields[1] ?? "")}` };
  const members = decodeMembers(fields[2] ?? "");
  if (!members.ok) return { ok: false, error: members.error };
  return { ok: true, entry: { term: toTerm(entryTerm), command: { kind: "config", members: members.value } } };
}

function parseNoopFields(fields: readonly string[]): ParsedLine {
  if (fields.length !== 2) return { ok: false, error: `NO-OP takes 1 field (the term), found ${fields.length - 1}` };
  const entryTerm = parseCount(fields[1] ?? "", 1);
  if (entryTerm === null) return { ok: false, error: `bad term ${quote(fields[1] ?? "")}` };
  return { ok: true, entry: { term: toTerm(entryTerm), command: { kind: "noop" } } };
}

function parseSetFields(fields: readonly string[]): ParsedLine {
  if (fields.length !== 4 && fields.length !== 5) {
    return { ok: false, error: `SET takes 3 or 4 fields (key, value, term, [@session]), found ${fields.length - 1}` };
  }
  const [, keyToken = "", valueToken = "", termText = "", sessionToken] = fields;
  const key = decodeToken(keyToken);
  if (!key.ok) return { ok: false, error: `bad key: ${key.error}` };
  const value = decodeToken(valueToken);
  if (!value.ok) return { ok: false, error: `bad value: ${value.error}` };
  const entryTerm = parseCount(termText, 1);
  if (entryTerm === null) return { ok: false, error: `bad term ${quote(termText)}` };
  const session = sessionToken === undefined ? { clientId: "", sequence: 0, firstUnanswered: 0 } : parseSession(sessionToken);
  if (typeof session === "string") return { ok: false, error: session };
  const command = { kind: "set", key: key.value, value: value.value, ...session } as const;
  return { ok: true, entry: { term: toTerm(entryTerm), command } };
}

function parseSession(token: string): { clientId: string; sequence: number; firstUnanswered: number } | string {
  const colon = token.lastIndexOf(":");
  if (!token.startsWith("@") || colon < 0) return `bad session ${quote(token)} (want @<clientId>:<sequence>[/<firstUnanswered>])`;
  const clientId = decodeToken(token.slice(1, colon));
  if (!clientId.ok) return `bad session client id: ${clientId.error}`;
  const numbers = token.slice(colon + 1);
  const slash = numbers.indexOf("/");
  const sequenceText = slash < 0 ? numbers : numbers.slice(0, slash);
  const sequence = parseCount(sequenceText, 0);
  if (sequence === null) return `bad session sequence ${quote(sequenceText)}`;
  if (slash < 0) return { clientId: clientId.value, sequence, firstUnanswered: sequence };
  const firstText = numbers.slice(slash + 1);
  const firstUnanswered = parseCount(firstText, 1);
  if (firstUnanswered === null) return `bad session first unanswered sequence ${quote(firstText)}`;
  if (firstUnanswered >= sequence) return `bad session ${quote(token)}: the first unanswered sequence ${firstUnanswered} must be below the sequence ${sequence} (it is written only when it differs)`;
  return { clientId: clientId.value, sequence, firstUnanswered };
}
