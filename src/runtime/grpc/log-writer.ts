// logs.txt as the storage's writes leave it: where it starts (its START line, if compacted), the
// byte offset just past each entry's line, where the reserved zero bytes after the lines end
// (log-file.ts), and the three writes that change it: a truncation in place, a rewrite that drops a
// compacted prefix (atomic), and an append (one write, fdatasynced). One write at a time: the
// storage's write loop calls these in order.

import { assert, type Entry, type LogStart } from "../../raft/index.js";
import type { FileLayer, LayerFile, SyncOn } from "./file-layer.js";
import { CHECKSUM_TOKEN_CHARS } from "./line-checksum.js";
import { appendLog, encodeStartLine, rewriteLog, truncateLog, type LogScan } from "./log-file.js";
import { encodeEntryLine } from "./log-line.js";

/** Bytes of an entry's line in logs.txt: its text, the checksum token and the newline. */
function lineBytes(entry: Entry): number {
  return encodeEntryLine(entry).length + CHECKSUM_TOKEN_CHARS + 1;
}

export class LogWriter {
  private start: LogStart;
  private headerBytes: number;
  /** ends[i]: the byte offset just past the line of index start.prevIndex + 1 + i. */
  private ends: number[];
  /** Where the durable lines of logs.txt end. */
  durableBytes: number;
  /** The file's length: its lines, then reserved zero bytes. */
  private fileBytes: number;
  /** fsync and fdatasync calls made. */
  syncs = 0;

  constructor(
    private readonly layer: FileLayer,
    private file: LayerFile,
    scan: LogScan,
    bytes: number,
    fileBytes: number,
    /** Zero bytes an append that reaches the file's end writes after its lines (log-file.ts). */
    private readonly reserveBytes: number,
  ) {
    this.start = scan.start;
    this.headerBytes = scan.headerBytes;
    this.ends = scan.lineEnds;
    this.durableBytes = bytes;
    this.fileBytes = Math.max(bytes, fileBytes);
  }

  /**
   * The last index the file holds (its start when it holds no entry). Every field changes only once
   * the write that changes it is durable, so this is also the durable log's last index.
   */
  get lastIndex(): number {
    return this.start.prevIndex + this.ends.length;
  }

  /** The byte offset just past index `i`'s line (the START line's end for the file's prevIndex). */
  private endOf(i: number): number {
    return i === this.start.prevIndex ? this.headerBytes : this.ends[i - this.start.prevIndex - 1]!;
  }

  /** Cuts the file after index `keep` in place and syncs it (unless `sync` is false: a mutation). */
  async truncate(keep: number, sync: boolean): Promise<void> {
    if (keep >= this.lastIndex) return;
    const bytes = this.endOf(Math.max(keep, this.start.prevIndex));
    await truncateLog(this.file, bytes, sync);
    this.syncs++;
    this.ends.length = Math.max(0, keep - this.start.prevIndex);
    this.durableBytes = bytes;
    this.fileBytes = bytes;
  }

  /**
   * Rewrites the file to start after `start`, keeping the lines after it (up to `keep` when the
   * same batch truncates), atomically: a crash leaves the old file or the new one, whole.
   */
  async compact(start: LogStart, keep: number | null): Promise<void> {
    const last = Math.min(keep ?? this.lastIndex, this.lastIndex);
    const from = Math.max(start.prevIndex, this.start.prevIndex);
    const fromBytes = this.endOf(Math.min(from, this.lastIndex));
    const toBytes = last > from ? this.endOf(last) : fromBytes;
    const rewritten = await rewriteLog(this.layer, this.file, start, fromBytes, toBytes);
    this.syncs += 2;
    const old = this.file;
    this.file = rewritten;
    await old.close();
    const headerBytes = encodeStartLine(start).length;
    const kept = last > from ? this.ends.slice(from - this.start.prevIndex, last - this.start.prevIndex) : [];
    this.ends = kept.map((end) => end - fromBytes + headerBytes);
    this.start = start;
    this.headerBytes = headerBytes;
    this.durableBytes = headerBytes + (toBytes - fromBytes);
    this.fileBytes = this.durableBytes;
  }

  /** Appends entries (the first has index base + 1) as one write and fdatasyncs it (waiting `syncOn`). */
  async append(base: number, entries: readonly Entry[], syncOn: SyncOn): Promise<void> {
    assert(base === this.lastIndex, () => `appending after index ${base}, but logs.txt ends at ${this.lastIndex}`);
    let at = this.endOf(base);
    const ends = await appendLog(this.file, { dataBytes: at, fileBytes: this.fileBytes }, entries, this.reserveBytes, syncOn);
    this.durableBytes = ends.dataBytes;
    this.fileBytes = ends.fileBytes;
    this.syncs++;
    for (const e of entries) this.ends.push((at += lineBytes(e)));
    assert(at === this.durableBytes, "line lengths disagree with the bytes written");
  }

  /** After a failed write: cut the file back to its durable bytes and sync (what failed may be in the page cache only). */
  async rollBack(): Promise<void> {
    this.fileBytes = this.durableBytes;
    await this.file.truncate(this.durableBytes);
    await this.file.sync();
  }

  /** Cuts the reserved space off (a stopped node's logs.txt is its lines alone) and closes the file. */
  async close(): Promise<void> {
    try {
      if (this.fileBytes > this.durableBytes) await truncateLog(this.file, this.durableBytes);
    } finally {
      await this.file.close();
    }
  }
}
