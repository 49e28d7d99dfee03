// The wire between the simulated nodes and their clients. Each send draws its deliveries from the
// network's current parameters (network.ts: none when lost, more than one when duplicated, now
// and then a late ghost copy) and queues one event per delivery. Partitions cut peer messages
// only, at the moment they are sent; clients reach every node.

import { formatEvent, type ClientRequest, type Message, type NodeId } from "../../../raft/index.js";
import type { NodeAnswer } from "../../../client/retry.js";
import type { RunLog } from "../reports/run-log.js";
import type { RunStats } from "../reports/results.js";
import type { SimClient } from "./client.js";
import { Deliveries, NET_CALM, oneShapeNet, validateNetParams, type Links, type NetParams } from "./network.js";
import type { Rng } from "./prng.js";
import { PendingCall } from "./pending-calls.js";
import type { Scheduler } from "./sim-event.js";

export class Wire {
  private net: NetParams;
  /** Counts calm() calls: a late copy sent before the latest one is dropped on arrival. */
  private calmEpoch = 0;
  /** Scratch for the deliveries of the message being sent (read at once, never kept). */
  private readonly deliveries = new Deliveries();

  constructor(
    private readonly loop: Scheduler,
    readonly links: Links,
    net: NetParams,
    private readonly peerRng: Rng,
    private readonly stats: RunStats,
    private readonly log: RunLog,
  ) {
    validateNetParams(net);
    this.net = oneShapeNet(net);
  }

  sendPeer(from: number, m: Message): void {
    const nowMs = this.loop.nowMs;
    const to = m.to; // read once: messages come in seven shapes, and each read is a generic lookup
    this.stats.messagesSent += 1;
    if (!this.links.canSend(from, to)) {
      this.stats.messagesLost += 1;
      if (this.log.tracing) this.log.line(nowMs, `n${from}`, formatEvent({ kind: "rpc-error", followerId: to }));
      return;
    }
    const n = this.deliveries.draw(this.net, this.peerRng);
    if (n === 0) this.stats.messagesLost += 1;
    const extraMs = this.links.extraDelayMs(from, to);
    const d = this.deliveries;
    for (let k = 0; k < n; k++) {
      const atMs = nowMs + d.delaysMs[k]! + extraMs;
      if (k === d.lateSlot) this.loop.schedule(atMs, { type: "late", message: m, calmEpoch: this.calmEpoch });
      else this.loop.schedule(atMs, m);
    }
  }

  /** Whether a late copy sent in this calm epoch still arrives; one that does not counts as lost. */
  lateArrives(calmEpoch: number): boolean {
    if (calmEpoch === this.calmEpoch) return true;
    this.stats.messagesLost += 1;
    return false;
  }

  toNode(client: SimClient, target: NodeId, request: ClientRequest, attempt: number): void {
    const n = this.deliveries.draw(this.net, client.netRng);
    for (let k = 0; k < n; k++) this.loop.schedule(this.loop.nowMs + this.deliveries.delaysMs[k]!, new PendingCall(target, client, attempt, request));
  }

  toClient(client: SimClient, attempt: number, from: NodeId, answer: NodeAnswer, immediate: boolean): void {
    const n = this.deliveries.draw(this.net, client.netRng);
    for (let k = 0; k < n; k++) this.loop.schedule(this.loop.nowMs + this.deliveries.delaysMs[k]!, { type: "answer", client, attempt, from, answer, immediate });
  }

  /** A message of the operator's, on its own stream over the current network: `deliver` runs at each arrival. */
  carry(rng: Rng, deliver: () => void): void {
    const n = this.deliveries.draw(this.net, rng);
    for (let k = 0; k < n; k++) this.loop.schedule(this.loop.nowMs + this.deliveries.delaysMs[k]!, { type: "call", run: deliver });
  }

  setNet(params: Partial<NetParams>): void {
    const next = { ...this.net, ...params };
    validateNetParams(next);
    this.net = oneShapeNet(next);
  }

  /** A calm network: ghost copies still on their way are gone too, so liveness can be judged. */
  calm(): void {
    this.net = oneShapeNet(NET_CALM);
    this.calmEpoch += 1;
  }
}
