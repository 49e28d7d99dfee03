/**
 * Escaping of keys, values and client ids in `logs.txt` and `metadata.txt`.
 *
 * Every string is written as one token: a run of characters with no space, tab or line break,
 * so a line splits into its fields at single spaces.
 *
 * - The empty string is written as the token `%-`.
 * - Printable ASCII characters from `!` (0x21) to `~` (0x7E) are written as themselves,
 *   except `%` and `@`.
 * - Every other character is written as its UTF-8 bytes, each byte as `%XX` with two
 *   uppercase hexadecimal digits. That covers `%` (`%25`), `@` (`%40`, so a token that starts
 *   with `@` is always a client session, never a key or value), space (`%20`), tab (`%09`),
 *   CR (`%0D`), LF (`%0A`), every other control character (0x00-0x1F, 0x7F) and every
 *   non-ASCII character.
 *
 * Examples: `hello world` is `hello%20world`, `50%` is `50%25`, `a@b.c` is `a%40b.c`,
 * `é` is `%C3%A9`, `😀` is `%F0%9F%98%80`, a line break is `%0A`, the empty string is `%-`.
 *
 * Decoding accepts exactly what encoding produces and refuses anything else: a `%` not
 * followed by two uppercase hex digits (apart from the whole token `%-`), an escape of a
 * character that is written as itself (`%41` for `A`), a raw character that must be escaped,
 * or escaped bytes that are not valid UTF-8. So every string has exactly one spelling, and a
 * damaged token is reported, never misread.
 */

import { hasLoneSurrogate } from "../../raft/index.js";
import { assert, type Result } from "../../raft/index.js";

/** The token that stands for the empty string. No non-empty string encodes to it. */
export const EMPTY_TOKEN = "%-";

const PERCENT = 0x25;
const AT = 0x40;
const HEX_UPPER = "0123456789ABCDEF";

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** True for the bytes written as themselves: printable ASCII except `%` and `@`. */
function isLiteralByte(byte: number): boolean {
  return byte >= 0x21 && byte <= 0x7e && byte !== PERCENT && byte !== AT;
}

/** A string of literal bytes only (printable ASCII but `%` and `@`): its own token. */
const ALL_LITERAL = /^[!-$&-?A-~]+$/;

/** Encodes `s` as one token. `s` must be valid text (no lone surrogate): UTF-8 cannot hold it. */
export function encodeToken(s: string): string {
  if (s.length === 0) return EMPTY_TOKEN;
  if (ALL_LITERAL.test(s)) return s; // the common case, without a byte loop
  assert(!hasLoneSurrogate(s), `cannot store a string with a lone surrogate: ${JSON.stringify(s.slice(0, 64))}`);
  const bytes = utf8Encoder.encode(s);
  let out = "";
  for (const byte of bytes) {
    out += isLiteralByte(byte) ? String.fromCharCode(byte) : `%${HEX_UPPER[byte >> 4]}${HEX_UPPER[byte & 0xf]}`;
  }
  return out;
}

function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30; // 0-9
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10; // A-F
  return -1;
}

/** Decodes a token written by `encodeToken`; anything `encodeToken` cannot produce is an error. */
export function decodeToken(token: string): Result<string> {
  if (token === EMPTY_TOKEN) return { ok: true, value: "" };
  if (token.length === 0) return { ok: false, error: "empty token (the empty string is written %-)" };
  if (ALL_LITERAL.test(token)) return { ok: true, value: token };
  const bytes = new Uint8Array(token.length); // each char yields at most one byte
  let length = 0;
  for (let i = 0; i < token.length; i++) {
    const code = token.charCodeAt(i);
    if (code === PERCENT) {
      const byte = decodeEscape(token, i);
      if (typeof byte === "string") return { ok: false, error: byte };
      bytes[length++] = byte;
      i += 2;
    } else if (isLiteralByte(code)) {
      bytes[length++] = code;
    } else {
      return { ok: false, error: `character U+${code.toString(16).toUpperCase().padStart(4, "0")} at offset ${i} must be escaped` };
    }
  }
  try {
    return { ok: true, value: utf8Decoder.decode(bytes.subarray(0, length)) };
  } catch {
    return { ok: false, error: "the escaped bytes are not valid UTF-8" };
  }
}

/** The byte of the `%XX` escape at `offset`, or what is wrong with it. */
function decodeEscape(token: string, offset: number): number | string {
  const high = hexDigit(token.charCodeAt(offset + 1));
  const low = hexDigit(token.charCodeAt(offset + 2));
  if (high < 0 || low < 0) {
    return `bad escape "${token.slice(offset, offset + 3)}" at offset ${offset} (want % and two uppercase hex digits)`;
  }
  const byte = high * 16 + low;
  if (isLiteralByte(byte)) return `escape "${token.slice(offset, offset + 3)}" at offset ${offset} stands for "${String.fromCharCode(byte)}", which is written as itself`;
  return byte;
}
