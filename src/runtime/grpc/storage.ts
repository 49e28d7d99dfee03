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
// The commit index (commit_length), the one rule for it: Raft keeps it volatile (a restarted node
// relearns it from the leader, and what it commits is already durable on a majority), and
// replacing metadata.txt costs three syncs. So a persist call whose hard state moves only the
// commit index does not wait for metadata.txt, and such a change is written at most once per
// commitPersistIntervalMs: then the newest commit index, after the log writes queued before it,
// beside later log writes rather than in front of them, capped at the entries durable in
// logs.txt and never below what metadata.txt holds. close() writes the newest one. A change of
// term or vote is written, commit index included, before its call resolves.
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
import { logIndex, type HardState, type LogStart, type NodeId, type PersistedState, type Snapshot, type Term } from "../../raft/index.js";
import { MonotonicClock, type Clock } from "./clock.js";
import { DumpWriter } from "./dump-writer.js";
import { endOfTurn, nodeFileLayer, type FileLayer, type SyncOn } from "./file-layer.js";
import { errorText, METADATA_FILE, openError, replaceFileAtomically } from "./file-io.js";
import { LOG_RESERVE_BYTES } from "./log-file.js";
import { LogWriter } from "./log-writer.js";
import { emptyBatch, type Batch, type WritePlan } from "./write-batch.js";
import { checkPersistRequest, type PersistRequest } from "./persist-request.js";
import { SNAPSHOT_FILE, writeSnapshotFile } from "./snapshot-file.js";
import { encodeMetadata } from "./metadata-file.js";
import { openFiles, type OpenedFiles } from "./recovery.js";

export { encodeEntryLine, parseEntryLine, type ParsedLine } from "./log-line.js";
export type { PersistRequest } from "./persist-request.js";

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
  /** A change of the commit index alone reaches metadata.txt at most this often (default 1 s). */
  readonly commitPersistIntervalMs?: number;
  /** Zero bytes reserved ahead of the appends in logs.txt (default LOG_RESERVE_BYTES, 1 MiB; 0: none). */
  readonly logReserveBytes?: number;
  /** The clock that interval is measured on (default: the monotonic clock). */
  readonly clock?: Clock;
  /** Told, for each persist call that wrote something, how long it took to be durable (for the metrics). */
  readonly onDurable?: (elapsedMs: number) => void;
  /** A deliberate bug, for tests that must catch it (negative controls); never set in production. */
  readonly mutation?: StorageMutation;
}

/**
 * trust-page-cache: open uses what it reads without syncing it first.
 * truncate-without-sync: a truncation is not synced before the append that follows it.
 */
export type StorageMutation = "trust-page-cache" | "truncate-without-sync";

export const COMMIT_PERSIST_INTERVAL_MS_DEFAULT = 1_000;

function sameTermAndVote(a: HardState, b: HardState): boolean {
  return a.currentTerm === b.currentTerm && a.votedFor === b.votedFor;
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.currentTerm === b.currentTerm && a.votedFor === b.votedFor && a.commitIndex === b.commitIndex;
}

// ---------------------------------------------------------------- FileStorage

export class FileStorage {
  /** What was on the disk at open: the core restarts from it. */
  readonly recovered: PersistedState;
  readonly folderPath: string;
  private readonly opts: StorageOptions;
  private readonly layer: FileLayer;
  /** logs.txt as the writes taken so far leave it (changed only by the write in progress). */
  private readonly log: LogWriter;
  private readonly dump: DumpWriter;
  // The log after all accepted persist calls: where it starts and the term of each entry after.
  private stagedStart: LogStart;
  private readonly stagedTerms: Term[];
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
  private readonly clock: Clock;
  /** When metadata.txt was last asked to hold the commit index (the interval counts from here). */
  private commitWrittenAtMs = -Infinity;
  /** The commit index moved while the interval ran: it is written when the timer fires. */
  private commitTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private failure: Error | null = null;
  private closed = false;
  private syncs = 0;

  private constructor(opts: StorageOptions, layer: FileLayer, files: OpenedFiles) {
    this.opts = opts;
    this.layer = layer;
    this.clock = opts.clock ?? new MonotonicClock();
    this.folderPath = files.folderPath;

    this.dump = files.dump;
    const scan = files.log;
    this.stagedStart = scan.start;
    this.stagedTerms = scan.entries.map((e) => e.term);
    this.log = new LogWriter(layer, files.logFile, scan, files.logBytes, files.logFileBytes, opts.logReserveBytes ?? LOG_RESERVE_BYTES);
    this.latestHardState = files.hardState;
    this.durableHardState = files.hardState;
    this.durableSnapshotIndex = files.snapshot?.lastIndex ?? 0;
    this.pending = emptyBatch(this.log.lastIndex);
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
    return this.syncs + this.log.syncs;
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
   * caller and rejects at once. `syncOn` "thread": the caller has nothing to do until then.
   */
  async persist(request: PersistRequest, syncOn: SyncOn = "pool"): Promise<void> {
    this.checkUsable();
    const calledAtMs = this.clock.nowMs();
    if (!this.stage(request)) return this.afterQueuedWrites(); // nothing written for it: not timed
    const onDurable = this.opts.onDurable;
    return new Promise<void>((resolve, reject) => {
      const durable = onDurable === undefined ? resolve : () => (onDurable(this.clock.nowMs() - calledAtMs), resolve());
      this.pending.waiters.push({ resolve: durable, reject });
      if (syncOn === "thread") this.pending.syncOn = syncOn;
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
    if (this.commitTimer !== null) clearTimeout(this.commitTimer);
    this.commitTimer = null;
    while (this.flushing !== null) await this.flushing;
    if (this.failure === null) this.writeCommitLater(this.latestHardState); // the newest, however recent
    while (this.metadataLaterRunning !== null) await this.metadataLaterRunning;
    await this.snapshotChain.catch(() => undefined);
    await this.log.close();
    await this.dump.close();
  }

  private checkUsable(): void {
    if (this.closed) throw new Error(`storage ${this.folderPath} is closed; persist was called after close`);
    if (this.failure !== null) throw this.failure;
  }

  /**
   * Checks `request` whole (persist-request.ts), then applies it to the staged log and the pending
   * batch (a refused request changes nothing). False if it has nothing to wait for.
   */
  private stage(request: PersistRequest): boolean {
    const { keep, start } = checkPersistRequest(request, { start: this.stagedStart, terms: this.stagedTerms, hardState: this.latestHardState });
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
    changes = changes || request.append.length > 0;
    const hardState = request.hardState;
    if (hardState === null || sameHardState(hardState, this.latestHardState)) return changes;
    const commitOnly = sameTermAndVote(hardState, this.latestHardState);
    this.latestHardState = hardState;
    if (commitOnly) {
      this.commitMoved();
      return changes;
    }
    this.pending.hardState = hardState;
    this.commitWrittenAtMs = this.clock.nowMs(); // the whole hard state is written, commit index included
    return true;
  }

  /** The commit index alone moved: it is written once the interval since the last write is over. */
  private commitMoved(): void {
    if (this.commitTimer !== null || this.pending.commitDue) return; // a write is coming; it takes the newest
    const waitMs = this.commitWrittenAtMs + (this.opts.commitPersistIntervalMs ?? COMMIT_PERSIST_INTERVAL_MS_DEFAULT) - this.clock.nowMs();
    if (waitMs <= 0) return this.commitDue();
    this.commitTimer = setTimeout(() => {
      this.commitTimer = null;
      if (!this.closed && this.failure === null) this.commitDue();
    }, waitMs);
    this.commitTimer.unref(); // close() writes what is left; a forgotten storage must not hold the process
  }

  /** The next batch writes the newest commit index after its log writes (an empty batch if need be). */
  private commitDue(): void {
    this.commitWrittenAtMs = this.clock.nowMs();
    this.pending.commitDue = true;
    this.kick();
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
    await endOfTurn(); // the turn's calls join one batch; its messages leave first
    while (this.pending.waiters.length > 0 || this.pending.commitDue) {
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
    let rollBack = `cut logs.txt back to its ${this.log.durableBytes} durable bytes`;
    try {
      await this.log.rollBack();
    } catch (err) {
      rollBack = `cutting logs.txt back to its ${this.log.durableBytes} durable bytes failed too (${errorText(err)})`;
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
   * written before the batch resolves; the commit index alone, when due, is handed to
   * writeCommitLater (see the file's header).
   */
  private async write(plan: WritePlan): Promise<void> {
    if (plan.installSnapshot !== null) await this.writeSnapshot(plan.installSnapshot);
    if (plan.compactTo !== null) await this.log.compact(plan.compactTo, plan.truncateTo);
    else if (plan.truncateTo !== null) await this.log.truncate(plan.truncateTo, this.opts.mutation !== "truncate-without-sync");
    if (plan.entries.length > 0) await this.log.append(plan.base, plan.entries, plan.syncOn);
    if (plan.hardState !== null) await this.writeMetadata(plan.hardState);
    if (plan.commitDue) this.writeCommitLater(this.latestHardState);
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
      // Yield first: a run with nothing to write would otherwise finish, and its finally clear
      // metadataLaterRunning, before the assignment above stores the promise; close() would then
      // wait on it forever.
      await Promise.resolve();
      try {
        while (this.metadataLater !== null && this.failure === null) {
          const wished = this.metadataLater;
          this.metadataLater = null;
          while (this.metadataBusy !== null) await this.metadataBusy.catch(() => undefined);
          // Term and vote as metadata.txt holds them now (never older); commit within the durable log.
          const commitIndex = logIndex(Math.min(Math.max(wished.commitIndex, this.durableHardState.commitIndex), this.log.lastIndex)); // the log writer changes only once a write is durable
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
