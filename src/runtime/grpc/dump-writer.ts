// dump.txt: the event lines, append-only, buffered (not fsynced).

import type { WriteStream } from "node:fs";
import { finished } from "node:stream/promises";

const DUMP_BUFFER_BYTES_MAX = 8 << 20;

/** Append-only event lines, buffered by a write stream; bounded, so a stalled disk drops lines. */
export class DumpWriter {
  private droppedLineCount = 0;
  private failed = false;

  constructor(
    private readonly stream: WriteStream,
    private readonly filePath: string,
    private readonly warn: (message: string) => void,
  ) {
    stream.on("error", (err) => this.fail(err));
  }

  append(line: string): void {
    if (this.failed) return;
    if (this.stream.writableLength > DUMP_BUFFER_BYTES_MAX) {
      this.droppedLineCount++;
      return;
    }
    if (this.droppedLineCount > 0) {
      this.stream.write(`(${this.droppedLineCount} dump lines dropped: the disk was slower than the events)\n`);
      this.droppedLineCount = 0;
    }
    // One event a line: a line break inside an event (from a key or value) is shown escaped.
    this.stream.write(`${line.replace(/\r/g, "\\r").replace(/\n/g, "\\n")}\n`);
  }

  async close(): Promise<void> {
    this.stream.end();
    try {
      await finished(this.stream);
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.warn(`cannot write ${this.filePath}: ${err instanceof Error ? err.message : String(err)}; event lines are no longer recorded`);
  }
}
