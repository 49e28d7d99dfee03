// The client calls the simulated nodes hold, waiting for their answers: where each answer goes.
//
// The driver numbers requests 1, 2, 3, ... across all nodes, so the calls are an array indexed by
// request id rather than a Map per node: a Map's table was shrunk by the delete of a reply and
// grown again by the set of the next request, around the handful of calls a node holds. A call
// belongs to one life of one node: a crash forgets it, so it is found only by the node that took
// it, in the same life (a restarted core never heard of it and cannot answer it).

import type { RequestId } from "../../../raft/index.js";
import type { SimClient } from "./client.js";

export class PendingCall {
  constructor(
    readonly client: SimClient,
    readonly attempt: number,
    readonly kind: "set" | "get",
    /** The step that received it: an answer in the same step took no round trip. */
    readonly receivedStep: number,
    /** The node that took it, and in which of its lives (SimNode.incarnation). */
    readonly node: number,
    readonly incarnation: number,
  ) {}
}

export class PendingCalls {
  /** Index: request id; undefined once answered, or for ids that were not client calls. */
  private readonly calls: (PendingCall | undefined)[] = [];

  add(rid: RequestId, call: PendingCall): void {
    this.calls[rid] = call;
  }

  /** Takes out the call `rid` if node `node` holds it in life `incarnation`; undefined if it does not. */
  take(rid: RequestId, node: number, incarnation: number): PendingCall | undefined {
    const call = this.calls[rid];
    if (call === undefined || call.node !== node || call.incarnation !== incarnation) return undefined;
    this.calls[rid] = undefined;
    return call;
  }
}
