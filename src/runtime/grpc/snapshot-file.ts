// snapshot.txt: the state machine as of one log index, as ASCII lines with checksum tokens
// (line-checksum.ts) and the escaping of logs.txt (escape.ts):
//
//   SNAPSHOT <lastIndex> <lastTerm> <keyCount> <sessionCount> #xxxxxxxx
//   MEMBERS <id>,<id>,... #xxxxxxxx
//   KEY <key> <value> #xxxxxxxx            keyCount lines
//   SESSION <clientId> <sequence> #xxxxxxxx sessionCount lines, least recently used first, or
//   SESSION <clientId> <firstUnanswered> <applied> #xxxxxxxx
//   END #xxxxxxxx
//
// A session's window (kv.ts) is its bound and the sequences applied at or above it. The short
// SESSION form, the only one before windows, is the window whose one applied sequence is its
// bound (a client with one SET at a time); any other window has the long form, <applied> being
// the sequences in ascending order as runs, `a` or `a-b` joined by commas (`-` when none).
//
// The same lines travel between nodes when a leader sends its snapshot (in chunks of whole lines),
// so one reader checks both a file and a transfer. Lines are produced lazily, so a writer or a
// sender can yield to the event loop between chunks while the image stays unchanged.

import path from "node:path";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { logIndex, SESSION_WINDOW_MAX, term, type Member, type Result, type SessionWindow, type Snapshot } from "../../raft/index.js";
import type { FileLayer, LayerFile } from "./file-layer.js";
import { decodeToken, encodeToken } from "./escape.js";
import { checkLine, withChecksum } from "./line-checksum.js";
import { parseCount, quote } from "./text-fields.js";
import { decodeMembers, encodeMembers } from "./members-text.js";

export const SNAPSHOT_FILE = "snapshot.txt";

/** The lines of a snapshot, each with its checksum token and newline. */
export function* snapshotLines(s: Snapshot): Generator<string> {
  const line = (text: string): string => `${withChecksum(text, "#")}\n`;
  yield line(`SNAPSHOT ${s.lastIndex} ${s.lastTerm} ${s.data.size} ${s.sessions.size}`);
  yield line(`MEMBERS ${encodeMembers(s.members)}`);
  for (const [k, v] of s.data) yield line(`KEY ${encodeToken(k)} ${encodeToken(v)}`);
  for (const [c, w] of s.sessions) yield line(`SESSION ${encodeToken(c)} ${encodeWindow(w)}`);
  yield line("END");
}

/** `<sequence>` for the window of a one-at-a-time client, else `<firstUnanswered> <runs>`. */
export function encodeWindow(w: SessionWindow): string {
  const a = w.applied;
  if (a.length === 1 && a[0] === w.firstUnanswered) return String(w.firstUnanswered);
  if (a.length === 0) return `${w.firstUnanswered} -`;
  const runs: string[] = [];
  for (let i = 0; i < a.length; ) {
    let j = i;
    while (j + 1 < a.length && a[j + 1] === a[j]! + 1) j++;
    runs.push(j === i ? String(a[i]) : `${a[i]}-${a[j]}`);
    i = j + 1;
  }
  return `${w.firstUnanswered} ${runs.join(",")}`;
}

/** Reads the fields after the client id of a SESSION line; an error says what is wrong. */
export function decodeWindow(fields: readonly string[]): SessionWindow | string {
  const first = parseCount(fields[0] ?? "", 0);
  if (first === null) return `bad sequence ${quote(fields[0] ?? "")}`;
  if (fields.length === 1) return { firstUnanswered: first, applied: [first] };
  const text = fields[1]!;
  if (text === "-") return { firstUnanswered: first, applied: [] };
  const applied: number[] = [];
  for (const run of text.split(",")) {
    const dash = run.indexOf("-");
    const from = parseCount(dash < 0 ? run : run.slice(0, dash), 0);
    const to = dash < 0 ? from : parseCount(run.slice(dash + 1), 0);
    if (from === null || to === null || (dash >= 0 && to <= from)) return `bad run ${quote(run)} of applied sequences (want a or a-b with a < b)`;
    const previous = applied.at(-1);
    if (from < first || (previous !== undefined && from <= previous + 1)) return `applied sequences ${quote(text)} are not ascending separate runs at or above ${first}`;
    if (to - first >= SESSION_WINDOW_MAX) return `applied sequence ${to} is ${SESSION_WINDOW_MAX} or more past the window's start ${first}`;
    for (let q = from; q <= to; q++) applied.push(q);
  }
  if (applied.length === 1 && applied[0] === first) return `the window ${quote(text)} has the short form: SESSION <clientId> ${first}`;
  return { firstUnanswered: first, applied };
}

/** Groups the lines into chunks of about `bytesMax` characters (at least one line each). */
export function* snapshotChunks(s: Snapshot, bytesMax: number): Generator<string> {
  let chunk = "";
  for (const l of snapshotLines(s)) {
    if (chunk.length > 0 && chunk.length + l.length > bytesMax) {
      yield chunk;
      chunk = "";
    }
    chunk += l;
  }
  if (chunk.length > 0) yield chunk;
}

type Phase = "header" | "members" | "keys" | "sessions" | "end" | "done";

/**
 * Reads snapshot lines one at a time (from a file or from chunks) and checks each: order, counts,
 * checksums, escaping. `finish` gives the snapshot once END was read.
 */
export class SnapshotReader {
  private phase: Phase = "header";
  private lastIndex = 0;
  private lastTerm = 0;
  private keyCount = 0;
  private sessionCount = 0;
  private members: Member[] = [];
  private readonly data = new Map<string, string>();
  private readonly sessions = new Map<string, SessionWindow>();
  private lineNumber = 0;
  private partial = "";

  /** Feeds text holding whole lines or parts of lines. Returns an error naming the line, or null. */
  feed(text: string): string | null {
    const lines = (this.partial + text).split("\n");
    this.partial = lines.pop() ?? "";
    for (const l of lines) {
      this.lineNumber += 1;
      const error = this.readLine(l);
      if (error !== null) return `line ${this.lineNumber}: ${error}`;
    }
    return null;
  }

  finish(): Result<Snapshot> {
    if (this.partial !== "") return { ok: false, error: `line ${this.lineNumber + 1}: the last line has no newline (a torn write)` };
    if (this.phase !== "done") return { ok: false, error: `the snapshot ends after line ${this.lineNumber}, before its END line` };
    const snapshot: Snapshot = { lastIndex: logIndex(this.lastIndex), lastTerm: term(this.lastTerm), members: this.members, data: this.data, sessions: this.sessions };
    return { ok: true, value: snapshot };
  }

  private readLine(raw: string): string | null {
    const checked = checkLine(raw);
    if (!checked.ok) return checked.error;
    const fields = checked.text.split(" ");
    switch (this.phase) {
      case "header":
        return this.readHeader(fields);
      case "members":
        return this.readMembers(fields);
      case "keys":
      case "sessions":
      case "end":
        return this.readBody(fields);
      case "done":
        return "a line after END";
    }
  }

  private readHeader(f: readonly string[]): string | null {
    if (f[0] !== "SNAPSHOT" || f.length !== 5) return `want SNAPSHOT <lastIndex> <lastTerm> <keyCount> <sessionCount>, found ${quote(f.join(" "))}`;
    const [index, t, keys, sessions] = [parseCount(f[1]!, 1), parseCount(f[2]!, 1), parseCount(f[3]!, 0), parseCount(f[4]!, 0)];
    if (index === null || t === null || keys === null || sessions === null) return `bad number in ${quote(f.join(" "))}`;
    [this.lastIndex, this.lastTerm, this.keyCount, this.sessionCount] = [index, t, keys, sessions];
    this.phase = "members";
    return null;
  }

  private readMembers(f: readonly string[]): string | null {
    if (f[0] !== "MEMBERS" || f.length !== 2) return `want MEMBERS <id>=<address>,..., found ${quote(f.join(" "))}`;
    const members = decodeMembers(f[1]!);
    if (!members.ok) return `bad member list: ${members.error}`;
    this.members = members.value;
    this.phase = this.nextBodyPhase();
    return null;
  }

  private readBody(f: readonly string[]): string | null {
    const error = this.readBodyLine(f);
    if (error !== null) return error;
    this.phase = this.nextBodyPhase();
    return null;
  }

  private readBodyLine(f: readonly string[]): string | null {
    if (this.phase === "keys") {
      if (f[0] !== "KEY" || f.length !== 3) return `want KEY <key> <value> (${this.keyCount - this.data.size} more), found ${quote(f[0] ?? "")}`;
      const [k, v] = [decodeToken(f[1]!), decodeToken(f[2]!)];
      if (!k.ok) return `bad key: ${k.error}`;
      if (!v.ok) return `bad value: ${v.error}`;
      if (this.data.has(k.value)) return `key ${quote(f[1]!)} appears twice`;
      this.data.set(k.value, v.value);
      return null;
    }
    if (this.phase === "sessions") {
      if (f[0] !== "SESSION" || (f.length !== 3 && f.length !== 4)) {
        return `want SESSION <clientId> <sequence> or SESSION <clientId> <firstUnanswered> <applied> (${this.sessionCount - this.sessions.size} more), found ${quote(f[0] ?? "")}`;
      }
      const c = decodeToken(f[1]!);
      if (!c.ok) return `bad client id: ${c.error}`;
      const w = decodeWindow(f.slice(2));
      if (typeof w === "string") return w;
      if (this.sessions.has(c.value)) return `session ${quote(f[1]!)} appears twice`;
      this.sessions.set(c.value, w);
      return null;
    }
    if (f[0] !== "END" || f.length !== 1) return `want END, found ${quote(f.join(" "))}`;
    this.phase = "done";
    return null;
  }

  private nextBodyPhase(): Phase {
    if (this.phase === "done") return "done";
    if (this.data.size < this.keyCount) return "keys";
    if (this.sessions.size < this.sessionCount) return "sessions";
    return "end";
  }
}

/** Parses a whole snapshot text. */
export function parseSnapshot(text: string): Result<Snapshot> {
  const reader = new SnapshotReader();
  const error = reader.feed(text);
  return error === null ? reader.finish() : { ok: false, error };
}

/** Bytes written per chunk when saving; the node serves requests between two chunks. */
const WRITE_CHUNK_BYTES = 256 << 10;

/**
 * Writes `<folder>/snapshot.txt` atomically: a temporary file written chunk by chunk (lines
 * copied into one reused buffer, yielding to the event loop between chunks, so no large string is
 * ever built), synced, renamed over the old one, the folder synced.
 */
export async function writeSnapshotFile(layer: FileLayer, folderPath: string, s: Snapshot): Promise<void> {
  const filePath = path.join(folderPath, SNAPSHOT_FILE);
  const tmpPath = `${filePath}.tmp`;
  const tmp = await layer.open(tmpPath, "replace");
  if (tmp === null) throw new Error(`cannot create ${tmpPath}`);
  try {
    const buffer = Buffer.allocUnsafe(WRITE_CHUNK_BYTES);
    let used = 0;
    let at = 0;
    for (const line of snapshotLines(s)) {
      if (used > 0 && used + line.length > buffer.length) {
        await tmp.write(buffer.subarray(0, used), at);
        at += used;
        used = 0;
        await yieldToEventLoop();
      }
      if (line.length > buffer.length) {
        await tmp.write(Buffer.from(line, "latin1"), at); // one very long line (a large escaped value)
        at += line.length;
      } else {
        used += buffer.write(line, used, "latin1");
      }
    }
    if (used > 0) await tmp.write(buffer.subarray(0, used), at);
    await tmp.sync();
  } finally {
    await tmp.close();
  }
  await layer.rename(tmpPath, filePath);
  await layer.syncDir(folderPath);
}

/** Reads and checks snapshot.txt, streamed; an error names the file and line. */
export async function readSnapshotFile(file: LayerFile): Promise<Result<Snapshot>> {
  const reader = new SnapshotReader();
  const chunk = Buffer.alloc(WRITE_CHUNK_BYTES);
  for (let position = 0; ; ) {
    const n = await file.read(chunk, position);
    if (n === 0) break;
    position += n;
    const error = reader.feed(chunk.subarray(0, n).toString("latin1"));
    if (error !== null) return { ok: false, error: `${file.filePath} ${error}` };
  }
  const done = reader.finish();
  return done.ok ? done : { ok: false, error: `${file.filePath}: ${done.error}` };
}
