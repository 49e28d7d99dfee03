// What the driver hands storage from each output (the part that storage makes durable), and the
// checks storage makes before accepting one. A request that breaks the log's invariants (a gap,
// a truncation of committed entries, a term going down) is a bug in the caller: the checks
// throw, and nothing of it is written.

import { assert, type HardState, type LogIndex, type Output, type Term } from "../../raft/index.js";

/** The part of a core Output that storage makes durable. */
export type PersistRequest = Pick<Output, "hardState" | "truncateFrom" | "appendFrom" | "append">;

/** The log a request would change: each entry's term, and the latest hard state accepted. */
export interface LogShape {
  readonly terms: readonly Term[];
  readonly hardState: HardState;
}

/** Checks `request` against `log`; returns how many entries the log keeps before appending. */
export function checkPersistRequest(request: PersistRequest, log: LogShape): number {
  const kept = lengthAfterTruncate(request.truncateFrom, log);
  checkAppend(request, kept, log.terms[kept - 1] ?? 0);
  const lastTerm = request.append.at(-1)?.term ?? log.terms[kept - 1] ?? 0;
  const hardState = request.hardState;
  if (hardState !== null) checkHardState(hardState, log.hardState, kept + request.append.length);
  const currentTerm = (hardState ?? log.hardState).currentTerm;
  assert(lastTerm <= currentTerm, `the log's last term ${lastTerm} would exceed the current term ${currentTerm}: persist the term with the entries`);
  return kept;
}

/** The log length after `truncateFrom`, checked: committed entries are never truncated. */
function lengthAfterTruncate(truncateFrom: LogIndex | null, log: LogShape): number {
  const length = log.terms.length;
  if (truncateFrom === null) return length;
  assert(Number.isSafeInteger(truncateFrom) && truncateFrom >= 1 && truncateFrom <= length + 1, `truncateFrom ${truncateFrom} is outside 1..${length + 1}`);
  assert(truncateFrom > log.hardState.commitIndex, `truncateFrom ${truncateFrom} would drop committed entries (commit index ${log.hardState.commitIndex})`);
  return truncateFrom - 1;
}

function checkAppend(request: PersistRequest, kept: number, termBefore: number): void {
  if (request.append.length === 0) return;
  assert(request.appendFrom === kept + 1, `appendFrom ${request.appendFrom} leaves a gap or overlap: the log holds ${kept} entries`);
  let previousTerm = termBefore;
  for (const entry of request.append) {
    assert(Number.isSafeInteger(entry.term) && entry.term >= 1 && entry.term >= previousTerm, `entry term ${entry.term} is below 1 or below the previous term ${previousTerm}`);
    if (entry.command.kind === "set") assert(Number.isSafeInteger(entry.command.sequence) && entry.command.sequence >= 0, `bad sequence ${entry.command.sequence}`);
    previousTerm = entry.term;
  }
}

function checkHardState(hardState: HardState, latest: HardState, lengthAfter: number): void {
  const { currentTerm, votedFor, commitIndex } = hardState;
  assert(Number.isSafeInteger(currentTerm) && currentTerm >= latest.currentTerm, `current term ${currentTerm} is below ${latest.currentTerm}`);
  assert(Number.isSafeInteger(commitIndex) && commitIndex >= 0 && commitIndex <= lengthAfter, `commit index ${commitIndex} is outside 0..${lengthAfter}`);
  assert(votedFor === null || (Number.isSafeInteger(votedFor) && votedFor >= 0), `bad votedFor ${votedFor}`);
}
