// What the driver hands storage from each output (the part that storage makes durable, in the
// output contract's order: an installed snapshot, a truncation, a compaction, appended entries,
// the hard state), and the checks storage makes before accepting one. A request that breaks the
// log's invariants (a gap, a truncation of committed entries or inside the compacted prefix, a
// compaction going backwards, a term going down) is a bug in the caller: the checks throw, and
// nothing of it is written.

import { assert, type HardState, type LogIndex, type LogStart, type Output, type Term } from "../../raft/index.js";

/** The part of a core Output that storage makes durable. */
export type PersistRequest = Pick<Output, "hardState" | "installSnapshot" | "truncateFrom" | "compactTo" | "appendFrom" | "append">;

/** The log a request would change: where it starts, each entry's term, the latest hard state accepted. */
export interface LogShape {
  readonly start: LogStart;
  readonly terms: readonly Term[];
  readonly hardState: HardState;
}

/** What a checked request does to the log: the last index kept by its truncation, and its new start. */
export interface CheckedRequest {
  readonly keep: number | null;
  readonly start: LogStart | null;
}

/** Checks `request` against `log` as a whole. */
export function checkPersistRequest(request: PersistRequest, log: LogShape): CheckedRequest {
  const lastIndex = log.start.prevIndex + log.terms.length;
  const keep = checkTruncate(request.truncateFrom, log, lastIndex);
  const start = checkCompact(request.compactTo, log);
  const lastBeforeAppend = Math.max(keep ?? lastIndex, start?.prevIndex ?? 0);
  const termBefore = termAt(lastBeforeAppend, log, start);
  checkAppend(request, lastBeforeAppend, termBefore);
  const hardState = request.hardState;
  if (hardState !== null) checkHardState(hardState, log.hardState, lastBeforeAppend + request.append.length);
  const lastTerm = request.append.at(-1)?.term ?? termBefore;
  const currentTerm = (hardState ?? log.hardState).currentTerm;
  assert(lastTerm <= currentTerm, `the log's last term ${lastTerm} would exceed the current term ${currentTerm}: persist the term with the entries`);
  return { keep, start };
}

/** The term of entry `index` once truncation and compaction are done (0 past what is known). */
function termAt(index: number, log: LogShape, start: LogStart | null): number {
  if (start !== null && index === start.prevIndex) return start.prevTerm;
  if (index === log.start.prevIndex) return log.start.prevTerm;
  return log.terms[index - log.start.prevIndex - 1] ?? 0;
}

/** The last index kept by `truncateFrom`, checked: committed entries are never truncated. */
function checkTruncate(truncateFrom: LogIndex | null, log: LogShape, lastIndex: number): number | null {
  if (truncateFrom === null) return null;
  const prev = log.start.prevIndex;
  assert(Number.isSafeInteger(truncateFrom) && truncateFrom > prev && truncateFrom <= lastIndex + 1, `truncateFrom ${truncateFrom} is outside ${prev + 1}..${lastIndex + 1}`);
  assert(truncateFrom > log.hardState.commitIndex, `truncateFrom ${truncateFrom} would drop committed entries (commit index ${log.hardState.commitIndex})`);
  return truncateFrom - 1;
}

/** The new start, checked: a compaction never moves the log's start back. Null: no change. */
function checkCompact(start: LogStart | null, log: LogShape): LogStart | null {
  if (start === null) return null;
  const prev = log.start.prevIndex;
  assert(Number.isSafeInteger(start.prevIndex) && start.prevIndex >= prev, `compactTo ${start.prevIndex} lies before the log's start ${prev}`);
  return start.prevIndex === prev && start.prevTerm === log.start.prevTerm ? null : start;
}

function checkAppend(request: PersistRequest, lastBefore: number, termBefore: number): void {
  if (request.append.length === 0) return;
  assert(request.appendFrom === lastBefore + 1, `appendFrom ${request.appendFrom} leaves a gap or overlap: the log ends at ${lastBefore}`);
  let previousTerm = termBefore;
  for (const entry of request.append) {
    assert(Number.isSafeInteger(entry.term) && entry.term >= 1 && entry.term >= previousTerm, `entry term ${entry.term} is below 1 or below the previous term ${previousTerm}`);
    if (entry.command.kind === "set") assert(Number.isSafeInteger(entry.command.sequence) && entry.command.sequence >= 0, `bad sequence ${entry.command.sequence}`);
    previousTerm = entry.term;
  }
}

function checkHardState(hardState: HardState, latest: HardState, lastIndexAfter: number): void {
  const { currentTerm, votedFor, commitIndex } = hardState;
  assert(Number.isSafeInteger(currentTerm) && currentTerm >= latest.currentTerm, `current term ${currentTerm} is below ${latest.currentTerm}`);
  assert(Number.isSafeInteger(commitIndex) && commitIndex >= 0 && commitIndex <= lastIndexAfter, `commit index ${commitIndex} is outside 0..${lastIndexAfter}`);
  assert(votedFor === null || (Number.isSafeInteger(votedFor) && votedFor >= 0), `bad votedFor ${votedFor}`);
}
