// The file operations storage uses, behind one interface: the real file system in production, a
// recording in-memory model in the crash-consistency test (which derives, from the operations
// recorded, every state a crash may leave on the disk). Writes are positional; nothing is
// durable until its file (data) or its folder (names: creations, renames) is synced.

import { constants } from "node:fs";
import { mkdir, open, rename, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { assert } from "../../raft/index.js";

export interface LayerFile {
  readonly filePath: string;
  /** The file's length in bytes. */
  size(): Promise<number>;
  /** Reads up to `buffer.length` bytes at `position`; returns how many (0 at the end). */
  read(buffer: Buffer, position: number): Promise<number>;
  /** Writes all of `bytes` at `position`. */
  write(bytes: Buffer, position: number): Promise<void>;
  /** fdatasync: the data and the length are durable. */
  datasync(): Promise<void>;
  /** fsync: everything about the file is durable. */
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/** "existing": null when missing; "create": created empty when missing; "replace": emptied. */
export type OpenHow = "existing" | "create" | "replace";

export interface FileLayer {
  /** Creates a folder and its missing parents; returns the folders created, outermost first. */
  makeDirs(dirPath: string): Promise<readonly string[]>;
  open(filePath: string, how: OpenHow): Promise<LayerFile | null>;
  rename(fromPath: string, toPath: string): Promise<void>;
  /** Makes the folder's entries (creations, renames) durable. */
  syncDir(dirPath: string): Promise<void>;
}

function isMissing(err: unknown): boolean {
  return err instanceof Error && "code" in err && (err as NodeJS.ErrnoException).code === "ENOENT";
}

class NodeFile implements LayerFile {
  constructor(
    readonly filePath: string,
    private readonly handle: FileHandle,
  ) {}

  async size(): Promise<number> {
    return (await this.handle.stat()).size;
  }

  async read(buffer: Buffer, position: number): Promise<number> {
    const { bytesRead } = await this.handle.read(buffer, 0, buffer.length, position);
    return bytesRead;
  }

  async write(bytes: Buffer, position: number): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, offset, bytes.length - offset, position + offset);
      assert(bytesWritten > 0, "a file write made no progress");
      offset += bytesWritten;
    }
  }

  datasync(): Promise<void> {
    return this.handle.datasync();
  }

  sync(): Promise<void> {
    return this.handle.sync();
  }

  truncate(length: number): Promise<void> {
    return this.handle.truncate(length);
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** The real file system (node:fs). */
export const nodeFileLayer: FileLayer = {
  async makeDirs(dirPath) {
    const first = await mkdir(dirPath, { recursive: true });
    if (first === undefined) return [];
    const created: string[] = [];
    for (let dir = path.resolve(dirPath); created.length < 256; dir = path.dirname(dir)) {
      created.unshift(dir);
      if (dir === path.resolve(first)) break;
    }
    return created;
  },
  async open(filePath, how) {
    const flags = how === "replace" ? "w+" : how === "create" ? constants.O_RDWR | constants.O_CREAT : "r+";
    try {
      return new NodeFile(filePath, await open(filePath, flags));
    } catch (err) {
      if (how === "existing" && isMissing(err)) return null;
      throw err;
    }
  },
  rename: (fromPath, toPath) => rename(fromPath, toPath),
  async syncDir(dirPath) {
    const folder = await open(dirPath, "r");
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  },
};

/** Reads a whole small file; refuses one larger than `bytesMax`. */
export async function readSmallFile(file: LayerFile, bytesMax: number): Promise<Buffer> {
  const size = await file.size();
  if (size > bytesMax) throw new Error(`${file.filePath} is ${size} bytes, more than the ${bytesMax} it may hold; the file is corrupt, restore it from a replica`);
  const buffer = Buffer.alloc(size);
  let got = 0;
  while (got < size) {
    const n = await file.read(buffer.subarray(got), got);
    if (n === 0) break;
    got += n;
  }
  return buffer.subarray(0, got);
}
