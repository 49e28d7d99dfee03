// Leader leases, made safe against message delay, clock drift, pauses and restarts.
//
// Clocks: every node reads its own monotonic clock, whose rate is within (1 ± ρ) of true time,
// ρ = driftPpmMax / 1e6. A lease of L ms is granted by a heartbeat sent at leader time s:
//  - the leader may serve lease reads until s + L(1-ρ) on its own clock (shrunk): in true time
//    that ends at most L after the heartbeat left;
//  - a follower that receives it at its time r remembers that a lease may run until r + L(1+ρ)
//    (stretched): in true time that lasts at least L after the heartbeat left, since r came later;
//  - a voter reports the rest of what it remembers, R, in its own ms; the candidate waits
//    R(1+ρ)/(1-ρ) of its own ms from when the reply arrived, which covers R of the voter's time.
// The lease start is the send time of the newest heartbeat that a majority (the leader included)
// has acknowledged, so delayed acknowledgements never extend it. A new leader waits until every
// lease it heard of (votes and its own memory) has run out before it serves reads or acknowledges
// writes. A restarted node has forgotten what it knew, so it assumes a full lease started now.
// Majorities are of the voters of the leader's configuration in use (membership.ts says why one
// configuration is enough); a leader that hands leadership over gives its lease up (transfer.ts).

import type { Mutation, TimingConfig } from "./config.js";
import type { Membership } from "./membership.js";
import { quorumValue } from "./quorum.js";
import type { NodeCore } from "./state.js";
import { broken, term, type NodeId, type Term } from "./types.js";

function driftRatio(timing: TimingConfig): number {
  return timing.driftPpmMax / 1_000_000;
}

/** What the leader may assume of a lease of leaseMs, on its own clock. */
export function leaderLeaseMs(timing: TimingConfig, leaseMs = timing.leaseMs): number {
  return leaseMs * (1 - driftRatio(timing));
}

/** How long a follower must remember a lease of leaseMs, on its own clock. */
export function followerLeaseMs(timing: TimingConfig, leaseMs = timing.leaseMs): number {
  return leaseMs * (1 + driftRatio(timing));
}

/** How long a candidate must wait, on its own clock, for a lease a voter reported as remainingMs. */
export function candidateWaitMs(timing: TimingConfig, remainingMs: number): number {
  const rho = driftRatio(timing);
  return (remainingMs * (1 + rho)) / (1 - rho);
}

/**
 * A node's memory of the longest lease any leader (itself included) may still hold, and the term of
 * the leader whose heartbeat gave it. Every lease has the same length, so the newest heartbeat
 * heard always gives the longest: one (until, term) pair is the whole memory.
 */
export class LeaseMemory {
  /**
   * Written for every heartbeat sent or received: a field with a value from the start (a
   * constructor parameter's field is defined as undefined first, V8 then keeps it as a tagged
   * field, and every store of a fractional number into it allocated a heap number).
   */
  private untilMs = 0;

  private constructor(
    untilMs: number,
    private leaseTerm: Term,
    /** followerLeaseMs of the node's timing, computed once: heard runs for every heartbeat sent or received. */
    private readonly stretchedMs: number,
  ) {
    this.untilMs = untilMs;
  }

  /** A restarted node must behave as if a lease may still be running, of a leader it cannot name (term 0). */
  static afterRestart(timing: TimingConfig, nowMs: number, mutation: Mutation | null): LeaseMemory {
    const stretchedMs = followerLeaseMs(timing);
    if (mutation === "restart-forgets-lease") return new LeaseMemory(-Infinity, term(0), stretchedMs);
    return new LeaseMemory(nowMs + stretchedMs, term(0), stretchedMs);
  }

  /** A heartbeat of the leader of `leaderTerm` arrived (or, for a leader, left) at nowMs: its lease may run from then. */
  heard(nowMs: number, leaderTerm: Term): void {
    const until = nowMs + this.stretchedMs;
    if (until < this.untilMs) return;
    this.untilMs = until;
    this.leaseTerm = leaderTerm;
  }

  get knownUntilMs(): number {
    return this.untilMs;
  }

  /** The term of the leader whose lease is remembered (0: unknown). */
  get term(): Term {
    return this.leaseTerm;
  }

  remainingMs(nowMs: number): number {
    return Math.max(0, this.untilMs - nowMs);
  }
}

/** A leader's view of its own lease: who acknowledged which heartbeat, and what it must wait for. */
export class LeaderLease {
  /**
   * Per peer, by id: send time of the newest heartbeat of this leadership it acknowledged
   * (-Infinity: never). An array of doubles: a Map boxed every time it stored, once per
   * acknowledgement. Read through ackOf and written through setAck, which keep it without holes:
   * a read that may meet a hole (a peer never heard, read as undefined) gives number or
   * undefined, which V8 boxes as a heap number at every read, 16 bytes each, five per
   * acknowledgement (its own read and the four of cachePeers).
   */
  private readonly ackSendMs: number[] = [];
  private readonly scratch: number[] = [];
  /**
   * What the peers contribute to startMs, and what it was computed from: asked several times per
   * step, it changes only with an acknowledgement or the configuration (see startMs).
   */
  private readonly cached = { config: null as Membership | null, acks: -1, selfDecides: false, peersValue: 0 };
  /** Bumped on every acknowledgement that moves a peer's send time and may move the cached peers' value (keepsPeersValue). */
  private ackVersion = 0;
  /** The latest acknowledged send time of any peer. */
  private newestAckMs = -Infinity;
  /** What stepDownAtMs returns, as of the last updateStepDownAt. */
  private stepDownMs = 0;

  /** The lease as the timing gives it, and as this leader may assume it (leaderLeaseMs), computed once. */
  private readonly leaseMs: number;
  private readonly shrunkMs: number;

  constructor(
    private readonly selfId: NodeId,
    readonly becameLeaderAtMs: number,
    /** No lease reads and no write acknowledgements before this: older leases may be running. */
    readonly oldLeaseWaitUntilMs: number,
    timing: TimingConfig,
    /** The node's (fixed for its life): a few mutations change how the lease is counted. */
    private readonly mutation: Mutation | null,
  ) {
    this.leaseMs = timing.leaseMs;
    this.shrunkMs = leaderLeaseMs(timing);
  }

  /** True when sentMs can be the send time of a request of this leadership, seen at nowMs. */
  sentInThisLeadership(sentMs: number, nowMs: number): boolean {
    return sentMs >= this.becameLeaderAtMs && sentMs <= nowMs;
  }

  /**
   * A peer answered a request of this leadership: sentMs is the echo of when that request left,
   * receivedMs now. The caller has checked sentInThisLeadership (the reply-current-term mutation
   * skips that check and clamps instead, as a broken variant for the checkers to catch).
   */
  acknowledged(peer: NodeId, sentMs: number, receivedMs: number): void {
    const mutation = this.mutation;
    if (mutation === "reply-current-term") sentMs = Math.min(sentMs, receivedMs);
    if (!(sentMs <= receivedMs)) broken(`an acknowledgement echoes send time ${sentMs}, after its receipt at ${receivedMs}`);
    const start = mutation === "lease-from-receive" ? receivedMs : sentMs;
    if (start > this.ackOf(peer)) {
      this.setAck(peer, start);
      if (!this.keepsPeersValue(start)) this.ackVersion++;
      this.newestAckMs = Math.max(this.newestAckMs, start);
    }
  }

  /**
   * True when the cache of startMs is current and a peer's send time raised to at most its value
   * leaves that value as it is, so the acknowledgement need not make it stale: the value is the
   * k-th largest of the peers' times, and raising a time below it to at most it changes neither
   * how many times lie above it (fewer than k) nor that k lie at or above it. (About half of a
   * leader's acknowledgements: those of the followers slower than the quorum, each of which made
   * the next step recompute the value; the simulator asks for it after every leader step.)
   */
  private keepsPeersValue(sentMs: number): boolean {
    const c = this.cached;
    return c.acks === this.ackVersion && sentMs <= c.peersValue;
  }

  /** The send time `peer` acknowledged last, -Infinity if none (a read within bounds: ackSendMs says why). */
  private ackOf(peer: NodeId): number {
    const acks = this.ackSendMs;
    return peer < acks.length ? acks[peer]! : -Infinity;
  }

  private setAck(peer: NodeId, sentMs: number): void {
    const acks = this.ackSendMs;
    while (acks.length < peer) acks.push(-Infinity); // the ids between: never heard, and no hole
    acks[peer] = sentMs;
  }

  /**
   * Send time of the newest heartbeat a majority of the voters of `config` acknowledged; this
   * leader counts as now when it is one of them. Learners never count (membership.ts).
   *
   * Computed without nowMs where it can be: an acknowledgement echoes a send time no later than
   * its receipt, so at any reading since, this leader's "now" is the largest value. Then the
   * quorum-th largest is now itself when the quorum is this leader alone, and otherwise the
   * (quorum - 1)-th largest of the peers' (the quorum-th when this leader is no voter), which
   * changes only with an acknowledgement or the configuration: that is what is cached.
   */
  startMs(nowMs: number, config: Membership): number {
    if (nowMs < this.newestAckMs) return this.computeStartMs(nowMs, config); // a reading from before an acknowledgement
    const c = this.cached;
    if (c.config !== config || c.acks !== this.ackVersion) this.cachePeers(config);
    return c.selfDecides ? nowMs : c.peersValue;
  }

  private cachePeers(config: Membership): void {
    const values = this.scratch; // filled from 0, never emptied (quorum.ts says why)
    let count = 0;
    let selfVotes = false;
    const voters = config.voters;
    for (let k = 0; k < voters.length; k++) {
      const id = voters[k]!;
      if (id === this.selfId) selfVotes = true;
      else values[count++] = this.ackOf(id);
    }
    if (this.mutation === "learner-in-quorum") for (const id of config.learners) values[count++] = this.ackOf(id);
    const fromPeers = selfVotes ? config.quorum - 1 : config.quorum;
    const c = this.cached;
    c.selfDecides = fromPeers === 0;
    c.peersValue = fromPeers === 0 ? 0 : quorumValue(values, fromPeers, count);
    c.config = config;
    c.acks = this.ackVersion;
  }

  /** The quorum value over every voter's value, this leader's being nowMs. */
  private computeStartMs(nowMs: number, config: Membership): number {
    const values = this.scratch; // filled from 0, never emptied (quorum.ts says why)
    let count = 0;
    for (const id of config.voters) values[count++] = id === this.selfId ? nowMs : this.ackOf(id);
    if (this.mutation === "learner-in-quorum") for (const id of config.learners) values[count++] = this.ackOf(id);
    return quorumValue(values, config.quorum, count);
  }

  /** Leader clock time until which lease reads are allowed, ignoring the old-lease wait. */
  validUntilMs(nowMs: number, config: Membership): number {
    return this.startMs(nowMs, config) + this.shrunkMs;
  }

  /**
   * A leader that has not renewed its lease by this time steps down, as of the last
   * updateStepDownAt. A void update and a getter, not one function returning it: a double
   * returned from a call V8 did not inline is boxed on the heap, and this one was, at every leader
   * step (its wake time); a getter this small is always inlined.
   */
  get stepDownAtMs(): number {
    return this.stepDownMs;
  }

  /**
   * Makes stepDownAtMs max(becameLeaderAtMs, startMs) + leaseMs for a reading at the clock's nowMs
   * (the node's: its step's time) under config, with startMs's steps written out so that its
   * result is not returned through a call; the peers' part comes from startMs's cache. The clock
   * is passed, not its reading: a double passed to a call V8 did not inline is boxed too.
   */
  updateStepDownAt(clock: { readonly nowMs: number }, config: Membership): void {
    const nowMs = clock.nowMs;
    if (nowMs < this.newestAckMs) {
      this.stepDownMs = Math.max(this.becameLeaderAtMs, this.computeStartMs(nowMs, config)) + this.leaseMs;
      return;
    }
    const c = this.cached;
    if (c.config !== config || c.acks !== this.ackVersion) this.cachePeers(config);
    this.stepDownMs = Math.max(this.becameLeaderAtMs, c.selfDecides ? nowMs : c.peersValue) + this.leaseMs;
  }
}

/** Steps down when no majority renewed the lease in time. Returns true when it did. */
export function stepDownIfLeaseLost(n: NodeCore): boolean {
  const l = n.leader;
  if (l === null) return false;
  l.lease.updateStepDownAt(n, n.membership);
  if (n.nowMs < l.lease.stepDownAtMs) return false;
  n.out.addEvent({ kind: "lease-renewal-failed", leaderId: n.id });
  n.becomeFollower(null);
  return true;
}
