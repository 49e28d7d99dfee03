// Where a write spends its time: with RAFT_LEASE_LATENCY_TRACE=<dir> set, a node records the
// moments each log entry passes through (received from the client, appended, durable, sent,
// received by a follower, durable there, acknowledged, committed, answered) and writes them to
// <dir>/latency-<node>.jsonl when it stops. bench/latency.mjs runs a cluster with it and prints
// the breakdown. Off (the default) every mark is one branch, nothing else.

import fs from "node:fs";
import path from "node:path";

export type LatencyPhase =
  | "client-received" // leader: a ServeClient SET arrived (no index yet)
  | "appended" // leader: the entry is in its log (step done)
  | "durable" // any node: the entry is on its disk
  | "append-sent" // leader: the AppendEntries carrying it was handed to gRPC
  | "append-received" // follower: that AppendEntries arrived
  | "reply-sent" // follower: its answer was handed to gRPC
  | "reply-received" // leader: the answer arrived
  | "committed" // leader: the entry is committed and applied
  | "client-answered"; // leader: the ServeClient answer was handed to gRPC

/** Marks kept at most: a bound, so a forgotten trace cannot grow without end. */
const MARKS_MAX = 1_000_000;

const dir = process.env["RAFT_LEASE_LATENCY_TRACE"] ?? "";
export const latencyTraceOn = dir !== "";
const marks: (string | number)[] = [];

/** Records that `index` (0 when not known yet) reached `phase` now, on the absolute clock in ms. */
export function markLatency(phase: LatencyPhase, index: number): void {
  if (!latencyTraceOn || marks.length >= 3 * MARKS_MAX) return;
  marks.push(phase, index, performance.timeOrigin + performance.now());
}

/** Writes the marks of node `id` and forgets them. */
export function flushLatencyTrace(id: number): void {
  if (!latencyTraceOn || marks.length === 0) return;
  const lines: string[] = [];
  for (let i = 0; i < marks.length; i += 3) lines.push(JSON.stringify({ phase: marks[i], index: marks[i + 1], atMs: marks[i + 2] }));
  fs.writeFileSync(path.join(dir, `latency-${id}.jsonl`), lines.join("\n") + "\n");
  marks.length = 0;
}
