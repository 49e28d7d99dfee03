// The run's report: history.jsonl (one operation a line), summary.json, and report.html, a
// self-contained page: a lane per node (leader terms, the lease being renewed, restarts, from
// the dump lines), the nemesis bands, and every client operation as a bar from invocation to
// completion (green ok, grey failed, orange indeterminate, red the anomaly's operations).

import { writeFileSync } from "node:fs";
import path from "node:path";
import type { History, Op } from "../check/history.js";
import type { NodeFiles } from "./checks.js";
import { escapeHtml } from "../runtime/sim/reports/timeline.js";
import type { Band } from "./nemesis.js";

export interface ReportInput {
  readonly outDir: string;
  readonly title: string;
  readonly history: History;
  readonly bands: readonly Band[];
  readonly nodes: readonly NodeFiles[];
  /** Date.now() when the history clock read 0 (dump lines carry wall-clock stamps). */
  readonly wallStartMs: number;
  readonly endMs: number;
  readonly leaseMs: number;
  readonly anomalyOps: readonly Op[];
  readonly summary: Record<string, unknown>;
}

const WIDTH_PX = 1600;
const LANE_PX = 22;
/** Operations drawn, at most (the page stays small; history.jsonl has them all). */
const OPS_DRAWN_MAX = 40_000;

export function writeReport(r: ReportInput): void {
  writeFileSync(path.join(r.outDir, "history.jsonl"), r.history.map((op) => JSON.stringify(op)).join("\n") + "\n");
  writeFileSync(path.join(r.outDir, "summary.json"), JSON.stringify(r.summary, null, 2) + "\n");
  writeFileSync(path.join(r.outDir, "report.html"), html(r));
}

interface Segment {
  readonly lane: number;
  readonly fromMs: number;
  readonly toMs: number;
  readonly cls: string;
  readonly title: string;
}

/** Leader terms and lease renewals of one node, from its dump lines. */
function nodeSegments(n: NodeFiles, lane: number, r: ReportInput): Segment[] {
  const out: Segment[] = [];
  let leaderSince: { ms: number; term: string } | null = null;
  let renewFrom: number | null = null;
  let renewLast = 0;
  const at = (line: string): number => Date.parse(line.slice(0, 24)) - r.wallStartMs;
  const endLeader = (ms: number): void => {
    if (leaderSince !== null) out.push({ lane, fromMs: leaderSince.ms, toMs: ms, cls: "leader", title: `node ${n.id} leader, term ${leaderSince.term}` });
    leaderSince = null;
  };
  const endRenew = (): void => {
    if (renewFrom !== null) out.push({ lane, fromMs: renewFrom, toMs: renewLast + r.leaseMs, cls: "lease", title: `node ${n.id} renewing its lease` });
    renewFrom = null;
  };
  for (const line of n.dump) {
    const ms = at(line);
    if (!Number.isFinite(ms)) continue;
    const became = / became the leader for term ([0-9]+)\./.exec(line);
    if (became !== null) {
      endLeader(ms);
      leaderSince = { ms, term: became[1] ?? "?" };
    } else if (/Stepping [dD]own|serving on|stopping:/.test(line)) {
      endLeader(ms);
      endRenew();
      if (line.includes("serving on")) out.push({ lane, fromMs: ms, toMs: ms + 30, cls: "start", title: `node ${n.id} started` });
    } else if (line.includes("sending heartbeat")) {
      if (renewFrom !== null && ms - renewLast > r.leaseMs) endRenew();
      renewFrom ??= ms;
      renewLast = ms;
    }
  }
  endLeader(r.endMs);
  endRenew();
  return out;
}

function html(r: ReportInput): string {
  const nodeCount = r.nodes.length;
  const clients = [...new Set(r.history.map((o) => o.clientId))].sort();
  const laneOfClient = new Map(clients.map((c, i) => [c, nodeCount + 1 + i]));
  const segments: Segment[] = r.nodes.flatMap((n, i) => nodeSegments(n, i, r));
  for (const b of r.bands) segments.push({ lane: nodeCount, fromMs: b.startMs, toMs: b.endMs, cls: "band", title: b.label });
  const anomalous = new Set(r.anomalyOps.map((o) => o.id));
  for (const op of r.history.slice(0, OPS_DRAWN_MAX)) {
    const cls = anomalous.has(op.id) ? "bad" : op.outcome === "ok" ? "ok" : op.outcome === "fail" ? "fail" : "unknown";
    const title = `${op.kind.toUpperCase()} ${op.key}${op.kind === "set" || op.outcome === "ok" ? ` ${JSON.stringify(op.value)}` : ""} ${op.outcome} [${op.invokeMs.toFixed(1)}, ${op.completeMs?.toFixed(1) ?? "-"}] ms`;
    segments.push({ lane: laneOfClient.get(op.clientId) ?? 0, fromMs: op.invokeMs, toMs: op.completeMs ?? r.endMs, cls, title });
  }
  const lanes = nodeCount + 1 + clients.length;
  const scale = WIDTH_PX / Math.max(1, r.endMs);
  const rects = segments
    .map((s) => `<rect class="${s.cls}" x="${(s.fromMs * scale + 80).toFixed(1)}" y="${s.lane * LANE_PX + (s.cls === "lease" ? 14 : 2)}" width="${Math.max(1, (s.toMs - s.fromMs) * scale).toFixed(1)}" height="${s.cls === "lease" ? 5 : LANE_PX - 6}"><title>${escapeHtml(s.title)}</title></rect>`)
    .join("\n");
  const labels = [...r.nodes.map((n) => `node ${n.id}`), "nemesis", ...clients].map((l, i) => `<text x="4" y="${i * LANE_PX + 15}">${escapeHtml(l)}</text>`).join("");
  const ticks = Array.from({ length: Math.floor(r.endMs / 5000) + 1 }, (_, i) => `<text class="tick" x="${(i * 5000 * scale + 80).toFixed(1)}" y="${lanes * LANE_PX + 14}">${i * 5}s</text>`).join("");
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(r.title)}</title><style>
body{font:13px sans-serif;margin:16px} svg text{font:11px monospace} .tick{fill:#666}
.leader{fill:#3b6fd8} .lease{fill:#9c27b0} .start{fill:#000} .band{fill:#f4c542;opacity:.7}
.ok{fill:#4caf50} .fail{fill:#bbb} .unknown{fill:#ff9800} .bad{fill:#e53935;stroke:#000}
pre{background:#f6f6f6;padding:8px;white-space:pre-wrap}</style></head><body>
<h2>${escapeHtml(r.title)}</h2><pre>${escapeHtml(JSON.stringify(r.summary, null, 2))}</pre>
<p>Lanes: each node (blue: leader, from its dump lines; purple: renewing its lease; black tick: (re)start),
the nemesis (yellow bands; hover for details), then every client (bars from invocation to completion:
green ok, grey failed, orange indeterminate, red the operations of the anomaly). Dump times are each node's
wall clock; under libfaketime they drift with it. Hover for details.</p>
<svg width="${WIDTH_PX + 100}" height="${lanes * LANE_PX + 24}">${labels}${rects}${ticks}</svg>
</body></html>
`;
}
