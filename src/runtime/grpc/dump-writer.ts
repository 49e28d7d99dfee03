// dump.txt: the event lines, appended, never synced (diagnostics, not data), and bounded.
//
// When a write would take dump.txt past its size bound, the file is rotated: dump.txt becomes
// dump.1.txt, dump.1.txt becomes dump.2.txt, ..., and the oldest beyond DUMP_FILES_KEPT is
// replaced. So the event lines take at most (DUMP_FILES_KEPT + 1) x the bound. Lines waiting for
// the disk are bounded too: when the disk is slower than the events, lines are dropped and the
// drop is reported with a count.

import path from "node:path";
import { endOfTurn, type FileLayer, type LayerFile } from "./file-layer.js";
import { errorText } from "./file-io.js";

/** Default bound of dump.txt, in bytes (`--dump-max-bytes`). */
export const DUMP_BYTES_MAX_DEFAULT = 64 << 20;
/** The smallest bound accepted: a few long event lines. */
export const DUMP_BYTES_MAX_MIN = 64 << 10;
/** Rotated files kept besides dump.txt: dump.1.txt (newest) to dump.3.txt. */
export const DUMP_FILES_KEPT = 3;
const DUMP_BUFFER_BYTES_MAX = 8 << 20;
/** An operation in an event line (`SET key value`) is cut to this many characters. */
export const EVENT_OPERATION_CHARS_MAX = 200;

/** `text`, cut to `charsMax` characters with a note of how much was left out. */
export function abbreviate(text: string, charsMax: number): string {
  if (text.length <= charsMax) return text;
  return `${text.slice(0, charsMax)}... (${text.length - charsMax} more characters)`;
}

export class DumpWriter {
  private queued: string[] = [];
  private queuedBytes = 0;
  private droppedLineCount = 0;
  private writing: Promise<void> | null = null;
  private failed = false;

  private constructor(
    private readonly layer: FileLayer,
    private readonly filePath: string,
    private file: LayerFile,
    private fileBytes: number,
    private readonly bytesMax: number,
    private readonly warn: (message: string) => void,
  ) {}

  static async open(layer: FileLayer, filePath: string, bytesMax: number, warn: (message: string) => void): Promise<DumpWriter> {
    const file = await layer.open(filePath, "create");
    if (file === null) throw new Error(`cannot create ${filePath}`);
    return new DumpWriter(layer, filePath, file, await file.size(), Math.max(bytesMax, DUMP_BYTES_MAX_MIN), warn);
  }

  /** Queues one event line (one line: a line break inside it is shown escaped). */
  append(line: string): void {
    if (this.failed) return;
    if (this.queuedBytes > DUMP_BUFFER_BYTES_MAX) {
      this.droppedLineCount++;
      return;
    }
    if (this.droppedLineCount > 0) {
      this.push(`(${this.droppedLineCount} dump lines dropped: the disk was slower than the events)`);
      this.droppedLineCount = 0;
    }
    this.push(line.replace(/\r/g, "\\r").replace(/\n/g, "\\n"));
    this.writing ??= this.drain();
  }

  /** Writes what is queued and closes the file. */
  async close(): Promise<void> {
    while (this.writing !== null) await this.writing;
    await this.file.close().catch((err: unknown) => this.fail(err));
  }

  private push(line: string): void {
    const text = `${line}\n`;
    this.queued.push(text);
    this.queuedBytes += Buffer.byteLength(text, "utf8");
  }

  private async drain(): Promise<void> {
    await endOfTurn(); // lines of this turn go in one write, after the turn's messages leave
    try {
      while (this.queued.length > 0 && !this.failed) {
        const first = Buffer.byteLength(this.queued[0]!, "utf8");
        if (this.fileBytes > 0 && this.fileBytes + first > this.bytesMax) await this.rotate();
        const bytes = this.takeUpTo(this.bytesMax - this.fileBytes);
        await this.file.write(bytes, this.fileBytes);
        this.fileBytes += bytes.length;
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.writing = null;
    }
  }

  /** Takes queued lines that fit in `bytesFree` (at least one line). */
  private takeUpTo(bytesFree: number): Buffer {
    let count = 0;
    let bytes = 0;
    while (count < this.queued.length) {
      const next = Buffer.byteLength(this.queued[count]!, "utf8");
      if (count > 0 && bytes + next > bytesFree) break;
      bytes += next;
      count++;
    }
    const taken = this.queued.splice(0, count);
    this.queuedBytes -= bytes;
    return Buffer.from(taken.join(""), "utf8");
  }

  /** dump.txt -> dump.1.txt -> ... -> dump.<DUMP_FILES_KEPT>.txt, and a fresh dump.txt. */
  private async rotate(): Promise<void> {
    await this.file.close();
    for (let k = DUMP_FILES_KEPT; k >= 1; k--) {
      const from = k === 1 ? this.filePath : rotatedPath(this.filePath, k - 1);
      const existing = k === 1 ? this.file : await this.layer.open(from, "existing");
      if (existing === null) continue;
      if (k !== 1) await existing.close();
      await this.layer.rename(from, rotatedPath(this.filePath, k));
    }
    const fresh = await this.layer.open(this.filePath, "replace");
    if (fresh === null) throw new Error(`cannot create ${this.filePath}`);
    this.file = fresh;
    this.fileBytes = 0;
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.queued = [];
    this.warn(`cannot write ${this.filePath}: ${errorText(err)}; event lines are no longer recorded`);
  }
}

/** dump.txt's k-th rotated file: dump.<k>.txt beside it. */
export function rotatedPath(filePath: string, k: number): string {
  const ext = path.extname(filePath);
  return path.join(path.dirname(filePath), `${path.basename(filePath, ext)}.${k}${ext}`);
}
