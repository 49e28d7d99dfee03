// Helpers shared by the storage files: the data dir's file names, atomic replacement, and the
// errors that name a file and say what to do.

import path from "node:path";
import type { FileLayer } from "./file-layer.js";

export const LOGS_FILE = "logs.txt";
export const METADATA_FILE = "metadata.txt";
export const DUMP_FILE = "dump.txt";

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

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Replaces a file atomically: write a temporary file, fsync it, rename it over, fsync the folder. */
export async function replaceFileAtomically(layer: FileLayer, folderPath: string, fileName: string, text: string): Promise<void> {
  const filePath = path.join(folderPath, fileName);
  const tmpPath = `${filePath}.tmp`;
  const tmp = await layer.open(tmpPath, "replace");
  if (tmp === null) throw new Error(`cannot create ${tmpPath}`);
  try {
    await tmp.write(Buffer.from(text, "utf8"), 0);
    await tmp.sync();
  } finally {
    await tmp.close();
  }
  await layer.rename(tmpPath, filePath);
  await layer.syncDir(folderPath);
}
