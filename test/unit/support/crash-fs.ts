// A recording in-memory file system for the crash-consistency test of the storage code.
//
// Every operation storage makes (write, truncate, fsync/fdatasync, creation, rename, folder sync)
// is recorded in order; the state of the file system is the replay of that record. From any
// prefix of the record, crashImages() derives the states a POSIX file system may leave after a
// power loss at that point:
//   - a file keeps what its last sync made durable; of the operations after it (writes are
//     recorded one 4 KiB page at a time), none, all, a prefix, a prefix with the next write torn
//     in half, or all but one (pages persisted out of order: the missing page reads as zeros);
//   - a folder keeps the entries (creations, renames) its last sync made durable, or all of them.
// A process crash loses nothing: the record goes on from where it was (forkPrefix()).

import path from "node:path";
import type { FileLayer, LayerFile, OpenHow } from "../../../src/runtime/grpc/file-layer.js";

export const PAGE_BYTES = 4096;

export type FsOp =
  | { readonly kind: "write"; readonly inode: number; readonly position: number; readonly bytes: Buffer }
  | { readonly kind: "truncate"; readonly inode: number; readonly length: number }
  | { readonly kind: "sync"; readonly inode: number }
  | { readonly kind: "link"; readonly dir: string; readonly name: string; readonly target: number | "dir" }
  | { readonly kind: "unlink"; readonly dir: string; readonly name: string }
  | { readonly kind: "sync-dir"; readonly dir: string };

type Entry = number | "dir";

/** A file system state: file contents by inode and folder entries by folder path. */
export interface FsImage {
  readonly files: Map<number, Buffer>;
  readonly dirs: Map<string, Map<string, Entry>>;
}

function emptyImage(): FsImage {
  return { files: new Map(), dirs: new Map([["/", new Map()]]) };
}

function applyData(content: Buffer, op: FsOp, tornHalf = false): Buffer {
  if (op.kind === "truncate") return op.length <= content.length ? Buffer.from(content.subarray(0, op.length)) : Buffer.concat([content, Buffer.alloc(op.length - content.length)]);
  if (op.kind !== "write") return content;
  const bytes = tornHalf ? op.bytes.subarray(0, Math.floor(op.bytes.length / 2)) : op.bytes;
  const end = op.position + bytes.length;
  const out = Buffer.alloc(Math.max(content.length, end));
  content.copy(out);
  bytes.copy(out, op.position);
  return out;
}

function applyName(image: FsImage, op: FsOp): void {
  if (op.kind === "link") {
    if (!image.dirs.has(op.dir)) image.dirs.set(op.dir, new Map());
    image.dirs.get(op.dir)!.set(op.name, op.target);
    if (op.target === "dir" && !image.dirs.has(path.join(op.dir, op.name))) image.dirs.set(path.join(op.dir, op.name), new Map());
  } else if (op.kind === "unlink") image.dirs.get(op.dir)?.delete(op.name);
}

/** Replays `ops` in full: the state the page cache shows. */
export function replay(ops: readonly FsOp[]): FsImage {
  const image = emptyImage();
  for (const op of ops) {
    if (op.kind === "write" || op.kind === "truncate") image.files.set(op.inode, applyData(image.files.get(op.inode) ?? Buffer.alloc(0), op));
    else applyName(image, op);
  }
  return image;
}

type DataVariant = { readonly keep: "none" | "all" } | { readonly keep: "prefix"; readonly count: number; readonly tornNext: boolean } | { readonly keep: "all-but"; readonly skip: number };

function dataVariants(unsyncedCount: number): DataVariant[] {
  const variants: DataVariant[] = [{ keep: "none" }, { keep: "all" }];
  for (let count = 0; count < unsyncedCount; count++) {
    if (count > 0) variants.push({ keep: "prefix", count, tornNext: false });
    variants.push({ keep: "prefix", count, tornNext: true });
    if (count < unsyncedCount - 1) variants.push({ keep: "all-but", skip: count });
  }
  return variants;
}

function applyVariant(durable: Buffer, unsynced: readonly FsOp[], v: DataVariant): Buffer {
  let content = durable;
  unsynced.forEach((op, i) => {
    switch (v.keep) {
      case "none":
        return;
      case "all":
        content = applyData(content, op);
        return;
      case "prefix":
        if (i < v.count) content = applyData(content, op);
        else if (i === v.count && v.tornNext) content = applyData(content, op, true);
        return;
      case "all-but":
        // A skipped write leaves its bytes as they were (zeros where the file grew past them).
        if (i !== v.skip) content = applyData(content, op);
        else if (op.kind === "write") content = applyData(content, { ...op, bytes: Buffer.alloc(0) });
        return;
    }
  });
  return content;
}

/** Every inode's durable content and its unsynced operations, after `ops`. */
function splitData(ops: readonly FsOp[]): Map<number, { durable: Buffer; unsynced: FsOp[] }> {
  const files = new Map<number, { durable: Buffer; unsynced: FsOp[] }>();
  for (const op of ops) {
    if (op.kind !== "write" && op.kind !== "truncate" && op.kind !== "sync") continue;
    const f = files.get(op.inode) ?? { durable: Buffer.alloc(0), unsynced: [] };
    files.set(op.inode, f);
    if (op.kind === "sync") {
      for (const u of f.unsynced) f.durable = applyData(f.durable, u);
      f.unsynced = [];
    } else f.unsynced.push(op);
  }
  return files;
}

/** Folder entries made durable by folder syncs, and all of them. */
function splitNames(ops: readonly FsOp[]): { durable: FsImage; all: FsImage } {
  const all = emptyImage();
  const durable = emptyImage();
  const pending = new Map<string, FsOp[]>();
  for (const op of ops) {
    if (op.kind === "link" || op.kind === "unlink") {
      applyName(all, op);
      pending.set(op.dir, [...(pending.get(op.dir) ?? []), op]);
    } else if (op.kind === "sync-dir") {
      for (const p of pending.get(op.dir) ?? []) applyName(durable, p);
      pending.delete(op.dir);
    }
  }
  return { durable, all };
}

/** The distinct states a power loss after `ops` may leave, each with a label saying how it was made. */
export function crashImages(ops: readonly FsOp[]): { label: string; image: FsImage }[] {
  const data = splitData(ops);
  const names = splitNames(ops);
  const out: { label: string; image: FsImage }[] = [];
  const seen = new Set<string>();
  const focusInodes = [...data.entries()].filter(([, f]) => f.unsynced.length > 0).map(([inode]) => inode);
  const plans: { focus: number | null; variant: DataVariant; others: "none" | "all" }[] = [];
  for (const others of ["none", "all"] as const) {
    plans.push({ focus: null, variant: { keep: others }, others });
    for (const focus of focusInodes) for (const variant of dataVariants(data.get(focus)!.unsynced.length)) plans.push({ focus, variant, others });
  }
  for (const nameState of ["durable", "all"] as const) {
    for (const plan of plans) {
      const files = new Map<number, Buffer>();
      for (const [inode, f] of data) files.set(inode, applyVariant(f.durable, f.unsynced, inode === plan.focus ? plan.variant : { keep: plan.others }));
      const image: FsImage = { files, dirs: names[nameState].dirs };
      const key = imageKey(image);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ label: `names ${nameState}, inode ${plan.focus ?? "-"} ${JSON.stringify(plan.variant)}, other files ${plan.others}`, image });
    }
  }
  return out;
}

/** A canonical text of what is reachable by name in `image`. */
function imageKey(image: FsImage): string {
  const parts: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 16) return;
    for (const [name, entry] of [...(image.dirs.get(dir) ?? new Map<string, Entry>())].sort(([a], [b]) => a.localeCompare(b))) {
      const p = path.join(dir, name);
      if (entry === "dir") {
        parts.push(`${p}/`);
        walk(p, depth + 1);
      } else parts.push(`${p}=${(image.files.get(entry) ?? Buffer.alloc(0)).toString("base64")}`);
    }
  };
  walk("/", 0);
  return parts.join("\n");
}

/** A file system whose state is the replay of its record; storage runs over it as a FileLayer. */
export class RecordingFs implements FileLayer {
  readonly ops: FsOp[] = [];
  private image: FsImage = emptyImage();
  private nextInode = 1;

  /** A file system starting from `image` with everything in it durable (a machine after reboot). */
  static fromImage(image: FsImage): RecordingFs {
    const fs = new RecordingFs();
    const walk = (dir: string, depth: number): void => {
      for (const [name, entry] of image.dirs.get(dir) ?? new Map<string, Entry>()) {
        if (entry === "dir") {
          fs.record({ kind: "link", dir, name, target: "dir" });
          if (depth < 16) walk(path.join(dir, name), depth + 1);
        } else {
          const inode = fs.nextInode++;
          fs.record({ kind: "link", dir, name, target: inode });
          fs.record({ kind: "write", inode, position: 0, bytes: image.files.get(entry) ?? Buffer.alloc(0) });
          fs.record({ kind: "sync", inode });
        }
      }
      fs.record({ kind: "sync-dir", dir });
    };
    walk("/", 0);
    return fs;
  }

  /** `source` after its first `opCount` operations and a process crash: the page cache survives, nothing more is synced. */
  static forkPrefix(source: RecordingFs, opCount: number): RecordingFs {
    const fs = new RecordingFs();
    for (const op of source.ops.slice(0, opCount)) fs.record(op);
    fs.nextInode = source.nextInode;
    return fs;
  }

  private record(op: FsOp): void {
    this.ops.push(op);
    if (op.kind === "write" || op.kind === "truncate") this.image.files.set(op.inode, applyData(this.image.files.get(op.inode) ?? Buffer.alloc(0), op));
    else applyName(this.image, op);
  }

  private lookup(filePath: string): Entry | undefined {
    return this.image.dirs.get(path.dirname(filePath))?.get(path.basename(filePath));
  }

  /** File contents by path, as the page cache shows them. */
  contentOf(filePath: string): Buffer | null {
    const entry = this.lookup(filePath);
    return typeof entry === "number" ? (this.image.files.get(entry) ?? Buffer.alloc(0)) : null;
  }

  async makeDirs(dirPath: string): Promise<readonly string[]> {
    const created: string[] = [];
    const parts = path.resolve(dirPath).split("/").filter((p) => p !== "");
    let dir = "/";
    for (const part of parts) {
      const next = path.join(dir, part);
      if (!this.image.dirs.has(next)) {
        this.record({ kind: "link", dir, name: part, target: "dir" });
        created.push(next);
      }
      dir = next;
    }
    return created;
  }

  async open(filePath: string, how: OpenHow): Promise<LayerFile | null> {
    if (!this.image.dirs.has(path.dirname(filePath))) throw Object.assign(new Error(`ENOENT: ${path.dirname(filePath)}`), { code: "ENOENT" });
    let entry = this.lookup(filePath);
    if (entry === "dir") throw Object.assign(new Error(`EISDIR: ${filePath}`), { code: "EISDIR" });
    if (entry === undefined) {
      if (how === "existing") return null;
      entry = this.nextInode++;
      this.record({ kind: "link", dir: path.dirname(filePath), name: path.basename(filePath), target: entry });
    } else if (how === "replace") this.record({ kind: "truncate", inode: entry, length: 0 });
    return this.handle(filePath, entry);
  }

  async rename(fromPath: string, toPath: string): Promise<void> {
    const entry = this.lookup(fromPath);
    if (entry === undefined) throw Object.assign(new Error(`ENOENT: ${fromPath}`), { code: "ENOENT" });
    this.record({ kind: "link", dir: path.dirname(toPath), name: path.basename(toPath), target: entry });
    this.record({ kind: "unlink", dir: path.dirname(fromPath), name: path.basename(fromPath) });
  }

  async syncDir(dirPath: string): Promise<void> {
    this.record({ kind: "sync-dir", dir: path.resolve(dirPath) });
  }

  private handle(filePath: string, inode: number): LayerFile {
    const content = (): Buffer => this.image.files.get(inode) ?? Buffer.alloc(0);
    return {
      filePath,
      size: async () => content().length,
      read: async (buffer, position) => content().copy(buffer, 0, Math.min(position, content().length)),
      write: async (bytes, position) => {
        // One operation per page, so pages may persist out of order.
        for (let at = position; at < position + bytes.length; at = (Math.floor(at / PAGE_BYTES) + 1) * PAGE_BYTES) {
          const end = Math.min(position + bytes.length, (Math.floor(at / PAGE_BYTES) + 1) * PAGE_BYTES);
          this.record({ kind: "write", inode, position: at, bytes: Buffer.from(bytes.subarray(at - position, end - position)) });
        }
      },
      datasync: async () => this.record({ kind: "sync", inode }),
      sync: async () => this.record({ kind: "sync", inode }),
      truncate: async (length) => this.record({ kind: "truncate", inode, length }),
      close: async () => undefined,
    };
  }
}
