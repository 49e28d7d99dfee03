// Checks that look at the whole run once it is over: acknowledged writes, linearizability,
// and liveness after the faults stopped.

import type { NodeView } from "../../../raft/index.js";
import { logIndex, type Entry } from "../../../raft/index.js";
import type { History, Op } from "../../../check/history.js";
import { checkLinearizable } from "../../../check/linearizability.js";
import { violated } from "./violation.js";

/** Every SET a client saw succeed is committed, and the final leader's log holds all of it. */
export function checkAckedWrites(history: History, committed: readonly Entry[], finalLeader: NodeView | null): number {
  const checked = ackedInCommitOrder(history, committed);
  if (checked < 0) findLostWrite(history, committed);
  checkFinalLeader(committed, finalLeader);
  return Math.abs(checked);
}

/** A client's acknowledged SETs, linked in history order, and the first one not yet found committed. */
class ClientAcks {
  pending = -1;
  last = -1;
}

/**
 * The fast pass: how many SETs were acknowledged, negated when it did not find each of them
 * committed. A client has one operation at a time, and a SET is committed before it is
 * acknowledged, so the first commits of a client's acknowledged SETs come in its order: one walk of
 * the committed log, matching each client's next acknowledged SET, finds them all, with a lookup
 * of a client (a few, the same strings every time) per committed SET and per acknowledged one.
 * Adding every committed value to a set per key (thousands of strings) and looking each
 * acknowledged one up there took three times the instructions on the bench's histories (23.5M
 * against 7.9M). Whatever the walk does not find (a lost write, or a client that is not one
 * operation at a time), findLostWrite looks up.
 */
function ackedInCommitOrder(history: History, committed: readonly Entry[]): number {
  const clients = new Map<string, ClientAcks>();
  const nextAcked = new Int32Array(history.length); // the client's next acknowledged SET (-1: none)
  let acked = 0;
  for (let k = 0; k < history.length; k++) {
    const op = history[k]!;
    if (op.kind !== "set" || op.outcome !== "ok") continue;
    acked += 1;
    let c = clients.get(op.clientId);
    if (c === undefined) clients.set(op.clientId, (c = new ClientAcks()));
    if (c.last < 0) c.pending = k;
    else nextAcked[c.last] = k;
    c.last = k;
    nextAcked[k] = -1;
  }
  let found = 0;
  for (let i = 0; i < committed.length && found < acked; i++) {
    const e = committed[i]!.command;
    if (e.kind !== "set") continue;
    const c = clients.get(e.clientId);
    if (c === undefined || c.pending < 0) continue;
    const op = history[c.pending]!;
    if (op.value !== e.value || op.key !== e.key) continue;
    c.pending = nextAcked[c.pending]!;
    found += 1;
  }
  return found === acked ? acked : -acked;
}

/** The exact pass: the first acknowledged SET, in history order, whose key and value no committed SET has. */
function findLostWrite(history: History, committed: readonly Entry[]): void {
  const written = new Map<string, Set<string>>(); // key -> values committed (no key-value string built per entry)
  for (const e of committed) {
    const c = e.command;
    if (c.kind !== "set") continue;
    const values = written.get(c.key);
    if (values === undefined) written.set(c.key, new Set([c.value]));
    else values.add(c.value);
  }
  for (const op of history) {
    if (op.kind !== "set" || op.outcome !== "ok") continue;
    if (written.get(op.key)?.has(op.value) !== true) {
      violated("acknowledged write lost", `SET ${op.key} ${op.value} by client ${op.clientId} was acknowledged at ${op.completeMs} ms but is not in the committed log`, op.completeMs);
    }
  }
}

/** At the end the leader holds the whole committed log. */
function checkFinalLeader(committed: readonly Entry[], finalLeader: NodeView | null): void {
  const top = committed.length;
  if (finalLeader !== null && top > 0) {
    const term = finalLeader.termAt(logIndex(top));
    if (finalLeader.commitIndex < top || term !== committed[top - 1]!.term) {
      violated(
        "acknowledged write lost",
        `at the end, leader ${finalLeader.id} (commit ${finalLeader.commitIndex}) does not hold committed entry ${top} of term ${committed[top - 1]!.term}`,
      );
    }
  }
}

export function checkLinearizability(history: History, endMs: number): number {
  const result = checkLinearizable(history);
  if (result.ok) return result.ops;
  const last = result.ops.reduce((t, op) => Math.max(t, op.completeMs ?? op.invokeMs), 0);
  return violated("linearizability", result.message, Math.min(last, endMs));
}

export interface OpBounds {
  readonly quietFromMs: number;
  readonly leaderMs: number;
  readonly opMs: number;
  readonly endMs: number;
}

/**
 * After the faults stop (quietFromMs) a leader has leaderMs to appear. From then on every
 * operation must succeed within opMs; operations pending before must end, one way or another,
 * by then plus opMs.
 */
export function checkOpLiveness(history: History, b: OpBounds): number {
  const settledMs = b.quietFromMs + b.leaderMs;
  let checked = 0;
  for (const op of history) {
    const doneMs = op.completeMs ?? Infinity;
    if (doneMs < b.quietFromMs) continue;
    checked += 1;
    if (op.invokeMs >= settledMs) {
      const dueMs = op.invokeMs + b.opMs;
      if (dueMs <= b.endMs && (doneMs > dueMs || op.outcome !== "ok")) failOp(op, `did not succeed within ${b.opMs} ms`, dueMs, b);
      if (op.completeMs !== null && op.outcome !== "ok") failOp(op, `ended "${op.outcome}"`, op.completeMs, b);
    } else {
      const dueMs = settledMs + b.opMs;
      if (dueMs <= b.endMs && doneMs > dueMs) failOp(op, `was still pending ${b.opMs} ms after a leader was due`, dueMs, b);
    }
  }
  return checked;
}

function failOp(op: Op, what: string, atMs: number, b: OpBounds): never {
  return violated(
    "liveness",
    `${op.kind.toUpperCase()} ${op.key} by client ${op.clientId}, invoked at ${op.invokeMs.toFixed(1)} ms, ${what} (faults stopped at ${b.quietFromMs} ms)`,
    atMs,
  );
}

/**
 * Every live node catches up with the leader once the clients stop (windowFromMs): by the end it
 * has the leader's commit index, or it is still getting there: its commit index moved during the
 * window (small batches and a short pipeline catch up one RTT at a time, which can take longer
 * than the window; a node that moved not at all is stuck).
 */
export function checkCatchUp(
  cores: readonly (NodeView | null)[],
  leader: NodeView,
  commitAtWindowStart: ReadonlyMap<number, number>,
  windowFromMs: number,
): number {
  let checked = 0;
  for (const core of cores) {
    if (core === null || core === leader) continue;
    checked += 1;
    if (core.commitIndex >= leader.commitIndex) continue;
    const before = commitAtWindowStart.get(core.id);
    if (before !== undefined && core.commitIndex > before) continue;
    violated(
      "liveness",
      `node ${core.id} has not caught up by the end and made no progress since the clients stopped at ${windowFromMs} ms: ` +
        `commit index ${core.commitIndex}, leader ${leader.id} has ${leader.commitIndex}`,
    );
  }
  return checked;
}
