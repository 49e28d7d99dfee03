// The checksum token that ends every line of logs.txt and metadata.txt: a space, a marker and
// the CRC-32C (Castagnoli) of the line before that space and of the marker, as 8 lowercase hex
// digits. The marker is `#`, or `*` on the last line of one write of logs.txt (recovery uses it
// to tell the unsynced tail of the last write from damage to data synced before it).
//   SET greeting hello%20world 3 #6d1f0c2a
//   NO-OP 4 *0b9a4f13

export type LineMark = "#" | "*";

/** Token length: space, marker, 8 hex digits. */
export const CHECKSUM_TOKEN_CHARS = 10;

const CRC32C_TABLE = ((): Uint32Array => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C of the string's char codes (the lines are ASCII, so these are its bytes). */
export function crc32c(text: string): number {
  return (crc32cOf(text, 0xffffffff) ^ 0xffffffff) >>> 0;
}

/** The running CRC state after `text`, from state `crc` (no pre- or post-inversion). */
function crc32cOf(text: string, crc: number): number {
  for (let i = 0; i < text.length; i++) crc = CRC32C_TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  return crc;
}

/** CRC-32C of `text` followed by the marker character, with no string built for the pair. */
function crc32cMarked(text: string, mark: LineMark): number {
  const crc = crc32cOf(text, 0xffffffff);
  return ((CRC32C_TABLE[(crc ^ mark.charCodeAt(0)) & 0xff]! ^ (crc >>> 8)) ^ 0xffffffff) >>> 0;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/** `text` with its checksum token (no newline). */
export function withChecksum(text: string, mark: LineMark): string {
  return `${text} ${mark}${hex8(crc32cMarked(text, mark))}`;
}

export type CheckedLine =
  | { readonly ok: true; readonly text: string; readonly mark: LineMark }
  | { readonly ok: false; readonly error: string };

/** Splits off and verifies a line's checksum token. */
export function checkLine(line: string): CheckedLine {
  const at = line.length - CHECKSUM_TOKEN_CHARS;
  const mark = line[at + 1];
  if (at < 0 || line[at] !== " " || (mark !== "#" && mark !== "*") || !/^[0-9a-f]{8}$/.test(line.slice(at + 2))) {
    return {
      ok: false,
      error:
        "no checksum token at the end of the line (want ` #` or ` *` and 8 hex digits); files written before raft-lease 0.2 carry none: " +
        "move this data dir aside and let the node catch up from its peers",
    };
  }
  const text = line.slice(0, at);
  const want = hex8(crc32cMarked(text, mark));
  if (line.slice(at + 2) !== want) return { ok: false, error: `checksum mismatch (the line reads ${line.slice(at + 2)}, its content gives ${want})` };
  return { ok: true, text, mark };
}
