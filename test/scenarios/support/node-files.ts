// A node's data as its files hold it, read by tests without the node: snapshot.txt, then the
// entries of logs.txt, and the state machine the two rebuild.

import fs from "node:fs";
import path from "node:path";
import { parseEntryLine } from "../../../src/runtime/grpc/log-line.js";
import { parseSnapshot } from "../../../src/runtime/grpc/snapshot-file.js";
import type { ProcessCluster } from "./procs.js";

export interface NodeFiles {
  /** logs.txt's lines by log index. */
  readonly entries: Map<number, string>;
  /** The state machine: the snapshot's data, then every SET of logs.txt after the snapshot. */
  readonly data: Map<string, string>;
  /** The snapshot's last index (0 without snapshot.txt). */
  readonly snapshotIndex: number;
  /** The first index logs.txt holds (after its START line). */
  readonly firstIndex: number;
}

export function readNodeFiles(c: ProcessCluster, id: number): NodeFiles {
  const snapshotPath = path.join(c.folder(id), "snapshot.txt");
  const parsed = fs.existsSync(snapshotPath) ? parseSnapshot(fs.readFileSync(snapshotPath, "latin1")) : null;
  if (parsed !== null && !parsed.ok) throw new Error(`node ${id}: ${parsed.error}`);
  const data = new Map(parsed?.value.data ?? []);
  const snapshotIndex = parsed?.value.lastIndex ?? 0;
  const lines = c.logLines(id);
  const start = /^START (\d+) \d+$/.exec(lines[0] ?? "");
  const prev = start === null ? 0 : Number(start[1]);
  const entries = new Map<number, string>();
  lines.slice(start === null ? 0 : 1).forEach((line, k) => {
    const index = prev + k + 1;
    entries.set(index, line);
    const e = parseEntryLine(line);
    if (!e.ok) throw new Error(`node ${id} logs.txt: ${e.error}`);
    if (index > snapshotIndex && e.entry.command.kind === "set") data.set(e.entry.command.key, e.entry.command.value);
  });
  return { entries, data, snapshotIndex, firstIndex: prev + 1 };
}
