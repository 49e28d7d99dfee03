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

import { open, type FileHandle } from "node:fs/promises";
import path from "node:path";
import {
  assert,
  logIndex,
  type HardState,
  type LogIndex,
  type NodeId,
  type Output,
  type PersistedState,
  type Term,
} from "../../raft/types.js";
import { DumpWriter } from "./dump-writer.js";
import { LOGS_FILE, METADATA_FILE, openError, replaceFileAtomically, writeAll } from "./file-io.js";
import { encodeEntryLine } from "./log-line.js";
import { encodeMetadata } from "./metadata-file.js";
import { openFiles, type OpenedFiles } from "./recovery.js";

export { encodeEntryLine, parseEntryLine, type ParsedLine } from "./log-line.js";

export interface StorageOptions {
  readonly dataDir: string;
  readonly nodeId: NodeId;
  /** Identifies the cluster (e.g. its member list); a data dir of another cluster is refused. */
  readonly clusterFingerprint: string;
  readonly warn: (message: string) => void;
}

/** The part of a core Output that storage makes durable. */
export type PersistRequest = Pick<Output, "hardState" | "truncateFrom" | "appendFrom" | "append">;

function sameHardState(a: HardState, b: HardState): boolean {
  return a.currentTerm === b.currentTerm && a.votedFor === b.votedFor && a.commitIndex === b.commitIndex;
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
