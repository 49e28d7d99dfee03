// Reading logs.txt back at open: parsing its lines and repairing a torn last line.

import type { FileHandle } from "node:fs/promises";
import { assert, type Entry } from "../../raft/types.js";
import { corrupt } from "./file-io.js";
import { parseEntryLine } from "./log-line.js";

export interface RecoveredLog {
  readonly entries: readonly Entry[];
  readonly lines: readonly string[];
  /** Bytes of the file up to and including the last good line's newline. */
  readonly goodBytes: number;
  /** Why the last line was dropped, or null when the file ended cleanly. */
  readonly torn: { readonly lineNumber: number; readonly reason: string } | null;
}

/**
 * Parses logs.txt. Lines are ASCII by construction, so bytes are read as latin1 and any byte
 * above 0x7F fails the token check. Only the last line may be bad (torn); terms never decrease.
 */
export function parseLog(bytes: Buffer, filePath: string): RecoveredLog {
  const entries: Entry[] = [];
  const lines: string[] = [];
  let start = 0;
  while (start < bytes.length) {
    const lineNumber = lines.length + 1;
    const newline = bytes.indexOf(0x0a, start);
    if (newline < 0) return { entries, lines, goodBytes: start, torn: { lineNumber, reason: "no newline at its end" } };
    const line = bytes.toString("latin1", start, newline);
    const parsed = parseEntryLine(line);
    if (!parsed.ok && newline === bytes.length - 1) return { entries, lines, goodBytes: start, torn: { lineNumber, reason: parsed.error } };
    if (!parsed.ok) throw corrupt(filePath, lineNumber, parsed.error);
    const previousTerm = entries.at(-1)?.term ?? 0;
    if (parsed.entry.term < previousTerm) throw corrupt(filePath, lineNumber, `term ${parsed.entry.term} is below the previous entry's term ${previousTerm}`);
    entries.push(parsed.entry);
    lines.push(`${line}\n`);
    start = newline + 1;
  }
  return { entries, lines, goodBytes: start, torn: null };
}

export async function repairTornLine(logFile: FileHandle, logPath: string, log: RecoveredLog, warn: (m: string) => void): Promise<void> {
  assert(log.torn !== null, "repairTornLine needs a torn line");
  warn(`data dir ${logPath} line ${log.torn.lineNumber}: dropped a torn last line (${log.torn.reason}), left by a crash mid-write; it was never acknowledged`);
  await logFile.truncate(log.goodBytes);
  await logFile.sync();
}
