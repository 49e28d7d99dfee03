// A hand-driven cluster in true time, for schedules that need what TestCluster cannot give: a clock
// per node (each reads true time plus its own offset, and a reboot starts it over at a new
// reading), a disk per node that keeps what the outputs made durable (a crash loses the rest of
// the node), and messages held until the test delivers, drops or delays each one.

import seedrandom from "seedrandom";
import {
  logIndex,
  makeConfig,
  nodeId,
  RaftNode,
  requestId,
  term,
  TIMING_FAST,
  type ClientReply,
  type ClientRequest,
  type Entry,
  type FullOutput,
  type HardState,
  type Message,
  type NodeId,
  type RaftConfig,
  type TimingConfig,
} from "../../../src/raft/index.js";

interface Disk {
  hardState: HardState;
  entries: Entry[];
}

export class World {
  trueMs = 0;
  /** Messages sent and not yet delivered or dropped, oldest first. */
  readonly wire: Message[] = [];
  readonly replies: ClientReply[] = [];
  private readonly offsetMs = new Map<NodeId, number>();
  private readonly disks = new Map<NodeId, Disk>();
  private readonly live = new Map<NodeId, RaftNode>();
  private boots = 0;
  private nextRequest = 1;

  constructor(
    readonly size: number,
    readonly overrides: Partial<Omit<RaftConfig, "id" | "members" | "timing">> = {},
    readonly timing: TimingConfig = TIMING_FAST,
  ) {}

  config(id: NodeId): RaftConfig {
    const members = [...Array(this.size).keys()].map(nodeId);
    return makeConfig(id, members, this.timing, this.overrides);
  }

  /** Boots node id (again) from its disk with its clock reading clockMs now. */
  boot(id: number, clockMs: number): RaftNode {
    const n = nodeId(id);
    this.offsetMs.set(n, clockMs - this.trueMs);
    const disk = this.disks.get(n) ?? { hardState: { currentTerm: term(0), votedFor: null, commitIndex: logIndex(0) }, entries: [] };
    this.disks.set(n, disk);
    const node = RaftNode.start(this.config(n), { hardState: disk.hardState, entries: [...disk.entries] }, clockMs, seedrandom(`world-${id}-${this.boots++}`));
    this.live.set(n, node);
    return node;
  }

  /** The process dies: what its outputs did not persist is gone; messages it sent stay on the wire. */
  crash(id: number): void {
    this.live.delete(nodeId(id));
  }

  node(id: number): RaftNode {
    const n = this.live.get(nodeId(id));
    if (n === undefined) throw new Error(`node ${id} is not running`);
    return n;
  }

  clock(id: number): number {
    return this.trueMs + this.offsetMs.get(nodeId(id))!;
  }

  /** Moves true time on; clocks follow (at one rate: these schedules need no drift). */
  advance(ms: number): void {
    this.trueMs += ms;
  }

  /**
   * Runs every live node's timers until true time reaches untilMs: each due tick is stepped at its
   * time, and what it sends is delivered at once unless `drop` says otherwise.
   */
  runUntil(untilMs: number, drop: (m: Message) => boolean = () => false): void {
    for (let guard = 0; guard < 100_000; guard++) {
      let nextId = -1;
      let nextMs = untilMs;
      for (const [id, n] of this.live) {
        const due = n.wakeAtMs() - this.offsetMs.get(id)!;
        if (due <= nextMs) [nextId, nextMs] = [id, due];
      }
      this.trueMs = Math.max(this.trueMs, nextMs);
      if (nextId < 0) return;
      this.tick(nextId);
      this.settle(drop);
    }
    throw new Error("runUntil: timers keep firing without time moving on");
  }

  /** Moves true time to when node id's core wants its next tick, and ticks it. */
  tickWhenDue(id: number): FullOutput {
    const due = this.node(id).wakeAtMs() - this.offsetMs.get(nodeId(id))!;
    this.trueMs = Math.max(this.trueMs, due);
    return this.tick(id);
  }

  tick(id: number): FullOutput {
    return this.record(id, this.node(id).step({ type: "tick", nowMs: this.clock(id) }));
  }

  client(id: number, request: ClientRequest): number {
    const rid = this.nextRequest++;
    this.record(id, this.node(id).step({ type: "client", nowMs: this.clock(id), calls: [{ requestId: requestId(rid), request }] }));
    return rid;
  }

  replyFor(rid: number): ClientReply | undefined {
    return this.replies.find((r) => r.requestId === rid);
  }

  /** Takes the first message on the wire that matches, so the test can deliver it later. */
  take(match: (m: Message) => boolean): Message {
    const i = this.wire.findIndex(match);
    if (i < 0) throw new Error("no such message on the wire");
    return this.wire.splice(i, 1)[0]!;
  }

  /** Delivers one message now; to a node that is down it is lost. */
  deliver(m: Message): FullOutput | null {
    if (!this.live.has(m.to)) return null;
    return this.record(m.to, this.node(m.to).step({ type: "message", nowMs: this.clock(m.to), message: m }));
  }

  /**
   * Delivers what is on the wire (and what that causes), dropping what `drop` says, until the wire
   * is empty or `limit` messages went. Returns how many were delivered or dropped.
   */
  settle(drop: (m: Message) => boolean = () => false, limit = 1_000): number {
    let count = 0;
    for (; count < limit && this.wire.length > 0; count++) {
      const m = this.wire.shift()!;
      if (!drop(m)) this.deliver(m);
    }
    return count;
  }

  private record(id: number, out: FullOutput): FullOutput {
    const disk = this.disks.get(nodeId(id))!;
    if (out.truncateFrom !== null) disk.entries.length = out.truncateFrom - 1;
    if (out.appendFrom !== null) {
      disk.entries.length = out.appendFrom - 1;
      disk.entries.push(...out.append);
    }
    if (out.hardState !== null) disk.hardState = out.hardState;
    this.wire.push(...out.messages);
    this.replies.push(...out.replies);
    return out;
  }
}
