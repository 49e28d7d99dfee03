// What the HTML timeline shows, recorded during a run: process states, partitions and faults.
// Role spans, lease pieces and client operations come from the simulator and its checkers.

import type { Op } from "../../../check/history.js";
import type { LeasePiece } from "../checks/lease-check.js";
import type { NodeState, RoleSpan } from "../faults/plan.js";

export interface StateSpan {
  readonly nodeId: number;
  readonly state: Exclude<NodeState, "up">;
  readonly fromMs: number;
  toMs: number | null;
}

export interface LinkSpan {
  readonly fromMs: number;
  toMs: number | null;
  readonly description: string;
}

export interface TimelineData {
  readonly title: string;
  readonly replay: string;
  readonly nodeCount: number;
  readonly endMs: number;
  readonly roles: readonly RoleSpan[];
  readonly leases: readonly LeasePiece[];
  readonly states: readonly StateSpan[];
  readonly links: readonly LinkSpan[];
  readonly faults: readonly { readonly atMs: number; readonly text: string }[];
  readonly ops: readonly Op[];
  readonly violation: { readonly atMs: number; readonly property: string; readonly message: string } | null;
}

export class TimelineRecorder {
  readonly states: StateSpan[] = [];
  readonly links: LinkSpan[] = [];
  readonly faults: { atMs: number; text: string }[] = [];

  nodeState(nodeId: number, t: number, state: NodeState): void {
    const open = this.states.find((s) => s.nodeId === nodeId && s.toMs === null);
    if (open !== undefined) open.toMs = t;
    if (state !== "up") this.states.push({ nodeId, state, fromMs: t, toMs: null });
  }

  linksChanged(t: number, description: string): void {
    const open = this.links[this.links.length - 1];
    if (open !== undefined && open.toMs === null) {
      if (open.description === description) return;
      open.toMs = t;
    }
    if (description !== "connected") this.links.push({ fromMs: t, toMs: null, description });
  }

  fault(t: number, text: string): void {
    this.faults.push({ atMs: t, text });
  }
}
