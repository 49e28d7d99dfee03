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

import type { Mutation, TimingConfig } from "./config.js";
import { quorumValue } from "./quorum.js";
import type { NodeCore } from "./state.js";
import { assert } from "./types.js";

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

/** A node's memory of the longest lease any leader (itself included) may still hold. */
export class LeaseMemory {
  constructor(private untilMs: number) {}

  /** A restarted node must behave as if a lease may still be running. */
  static afterRestart(timing: TimingConfig, nowMs: number, mutation: Mutation | null): LeaseMemory {
    if (mutation === "restart-forgets-lease") return new LeaseMemory(-Infinity);
    return new LeaseMemory(nowMs + followerLeaseMs(timing));
  }

  /** A heartbeat arrived (or, for a leader, left) at nowMs: its lease may run from then. */
  heard(timing: TimingConfig, nowMs: number): void {
    this.untilMs = Math.max(this.untilMs, nowMs + followerLeaseMs(timing));
  }

  get knownUntilMs(): number {
    return this.untilMs;
  }

  remainingMs(nowMs: number): number {
    return Math.max(0, this.untilMs - nowMs);
  }
}

/** A leader's view of its own lease: who acknowledged which heartbeat, and what it must wait for. */
export class LeaderLease {
  /** Slot 0: this leader (always "now"); slot i: send time of the newest heartbeat peer i acknowledged. */
  private readonly ackSendMs: Float64Array;
  private readonly slotOf = new Map<number, number>();

  constructor(
    peers: readonly number[],
    private readonly quorum: number,
    readonly becameLeaderAtMs: number,
    /** No lease reads and no write acknowledgements before this: older leases may be running. */
    readonly oldLeaseWaitUntilMs: number,
  ) {
    this.ackSendMs = new Float64Array(peers.length + 1).fill(-Infinity);
    peers.forEach((p, i) => this.slotOf.set(p, i + 1));
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
  acknowledged(peer: number, sentMs: number, receivedMs: number, mutation: Mutation | null): void {
    if (mutation === "reply-current-term") sentMs = Math.min(sentMs, receivedMs);
    assert(sentMs <= receivedMs, () => `an acknowledgement echoes send time ${sentMs}, after its receipt at ${receivedMs}`);
    const start = mutation === "lease-from-receive" ? receivedMs : sentMs;
    const slot = this.slotOf.get(peer);
    if (slot !== undefined && start > this.ackSendMs[slot]!) this.ackSendMs[slot] = start;
  }

  /** Send time of the newest heartbeat a majority (this leader counts as now) acknowledged. */
  startMs(nowMs: number): number {
    this.ackSendMs[0] = nowMs;
    return quorumValue(this.ackSendMs, this.quorum);
  }

  /** Leader clock time until which lease reads are allowed, ignoring the old-lease wait. */
  validUntilMs(timing: TimingConfig, nowMs: number): number {
    return this.startMs(nowMs) + leaderLeaseMs(timing);
  }

  /** A leader that has not renewed its lease by this time steps down. */
  stepDownAtMs(timing: TimingConfig, nowMs: number): number {
    return Math.max(this.becameLeaderAtMs, this.startMs(nowMs)) + timing.leaseMs;
  }
}

/** Steps down when no majority renewed the lease in time. Returns true when it did. */
export function stepDownIfLeaseLost(n: NodeCore): boolean {
  const l = n.leader;
  if (l === null || n.nowMs < l.lease.stepDownAtMs(n.config.timing, n.nowMs)) return false;
  n.out.events.push({ kind: "lease-renewal-failed", leaderId: n.id });
  n.becomeFollower(null);
  return true;
}
