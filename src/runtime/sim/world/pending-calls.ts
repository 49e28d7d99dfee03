// The client calls the simulated nodes hold, waiting for their answers: where each answer goes.
//
// The driver numbers requests 1, 2, 3, ... across all nodes, so the calls are an array indexed by
// request id rather than a Map per node: a Map's table was shrunk by the delete of a reply and
// grown again by the set of the next request, around the handful of calls a node holds. A call
// belongs to one life of one node: a crash forgets it, so it is found only by the node that took
// it, in the same life (a restarted core never heard of it and cannot answer it).

import type { ClientRequest, RequestId } from "../../../raft/index.js";
import type { SimClient } from "./client.js";

/**
 * One delivery of a client's request: queued as the event that brings it to its node, then, once
 * the node took it, the call that node holds until it answers. One object for both: the queue no
 * longer holds the event when the node takes it, and a call made anew for each request was 72
 * bytes of a request's garbage.
 */
export class PendingCall {
  readonly type = "request";
  /** The step that received it: an answer in the same step took no round trip (set when taken). */
  receivedStep = 0;
  /** The life of the node (SimNode.incarnation) that took it (set when taken). */
  incarnation = 0;

  constructor(
    /** The node it goes to. */
    readonly node: number,
    readonly client: SimClient,
    readonly attempt: number,
    readonly request: ClientRequest,
  ) {}
}

export class PendingCalls {
  /** Index: request id; undefined once answered, or for ids that were not client calls. */
  private readonly calls: (PendingCall | undefined)[] = [];

  /** Node `call.node`, in life `incarnation`, took the call at step `step` as request `rid`. */
  add(rid: RequestId, call: PendingCall, step: number, incarnation: number): void {
    call.receivedStep = step;
    call.incarnation = incarnation;
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
