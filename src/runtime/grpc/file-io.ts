// File helpers shared by the storage files: the data dir's file names, whole writes, folder
// syncs, atomic replacement, and the errors that name a file and say what to do.

import { open, readFile, rename, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { assert } from "../../raft/types.js";

export const LOGS_FILE = "logs.txt";
export const METADATA_FILE = "metadata.txt";
export const DUMP_FILE = "dump.txt";
const REWRITE_CHUNK_CHARS_MAX = 1 << 20;

export function corrupt(filePath: string, lineNumber: number, what: string): Error {
  return new Error(`data dir ${filePath} line ${lineNumber}: ${what}; the file is corrupt, restore it from a replica`);
}

export function isErrnoException(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && "code" in err;
}

/** An OS error while opening, rewritten to name the data dir and say what to do. */
export function openError(dataDir: string, err: unknown): unknown {
  if (!isErrnoException(err)) return err;
  return new Error(`cannot use data dir ${dataDir}: ${err.message}; give a --data-dir that this user can create and write`);
}

export async function readOptional(filePath: string): Promise<Buffer | null> {
  try {
    return await readFile(filePath);
  } catch (err) {
    if (isErrnoException(err) && err.code === "ENOENT") return null;
    throw err;
  }
}

export async function writeAll(file: FileHandle, text: string): Promise<void> {
  const bytes = Buffer.from(text, "utf8");
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await file.write(bytes, offset, bytes.length - offset);
    assert(bytesWritten > 0, "a file write made no progress");
    offset += bytesWritten;
  }
}

export async function syncFolder(folderPath: string): Promise<void> {
  const folder = await open(folderPath, "r");
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

/** Replaces a file atomically: write a temporary file, fsync it, rename it over, fsync the folder. */
export async function replaceFileAtomically(folderPath: string, fileName: string, lines: readonly string[]): Promise<void> {
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
