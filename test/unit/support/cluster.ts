// A tiny hand-driven cluster for unit tests: messages are held until a test delivers them,
// so each test can stage exactly the situation its rule is about.

import seedrandom from "seedrandom";
import { makeConfig, RaftNode, TIMING_FAST, nodeId, term, logIndex, requestId, type FullOutput, type Message, type NodeId, type PersistedState, type ClientRequest, type ClientReply, type RaftConfig, type TimingConfig, type Mutation, type Role, type AdminRequest } from "../../../src/raft/index.js";

export const EMPTY: PersistedState = { hardState: { currentTerm: term(0), votedFor: null, commitIndex: logIndex(0) }, entries: [] };

export interface TestNodeOptions {
  readonly timing?: TimingConfig;
  readonly mutation?: Mutation | null;
  readonly preVote?: boolean;
  readonly overrides?: Partial<Omit<RaftConfig, "id" | "members" | "timing">>;
}

export class TestCluster {
  readonly nodes = new Map<NodeId, RaftNode>();
  /** Every output of every step, with the role its node had after that step. */
  readonly outputs: { from: NodeId; output: FullOutput; role: Role }[] = [];
  readonly queue: Message[] = [];
  readonly replies: ClientReply[] = [];
  nowMs = 0;
  private nextRequest = 1;

  constructor(readonly size: number, readonly opts: TestNodeOptions = {}) {
    for (let i = 0; i < size; i++) this.nodes.set(nodeId(i), this.makeNode(nodeId(i), EMPTY));
  }

  config(id: NodeId): RaftConfig {
    const members = [...Array(this.size).keys()].map(nodeId);
    return makeConfig(id, members, this.opts.timing ?? TIMING_FAST, {
      preVote: this.opts.preVote ?? true,
      mutation: this.opts.mutation ?? null,
      ...this.opts.overrides,
    });
  }

  makeNode(id: NodeId, persisted: PersistedState): RaftNode {
    return RaftNode.start(this.config(id), persisted, this.nowMs, seedrandom(`test-${id}`));
  }

  node(id: number): RaftNode {
    const n = this.nodes.get(nodeId(id));
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  record(from: NodeId, output: FullOutput): FullOutput {
    this.outputs.push({ from, output, role: this.node(from).inspect().role });
    this.queue.push(...output.messages);
    this.replies.push(...output.replies);
    return output;
  }

  tick(id: number, nowMs = this.nowMs): FullOutput {
    this.nowMs = Math.max(this.nowMs, nowMs);
    return this.record(nodeId(id), this.node(id).step({ type: "tick", nowMs: this.nowMs }));
  }

  deliver(m: Message): FullOutput | null {
    const n = this.nodes.get(m.to);
    if (n === undefined) return null;
    return this.record(m.to, n.step({ type: "message", nowMs: this.nowMs, message: m }));
  }

  /** Delivers queued messages (and those they cause) until none are left, skipping dropped ones. */
  deliverAll(drop: (m: Message) => boolean = () => false, limit = 10_000): void {
    for (let i = 0; i < limit && this.queue.length > 0; i++) {
      const m = this.queue.shift()!;
      if (!drop(m)) this.deliver(m);
    }
  }

  /** Starts node `id` as one that joins the running cluster (no configuration of its own). */
  join(id: number): RaftNode {
    const config = makeConfig(nodeId(id), [...Array(this.size).keys()].map(nodeId), this.opts.timing ?? TIMING_FAST, { ...this.opts.overrides, mutation: this.opts.mutation ?? null, join: true });
    const n = RaftNode.start(config, EMPTY, this.nowMs, seedrandom(`test-${id}`));
    this.nodes.set(nodeId(id), n);
    return n;
  }

  admin(id: number, request: AdminRequest): number {
    const rid = this.nextRequest++;
    this.record(nodeId(id), this.node(id).step({ type: "admin", nowMs: this.nowMs, call: { requestId: requestId(rid), request } }));
    return rid;
  }

  client(id: number, request: ClientRequest): number {
    const rid = this.nextRequest++;
    this.record(nodeId(id), this.node(id).step({ type: "client", nowMs: this.nowMs, calls: [{ requestId: requestId(rid), request }] }));
    return rid;
  }

  replyFor(rid: number): ClientReply | undefined {
    return this.replies.find((r) => r.requestId === rid);
  }

  /** Fires node `id`'s election timer and runs the election to the end with every message delivered. */
  elect(id: number, drop?: (m: Message) => boolean): RaftNode {
    this.nowMs = Math.max(this.nowMs, this.node(id).wakeAtMs());
    this.tick(id);
    this.deliverAll(drop);
    return this.node(id);
  }

  events(id: number): string[] {
    return this.outputs.filter((o) => o.from === id).flatMap((o) => o.output.events.map((e) => e.kind));
  }
}

export const set = (key: string, value: string, clientId = "", sequence = 0, firstUnanswered = sequence): ClientRequest => ({ kind: "set", key, value, clientId, sequence, firstUnanswered });
export const get = (key: string): ClientRequest => ({ kind: "get", key });

/** One node of an n-node cluster, started from `persisted` at nowMs. */
export function startNode(
  id: number,
  size: number,
  persisted: PersistedState = EMPTY,
  nowMs = 0,
  opts: TestNodeOptions = {},
): RaftNode {
  const c = new TestCluster(size, opts);
  c.nowMs = nowMs;
  return c.makeNode(nodeId(id), persisted);
}

export function persistedWith(entries: PersistedState["entries"], currentTerm: number, commitIndex = 0, votedFor: number | null = null): PersistedState {
  return {
    hardState: { currentTerm: term(currentTerm), votedFor: votedFor === null ? null : nodeId(votedFor), commitIndex: logIndex(commitIndex) },
    entries,
  };
}
