// Client request lines ("SET <key> <value>", "GET <key>") and the size limits on keys and values.
// Parsing is pure and shared by the node, the client and the simulator.

import { formatMembers } from "./membership.js";
import type { ClientRequest, Command, Result } from "./types.js";

export const KEY_BYTES_MAX = 1024;
export const VALUE_BYTES_MAX = 64 * 1024;
export const REQUEST_BYTES_MAX = KEY_BYTES_MAX + VALUE_BYTES_MAX + 16;
/** A client id (a session's name, stored with every SET it makes), in UTF-8 bytes. */
export const CLIENT_ID_BYTES_MAX = 256;
/**
 * SETs one session may have outstanding: a SET's sequence minus its firstUnanswered stays below
 * this, so the state machine remembers at most this many sequences per session (kv.ts).
 */
export const SESSION_WINDOW_MAX = 4096;


/** Bytes the string takes in UTF-8, without allocating. */
export function utf8Bytes(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * The UTF-8 byte count of `s` when it is over bytesMax, else null. A string too short to be over
 * is not counted: a UTF-16 code unit takes at most 3 bytes (a surrogate pair, two units, takes 4),
 * and every SET a leader admits has its key, value and client id checked.
 */
function bytesOver(s: string, bytesMax: number): number | null {
  if (s.length * 3 <= bytesMax) return null;
  const bytes = utf8Bytes(s);
  return bytes > bytesMax ? bytes : null;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * A lone surrogate is not Unicode text: it has no UTF-8 form. (Invalid UTF-8 on the wire is
 * refused byte by byte at the runtime edge, before decoding; U+FFFD itself is a valid character.)
 */
export function hasLoneSurrogate(s: string): boolean {
  // Most text holds no surrogate at all, and a scan for one costs far less than the expression.
  for (let i = 0; i < s.length; i++) if ((s.charCodeAt(i) & 0xf800) === 0xd800) return LONE_SURROGATE.test(s);
  return false;
}

// The checks below are the core's own door: whatever a runtime hands it, the core never writes
// an entry that storage could not hold (too long, or not text).

export function checkKey(key: string): string | null {
  if (key.length === 0) return "the key is empty; give a key of 1 to 1024 bytes";
  const keyBytes = bytesOver(key, KEY_BYTES_MAX);
  if (keyBytes !== null) return `the key is ${keyBytes} bytes; keys are at most ${KEY_BYTES_MAX} bytes`;
  if (hasLoneSurrogate(key)) return "the key is not valid Unicode text (a lone surrogate)";
  return null;
}

export function checkValue(value: string): string | null {
  const bytes = bytesOver(value, VALUE_BYTES_MAX);
  if (bytes !== null) return `the value is ${bytes} bytes; values are at most ${VALUE_BYTES_MAX} bytes`;
  if (hasLoneSurrogate(value)) return "the value is not valid Unicode text (a lone surrogate)";
  return null;
}

/**
 * A SET's session: a client id with a sequence of 1 or more and a first unanswered sequence from
 * sequence - SESSION_WINDOW_MAX + 1 up to the sequence itself, or none of them (all "" or 0).
 */
export function checkSession(clientId: string, sequence: number, firstUnanswered: number): string | null {
  const bytes = bytesOver(clientId, CLIENT_ID_BYTES_MAX);
  if (bytes !== null) return `the client id is ${bytes} bytes; client ids are at most ${CLIENT_ID_BYTES_MAX} bytes`;
  if (hasLoneSurrogate(clientId)) return "the client id is not valid Unicode text (a lone surrogate)";
  if (!Number.isSafeInteger(sequence) || sequence < 0) return `the sequence ${sequence} is not a whole number of 0 or more`;
  if (!Number.isSafeInteger(firstUnanswered) || firstUnanswered < 0) return `the first unanswered sequence ${firstUnanswered} is not a whole number of 0 or more`;
  if (clientId === "") {
    if (sequence !== 0) return "a sequence needs a client id; send both or neither";
    if (firstUnanswered !== 0) return "a first unanswered sequence needs a client id and a sequence";
    return null;
  }
  if (sequence === 0) return "a client id needs a sequence of 1 or more (1 for the client's first SET, then one more per SET)";
  if (firstUnanswered === 0) return "a client id needs a first unanswered sequence of 1 or more (the SET's own sequence when it is the only one outstanding)";
  if (firstUnanswered > sequence) {
    return `the first unanswered sequence ${firstUnanswered} is above the SET's own sequence ${sequence}, which is itself unanswered; send at most ${sequence}`;
  }
  if (sequence - firstUnanswered >= SESSION_WINDOW_MAX) {
    return (
      `sequence ${sequence} is ${sequence - firstUnanswered} past the first unanswered sequence ${firstUnanswered}; a session may have at most ` +
      `${SESSION_WINDOW_MAX} SETs outstanding (sequence - firstUnanswered below ${SESSION_WINDOW_MAX}): wait for the earlier SETs to be answered, or give up on them`
    );
  }
  return null;
}

/**
 * Parses a request line. The key is the word after the command; for SET the value is the rest
 * of the line after one space (so values may hold spaces). Commands are case-insensitive.
 */
export function parseRequest(line: string, clientId = "", sequence = 0, firstUnanswered = sequence): Result<ClientRequest> {
  if (utf8Bytes(line) > REQUEST_BYTES_MAX) return { ok: false, error: `the request is longer than ${REQUEST_BYTES_MAX} bytes` };
  if (hasLoneSurrogate(line)) return { ok: false, error: "the request is not valid Unicode text (a lone surrogate)" };
  const trimmed = line.replace(/^[ \t]+/, "").replace(/[\r\n]+$/, "");
  if (trimmed.length === 0) return { ok: false, error: "empty request; send SET <key> <value> or GET <key>" };
  const firstSpace = trimmed.search(/[ \t]/);
  const verb = (firstSpace < 0 ? trimmed : trimmed.slice(0, firstSpace)).toUpperCase();
  const rest = firstSpace < 0 ? "" : trimmed.slice(firstSpace + 1);
  switch (verb) {
    case "GET":
      return parseGet(rest);
    case "SET":
      return parseSet(rest, clientId, sequence, firstUnanswered);
    default:
      return { ok: false, error: `unknown command "${verb.slice(0, 32)}"; send SET <key> <value> or GET <key>` };
  }
}

function parseGet(rest: string): Result<ClientRequest> {
  const key = rest.trim();
  if (key.length === 0) return { ok: false, error: "GET needs a key: GET <key>" };
  if (/[ \t]/.test(key)) return { ok: false, error: "GET takes one key: GET <key> (keys have no spaces in request lines)" };
  const bad = checkKey(key);
  return bad ? { ok: false, error: bad } : { ok: true, value: { kind: "get", key } };
}

function parseSet(rest: string, clientId: string, sequence: number, firstUnanswered: number): Result<ClientRequest> {
  const space = rest.search(/[ \t]/);
  if (rest.trim().length === 0 || space <= 0) return { ok: false, error: "SET needs a key and a value: SET <key> <value>" };
  const key = rest.slice(0, space);
  const value = rest.slice(space + 1);
  const bad = checkKey(key) ?? checkValue(value);
  return bad ? { ok: false, error: bad } : { ok: true, value: { kind: "set", key, value, clientId, sequence, firstUnanswered } };
}

/** The `{operation}` of the dump lines: `SET x 6`, `GET x`, `NO-OP`, `CONFIG voters 0,1,2; learners 5`. */
export function formatOperation(request: ClientRequest | Command): string {
  switch (request.kind) {
    case "set":
      return `SET ${request.key} ${request.value}`;
    case "get":
      return `GET ${request.key}`;
    case "noop":
      return "NO-OP";
    case "config":
      return `CONFIG ${formatMembers(request.members)}`;
  }
}
