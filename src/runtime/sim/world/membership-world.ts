// Membership churn in the simulated world: nodes that join a running cluster, the operator who
// adds, removes and moves leadership, and SIGTERM (a node hands leadership over, then exits).
//
// A run has node ids 0..idCount-1: the initial nodes 0..nodeCount-1 start at once; the others
// exist only once the fault schedule adds them (`add 5`), and then start with an empty disk and
// the core's `join` (no configuration: they wait for a leader to add them). A removed node is not
// stopped: it runs on (and must not disturb), or faults crash and restart it like any other, and
// it may be added again, with its disk. Ids are never reused for a new, empty machine.

import { nodeId, type AdminRequest, type NodeId, type TimingConfig } from "../../../raft/index.js";
import type { NodeAnswer } from "../../../client/retry.js";
import { describeAdmin, SimOperator, type OperatorHost } from "./operator.js";
import { Rng } from "./prng.js";
import type { Scheduler } from "./sim-event.js";
import type { SimNode } from "./sim-node.js";

/** What churn needs of the simulation. */
export interface ChurnHost extends Scheduler {
  readonly timing: TimingConfig;
  node(id: number): SimNode;
  /** Starts a node that has never run (or runs it again after a crash). */
  boot(id: number): void;
  restart(id: number): void;
  /** The process ends (its page cache survives, as after a clean exit). */
  kill(id: number, when: "now"): void;
  /** Hands the operator's request to node `to` (queued while it is paused; refused while it is down). */
  deliverAdmin(to: NodeId, request: AdminRequest, answer: (a: NodeAnswer) => void): void;
  /** Carries one message of the operator's over the network (lost, delayed, duplicated as the network is). */
  carry(rng: Rng, deliver: () => void): void;
  note(text: string): void;
}

export class Churn implements OperatorHost {
  /** The nodes that exist, ascending. */
  readonly ids: number[];
  private readonly operator: SimOperator;
  private readonly netRng: Rng;
  private stopped = false;

  constructor(
    private readonly host: ChurnHost,
    nodeCount: number,
    idCount: number,
    seed: string,
  ) {
    this.ids = [...Array(nodeCount).keys()];
    this.netRng = new Rng(seed, "operator-net");
    this.operator = new SimOperator(this, [...Array(idCount).keys()].map(nodeId), new Rng(seed, "operator"));
  }

  get nowMs(): number {
    return this.host.nowMs;
  }

  // ---------------------------------------------------------------- OperatorHost

  sendAdmin(to: NodeId, request: AdminRequest, answer: (a: NodeAnswer) => void): void {
    this.host.carry(this.netRng, () => this.host.deliverAdmin(to, request, (a) => this.host.carry(this.netRng, () => answer(a))));
  }

  at(atMs: number, f: () => void): void {
    this.host.schedule(atMs, { type: "call", run: f }, "slow");
  }

  note(text: string): void {
    this.host.note(text);
  }

  // ---------------------------------------------------------------- the nemesis' verbs

  /** Node `id` joins: started (empty) if it never ran, then added by the operator. */
  addMember(id: number): void {
    if (!this.ids.includes(id)) {
      this.ids.push(id);
      this.ids.sort((a, b) => a - b);
      this.host.boot(id);
    }
    this.operator.request({ kind: "add-member", id: nodeId(id), address: `n${id}` });
  }

  removeMember(id: number): void {
    this.operator.request({ kind: "remove-member", id: nodeId(id) });
  }

  transferLeader(to: number | null): void {
    this.operator.request({ kind: "transfer-leader", to: to === null ? null : nodeId(to) });
  }

  /**
   * As raft-node on SIGTERM: the node is asked to hand leadership over (a leader sends TimeoutNow
   * once its successor is caught up; others refuse), and its process exits when it answers, or
   * after two election timeouts at most. It restarts restartAfterMs later, if given.
   */
  sigterm(id: number, restartAfterMs: number | null): void {
    const request: AdminRequest = { kind: "transfer-leader", to: null };
    let exited = false;
    const exit = (why: string): void => {
      if (exited || this.stopped) return;
      exited = true;
      this.note(`sigterm n${id}: ${why}; the process exits`);
      this.host.kill(id, "now");
      if (restartAfterMs !== null) this.at(this.nowMs + restartAfterMs, () => this.stopped || this.host.restart(id));
    };
    // A signal, not a message: delivered at once; the exit follows the answer, after the step.
    this.host.deliverAdmin(nodeId(id), request, (a) => this.at(this.nowMs, () => exit(`${describeAdmin(request)}: ${a.kind === "ok" ? `ok (${a.value})` : a.message}`)));
    this.at(this.nowMs + 2 * this.host.timing.electionTimeoutMaxMs, () => exit("no answer to the transfer"));
  }

  /** Faults stop: no more requests, exits or restarts (the quiet period restarts every node). */
  stop(): void {
    this.stopped = true;
    this.operator.stop();
  }
}
