// Opening a data dir: reading logs.txt and metadata.txt back, checking them against each other
// and against this node, and repairing a torn last line. Any other damage stops the node with an
// error naming the file and line.

import { mkdir, open, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { logIndex, term as toTerm, type HardState } from "../../raft/types.js";
import { DumpWriter } from "./dump-writer.js";
import { corrupt, DUMP_FILE, LOGS_FILE, METADATA_FILE, readOptional, replaceFileAtomically, syncFolder } from "./file-io.js";
import { parseLog, repairTornLine, type RecoveredLog } from "./log-file.js";
import { quote } from "./log-line.js";
import { encodeMetadata, parseMetadata, type Metadata } from "./metadata-file.js";
import type { StorageOptions } from "./storage.js";

export interface OpenedFiles {
  readonly folderPath: string;
  readonly logFile: FileHandle;
  readonly dump: DumpWriter;
  readonly log: RecoveredLog;
  readonly hardState: HardState;
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

export async function openFiles(opts: StorageOptions, folderPath: string): Promise<OpenedFiles> {
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

/** A fresh node: logs.txt exists (empty) in the folder before metadata.txt names the node. */
async function initMetadata(folderPath: string, opts: StorageOptions, hardState: HardState): Promise<void> {
  await syncFolder(folderPath);
  await replaceFileAtomically(folderPath, METADATA_FILE, [encodeMetadata(opts.nodeId, opts.clusterFingerprint, hardState)]);
}
