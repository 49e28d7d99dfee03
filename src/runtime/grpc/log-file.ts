// logs.txt on the disk: reading it back at open (streamed, line by line, any size) and telling a
// torn tail from damage, and the writes that keep it (appends at a known offset, truncation in
// place, rolling an unsynced write back, and the rewrite that drops a compacted prefix).
//
// A log that was never compacted starts with index 1 on its first line. Once a snapshot lets a
// prefix go, the file is rewritten (atomically) to start with `START <prevIndex> <prevTerm>`: the
// index and term of the last entry the prefix held; the next line holds index prevIndex + 1.
//
// Past its last line the file may hold zero bytes: space reserved ahead of the appends
// (LOG_RESERVE_BYTES at a time, written and synced like data). An fdatasync that does not change
// the file's length has no metadata to commit; one that grows the file commits the file system's
// journal, and with three nodes on one disk those commits queue behind each other (three processes
// appending 180-byte lines: 0.51 ms per write and fdatasync, against 0.27 ms inside reserved space).
// A node that stops cleanly cuts the reservation off, so a stopped node's logs.txt is its lines
// alone; after a crash the zeros stay, and a reader takes zero bytes after the last line as free.
//
// Every write of the log ends with a line marked `*` and is synced before the next write starts,
// and open syncs what it finds, so only the last write can be unsynced. A crash in it may leave
// the write cut short, or parts of it as zeros (pages persisted out of order). Recovery therefore
// drops, as torn, a bad part that starts with zeros or is the unfinished last line, when no `*`
// line follows it except as the file's last line. A complete line without zeros that fails its
// checksum, or a bad part followed by a later write, is damage to synced data: the node stops.

import path from "node:path";
import { assert, assertNever, LOG_START_EMPTY, logIndex, term as toTerm, type Entry, type LogStart, type Term } from "../../raft/index.js";
import type { FileLayer, LayerFile, SyncOn } from "./file-layer.js";
import { corrupt } from "./file-io.js";
import { checkLine, withChecksum, type LineMark } from "./line-checksum.js";
import { encodeEntryLine, parseEntryLine } from "./log-line.js";
import { parseCount, quote } from "./text-fields.js";

/** The longest line logs.txt may hold (a 64 KiB value, escaped, fits several times over). */
export const LOG_LINE_BYTES_MAX = 1 << 20;
export const LOG_READ_CHUNK_BYTES = 1 << 20;
/** Zero bytes written past the last line when an append reaches the end of the reserved space. */
export const LOG_RESERVE_BYTES = 1 << 20;

export interface LogScan {
  /** Where the file's entries start (its START line; index 1 first when it has none). */
  start: LogStart;
  /** Bytes of the START line (0: none). */
  headerBytes: number;
  readonly entries: Entry[];
  /** Byte offset just past each entry's newline. */
  readonly lineEnds: number[];
  /** What recovery must do to the tail before the file is used, or null. */
  readonly repair: TailRepair | null;
}

export type TailRepair =
  | { readonly kind: "drop-torn"; readonly keepBytes: number; readonly lineNumber: number; readonly reason: string }
  | { readonly kind: "add-newline"; readonly atBytes: number; readonly lineNumber: number };

/** The START line of a compacted logs.txt, with its checksum token and newline. */
export function encodeStartLine(start: LogStart): string {
  return `${withChecksum(`START ${start.prevIndex} ${start.prevTerm}`, "#")}\n`;
}

/** A first line that is a START line: the start it names, or an error; null when it is an entry. */
function parseStartLine(text: string): LogStart | string | null {
  const fields = text.split(" ");
  if (fields[0] !== "START") return null;
  const prevIndex = fields.length === 3 ? parseCount(fields[1]!, 1) : null;
  const prevTerm = fields.length === 3 ? parseCount(fields[2]!, 1) : null;
  if (prevIndex === null || prevTerm === null) return `bad START line ${quote(text)} (want START <prevIndex> <prevTerm>)`;
  return { prevIndex: logIndex(prevIndex), prevTerm: toTerm(prevTerm) };
}

/** One line of logs.txt with its checksum token and newline. */
export function encodeLogLine(entry: Entry, mark: LineMark): string {
  return `${withChecksum(encodeEntryLine(entry), mark)}\n`;
}

type LineVerdict = { readonly ok: true; readonly entry: Entry; readonly mark: LineMark } | { readonly ok: false; readonly error: string };

function judgeLine(line: string): LineVerdict {
  const checked = checkLine(line);
  if (!checked.ok) return checked;
  const parsed = parseEntryLine(checked.text);
  if (!parsed.ok) return { ok: false, error: `${parsed.error} (under a valid checksum: written so, not damaged by a crash)` };
  return { ok: true, entry: parsed.entry, mark: checked.mark };
}

interface BadPart {
  readonly lineNumber: number;
  readonly startBytes: number;
  readonly reason: string;
  /** A `*` line after the bad part: the end of the write that holds it. */
  readonly writeEndLine: number | null;
}

/** Scans logs.txt line by line. Lines are ASCII by construction, so they are read as latin1. */
export async function scanLog(file: LayerFile): Promise<LogScan> {
  const scan: LogScan = { start: LOG_START_EMPTY, headerBytes: 0, entries: [], lineEnds: [], repair: null };
  const chunk = Buffer.alloc(LOG_READ_CHUNK_BYTES);
  let carry = Buffer.alloc(0);
  let carryStart = 0; // file offset of carry[0]
  let bad: BadPart | null = null;
  let lineNumber = 0;
  for (let position = 0; ; ) {
    const n = await file.read(chunk, position);
    if (n === 0) break;
    position += n;
    carry = carry.length === 0 ? Buffer.from(chunk.subarray(0, n)) : Buffer.concat([carry, chunk.subarray(0, n)]);
    let start = 0;
    for (let newline = carry.indexOf(0x0a); newline >= 0; newline = carry.indexOf(0x0a, start)) {
      lineNumber++;
      bad = takeLine(scan, file.filePath, carry.subarray(start, newline), carryStart + start, lineNumber, bad);
      start = newline + 1;
    }
    carry = carry.subarray(start);
    carryStart += start;
    if (carry.length > LOG_LINE_BYTES_MAX && withoutReservedSpace(carry).length > LOG_LINE_BYTES_MAX) throw corrupt(file.filePath, lineNumber + 1, `a line longer than ${LOG_LINE_BYTES_MAX} bytes`);
  }
  return finishScan(scan, file.filePath, withoutReservedSpace(carry), carryStart, lineNumber + 1, bad);
}

/** The part after the last newline without its trailing zero bytes (reserved space, or the zeros of a torn write: neither holds data). */
function withoutReservedSpace(tail: Buffer): Buffer {
  let end = tail.length;
  while (end > 0 && tail[end - 1] === 0) end--;
  return tail.subarray(0, end);
}

/** Takes one complete line; returns the first bad part seen so far. */
function takeLine(scan: LogScan, filePath: string, bytes: Buffer, startBytes: number, lineNumber: number, bad: BadPart | null): BadPart | null {
  if (lineNumber === 1 && takeStartLine(scan, filePath, bytes)) return null;
  const hasZeros = bytes.includes(0);
  const verdict = hasZeros ? null : judgeLine(bytes.toString("latin1"));
  if (hasZeros && endsWrite(bytes)) {
    // Zeros glued to the front of a whole `*` line (a zeroed page that ended where the line
    // began): that line still ends a write, and any line after it proves the zeros were synced.
    if (bad !== null && bad.writeEndLine !== null) throw syncedZeros(filePath, bad);
    return { ...(bad ?? { lineNumber, startBytes, reason: "zeros where a line should be" }), writeEndLine: lineNumber };
  }
  if (bad === null && verdict?.ok === true) {
    const previousTerm: Term | 0 = scan.entries.at(-1)?.term ?? scan.start.prevTerm;
    if (verdict.entry.term < previousTerm) throw corrupt(filePath, lineNumber, `term ${verdict.entry.term} is below the previous entry's term ${previousTerm}`);
    scan.entries.push(verdict.entry);
    scan.lineEnds.push(startBytes + bytes.length + 1);
    return null;
  }
  if (bad === null) {
    if (verdict !== null && !verdict.ok) throw corrupt(filePath, lineNumber, verdict.error);
    return { lineNumber, startBytes, reason: "zeros where a line should be", writeEndLine: null };
  }
  // After a zeroed part only the rest of that same unsynced write may follow.
  if (bad.writeEndLine !== null) throw syncedZeros(filePath, bad);
  if (verdict !== null && !verdict.ok) throw corrupt(filePath, bad.lineNumber, `${bad.reason}, and line ${lineNumber} after it is damaged too (${verdict.error})`);
  if (verdict?.ok === true && verdict.mark === "*") return { ...bad, writeEndLine: lineNumber };
  return bad;
}

/** The part of a line after its last zero byte is a whole line marked `*` (the end of a write). */
function endsWrite(bytes: Buffer): boolean {
  const after = bytes.subarray(bytes.lastIndexOf(0) + 1);
  if (after.length === 0) return false;
  const verdict = judgeLine(after.toString("latin1"));
  return verdict.ok && verdict.mark === "*";
}

/**
 * Reads a START line, if the first line is one. The file was written whole and synced before it
 * replaced the old one, so a bad START line is damage, never a torn write.
 */
function takeStartLine(scan: LogScan, filePath: string, bytes: Buffer): boolean {
  const checked = bytes.includes(0) ? null : checkLine(bytes.toString("latin1"));
  if (checked === null || !checked.ok || !checked.text.startsWith("START")) return false;
  const start = parseStartLine(checked.text);
  if (start === null) return false;
  if (typeof start === "string") throw corrupt(filePath, 1, start);
  scan.start = start;
  scan.headerBytes = bytes.length + 1;
  return true;
}

/** Zeros followed by a later write: the zeroed data had been synced. */
function syncedZeros(filePath: string, bad: BadPart): Error {
  return corrupt(filePath, bad.lineNumber, `zeros inside data that was synced (a later write follows line ${bad.writeEndLine})`);
}

function finishScan(scan: LogScan, filePath: string, tail: Buffer, tailStart: number, lineNumber: number, bad: BadPart | null): LogScan {
  if (bad !== null) {
    if (bad.writeEndLine !== null && tail.length > 0) throw syncedZeros(filePath, bad);
    return { ...scan, repair: { kind: "drop-torn", keepBytes: bad.startBytes, lineNumber: bad.lineNumber, reason: bad.reason } };
  }
  if (tail.length === 0) return scan;
  const verdict = tail.includes(0) ? null : judgeLine(tail.toString("latin1"));
  if (verdict?.ok === true) {
    // Complete and intact but for its newline: the write stopped one byte short. Kept.
    const previousTerm: Term | 0 = scan.entries.at(-1)?.term ?? scan.start.prevTerm;
    if (verdict.entry.term < previousTerm) throw corrupt(filePath, lineNumber, `term ${verdict.entry.term} is below the previous entry's term ${previousTerm}`);
    scan.entries.push(verdict.entry);
    scan.lineEnds.push(tailStart + tail.length + 1);
    return { ...scan, repair: { kind: "add-newline", atBytes: tailStart + tail.length, lineNumber } };
  }
  const reason = verdict === null ? "zeros where a line should be" : `no newline at its end (${verdict.error})`;
  return { ...scan, repair: { kind: "drop-torn", keepBytes: tailStart, lineNumber, reason } };
}

/** Applies a tail repair and syncs it. */
export async function repairTail(file: LayerFile, repair: TailRepair, warn: (m: string) => void): Promise<void> {
  switch (repair.kind) {
    case "drop-torn":
      warn(`data dir ${file.filePath} line ${repair.lineNumber}: dropped a torn tail (${repair.reason}), left by a crash in the middle of a write that was never synced, so never acknowledged`);
      await file.truncate(repair.keepBytes);
      break;
    case "add-newline":
      await file.write(Buffer.from("\n", "latin1"), repair.atBytes);
      break;
    default:
      assertNever(repair);
  }
  await file.sync();
}

/** Cuts logs.txt to `bytes` in place and syncs it (before any append that follows, so a crash never leaves new lines in front of lines that were cut off). */
export async function truncateLog(file: LayerFile, bytes: number, sync = true): Promise<void> {
  await file.truncate(bytes);
  if (sync) await file.sync();
}

/** Where logs.txt's lines end and where the file ends (its lines, then reserved zero bytes). */
export interface LogEnds {
  readonly dataBytes: number;
  readonly fileBytes: number;
}

/**
 * Appends `entries` at `at.dataBytes` as one write, the last line marked `*`, and fdatasyncs
 * (waiting `syncOn`). A write that passes `at.fileBytes` carries `reserveBytes` of zeros after its lines.
 */
export async function appendLog(file: LayerFile, at: LogEnds, entries: readonly Entry[], reserveBytesWanted: number, syncOn: SyncOn): Promise<LogEnds> {
  assert(entries.length > 0, "appendLog needs entries");
  const last = entries.length - 1;
  const text = entries.map((e, i) => encodeLogLine(e, i === last ? "*" : "#")).join("");
  const dataBytes = at.dataBytes + Buffer.byteLength(text, "latin1");
  const reserveBytes = dataBytes > at.fileBytes ? reserveBytesWanted : 0;
  const bytes = Buffer.alloc(dataBytes - at.dataBytes + reserveBytes); // zero-filled past the text
  bytes.write(text, 0, "latin1");
  await file.write(bytes, at.dataBytes);
  await file.datasync(syncOn);
  return { dataBytes, fileBytes: Math.max(at.fileBytes, dataBytes + reserveBytes) };
}

/**
 * Replaces logs.txt by a START line for `start` and the bytes [fromBytes, toBytes) of the current
 * file (the lines of the entries kept), atomically: a temporary file, synced, renamed over, the
 * folder synced. Returns the new file, opened; the caller closes the old one.
 */
export async function rewriteLog(layer: FileLayer, old: LayerFile, start: LogStart, fromBytes: number, toBytes: number): Promise<LayerFile> {
  const tmpPath = `${old.filePath}.tmp`;
  const tmp = await layer.open(tmpPath, "replace");
  if (tmp === null) throw new Error(`cannot create ${tmpPath}`);
  try {
    const header = Buffer.from(encodeStartLine(start), "latin1");
    await tmp.write(header, 0);
    const chunk = Buffer.alloc(Math.min(LOG_READ_CHUNK_BYTES, Math.max(1, toBytes - fromBytes)));
    for (let at = fromBytes, to = header.length; at < toBytes; ) {
      const n = await old.read(chunk.subarray(0, Math.min(chunk.length, toBytes - at)), at);
      assert(n > 0, () => `${old.filePath} ended at ${at}, before ${toBytes}`);
      await tmp.write(chunk.subarray(0, n), to);
      at += n;
      to += n;
    }
    await tmp.sync();
  } finally {
    await tmp.close();
  }
  await layer.rename(tmpPath, old.filePath);
  await layer.syncDir(path.dirname(old.filePath));
  const reopened = await layer.open(old.filePath, "existing");
  if (reopened === null) throw new Error(`${old.filePath} vanished after it was rewritten`);
  return reopened;
}
