// Node configuration: timing, bounds, and the deliberately broken variants the simulator's
// checkers must catch. `validateTiming` and `validateConfig` turn bad settings into clear errors.

import type { NodeId } from "./types.js";

export interface TimingConfig {
  readonly heartbeatMs: number;
  readonly electionTimeoutMinMs: number;
  readonly electionTimeoutMaxMs: number;
  /** The lease a heartbeat renews, as measured by a perfect clock. */
  readonly leaseMs: number;
  /** Bound on any node's clock rate error, parts per million. */
  readonly driftPpmMax: number;
}

/** The original exercise's timing: election 5-10 s, heartbeat 1 s, a fixed lease in 2-10 s. */
export const TIMING_SPEC: TimingConfig = {
  heartbeatMs: 1000,
  electionTimeoutMinMs: 5000,
  electionTimeoutMaxMs: 10000,
  leaseMs: 4000,
  driftPpmMax: 1000,
};

/** The production default: heartbeat 100 ms, election 1-2 s, lease below the election minimum. */
export const TIMING_FAST: TimingConfig = {
  heartbeatMs: 100,
  electionTimeoutMinMs: 1000,
  electionTimeoutMaxMs: 2000,
  leaseMs: 800,
  driftPpmMax: 1000,
};

export const TIMING_PRESETS = { spec: TIMING_SPEC, fast: TIMING_FAST } as const;
export type TimingPresetName = keyof typeof TIMING_PRESETS;

/** Deliberately broken protocol variants; only the simulator sets one. */
export const MUTATIONS = [
  "no-lease-wait", // a new leader does not wait out the old lease
  "lease-from-receive", // the lease is counted from when the ack arrived, not when the heartbeat left
  "commit-old-term", // a leader commits earlier-term entries by counting replicas
  "vote-twice", // a node grants a second vote in the same term
  "restart-forgets-lease", // a restarted node acts as if no lease could be running
  "reply-current-term", // a reply names the replier's current term, not the request's; acks are taken on term alone
  "trust-page-cache", // runtime, not core: a restarted node uses what it reads from disk without syncing it first
  "snapshot-forgets-sessions", // a snapshot leaves out the session table, so a retried SET may apply twice after a restore
  "install-older-snapshot", // a follower installs any snapshot it is sent, over newer state, dropping its whole log
  "learner-in-quorum", // a leader counts learners' acknowledgements toward commits and its lease, as if they were voters
  "transfer-keeps-lease", // a leader that hands leadership over (TimeoutNow) goes on serving lease reads
] as const;
export type Mutation = (typeof MUTATIONS)[number];

export interface RaftConfig {
  readonly id: NodeId;
  /**
   * The initial configuration's voters, this node included (unless it joins). A configuration in
   * the log or a snapshot replaces it: it is only where a new cluster starts.
   */
  readonly members: readonly NodeId[];
  /** Addresses of the initial members ("" where unknown): configuration entries carry them on. */
  readonly addresses: Readonly<Record<number, string>>;
  /**
   * A node that joins a running cluster starts with no configuration of its own: it never stands
   * for election until a leader adds it (as a learner, then a voter) through the log.
   */
  readonly join: boolean;
  readonly timing: TimingConfig;
  readonly preVote: boolean;
  /** Entries per AppendEntries message, at most. */
  readonly batchCountMax: number;
  /** Approximate bytes of entries per AppendEntries message, at most (one entry may exceed it). */
  readonly batchBytesMax: number;
  /** AppendEntries with entries in flight to one follower, at most. */
  readonly inflightCountMax: number;
  /** Client requests waiting for commit or for a lease, at most. */
  readonly pendingCountMax: number;
  /** Client sessions remembered for exactly-once SETs, at most (least recently used go first). */
  readonly sessionCountMax: number;
  /** A snapshot is taken every this many applied entries (then the log before it is compacted). */
  readonly snapshotEveryEntries: number;
  /** Entries kept in the log below a snapshot, so a follower a little behind needs no snapshot. */
  readonly snapshotKeepEntries: number;
  readonly mutation: Mutation | null;
  /**
   * Raft thesis §10.2.1: a leader may send its new entries before they are durable on its own
   * disk, counting itself toward a majority only once the runtime reports them with a
   * `persisted` input. Off: persist before send, always, and the leader counts itself at once.
   */
  readonly leaderPersistsInParallel: boolean;
  /**
   * Report an event for every client request a leader receives (leader-received) and every entry
   * a follower applies (follower-committed). They are lines of a node's dump and of a trace, and
   * nothing else acts on them: a runtime that writes neither (the simulator without a trace) turns
   * them off, and the core builds none. A leader's leader-committed stays: the simulator's crash
   * points act on it. Off, a steady round of the simulator's bench seeds counted 1.7% and 3.0%
   * fewer instructions (1,878M to 1,847M, and 1,892M to 1,835M side by side): about 126,000
   * events a round that were built only to be dropped.
   */
  readonly entryEvents: boolean;
}

export const CONFIG_DEFAULTS = {
  preVote: true,
  batchCountMax: 512,
  batchBytesMax: 1 << 20,
  inflightCountMax: 8,
  pendingCountMax: 20_000,
  sessionCountMax: 100_000,
  snapshotEveryEntries: 10_000,
  snapshotKeepEntries: 5_000,
  mutation: null,
  leaderPersistsInParallel: false,
  entryEvents: true,
  addresses: {},
  join: false,
} as const;

export function makeConfig(
  id: NodeId,
  members: readonly NodeId[],
  timing: TimingConfig,
  overrides: Partial<Omit<RaftConfig, "id" | "members" | "timing">> = {},
): RaftConfig {
  const config = oneShape({ ...CONFIG_DEFAULTS, ...overrides, id, members, timing });
  validateConfig(config);
  return config;
}

/**
 * The same settings, in the same order, built as one object literal: every config made here then
 * has one hidden class. Built by spreading, nearly every node's config got a hidden class of its
 * own, and the core's reads of its config (several per step) went through V8's generic lookup.
 */
function oneShape(c: RaftConfig): RaftConfig {
  return {
    preVote: c.preVote,
    batchCountMax: c.batchCountMax,
    batchBytesMax: c.batchBytesMax,
    inflightCountMax: c.inflightCountMax,
    pendingCountMax: c.pendingCountMax,
    sessionCountMax: c.sessionCountMax,
    snapshotEveryEntries: c.snapshotEveryEntries,
    snapshotKeepEntries: c.snapshotKeepEntries,
    mutation: c.mutation,
    leaderPersistsInParallel: c.leaderPersistsInParallel,
    entryEvents: c.entryEvents,
    addresses: c.addresses,
    join: c.join,
    id: c.id,
    members: c.members,
    timing: c.timing,
  };
}

/** Throws an Error that says which setting is wrong and what would be right. */
export function validateTiming(t: TimingConfig): void {
  const positive: [string, number][] = [
    ["heartbeat", t.heartbeatMs],
    ["election timeout minimum", t.electionTimeoutMinMs],
    ["election timeout maximum", t.electionTimeoutMaxMs],
    ["lease", t.leaseMs],
  ];
  for (const [name, value] of positive) {
    if (!Number.isFinite(value) || value <= 0 || !Number.isInteger(value)) {
      throw new Error(`timing: ${name} must be a positive whole number of ms, got ${value}`);
    }
  }
  if (t.electionTimeoutMinMs > t.electionTimeoutMaxMs) {
    throw new Error(
      `timing: election timeout minimum ${t.electionTimeoutMinMs} ms is above the maximum ${t.electionTimeoutMaxMs} ms; give MIN-MAX with MIN <= MAX`,
    );
  }
  if (t.leaseMs >= t.electionTimeoutMinMs) {
    throw new Error(
      `timing: lease ${t.leaseMs} ms must be below the election timeout minimum ${t.electionTimeoutMinMs} ms, or a failed leader's lease outlives the election`,
    );
  }
  // One heartbeat lost, the next must still go out and be acknowledged within the lease: two
  // heartbeat intervals, and a third to spare for its round trip. At half the lease, the leader's
  // step-down deadline falls at the very tick that would send the next one.
  if (t.heartbeatMs * 3 > t.leaseMs) {
    throw new Error(
      `timing: heartbeat ${t.heartbeatMs} ms must be at most a third of the lease ${t.leaseMs} ms, or one lost heartbeat ends the lease (give --heartbeat-ms ${Math.floor(t.leaseMs / 3)} or less)`,
    );
  }
  if (!Number.isFinite(t.driftPpmMax) || t.driftPpmMax < 0 || t.driftPpmMax >= 100_000) {
    throw new Error(`timing: drift bound must be in [0, 100000) ppm, got ${t.driftPpmMax}`);
  }
}

export function validateConfig(c: RaftConfig): void {
  validateTiming(c.timing);
  const ids = new Set<number>();
  for (const m of c.members) {
    if (!Number.isInteger(m) || m < 0) throw new Error(`config: node id ${m} must be a whole number >= 0`);
    if (ids.has(m)) throw new Error(`config: node id ${m} appears twice in the member list`);
    ids.add(m);
  }
  if (!Number.isInteger(c.id) || c.id < 0) throw new Error(`config: node id ${c.id} must be a whole number >= 0`);
  if (!c.join && !ids.has(c.id)) {
    throw new Error(`config: this node's id ${c.id} is not among the members [${c.members.join(", ")}]; list it, or start it as a node that joins a running cluster`);
  }
  const bounds: [string, number][] = [
    ["batchCountMax", c.batchCountMax],
    ["batchBytesMax", c.batchBytesMax],
    ["inflightCountMax", c.inflightCountMax],
    ["pendingCountMax", c.pendingCountMax],
    ["sessionCountMax", c.sessionCountMax],
    ["snapshotEveryEntries", c.snapshotEveryEntries],
  ];
  for (const [name, value] of bounds) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`config: ${name} must be a whole number >= 1, got ${value}`);
  }
  if (!Number.isInteger(c.snapshotKeepEntries) || c.snapshotKeepEntries < 0) {
    throw new Error(`config: snapshotKeepEntries must be a whole number >= 0, got ${c.snapshotKeepEntries}`);
  }
}


/** Number of votes or acknowledgements that make a majority of `memberCount`. */
export function quorumSize(memberCount: number): number {
  return Math.floor(memberCount / 2) + 1;
}
