// Durable storage of the production node: `<dataDir>/logs_node_<id>/` holding
//   logs.txt      one entry a line: `NO-OP <term>` or `SET <key> <value> <term> [@<clientId>:<sequence>]`
//   metadata.txt  `key value` lines: node_id, cluster, current_term, voted_for, commit_length
//   dump.txt      the event lines, append-only, buffered (not fsynced)
// Keys, values, client ids and the cluster fingerprint are escaped as escape.ts describes.
//
// Writes use group commit: persist calls made while a write is on the disk are written together
// with one write and one fdatasync. A call resolves only once its data is durable; calls resolve
// in order. Within a batch the log is made durable before metadata.txt, so on disk
// commit_length never exceeds the log, and current_term may lag the log's last term only after
// a crash between the two writes (recovery then continues in the log's last term with no vote).
//
// Recovery drops a torn last line of logs.txt (a crash mid-write; it was never acknowledged) with
// a warning and repairs the file. Any other damage stops the node with an error naming the file
// and line: nothing acknowledged is ever dropped.

import type { WriteStream } from "node:fs";
import { mkdir, open, readFile, rename, type FileHandle } from "node:fs/promises";
import { finished } from "node:stream/promises";
import path from "node:path";
import {
  assert,
  logIndex,
  nodeId as toNodeId,
  term as toTerm,
  type Entry,
  type HardState,
  type LogIndex,
  type NodeId,
  type Output,
  type PersistedState,
  type Term,
} from "../../raft/index.js";
import { decodeToken, encodeToken } from "./escape.js";

export interface StorageOptions {
  readonly dataDir: string;
  readonly nodeId: NodeId;
  /** Identifies the cluster (e.g. its member list); a data dir of another cluster is refused. */
  readonly clusterFingerprint: string;
  readonly warn: (message: string) => void;
}

/** The part of a core Output that storage makes durable. */
export type PersistRequest = Pick<Output, "hardState" | "truncateFrom" | "appendFrom" | "append">;

const LOGS_FILE = "logs.txt";
const METADATA_FILE = "metadata.txt";
const DUMP_FILE = "dump.txt";
const REWRITE_CHUNK_CHARS_MAX = 1 << 20;
const DUMP_BUFFER_BYTES_MAX = 8 << 20;

// ---------------------------------------------------------------- logs.txt lines

export type ParsedLine = { readonly ok: true; readonly entry: Entry } | { readonly ok: false; readonly error: string };

/** One logs.txt line, without its newline. Only ASCII: everything else is escaped. */
export function encodeEntryLine(entry: Entry): string {
  const command = entry.command;
  switch (command.kind) {
    case "noop":
      return `NO-OP ${entry.term}`;
    case "set": {
      const line = `SET ${encodeToken(command.key)} ${encodeToken(command.value)} ${entry.term}`;
      const hasSession = command.clientId !== "" || command.sequence !== 0;
      return hasSession ? `${line} @${encodeToken(command.clientId)}:${command.sequence}` : line;
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
    default:
      return { ok: false, error: `unknown command ${quote(command)} (want NO-OP or SET)` };
  }
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
  const session = sessionToken === undefined ? { clientId: "", sequence: 0 } : parseSession(sessionToken);
  if (typeof session === "string") return { ok: false, error: session };
  const command = { kind: "set", key: key.value, value: value.value, ...session } as const;
  return { ok: true, entry: { term: toTerm(entryTerm), command } };
}

function parseSession(token: string): { clientId: string; sequence: number } | string {
  const colon = token.lastIndexOf(":");
  if (!token.startsWith("@") || colon < 0) return `bad session ${quote(token)} (want @<clientId>:<sequence>)`;
  const clientId = decodeToken(token.slice(1, colon));
  if (!clientId.ok) return `bad session client id: ${clientId.error}`;
  const sequence = parseCount(token.slice(colon + 1), 0);
  if (sequence === null) return `bad session sequence ${quote(token.slice(colon + 1))}`;
  return { clientId: clientId.value, sequence };
}

/** A decimal integer >= min with no sign or leading zero, or null. */
function parseCount(text: string, min: number): number | null {
  if (!/^(0|[1-9][0-9]*)$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= min ? n : null;
}

function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text);
}

// ---------------------------------------------------------------- metadata.txt

interface Metadata {
  readonly nodeId: NodeId;
  readonly cluster: string;
  readonly hardState: HardState;
  /** 1-based line of each key, for error messages. */
  readonly lineOf: Readonly<Record<MetadataKey, number>>;
}

const METADATA_KEYS = ["node_id", "cluster", "current_term", "voted_for", "commit_length"] as const;
type MetadataKey = (typeof METADATA_KEYS)[number];

function encodeMetadata(id: NodeId, cluster: string, hardState: HardState): string {
  const votedFor = hardState.votedFor === null ? "none" : String(hardState.votedFor);
  return [
    `node_id ${id}`,
    `cluster ${encodeToken(cluster)}`,
    `current_term ${hardState.currentTerm}`,
    `voted_for ${votedFor}`,
    `commit_length ${hardState.commitIndex}`,
    "",
  ].join("\n");
}

function parseMetadata(text: string, filePath: string): Metadata {
  const lines = text.split("\n");
  const lastLine = lines.pop();
  if (lastLine !== "") throw corrupt(filePath, lines.length + 1, "the last line has no newline");
  const values = new Map<MetadataKey, { text: string; line: number }>();
  lines.forEach((line, i) => readMetadataLine(line, i + 1, filePath, values));
  const field = (key: MetadataKey): { text: string; line: number } => {
    const found = values.get(key);
    if (found === undefined) throw corrupt(filePath, lines.length + 1, `the ${key} line is missing`);
    return found;
  };
  const number = (key: MetadataKey): number => {
    const { text: valueText, line } = field(key);
    const n = parseCount(valueText, 0);
    if (n === null) throw corrupt(filePath, line, `bad ${key} ${quote(valueText)}`);
    return n;
  };
  const votedText = field("voted_for");
  const voted = votedText.text === "none" ? null : parseCount(votedText.text, 0);
  if (voted === null && votedText.text !== "none") throw corrupt(filePath, votedText.line, `bad voted_for ${quote(votedText.text)} (want a node id or none)`);
  const cluster = decodeToken(field("cluster").text);
  if (!cluster.ok) throw corrupt(filePath, field("cluster").line, `bad cluster: ${cluster.error}`);
  const hardState = { currentTerm: toTerm(number("current_term")), votedFor: voted === null ? null : toNodeId(voted), commitIndex: logIndex(number("commit_length")) };
  const lineOf = Object.fromEntries(METADATA_KEYS.map((key) => [key, field(key).line])) as Record<MetadataKey, number>;
  return { nodeId: toNodeId(number("node_id")), cluster: cluster.value, hardState, lineOf };
}

function readMetadataLine(line: string, lineNumber: number, filePath: string, values: Map<MetadataKey, { text: string; line: number }>): void {
  const fields = line.split(" ");
  const key = METADATA_KEYS.find((k) => k === fields[0]);
  if (fields.length !== 2 || key === undefined) throw corrupt(filePath, lineNumber, `bad line ${quote(line)} (want "<key> <value>" with key one of ${METADATA_KEYS.join(", ")})`);
  if (values.has(key)) throw corrupt(filePath, lineNumber, `${key} appears twice`);
  values.set(key, { text: fields[1] ?? "", line: lineNumber });
}

// ---------------------------------------------------------------- recovery

function corrupt(filePath: string, lineNumber: number, what: string): Error {
  return new Error(`data dir ${filePath} line ${lineNumber}: ${what}; the file is corrupt, restore it from a replica`);
}

interface RecoveredLog {
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
function parseLog(bytes: Buffer, filePath: string): RecoveredLog {
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

/** The hard state to restart from, after checking metadata.txt against the log. */
function reconcile(metadata: Metadata, log: RecoveredLog, metadataPath: string, warn: (m: string) => void): HardState {
  const { hardState } = metadata;
  if (hardState.commitIndex > log.entries.length) {
    throw corrupt(metadataPath, metadata.lineOf.commit_length, `commit_length ${hardState.commitIndex} is beyond the ${log.entries.length} entries of ${LOGS_FILE}`);
  }
  const lastTerm = log.entries.at(-1)?.term ?? toTerm(0);
  if (lastTerm <= hardState.currentTerm) return hardState;
  // A crash fell between the log write and the metadata write of one batch. The node never
  // voted in a term above current_term (its vote would be on disk), nor sent anything in it.
  warn(`${metadataPath}: current_term ${hardState.currentTerm} is behind the log's last term ${lastTerm} (a crash between two writes); continuing in term ${lastTerm} with no vote`);
  return { currentTerm: lastTerm, votedFor: null, commitIndex: hardState.commitIndex };
}

function checkOwner(metadata: Metadata, opts: StorageOptions, folderPath: string): void {
  if (metadata.nodeId !== opts.nodeId) {
    throw new Error(`data dir ${folderPath} belongs to node ${metadata.nodeId}, not node ${opts.nodeId}; give the right --data-dir or --id`);
  }
  if (metadata.cluster !== opts.clusterFingerprint) {
    throw new Error(
      `data dir ${folderPath} belongs to cluster ${quote(metadata.cluster)}, not ${quote(opts.clusterFingerprint)}; give the right --data-dir or --cluster`,
    );
  }
}

// ---------------------------------------------------------------- file helpers

function isErrnoException(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && "code" in err;
}

/** An OS error while opening, rewritten to name the data dir and say what to do. */
function openError(dataDir: string, err: unknown): unknown {
  if (!isErrnoException(err)) return err;
  return new Error(`cannot use data dir ${dataDir}: ${err.message}; give a --data-dir that this user can create and write`);
}

async function readOptional(filePath: string): Promise<Buffer | null> {
  try {
    return await readFile(filePath);
  } catch (err) {
    if (isErrnoException(err) && err.code === "ENOENT") return null;
    throw err;
  }
}

async function writeAll(file: FileHandle, text: string): Promise<void> {
  const bytes = Buffer.from(text, "utf8");
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await file.write(bytes, offset, bytes.length - offset);
    assert(bytesWritten > 0, "a file write made no progress");
    offset += bytesWritten;
  }
}

async function syncFolder(folderPath: string): Promise<void> {
  const folder = await open(folderPath, "r");
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.currentTerm === b.currentTerm && a.votedFor === b.votedFor && a.commitIndex === b.commitIndex;
}

// ---------------------------------------------------------------- dump.txt

/** Append-only event lines, buffered by a write stream; bounded, so a stalled disk drops lines. */
class DumpWriter {
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

// ---------------------------------------------------------------- FileStorage

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/** Persist calls not yet on the disk, to be written together. */
interface Batch {
  rewrite: boolean; // a truncation happened: logs.txt is rewritten whole
  appendLines: string[]; // when not rewriting: lines to append
  hardState: HardState | null;
  readonly waiters: Waiter[];
}

interface WritePlan {
  readonly logRewrite: readonly string[] | null;
  readonly logAppend: readonly string[];
  readonly hardState: HardState | null;
  readonly waiters: readonly Waiter[];
}

function emptyBatch(): Batch {
  return { rewrite: false, appendLines: [], hardState: null, waiters: [] };
}

interface OpenedFiles {
  readonly folderPath: string;
  readonly logFile: FileHandle;
  readonly dump: DumpWriter;
  readonly log: RecoveredLog;
  readonly hardState: HardState;
}

export class FileStorage {
  /** What was on the disk at open: the core restarts from it. */
  readonly recovered: PersistedState;
  readonly folderPath: string;
  private readonly nodeId: NodeId;
  private readonly cluster: string;
  private logFile: FileHandle;
  private readonly dump: DumpWriter;
  // Invariant: lineTexts.length === lineTerms.length === entries after all accepted persist calls,
  // and lineTerms never decreases.
  private readonly lineTexts: string[];
  private readonly lineTerms: Term[];
  private latestHardState: HardState; // after all accepted persist calls
  private durableHardState: HardState; // what metadata.txt holds
  private durableEntryCount: number; // entries of logs.txt known to be on the disk
  // metadata.txt has one writer at a time (metadataBusy); a commit-index-only change is written
  // beside the log writes, not in front of them (metadataLater holds the newest such wish).
  private metadataBusy: Promise<void> | null = null;
  private metadataLater: HardState | null = null;
  private metadataLaterRunning: Promise<void> | null = null;
  private pending: Batch = emptyBatch();
  private flushing: Promise<void> | null = null;
  private failure: Error | null = null;
  private closed = false;
  private syncs = 0;

  private constructor(opts: StorageOptions, files: OpenedFiles) {
    this.nodeId = opts.nodeId;
    this.cluster = opts.clusterFingerprint;
    this.folderPath = files.folderPath;
    this.logFile = files.logFile;
    this.dump = files.dump;
    this.lineTexts = [...files.log.lines];
    this.lineTerms = files.log.entries.map((e) => e.term);
    this.latestHardState = files.hardState;
    this.durableHardState = files.hardState;
    this.durableEntryCount = files.log.entries.length;
    this.recovered = { hardState: files.hardState, entries: files.log.entries };
  }

  /** Opens (creating if missing) `<dataDir>/logs_node_<id>/` and recovers what it holds. */
  static async open(opts: StorageOptions): Promise<FileStorage> {
    const folderPath = path.join(opts.dataDir, `logs_node_${opts.nodeId}`);
    try {
      const files = await openFiles(opts, folderPath);
      return new FileStorage(opts, files);
    } catch (err) {
      throw openError(opts.dataDir, err);
    }
  }

  /** fsync and fdatasync calls made so far (group commit makes this smaller than the calls). */
  get syncCount(): number {
    return this.syncs;
  }

  /** Entries in the log after all accepted persist calls (durable or queued). */
  get entryCount(): number {
    return this.lineTexts.length;
  }

  /**
   * Makes `request` durable: truncation, then appended entries, then the hard state. Resolves
   * once durable, in call order. A request that breaks the log's invariants (a gap, a truncation
   * of committed entries, a term going down) is a bug in the caller and rejects at once.
   */
  async persist(request: PersistRequest): Promise<void> {
    this.checkUsable();
    if (!this.stage(request)) return this.afterQueuedWrites();
    return new Promise<void>((resolve, reject) => {
      this.pending.waiters.push({ resolve, reject });
      this.kick();
    });
  }

  /** Records one event line in dump.txt (buffered; the caller adds the timestamp). */
  appendDump(line: string): void {
    if (this.closed) return; // events after close are not recorded
    this.dump.append(line);
  }

  /** Finishes queued writes, flushes dump.txt and closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing !== null) await this.flushing;
    while (this.metadataLaterRunning !== null) await this.metadataLaterRunning;
    await this.logFile.close();
    await this.dump.close();
  }

  private checkUsable(): void {
    if (this.closed) throw new Error(`storage ${this.folderPath} is closed; persist was called after close`);
    if (this.failure !== null) throw this.failure;
  }

  /** Applies `request` to the in-memory log and the pending batch; false if nothing changes. */
  private stage(request: PersistRequest): boolean {
    const lengthAfterTruncate = this.checkTruncate(request.truncateFrom);
    const newLines = this.checkAppend(request, lengthAfterTruncate);
    const lastTerm = newLines.at(-1)?.term ?? this.lineTerms[lengthAfterTruncate - 1] ?? 0;
    const hardState = request.hardState;
    if (hardState !== null) this.checkHardState(hardState, lengthAfterTruncate + newLines.length);
    const currentTerm = (hardState ?? this.latestHardState).currentTerm;
    assert(lastTerm <= currentTerm, `the log's last term ${lastTerm} would exceed the current term ${currentTerm}: persist the term with the entries`);
    const truncates = lengthAfterTruncate < this.lineTexts.length;
    const hardStateChanges = hardState !== null && !sameHardState(hardState, this.latestHardState);
    if (!truncates && newLines.length === 0 && !hardStateChanges) return false;
    if (truncates) this.truncateInMemory(lengthAfterTruncate);
    for (const { text, term } of newLines) {
      this.lineTexts.push(text);
      this.lineTerms.push(term);
      if (!this.pending.rewrite) this.pending.appendLines.push(text);
    }
    if (hardState !== null && hardStateChanges) {
      this.latestHardState = hardState;
      this.pending.hardState = hardState;
    }
    return true;
  }

  /** The log length after `truncateFrom`, checked: committed entries are never truncated. */
  private checkTruncate(truncateFrom: LogIndex | null): number {
    if (truncateFrom === null) return this.lineTexts.length;
    assert(Number.isSafeInteger(truncateFrom) && truncateFrom >= 1 && truncateFrom <= this.lineTexts.length + 1, `truncateFrom ${truncateFrom} is outside 1..${this.lineTexts.length + 1}`);
    assert(truncateFrom > this.latestHardState.commitIndex, `truncateFrom ${truncateFrom} would drop committed entries (commit index ${this.latestHardState.commitIndex})`);
    return truncateFrom - 1;
  }

  private checkAppend(request: PersistRequest, lengthAfterTruncate: number): { text: string; term: Term }[] {
    if (request.append.length === 0) return [];
    assert(request.appendFrom === lengthAfterTruncate + 1, `appendFrom ${request.appendFrom} leaves a gap or overlap: the log holds ${lengthAfterTruncate} entries`);
    let previousTerm: number = this.lineTerms[lengthAfterTruncate - 1] ?? 0;
    return request.append.map((entry) => {
      assert(Number.isSafeInteger(entry.term) && entry.term >= 1 && entry.term >= previousTerm, `entry term ${entry.term} is below 1 or below the previous term ${previousTerm}`);
      if (entry.command.kind === "set") assert(Number.isSafeInteger(entry.command.sequence) && entry.command.sequence >= 0, `bad sequence ${entry.command.sequence}`);
      previousTerm = entry.term;
      return { text: `${encodeEntryLine(entry)}\n`, term: entry.term };
    });
  }

  private checkHardState(hardState: HardState, lengthAfter: number): void {
    const { currentTerm, votedFor, commitIndex } = hardState;
    assert(Number.isSafeInteger(currentTerm) && currentTerm >= this.latestHardState.currentTerm, `current term ${currentTerm} is below ${this.latestHardState.currentTerm}`);
    assert(Number.isSafeInteger(commitIndex) && commitIndex >= 0 && commitIndex <= lengthAfter, `commit index ${commitIndex} is outside 0..${lengthAfter}`);
    assert(votedFor === null || (Number.isSafeInteger(votedFor) && votedFor >= 0), `bad votedFor ${votedFor}`);
  }

  private truncateInMemory(length: number): void {
    this.lineTexts.length = length;
    this.lineTerms.length = length;
    this.pending.rewrite = true;
    this.pending.appendLines = [];
  }

  /** Resolves once every write queued before this call is durable. */
  private afterQueuedWrites(): Promise<void> {
    if (this.flushing === null) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.pending.waiters.push({ resolve, reject }));
  }

  private kick(): void {
    if (this.flushing === null) this.flushing = this.drain();
  }

  /** Writes batches until none is pending. Never rejects: a failure rejects the waiters. */
  private async drain(): Promise<void> {
    await Promise.resolve(); // calls made in this same turn join the first batch
    while (this.pending.waiters.length > 0) {
      const plan = this.takePlan();
      if (this.failure !== null) {
        for (const waiter of plan.waiters) waiter.reject(this.failure);
        continue;
      }
      try {
        await this.write(plan);
        for (const waiter of plan.waiters) waiter.resolve();
      } catch (err) {
        this.failure = new Error(`storage ${this.folderPath}: a write failed (${err instanceof Error ? err.message : String(err)}); the node must stop: check the disk, then restart it`);
        for (const waiter of plan.waiters) waiter.reject(this.failure);
      }
    }
    this.flushing = null; // synchronously after the emptiness check, so no call is stranded
  }

  /** Takes the pending batch; its in-memory log state is exactly the state to write. */
  private takePlan(): WritePlan {
    const batch = this.pending;
    this.pending = emptyBatch();
    const hardState = batch.hardState !== null && !sameHardState(batch.hardState, this.durableHardState) ? batch.hardState : null;
    return { logRewrite: batch.rewrite ? [...this.lineTexts] : null, logAppend: batch.appendLines, hardState, waiters: batch.waiters };
  }

  /**
   * The log first, then metadata.txt: on disk, commit_length never exceeds the log. A change of
   * term or vote is written before the batch resolves; a change of the commit index alone (which
   * Raft may lose: the leader tells it again) is written beside later log writes, capped at the
   * entries already durable, so a slow rename never holds up an append.
   */
  private async write(plan: WritePlan): Promise<void> {
    if (plan.logRewrite !== null) await this.rewriteLog(plan.logRewrite);
    else if (plan.logAppend.length > 0) await this.appendLog(plan.logAppend);
    this.durableEntryCount = this.lineTexts.length - this.pendingLineCount();
    if (plan.hardState === null) return;
    const termOrVote = plan.hardState.currentTerm !== this.durableHardState.currentTerm || plan.hardState.votedFor !== this.durableHardState.votedFor;
    if (termOrVote) await this.writeMetadata(plan.hardState);
    else this.writeCommitLater(plan.hardState);
  }

  /** Lines accepted in memory but still waiting in the next batch. */
  private pendingLineCount(): number {
    return this.pending.rewrite ? this.lineTexts.length : this.pending.appendLines.length;
  }

  /** Replaces metadata.txt with `hardState`, after any metadata write in progress. */
  private async writeMetadata(hardState: HardState): Promise<void> {
    while (this.metadataBusy !== null) await this.metadataBusy.catch(() => undefined);
    const busy = this.replaceFile(METADATA_FILE, [encodeMetadata(this.nodeId, this.cluster, hardState)]);
    this.metadataBusy = busy;
    try {
      await busy;
      this.durableHardState = hardState;
    } finally {
      this.metadataBusy = null;
    }
  }

  /** Writes the newest commit index wished for, off the log's critical path. */
  private writeCommitLater(hardState: HardState): void {
    this.metadataLater = hardState;
    if (this.metadataLaterRunning !== null) return;
    this.metadataLaterRunning = (async () => {
      try {
        while (this.metadataLater !== null && this.failure === null) {
          const wished = this.metadataLater;
          this.metadataLater = null;
          while (this.metadataBusy !== null) await this.metadataBusy.catch(() => undefined);
          // Term and vote as metadata.txt holds them now (never older); commit within the durable log.
          const commitIndex = logIndex(Math.min(Math.max(wished.commitIndex, this.durableHardState.commitIndex), this.durableEntryCount));
          if (commitIndex > this.durableHardState.commitIndex) await this.writeMetadata({ ...this.durableHardState, commitIndex });
        }
      } catch (err) {
        this.failure ??= new Error(`storage ${this.folderPath}: writing metadata.txt failed (${err instanceof Error ? err.message : String(err)}); the node must stop: check the disk, then restart it`);
      } finally {
        this.metadataLaterRunning = null;
      }
    })();
  }

  private async appendLog(lines: readonly string[]): Promise<void> {
    await writeAll(this.logFile, lines.join(""));
    await this.logFile.datasync();
    this.syncs++;
  }

  private async rewriteLog(lines: readonly string[]): Promise<void> {
    await this.replaceFile(LOGS_FILE, lines);
    const oldFile = this.logFile;
    this.logFile = await open(path.join(this.folderPath, LOGS_FILE), "a");
    await oldFile.close();
  }

  /** Replaces a file atomically; two syncs: the file's and the folder's. */
  private async replaceFile(fileName: string, lines: readonly string[]): Promise<void> {
    await replaceFileAtomically(this.folderPath, fileName, lines);
    this.syncs += 2;
  }
}

/** Replaces a file atomically: write a temporary file, fsync it, rename it over, fsync the folder. */
async function replaceFileAtomically(folderPath: string, fileName: string, lines: readonly string[]): Promise<void> {
  const filePath = path.join(folderPath, fileName);
  const tmpPath = `${filePath}.tmp`;
  const tmp = await open(tmpPath, "w");
  try {
    await writeChunked(tmp, lines);
    await tmp.sync();
  } finally {
    await tmp.close();
  }
  await rename(tmpPath, filePath);
  await syncFolder(folderPath);
}

/** Writes lines in chunks of bounded size, so a long log never becomes one huge string. */
async function writeChunked(file: FileHandle, lines: readonly string[]): Promise<void> {
  let chunk: string[] = [];
  let chunkChars = 0;
  for (const line of lines) {
    chunk.push(line);
    chunkChars += line.length;
    if (chunkChars >= REWRITE_CHUNK_CHARS_MAX) {
      await writeAll(file, chunk.join(""));
      chunk = [];
      chunkChars = 0;
    }
  }
  if (chunk.length > 0) await writeAll(file, chunk.join(""));
}

// ---------------------------------------------------------------- open

async function openFiles(opts: StorageOptions, folderPath: string): Promise<OpenedFiles> {
  const created = await mkdir(folderPath, { recursive: true });
  if (created !== undefined) await syncFolder(path.dirname(folderPath));
  const logPath = path.join(folderPath, LOGS_FILE);
  const metadataPath = path.join(folderPath, METADATA_FILE);
  const metadataBytes = await readOptional(metadataPath);
  const logBytes = await readOptional(logPath);
  const metadata = metadataBytes === null ? null : parseMetadata(metadataBytes.toString("utf8"), metadataPath);
  if (metadata !== null) checkOwner(metadata, opts, folderPath);
  if (metadata === null && logBytes !== null && logBytes.length > 0) {
    throw new Error(`data dir ${metadataPath} is missing but ${logPath} is not empty; the folder is corrupt, restore it from a replica`);
  }
  if (metadata !== null && logBytes === null) {
    throw new Error(`data dir ${logPath} is missing but ${metadataPath} exists; the folder is corrupt, restore it from a replica`);
  }
  const log = parseLog(logBytes ?? Buffer.alloc(0), logPath);
  const hardState = metadata === null ? freshHardState() : reconcile(metadata, log, metadataPath, opts.warn);
  const logFile = await open(logPath, "a");
  try {
    if (log.torn !== null) await repairTornLine(logFile, logPath, log, opts.warn);
    if (metadata === null) await initMetadata(folderPath, opts, hardState);
    const dumpFile = await open(path.join(folderPath, DUMP_FILE), "a");
    const dump = new DumpWriter(dumpFile.createWriteStream(), path.join(folderPath, DUMP_FILE), opts.warn);
    return { folderPath, logFile, dump, log, hardState };
  } catch (err) {
    await logFile.close();
    throw err;
  }
}

function freshHardState(): HardState {
  return { currentTerm: toTerm(0), votedFor: null, commitIndex: logIndex(0) };
}

async function repairTornLine(logFile: FileHandle, logPath: string, log: RecoveredLog, warn: (m: string) => void): Promise<void> {
  assert(log.torn !== null, "repairTornLine needs a torn line");
  warn(`data dir ${logPath} line ${log.torn.lineNumber}: dropped a torn last line (${log.torn.reason}), left by a crash mid-write; it was never acknowledged`);
  await logFile.truncate(log.goodBytes);
  await logFile.sync();
}

/** A fresh node: logs.txt exists (empty) in the folder before metadata.txt names the node. */
async function initMetadata(folderPath: string, opts: StorageOptions, hardState: HardState): Promise<void> {
  await syncFolder(folderPath);
  await replaceFileAtomically(folderPath, METADATA_FILE, [encodeMetadata(opts.nodeId, opts.clusterFingerprint, hardState)]);
}
