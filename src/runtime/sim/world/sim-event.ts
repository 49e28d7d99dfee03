// What the simulator's event queue holds, and the event loop as the simulator's parts see it.

import type { Message, NodeId, Snapshot } from "../../../raft/index.js";
import type { NodeAnswer } from "../../../client/retry.js";
import type { Fault } from "../faults/faults.js";
import type { ScenarioCheck } from "../faults/plan.js";
import type { SimClient } from "./client.js";
import type { Lane } from "./heap.js";
import type { PendingCall } from "./pending-calls.js";

/** What the queue holds; a peer message on the wire is queued as it is (it names its node: `to`). */
export type SimEvent =
  | Message
  | { readonly type: "start"; readonly node: number }
  | { readonly type: "tick"; readonly node: number; readonly gen: number }
  | FsyncEvent
  /** A background snapshot write finishes (lost if the node died meanwhile). */
  | { readonly type: "snapshot-saved"; readonly node: number; readonly incarnation: number; readonly snapshot: Snapshot }
  /** A client's request on its way to node `node`. */
  | PendingCall
  | { readonly type: "answer"; readonly client: SimClient; readonly attempt: number; readonly from: NodeId; readonly answer: NodeAnswer; readonly immediate: boolean }
  | ClientWake
  /** A late (ghost) copy of a peer message: dropped if the network calmed down since it was sent. */
  | { readonly type: "late"; readonly message: Message; readonly calmEpoch: number }
  | { readonly type: "fault"; readonly fault: Fault }
  | { readonly type: "check"; readonly check: ScenarioCheck }
  | { readonly type: "liveness" }
  | { readonly type: "catch-up-window" }
  /** Anything else that happens at a time (the operator's messages and timers: world/membership-world.ts). */
  | { readonly type: "call"; readonly run: () => void };

/** A sync of a node's disk finishes (ignored if the node died meanwhile). */
export interface FsyncEvent {
  readonly type: "fsync";
  readonly node: number;
  readonly incarnation: number;
}

/** A client's timer; one per client, re-armed in place (TimerSlot), so its token is that of the latest arming. */
export interface ClientWake {
  readonly type: "client";
  readonly client: SimClient;
  token: number;
}

/** The event loop: the true time of the event being handled, and a way to queue another. */
export interface Scheduler {
  readonly nowMs: number;
  /** Faults and checks wait long: they go to the slow lane; client timers are slots (see TwoLaneQueue). */
  schedule(atMs: number, event: SimEvent, lane?: Lane): void;
}
