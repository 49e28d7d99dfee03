// What a run writes down as it goes, besides the client history: each node's spans of role and
// term and the notable events of leadership (the scenario checks, the summary and the timeline
// read them), the --trace lines, and the timeline's own record when one was asked for.

import { formatEvent, type NodeView, type RaftEvent, type Role } from "../../../raft/index.js";
import type { NotableEvent, RoleSpan } from "../faults/plan.js";
import type { Scheduler } from "../world/sim-event.js";
import type { SimNode } from "../world/sim-node.js";
import type { RunStats } from "./results.js";
import type { TimelineRecorder } from "./timeline-data.js";

export class RunLog {
  readonly roleSpans: RoleSpan[] = [];
  readonly notable: NotableEvent[] = [];
  /** Each node's open span (the role it holds now); null while it is down. */
  private readonly openSpans: (RoleSpan | null)[];

  constructor(
    private readonly loop: Pick<Scheduler, "nowMs">,
    nodeCount: number,
    private readonly stats: RunStats,
    private readonly trace: ((line: string) => void) | null,
    readonly timeline: TimelineRecorder | null,
  ) {
    this.openSpans = new Array<RoleSpan | null>(nodeCount).fill(null);
  }

  /** Whether --trace is on: callers skip formatting lines nobody would read. */
  get tracing(): boolean {
    return this.trace !== null;
  }

  line(t: number, who: string, text: string): void {
    this.trace?.(`${t.toFixed(3).padStart(11)} ms  ${who.padEnd(7)} ${text}`);
  }

  /** After a step: a new role or term opens a span; events go to the trace, leadership news to `notable`. */
  afterStep(sn: SimNode, v: NodeView, events: readonly RaftEvent[]): void {
    const nowMs = this.loop.nowMs;
    if (v.role !== sn.lastRole || v.term !== sn.lastTerm) this.roleChanged(sn, v.role, v.term);
    for (let k = 0; k < events.length; k++) {
      const e = events[k]!;
      if (this.trace !== null) this.line(nowMs, `n${sn.id}`, formatEvent(e));
      // Read once: events come in many shapes, and each read of the kind is a generic lookup.
      const kind = e.kind;
      if (kind === "became-leader") this.stats.elections += 1;
      if (kind === "became-leader" || kind === "stepping-down" || kind === "lease-renewal-failed" || kind === "waiting-old-lease") {
        this.notable.push({ atMs: nowMs, nodeId: sn.id, kind, term: v.term });
      }
    }
  }

  /** Closes the node's open span and opens one for its new role; role null: the node went down. */
  roleChanged(sn: SimNode, role: Role | null, term: number): void {
    const nowMs = this.loop.nowMs;
    const open = this.openSpans[sn.id];
    if (open !== null && open !== undefined) open.toMs = nowMs;
    sn.lastRole = role ?? "down";
    sn.lastTerm = role === null ? -1 : term;
    if (role === null) {
      this.openSpans[sn.id] = null;
      return;
    }
    const span: RoleSpan = { nodeId: sn.id, role, term, fromMs: nowMs, toMs: null };
    this.roleSpans.push(span);
    this.openSpans[sn.id] = span;
  }
}
