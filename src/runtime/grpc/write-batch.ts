// The persist calls storage has accepted but not yet written: one batch, written with one write
// and one fdatasync when the write before it is done (group commit, see storage.ts).

import type { Entry, HardState, LogStart, Snapshot } from "../../raft/index.js";
import type { SyncOn } from "./file-layer.js";

export interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/** Persist calls not yet on the disk, to be written together, in the output contract's order. */
export interface Batch {
  installSnapshot: Snapshot | null;
  /** The last index of logs.txt to keep before anything else, when this batch truncates; else null. */
  truncateTo: number | null;
  /** Where the log starts once this batch is written, when it compacts; else null. */
  compactTo: LogStart | null;
  /** The index just before entries[0]. */
  base: number;
  entries: Entry[];
  /** A change of term or vote; the commit index alone never goes here. */
  hardState: HardState | null;
  /** Write the newest commit index after this batch's log writes. */
  commitDue: boolean;
  /** "thread" when some call in the batch has its caller waiting for it (see SyncOn). */
  syncOn: SyncOn;
  readonly waiters: Waiter[];
}

export type WritePlan = Omit<Batch, "hardState"> & { readonly hardState: HardState | null };

export function emptyBatch(base: number): Batch {
  return { installSnapshot: null, truncateTo: null, compactTo: null, base, entries: [], hardState: null, commitDue: false, syncOn: "pool", waiters: [] };
}
