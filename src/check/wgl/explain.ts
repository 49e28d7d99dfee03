// What a failure says: the op the search could not place, with its times, and what the register
// held at the furthest point the search reached.

import type { Op } from "../history.js";
import type { Witness } from "./witness.js";

export function explainStuck(key: string, witness: Witness, keyOpCount: number): string {
  const { stuck } = witness;
  const heldValue = stuck.heldBy === null ? "" : stuck.heldBy.value;
  const held = stuck.heldBy === null ? `the initial value ""` : `${quote(heldValue)}, written by ${opLabel(stuck.heldBy)}`;
  const furthest = `at the furthest point the search reached (${stuck.placedCount} of ${stuck.opCount} ops placed), the register held ${held}`;
  const header = `key ${quote(key)}: not linearizable (a witness: ${witness.ops.length} of the key's ${keyOpCount} ops). `;
  if (stuck.op.kind === "get") {
    return `${header}${describeOp(stuck.op)}, but no order consistent with real time allows it: ${furthest}.`;
  }
  const reader = latestReaderOf(witness.ops, heldValue);
  const blocked = reader === null ? "" : `, which ${opLabel(reader)} returned later, so no SET could overwrite it yet`;
  return `${header}${describeOp(stuck.op)}, but no order consistent with real time lets it take effect before it completed: ${furthest}${blocked}.`;
}

function latestReaderOf(ops: readonly Op[], value: string): Op | null {
  let latest: Op | null = null;
  for (const op of ops) {
    if (op.kind === "get" && op.outcome === "ok" && op.value === value && (latest === null || op.invokeMs > latest.invokeMs)) latest = op;
  }
  return latest;
}

/** E.g. `GET #7 by client "c2" (invoked 40 ms, completed 45 ms) returned "v3"`. */
export function describeOp(op: Op): string {
  return `${opLabel(op)} ${op.kind === "get" ? "returned" : "wrote"} ${quote(op.value)}`;
}

export function opLabel(op: Op): string {
  const completed = op.completeMs === null ? "never completed" : `completed ${op.completeMs} ms`;
  const outcome = op.outcome === "ok" ? "" : `, outcome ${op.outcome}`;
  return `${op.kind.toUpperCase()} #${op.id} by client ${quote(op.clientId)} (invoked ${op.invokeMs} ms, ${completed}${outcome})`;
}

export function quote(s: string): string {
  const shown = s.length > 40 ? `${s.slice(0, 40)}...` : s;
  return JSON.stringify(shown);
}
