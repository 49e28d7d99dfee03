// The file operations storage uses, behind one interface: the real file system in production, a
// recording in-memory model in the crash-consistency test (which derives, from the operations
// recorded, every state a crash may leave on the disk). Writes are positional; nothing is
// durable until its file (data) or its folder (names: creations, renames) is synced.

import fs, { constants } from "node:fs";
import { mkdir, open, rename } from "node:fs/promises";
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
  /** fdatasync: the data and the length are durable. `on` says where to wait (default "pool"). */
  datasync(on?: SyncOn): Promise<void>;
  /** fsync: everything about the file is durable. */
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Where an fdatasync waits for the disk: "pool", in libuv's thread pool while the node's thread
 * goes on; "thread", on the node's thread, which blocks until the disk is done. A layer may treat
 * "thread" as "pool" (the result is the same, only the waiting differs).
 */
export type SyncOn = "pool" | "thread";

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

// The real files use node:fs's callback calls on a plain descriptor, not a promise FileHandle: on
// Node 20 a FileHandle write plus datasync took 0.62 ms where the same two calls by callback took
// 0.32 ms (one process, 180-byte lines), and a follower's write is on every SET's path.
//
// A write of at most SYNC_WRITE_BYTES_MAX is made at once, on the calling thread: it only copies
// into the page cache, which costs less than a round trip through libuv's thread pool (a wake-up
// there, another back), and the fdatasync after it waits for the disk in the pool as before. Three
// processes writing 180-byte lines into reserved space and fdatasyncing each, on a busy machine:
// 0.55-0.68 ms per line and 0.20-0.30 ms of CPU, against 0.79-0.91 ms and 0.35-0.43 ms with the
// write in the pool. Larger writes (snapshots, the log's reserved space) go to the pool.
//
// An fdatasync a step waits for (a follower's append, whose reply leaves only once it is durable)
// may wait on the node's thread too, when all the bytes since the last sync were written there:
// the node has nothing to do until the disk is done, and the pool's two wake-ups cost more than
// the block. Three nodes on one disk, 1,000 SETs at 1 concurrent, six alternations of the two
// builds on a quiet machine: the paired p50s moved by -0.52 to +0.46 ms, median -0.12 ms (about
// 5%), and the followers spent less system CPU per SET; SET at 128 concurrent was unchanged
// (6,481-6,924 ops/s against 6,473-6,828). A leader's own append (sent before it is durable)
// still syncs in the pool: its thread has replies and clients to serve meanwhile.
//
// Storage and dump.txt start their writes at the end of an event-loop turn (endOfTurn), after
// HTTP/2 has written the turn's messages to their sockets (grpc-js hands a message over a few
// microtasks after the send), so a leader's AppendEntries never wait for its own log write.

/** Resolves at the end of this event-loop turn: when writes started there should start (see above). */
export function endOfTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Writes up to this many bytes on the calling thread (see above). */
const SYNC_WRITE_BYTES_MAX = 64 << 10;

/** Runs one callback-style fs call as a promise. */
function fsCall<T>(call: (done: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => call((err, value) => (err === null ? resolve(value) : reject(err))));
}

class NodeFile implements LayerFile {
  /** A write too large for the thread went through the pool since the last sync (see datasync). */
  private pooledWriteUnsynced = false;

  constructor(
    readonly filePath: string,
    private readonly fd: number,
  ) {}

  async size(): Promise<number> {
    return (await fsCall<fs.Stats>((done) => fs.fstat(this.fd, done))).size;
  }

  read(buffer: Buffer, position: number): Promise<number> {
    return fsCall((done) => fs.read(this.fd, buffer, 0, buffer.length, position, done));
  }

  async write(bytes: Buffer, position: number): Promise<void> {
    if (bytes.length <= SYNC_WRITE_BYTES_MAX) return this.writeNow(bytes, position);
    this.pooledWriteUnsynced = true;
    let offset = 0;
    while (offset < bytes.length) {
      const bytesWritten = await fsCall<number>((done) => fs.write(this.fd, bytes, offset, bytes.length - offset, position + offset, done));
      assert(bytesWritten > 0, "a file write made no progress");
      offset += bytesWritten;
    }
  }

  /** The whole write on this thread (a failure rejects the caller's promise: `write` is async). */
  private writeNow(bytes: Buffer, position: number): void {
    for (let offset = 0; offset < bytes.length; ) {
      const bytesWritten = fs.writeSync(this.fd, bytes, offset, bytes.length - offset, position + offset);
      assert(bytesWritten > 0, "a file write made no progress");
      offset += bytesWritten;
    }
  }

  async datasync(on: SyncOn = "pool"): Promise<void> {
    const large = this.pooledWriteUnsynced; // flushing a large write may take long: never block on it
    this.pooledWriteUnsynced = false;
    if (on === "thread" && !large) return fs.fdatasyncSync(this.fd); // a failure rejects: this method is async
    return fsCall((done) => fs.fdatasync(this.fd, (err) => done(err, undefined)));
  }

  sync(): Promise<void> {
    this.pooledWriteUnsynced = false;
    return fsCall((done) => fs.fsync(this.fd, (err) => done(err, undefined)));
  }

  truncate(length: number): Promise<void> {
    return fsCall((done) => fs.ftruncate(this.fd, length, (err) => done(err, undefined)));
  }

  close(): Promise<void> {
    return fsCall((done) => fs.close(this.fd, (err) => done(err, undefined)));
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
      return new NodeFile(filePath, await fsCall<number>((done) => fs.open(filePath, flags, 0o666, done)));
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
