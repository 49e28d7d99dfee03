// Helpers shared by the storage tests: entries, hard states and persist requests; a fresh temporary
// data dir per test; storage opened there and closed after the test; logs.txt and metadata.txt
// text with and without checksum tokens.

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach } from "vitest";
import { logIndex, nodeId, term, type Entry, type HardState, type NodeId } from "../../../src/raft/index.js";
import { DUMP_BYTES_MAX_DEFAULT } from "../../../src/runtime/grpc/dump-writer.js";
import type { LayerFile } from "../../../src/runtime/grpc/file-layer.js";
import { withChecksum } from "../../../src/runtime/grpc/line-checksum.js";
import { FileStorage, type PersistRequest, type StorageOptions } from "../../../src/runtime/grpc/storage.js";

export const CLUSTER = "0=127.0.0.1:5000,1=127.0.0.1:5001,2=127.0.0.1:5002";

export function set(key: string, value: string, t: number, clientId = "", sequence = 0, firstUnanswered = sequence): Entry {
  return { term: term(t), command: { kind: "set", key, value, clientId, sequence, firstUnanswered } };
}
export function noop(t: number): Entry {
  return { term: term(t), command: { kind: "noop" } };
}
export function hard(currentTerm: number, votedFor: number | null, commitIndex: number): HardState {
  return { currentTerm: term(currentTerm), votedFor: votedFor === null ? null : nodeId(votedFor), commitIndex: logIndex(commitIndex) };
}
export function append(appendFrom: number, entries: Entry[], hardState: HardState | null = null, truncateFrom: number | null = null): PersistRequest {
  return { hardState, installSnapshot: null, compactTo: null, truncateFrom: truncateFrom === null ? null : logIndex(truncateFrom), appendFrom: logIndex(appendFrom), append: entries };
}
export const nothing: PersistRequest = { hardState: null, installSnapshot: null, compactTo: null, truncateFrom: null, appendFrom: null, append: [] };

/** The current test's data dir and the warnings storage gave. */
export const fx = { dir: "", warnings: [] as string[] };
const opened: FileStorage[] = [];

/** Gives every test of the calling file a fresh data dir, and closes what it opened. */
export function useTempDataDir(): void {
  beforeEach(async () => {
    fx.dir = await mkdtemp(path.join(tmpdir(), "raft-storage-"));
    fx.warnings = [];
  });
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    await rm(fx.dir, { recursive: true, force: true });
  });
}

export async function openStorage(id = 1, cluster = CLUSTER, dataDir = fx.dir, extra: Partial<StorageOptions> = {}): Promise<FileStorage> {
  const storage = await FileStorage.open({ dataDir, nodeId: nodeId(id), clusterFingerprint: cluster, warn: (m) => fx.warnings.push(m), dumpBytesMax: DUMP_BYTES_MAX_DEFAULT, ...extra });
  opened.push(storage);
  return storage;
}
export async function reopen(storage: FileStorage, id = 1): Promise<FileStorage> {
  await storage.close();
  return openStorage(id);
}
export function folder(id: NodeId | number = 1): string {
  return path.join(fx.dir, `logs_node_${id}`);
}
/** logs.txt's lines without their checksum tokens and without the reserved zero bytes after them (log-file.ts). */
export async function logsText(id = 1): Promise<string> {
  return plain((await readFile(path.join(folder(id), "logs.txt"), "utf8")).replace(/\0+$/, ""));
}
/** A file's text without its checksum tokens. */
export function plain(text: string): string {
  return text.replace(/ [#*][0-9a-f]{8}$/gm, "");
}
/** Lines as one write of logs.txt: each with its checksum token, the last one marked `*`. */
export function sealed(lines: readonly string[]): string {
  return lines.map((line, i) => `${withChecksum(line, i === lines.length - 1 ? "*" : "#")}\n`).join("");
}
/** metadata.txt text after an edit: every line with a fresh checksum. */
export function resealed(text: string): string {
  return plain(text).split("\n").filter((line) => line !== "").map((line) => `${withChecksum(line, "#")}\n`).join("");
}

/** A file passing every call on to `file`, except those `overrides` replace. */
export function delegatingFile(file: LayerFile, overrides: Partial<LayerFile>): LayerFile {
  return {
    filePath: file.filePath,
    size: () => file.size(),
    read: (b, p) => file.read(b, p),
    write: (b, p) => file.write(b, p),
    datasync: (on) => file.datasync(on),
    sync: () => file.sync(),
    truncate: (n) => file.truncate(n),
    close: () => file.close(),
    ...overrides,
  };
}
