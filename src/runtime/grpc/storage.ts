// Durable storage of the production node: `<dataDir>/logs_node_<id>/` holding
//   logs.txt      one entry a line: `NO-OP <term>` or `SET <key> <value> <term> [@<clientId>:<sequence>]`
//   metadata.txt  `key value` lines: node_id, cluster, current_term, voted_for, commit_length
//   dump.txt      the event lines, appended, not synced, rotated at a size bound (dump-writer.ts)
// Keys, values, client ids and the cluster fingerprint are escaped as escape.ts describes; every
// line of logs.txt and metadata.txt ends in a checksum token (line-checksum.ts).
//
// Writes use group commit: persist calls made while a write is on the disk are written together
// with one write and one fdatasync. A call resolves only once its data is durable; calls resolve
// in order. Within a batch the log is made durable before metadata.txt, so on disk
// commit_length never exceeds the log, and current_term may lag the log's last term only after
// a crash between the two writes (recovery then continues in the log's last term with no vote).
//
// A truncation cuts logs.txt in place (ftruncate at the line's offset, then fsync). A failed write
// or sync is never retried: the log is cut back to its last durable length and synced, and the
// storage refuses every later call, so the node stops (after a failed fsync the kernel may have
// dropped the data while the page cache still shows it).
//
// Opening syncs what it reads before using it, drops a torn tail of logs.txt (the unsynced part of
// the last write, never acknowledged) with a warning, and stops the node with an error naming the
// file and line on any other damage (recovery.ts, log-file.ts).

import path from "node:path";
import {
  assert,
  logIndex,
  type HardState,
  type LogIndex,
  type LogStart,
  type Entry,
  type NodeId,
  type Output,
  type PersistedState,
  type Snapshot,
  type Term,
} from "../../raft/index.js";
import { DumpWriter } from "./dump-writer.js";
import { nodeFileLayer, type FileLayer, type LayerFile } from "./file-layer.js";
import { errorText, METADATA_FILE, openError, replaceFileAtomically } from "./file-io.js";
import { CHECKSUM_TOKEN_CHARS } from "./line-checksum.js";
import { appendLog, encodeStartLine, rewriteLog, truncateLog } from "./log-file.js";
import { SNAPSHOT_FILE, writeSnapshotFile } from "./snapshot-file.js";
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
  /** Bound of dump.txt in bytes before it is rotated. */
  readonly dumpBytesMax: number;
  /** Told once when a write fails and the storage stops (also a write off any call's path). */
  readonly onFailure?: (err: Error) => void;
  /** The file operations; the real file system unless a test records them. */
  readonly layer?: FileLayer;
  /** A deliberate bug, for tests that must catch it (negative controls); never set in production. */
  readonly mutation?: StorageMutation;
}

/**
 * trust-page-cache: open uses what it reads without syncing it first.
 * truncate-without-sync: a truncation is not synced before the append that follows it.
 */
export type StorageMutation = "trust-page-cache" | "truncate-without-sync";

/** The part of a core Output that storage makes durable, in the output contract's order. */
export type PersistRequest = Pick<Output, "hardState" | "installSnapshot" | "truncateFrom" | "compactTo" | "appendFrom" | "append">;

function sameHardState(a: HardState, b: HardState): boolean {
  return a.currentTerm === b.currentTerm && a.votedFor === b.votedFor && a.commitIndex === b.commitIndex;
}

// ---------------------------------------------------------------- FileStorage

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/** Persist calls not yet on the disk, to be written together, in the output contract's order. */
interface Batch {
  installSnapshot: Snapshot | null;
  /** The last index of logs.txt to keep before anything else, when this batch truncates; else null. */
  truncateTo: number | null;
  /** Where the log starts once this batch is written, when it compacts; else null. */
  compactTo: LogStart | null;
  /** The index just before entries[0]. */
  base: number;
  entries: Entry[];
  hardState: HardState | null;
  readonly waiters: Waiter[];
}

type WritePlan = Omit<Batch, "hardState"> & { readonly hardState: HardState | null };

function emptyBatch(base: number): Batch {
  return { installSnapshot: null, truncateTo: null, compactTo: null, base, entries: [], hardState: null, waiters: [] };
}

/** Bytes of an entry's line in logs.txt: its text, the checksum token and the newline. */
function lineBytes(entry: Entry): number {
  return encodeEntryLine(entry).length + CHECKSUM_TOKEN_CHARS + 1;
}

/**
 * logs.txt as the writes taken so far leave it: where it starts, its START line's bytes, and the
 * byte offset just past each entry's line (ends[i] for index start.prevIndex + 1 + i).
 */
interface FileLayout {
  start: LogStart;
  headerBytes: number;
  ends: number[];
}

function layoutLast(f: FileLayout): number {
  return f.start.prevIndex + f.ends.length;
}

/** The byte offset just past index `i`'s line (the START line's end for the file's prevIndex). */
function endOf(f: FileLayout, i: number): number {
  return i === f.start.prevIndex ? f.headerBytes : f.ends[i - f.start.prevIndex - 1]!;
}

export class FileStorage {
  /** What was on the disk at open: the core restarts from it. */
  readonly recovered: PersistedState;
  readonly folderPath: string;
  private readonly opts: StorageOptions;
  private readonly layer: FileLayer;
  private logFile: LayerFile;
  private readonly dump: DumpWriter;
  // The log after all accepted persist calls: where it starts and the term of each entry after.
  private stagedStart: LogStart;
  private readonly stagedTerms: Term[];
  // logs.txt as the writes taken so far leave it (changed only by the write in progress).
  private readonly file: FileLayout;
  private durableBytes: number; // length of logs.txt known to be on the disk
  private durableLastIndex: number; // the log's last index known durable (its start, when it holds no entry)
  private latestHardState: HardState; // after all accepted persist calls
  private durableHardState: HardState; // what metadata.txt holds
  private durableSnapshotIndex: number; // the lastIndex of snapshot.txt (0: none)
  /** Snapshot writes, one at a time: a background save and an install never interleave. */
  private snapshotChain: Promise<void> = Promise.resolve();
  // metadata.txt has one writer at a time (metadataBusy); a commit-index-only change is written
  // beside the log writes, not in front of them (metadataLater holds the newest such wish).
  private metadataBusy: Promise<void> | null = null;
  private metadataLater: HardState | null = null;
  private metadataLaterRunning: Promise<void> | null = null;
  private pending: Batch;
  private flushing: Promise<void> | null = null;
  private failure: Error | null = null;
  private closed = false;
  private syncs = 0;

  private constructor(opts: StorageOptions, layer: FileLayer, files: OpenedFiles) {
    this.opts = opts;
    this.layer = layer;
    this.folderPath = files.folderPath;
    this.logFile = files.logFile;
    this.dump = files.dump;
    const scan = files.log;
    this.stagedStart = scan.start;
    this.stagedTerms = scan.entries.map((e) => e.term);
    this.file = { start: scan.start, headerBytes: scan.headerBytes, ends: scan.lineEnds };
    this.durableBytes = files.logBytes;
    this.durableLastIndex = layoutLast(this.file);
    this.latestHardState = files.hardState;
    this.durableHardState = files.hardState;
    this.durableSnapshotIndex = files.snapshot?.lastIndex ?? 0;
    this.pending = emptyBatch(this.durableLastIndex);
    this.recovered = { hardState: files.hardState, snapshot: files.snapshot, logStart: scan.start, entries: scan.entries };
  }

  /** Opens (creating if missing) `<dataDir>/logs_node_<id>/` and recovers what it holds. */
  static async open(opts: StorageOptions): Promise<FileStorage> {
    const folderPath = path.join(opts.dataDir, `logs_node_${opts.nodeId}`);
    const layer = opts.layer ?? nodeFileLayer;
    try {
      const files = await openFiles(layer, opts, folderPath);
      return new FileStorage(opts, layer, files);
    } catch (err) {
      throw openError(opts.dataDir, err);
    }
  }

  /** fsync and fdatasync calls made so far (group commit makes this smaller than the calls). */
  get syncCount(): number {
    return this.syncs;
  }

  /** The log's last index after all accepted persist calls (durable or queued). */
  get lastIndex(): number {
    return this.stagedStart.prevIndex + this.stagedTerms.length;
  }

  /** The lastIndex of the durable snapshot.txt (0: none). */
  get snapshotIndex(): number {
    return this.durableSnapshotIndex;
  }

  /**
   * Makes `request` durable: an installed snapshot, truncation, compaction, appended entries,
   * then the hard state. Resolves once durable, in call order. A request that breaks the log's
   * invariants (a gap, a truncation of committed entries, a term going down) is a bug in the
   * caller and rejects at once.
   */
  async persist(request: PersistRequest): Promise<void> {
    this.checkUsable();
    if (!this.stage(request)) return this.afterQueuedWrites();
    return new Promise<void>((resolve, reject) => {
      this.pending.waiters.push({ resolve, reject });
      this.kick();
    });
  }

  /**
   * Writes a snapshot to snapshot.txt in the background, streamed in chunks so the node keeps
   * serving meanwhile; atomically, and never over a newer one. Resolves once durable.
   */
  saveSnapshot(snapshot: Snapshot): Promise<void> {
    this.checkUsable();
    return this.writeSnapshot(snapshot);
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
    await this.snapshotChain.catch(() => undefined);
    await this.logFile.close();
    await this.dump.close();
  }

  private checkUsable(): void {
    if (this.closed) throw new Error(`storage ${this.folderPath} is closed; persist was called after close`);
    if (this.failure !== null) throw this.failure;
  }

  /**
   * Checks `request` whole, then applies it to the staged log and the pending batch (a refused
   * request changes nothing). False if nothing changes.
   */
  private stage(request: PersistRequest): boolean {
    const keep = this.checkTruncate(request.truncateFrom);
    const start = this.checkCompact(request.compactTo);
    const lastBeforeAppend = Math.max(keep ?? this.lastIndex, start?.prevIndex ?? 0);
    this.checkAppend(request, lastBeforeAppend, start ?? this.stagedStart, keep);
    const hardState = request.hardState;
    if (hardState !== null) this.checkHardState(hardState, lastBeforeAppend + request.append.length);
    const lastTerm = request.append.at(-1)?.term ?? (lastBeforeAppend === this.lastIndex ? (this.stagedTerms.at(-1) ?? this.stagedStart.prevTerm) : 0);
    const currentTerm = (hardState ?? this.latestHardState).currentTerm;
    assert(lastTerm <= currentTerm, `the log's last term ${lastTerm} would exceed the current term ${currentTerm}: persist the term with the entries`);
    let changes = false;
    if (request.installSnapshot !== null) {
      this.pending.installSnapshot = request.installSnapshot;
      changes = true;
    }
    if (keep !== null && keep < this.lastIndex) changes = this.truncateStaged(keep) || changes;
    if (start !== null) changes = this.compactStaged(start) || changes;
    for (const entry of request.append) {
      this.stagedTerms.push(entry.term);
      this.pending.entries.push(entry);
    }
    const hardStateChanges = hardState !== null && !sameHardState(hardState, this.latestHardState);
    if (hardState !== null && hardStateChanges) {
      this.latestHardState = hardState;
      this.pending.hardState = hardState;
    }
    return changes || request.append.length > 0 || hardStateChanges;
  }

  /** The last index kept by `truncateFrom`, checked: committed entries are never truncated. */
  private checkTruncate(truncateFrom: LogIndex | null): number | null {
    if (truncateFrom === null) return null;
    const prev = this.stagedStart.prevIndex;
    assert(Number.isSafeInteger(truncateFrom) && truncateFrom > prev && truncateFrom <= this.lastIndex + 1, `truncateFrom ${truncateFrom} is outside ${prev + 1}..${this.lastIndex + 1}`);
    assert(truncateFrom > this.latestHardState.commitIndex, `truncateFrom ${truncateFrom} would drop committed entries (commit index ${this.latestHardState.commitIndex})`);
    return truncateFrom - 1;
  }

  private checkCompact(start: LogStart | null): LogStart | null {
    if (start === null) return null;
    const prev = this.stagedStart.prevIndex;
    assert(Number.isSafeInteger(start.prevIndex) && start.prevIndex >= prev, `compactTo ${start.prevIndex} lies before the log's start ${prev}`);
    return start.prevIndex === prev && start.prevTerm === this.stagedStart.prevTerm ? null : start;
  }

  /** Drops the staged entries after `keep`; the pending batch follows. */
  private truncateStaged(keep: number): boolean {
    this.stagedTerms.length = keep - this.stagedStart.prevIndex;
    const b = this.pending;
    if (keep >= b.base) {
      b.entries.length = keep - b.base;
    } else {
      b.truncateTo = keep;
      b.base = keep;
      b.entries = [];
    }
    return true;
  }

  /** The staged log now starts after `start`; pending entries it covers are dropped. */
  private compactStaged(start: LogStart): boolean {
    this.stagedTerms.splice(0, Math.min(start.prevIndex - this.stagedStart.prevIndex, this.stagedTerms.length));
    this.stagedStart = start;
    const b = this.pending;
    b.compactTo = start;
    if (start.prevIndex >= b.base) {
      b.entries = b.entries.slice(Math.min(b.entries.length, start.prevIndex - b.base));
      b.base = start.prevIndex;
    }
    return true;
  }

  private checkAppend(request: PersistRequest, lastBefore: number, start: LogStart, keep: number | null): void {
    if (request.append.length === 0) return;
    assert(request.appendFrom === lastBefore + 1, `appendFrom ${request.appendFrom} leaves a gap or overlap: the log ends at ${lastBefore}`);
    const keptTerm = keep === null ? this.stagedTerms.at(-1) : this.stagedTerms[keep - this.stagedStart.prevIndex - 1];
    let previousTerm: number = lastBefore === start.prevIndex ? start.prevTerm : (keptTerm ?? this.stagedStart.prevTerm);
    for (const entry of request.append) {
      assert(Number.isSafeInteger(entry.term) && entry.term >= 1 && entry.term >= previousTerm, `entry term ${entry.term} is below 1 or below the previous term ${previousTerm}`);
      if (entry.command.kind === "set") assert(Number.isSafeInteger(entry.command.sequence) && entry.command.sequence >= 0, `bad sequence ${entry.command.sequence}`);
      previousTerm = entry.term;
    }
  }

  private checkHardState(hardState: HardState, lastIndexAfter: number): void {
    const { currentTerm, votedFor, commitIndex } = hardState;
    assert(Number.isSafeInteger(currentTerm) && currentTerm >= this.latestHardState.currentTerm, `current term ${currentTerm} is below ${this.latestHardState.currentTerm}`);
    assert(Number.isSafeInteger(commitIndex) && commitIndex >= 0 && commitIndex <= lastIndexAfter, `commit index ${commitIndex} is outside 0..${lastIndexAfter}`);
    assert(votedFor === null || (Number.isSafeInteger(votedFor) && votedFor >= 0), `bad votedFor ${votedFor}`);
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
        await this.stopAfterFailure(`a write failed (${errorText(err)})`);
        for (const waiter of plan.waiters) waiter.reject(this.failure ?? new Error("storage failed"));
      }
    }
    this.flushing = null; // synchronously after the emptiness check, so no call is stranded
  }

  /**
   * After a failed write or sync: cut logs.txt back to its durable length and sync it (what the
   * failed write left may be in the page cache only, and must not be read back as durable), then
   * refuse every later call. No sync is retried.
   */
  private async stopAfterFailure(what: string): Promise<void> {
    if (this.failure !== null) return;
    let rollBack = `cut logs.txt back to its ${this.durableBytes} durable bytes`;
    try {
      await this.logFile.truncate(this.durableBytes);
      await this.logFile.sync();
    } catch (err) {
      rollBack = `cutting logs.txt back to its ${this.durableBytes} durable bytes failed too (${errorText(err)})`;
    }
    this.failure = new Error(`storage ${this.folderPath}: ${what}; ${rollBack}; the node must stop: check the disk, then restart it`);
    this.opts.onFailure?.(this.failure);
  }

  /** Takes the pending batch; the next one starts where this one leaves the log. */
  private takePlan(): WritePlan {
    const batch = this.pending;
    this.pending = emptyBatch(batch.base + batch.entries.length);
    const hardState = batch.hardState !== null && !sameHardState(batch.hardState, this.durableHardState) ? batch.hardState : null;
    return { ...batch, hardState };
  }

  /**
   * In the output contract's order: the snapshot, the log (truncation, compaction, append), then
   * metadata.txt, so on disk commit_length never exceeds the log. A change of term or vote is
   * written before the batch resolves; a change of the commit index alone (which Raft may lose:
   * the leader tells it again) is written beside later log writes, capped at the log already
   * durable, so a slow rename never holds up an append.
   */
  private async write(plan: WritePlan): Promise<void> {
    if (plan.installSnapshot !== null) await this.writeSnapshot(plan.installSnapshot);
    if (plan.compactTo !== null) await this.compactFile(plan.compactTo, plan.truncateTo);
    else if (plan.truncateTo !== null) await this.truncateFile(plan.truncateTo);
    if (plan.entries.length > 0) await this.appendFile(plan.base, plan.entries);
    this.durableLastIndex = layoutLast(this.file);
    if (plan.hardState === null) return;
    const termOrVote = plan.hardState.currentTerm !== this.durableHardState.currentTerm || plan.hardState.votedFor !== this.durableHardState.votedFor;
    if (termOrVote) await this.writeMetadata(plan.hardState);
    else this.writeCommitLater(plan.hardState);
  }

  /** Cuts logs.txt after index `keep` in place and syncs it. */
  private async truncateFile(keep: number): Promise<void> {
    const f = this.file;
    if (keep >= layoutLast(f)) return;
    const bytes = endOf(f, Math.max(keep, f.start.prevIndex));
    await truncateLog(this.logFile, bytes, this.opts.mutation !== "truncate-without-sync");
    this.syncs++;
    f.ends.length = Math.max(0, keep - f.start.prevIndex);
    this.durableBytes = bytes;
    this.durableLastIndex = Math.min(this.durableLastIndex, layoutLast(f));
  }

  /**
   * Rewrites logs.txt to start after `start` (keeping the lines after it, up to `keep` when the
   * same batch truncates), atomically: a crash leaves the old file or the new one, whole.
   */
  private async compactFile(start: LogStart, keep: number | null): Promise<void> {
    const f = this.file;
    const last = Math.min(keep ?? layoutLast(f), layoutLast(f));
    const from = Math.max(start.prevIndex, f.start.prevIndex);
    const fromBytes = endOf(f, Math.min(from, layoutLast(f)));
    const toBytes = last > from ? endOf(f, last) : fromBytes;
    const rewritten = await rewriteLog(this.layer, this.logFile, start, fromBytes, toBytes);
    this.syncs += 2;
    const old = this.logFile;
    this.logFile = rewritten;
    await old.close();
    const headerBytes = encodeStartLine(start).length;
    const kept = last > from ? f.ends.slice(from - f.start.prevIndex, last - f.start.prevIndex) : [];
    f.ends = kept.map((end) => end - fromBytes + headerBytes);
    f.start = start;
    f.headerBytes = headerBytes;
    this.durableBytes = headerBytes + (toBytes - fromBytes);
  }

  /** Appends entries (the first has index base + 1) as one write and fdatasyncs it. */
  private async appendFile(base: number, entries: readonly Entry[]): Promise<void> {
    const f = this.file;
    assert(base === layoutLast(f), () => `appending after index ${base}, but logs.txt ends at ${layoutLast(f)}`);
    let at = endOf(f, base);
    this.durableBytes = await appendLog(this.logFile, at, entries);
    this.syncs++;
    for (const e of entries) f.ends.push((at += lineBytes(e)));
    assert(at === this.durableBytes, "line lengths disagree with the bytes written");
  }

  /** Writes snapshot.txt (atomically, streamed) unless the one on disk is as new; one write at a time. */
  private writeSnapshot(snapshot: Snapshot): Promise<void> {
    const run = this.snapshotChain.then(async () => {
      if (snapshot.lastIndex <= this.durableSnapshotIndex) return;
      await writeSnapshotFile(this.layer, this.folderPath, snapshot);
      this.syncs += 2;
      this.durableSnapshotIndex = snapshot.lastIndex;
    });
    this.snapshotChain = run.catch(() => undefined);
    return run.catch(async (err: unknown) => {
      await this.stopAfterFailure(`writing ${SNAPSHOT_FILE} failed (${errorText(err)})`);
      throw this.failure ?? err;
    });
  }

  /** Replaces metadata.txt with `hardState`, after any metadata write in progress. */
  private async writeMetadata(hardState: HardState): Promise<void> {
    while (this.metadataBusy !== null) await this.metadataBusy.catch(() => undefined);
    const text = encodeMetadata(this.opts.nodeId, this.opts.clusterFingerprint, hardState);
    const busy = replaceFileAtomically(this.layer, this.folderPath, METADATA_FILE, text);
    this.metadataBusy = busy;
    try {
      await busy;
      this.syncs += 2;
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
          const commitIndex = logIndex(Math.min(Math.max(wished.commitIndex, this.durableHardState.commitIndex), this.durableLastIndex));
          if (commitIndex > this.durableHardState.commitIndex) await this.writeMetadata({ ...this.durableHardState, commitIndex });
        }
      } catch (err) {
        await this.stopAfterFailure(`writing metadata.txt failed (${errorText(err)})`);
      } finally {
        this.metadataLaterRunning = null;
      }
    })();
  }
}
