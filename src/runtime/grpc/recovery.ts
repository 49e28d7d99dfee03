// Opening a data dir: making what it holds durable, reading logs.txt and metadata.txt back,
// checking them against each other and against this node, and repairing a torn tail of logs.txt.
// Any other damage stops the node with an error naming the file and line.
//
// What a node reads at open may exist only in the page cache: a process that died between a write
// and its sync leaves the write there, readable but not durable. So open syncs logs.txt,
// metadata.txt, their folder and the data dir before it uses anything it read; from then on all
// of it is durable and may be acknowledged.

import path from "node:path";
import { logIndex, term as toTerm, type HardState, type Snapshot } from "../../raft/index.js";
import { DumpWriter } from "./dump-writer.js";
import { readSmallFile, type FileLayer, type LayerFile } from "./file-layer.js";
import { corrupt, DUMP_FILE, LOGS_FILE, METADATA_FILE, replaceFileAtomically } from "./file-io.js";
import { repairTail, scanLog, type LogScan } from "./log-file.js";
import { quote } from "./text-fields.js";
import { readSnapshotFile, SNAPSHOT_FILE } from "./snapshot-file.js";
import { encodeMetadata, parseMetadata, type Metadata } from "./metadata-file.js";
import type { StorageOptions } from "./storage.js";

/** metadata.txt holds five short lines; anything much larger is not one. */
const METADATA_BYTES_MAX = 64 << 10;

export interface OpenedFiles {
  readonly folderPath: string;
  readonly logFile: LayerFile;
  /** Where the lines of logs.txt end, all durable. */
  readonly logBytes: number;
  /** The length of logs.txt: its lines, then reserved zero bytes (log-file.ts). */
  readonly logFileBytes: number;
  readonly dump: DumpWriter;
  readonly log: LogScan;
  readonly hardState: HardState;
  /** snapshot.txt, or null when there is none. */
  readonly snapshot: Snapshot | null;
}

/** The hard state to restart from, after checking metadata.txt against the log and the snapshot. */
function reconcile(metadata: Metadata, log: LogScan, snapshot: Snapshot | null, metadataPath: string, warn: (m: string) => void): HardState {
  const { hardState } = metadata;
  const logLast = log.start.prevIndex + log.entries.length;
  if (hardState.commitIndex > Math.max(logLast, snapshot?.lastIndex ?? 0)) {
    const holds = log.start.prevIndex === 0 ? `the ${logLast} entries` : `the last entry (${logLast})`;
    throw corrupt(metadataPath, metadata.lineOf.commit_length, `commit_length ${hardState.commitIndex} is beyond ${holds} of ${LOGS_FILE}`);
  }
  const lastTerm = toTerm(Math.max(log.entries.at(-1)?.term ?? log.start.prevTerm, snapshot?.lastTerm ?? 0));
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
}

/**
 * The cluster a data dir was started for must be the one given now, unless the data dir holds a
 * configuration of its own (a CONFIG entry, or a snapshot's members): that one is used whatever
 * --cluster says (the node runtime says so), since the membership may have changed since.
 */
function checkCluster(metadata: Metadata, opts: StorageOptions, folderPath: string, log: LogScan, snapshot: Snapshot | null): void {
  const holdsConfiguration = snapshot !== null || log.entries.some((e) => e.command.kind === "config");
  if (metadata.cluster !== opts.clusterFingerprint && !holdsConfiguration) {
    throw new Error(
      `data dir ${folderPath} belongs to cluster ${quote(metadata.cluster)}, not ${quote(opts.clusterFingerprint)}; give the right --data-dir or --cluster`,
    );
  }
}

/** Creates the data dir's folders if missing; each new folder's entry is synced in its parent. */
async function makeFolders(layer: FileLayer, folderPath: string): Promise<void> {
  const created = await layer.makeDirs(folderPath);
  for (const dir of created) await layer.syncDir(path.dirname(dir));
}

/** Reads metadata.txt after syncing it; null when it does not exist. */
async function readMetadata(layer: FileLayer, metadataPath: string, syncFirst: boolean): Promise<Metadata | null> {
  const file = await layer.open(metadataPath, "existing");
  if (file === null) return null;
  try {
    if (syncFirst) await file.sync();
    return parseMetadata((await readSmallFile(file, METADATA_BYTES_MAX)).toString("utf8"), metadataPath);
  } finally {
    await file.close();
  }
}

export async function openFiles(layer: FileLayer, opts: StorageOptions, folderPath: string): Promise<OpenedFiles> {
  await makeFolders(layer, folderPath);
  const logPath = path.join(folderPath, LOGS_FILE);
  const metadataPath = path.join(folderPath, METADATA_FILE);
  const syncFirst = opts.mutation !== "trust-page-cache";
  const metadata = await readMetadata(layer, metadataPath, syncFirst);
  if (metadata !== null) checkOwner(metadata, opts, folderPath);
  const existingLog = await layer.open(logPath, "existing");
  if (metadata !== null && existingLog === null) {
    throw new Error(`data dir ${logPath} is missing but ${metadataPath} exists; the folder is corrupt, restore it from a replica`);
  }
  const logFile = existingLog ?? (await layer.open(logPath, "create"));
  if (logFile === null) throw new Error(`cannot create ${logPath}`);
  try {
    if (metadata === null && (await logFile.size()) > 0) {
      throw new Error(`data dir ${metadataPath} is missing but ${logPath} is not empty; the folder is corrupt, restore it from a replica`);
    }
    if (syncFirst) {
      await logFile.sync();
      await layer.syncDir(folderPath);
      await layer.syncDir(path.dirname(folderPath));
    }
    const log = await scanLog(logFile);
    const snapshot = await readSnapshot(layer, folderPath, syncFirst);
    if (metadata !== null) checkCluster(metadata, opts, folderPath, log, snapshot);
    checkLogStart(log, snapshot, logPath);
    const hardState = metadata === null ? freshHardState() : reconcile(metadata, log, snapshot, metadataPath, opts.warn);
    if (log.repair !== null) await repairTail(logFile, log.repair, opts.warn);
    if (metadata === null) await replaceFileAtomically(layer, folderPath, METADATA_FILE, encodeMetadata(opts.nodeId, opts.clusterFingerprint, hardState));
    const dump = await DumpWriter.open(layer, path.join(folderPath, DUMP_FILE), opts.dumpBytesMax, opts.warn);
    return { folderPath, logFile, logBytes: log.lineEnds.at(-1) ?? log.headerBytes, logFileBytes: await logFile.size(), dump, log, hardState, snapshot };
  } catch (err) {
    await logFile.close();
    throw err;
  }
}

/** Reads snapshot.txt after syncing it; null when there is none. Damage stops the node. */
async function readSnapshot(layer: FileLayer, folderPath: string, syncFirst: boolean): Promise<Snapshot | null> {
  const file = await layer.open(path.join(folderPath, SNAPSHOT_FILE), "existing");
  if (file === null) return null;
  try {
    if (syncFirst) await file.sync();
    const read = await readSnapshotFile(file);
    if (!read.ok) throw new Error(`data dir ${read.error}; the snapshot is corrupt: move this data dir aside and let the node catch up from its peers`);
    return read.value;
  } finally {
    await file.close();
  }
}

/** A compacted log needs the snapshot that holds its prefix. */
function checkLogStart(log: LogScan, snapshot: Snapshot | null, logPath: string): void {
  const prev = log.start.prevIndex;
  if (prev === 0) return;
  if (snapshot === null) throw corrupt(logPath, 1, `the log starts after entry ${prev}, but ${SNAPSHOT_FILE}, which holds the entries before, is missing`);
  if (snapshot.lastIndex < prev) throw corrupt(logPath, 1, `the log starts after entry ${prev}, but ${SNAPSHOT_FILE} ends at entry ${snapshot.lastIndex}`);
}

function freshHardState(): HardState {
  return { currentTerm: toTerm(0), votedFor: null, commitIndex: logIndex(0) };
}
