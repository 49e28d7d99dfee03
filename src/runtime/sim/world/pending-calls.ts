// A node's client calls awaiting the core's reply, by request id.
//
// A Map did this at a cost per request: its table was allocated again as it grew and shrank
// around a handful of entries (V8 shrinks a Map's table on delete), a tenth of a percent of the
// simulator's bytes per call. Here the calls sit in one array sorted by request id, which is
// sorted by construction: the driver numbers requests in the order it hands them to nodes, and
// a node's calls are added in that order. A node holds about one call per client, so a binary
// search and a shift of the few calls behind the one taken cost less than hashing.

import type { RequestId } from "../../../raft/index.js";
import type { SimClient } from "./client.js";

export interface PendingCall {
  readonly requestId: RequestId;
  readonly client: SimClient;
  readonly attempt: number;
  readonly kind: "set" | "get";
  /** The step that received it: an answer in the same step took no round trip. */
  readonly receivedStep: number;
}

export class PendingCalls {
  /**
   * The calls are [0, n) of the array, by increasing request id. The array never shrinks (a
   * shorter length trims its storage, and the next add allocated it again): a slot past n is null.
   */
  private readonly calls: (PendingCall | null)[] = [];
  private n = 0;

  /** Adds a call whose request id is above every id held (the driver's numbering). */
  add(call: PendingCall): void {
    if (this.n > 0 && this.calls[this.n - 1]!.requestId >= call.requestId) {
      throw new Error(`raft-sim: request ${call.requestId} added after request ${this.calls[this.n - 1]!.requestId}`);
    }
    this.calls[this.n++] = call;
  }

  /** Removes and returns the call with this request id; undefined when none is held. */
  take(requestId: RequestId): PendingCall | undefined {
    const k = this.indexOf(requestId);
    if (k < 0) return undefined;
    const call = this.calls[k]!;
    const n = --this.n;
    for (let j = k; j < n; j++) this.calls[j] = this.calls[j + 1]!;
    this.calls[n] = null;
    return call;
  }

  clear(): void {
    for (let k = 0; k < this.n; k++) this.calls[k] = null;
    this.n = 0;
  }

  private indexOf(requestId: RequestId): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const id = this.calls[mid]!.requestId;
      if (id === requestId) return mid;
      if (id < requestId) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }
}
