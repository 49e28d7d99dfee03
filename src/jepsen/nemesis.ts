// The nemesis: faults on a schedule drawn from the seed. Each cycle waits a healthy gap, picks a
// fault the chosen nemesis allows, applies it for a drawn duration, and heals it. Choices
// (which fault, how long, which nodes, which rates) come from the seed; which node is leader
// comes from the cluster at that moment, so a replay draws the same choices against whatever
// the real network and scheduler make of them.

import { setTimeout as sleep } from "node:timers/promises";
import { assertNever, type TimingConfig } from "../raft/index.js";
import type { Cluster } from "./nodes.js";
import type { NemesisName } from "./options.js";
import { setCuts, type Cut, type NetLayout } from "./netns.js";

export type FaultKind =
  | "minority" // a random minority cut off from the rest, both ways
  | "leader-minority" // the leader in a minority, cut off from the majority
  | "leader-majority" // the leader in the majority, a minority cut off
  | "handover" // the leader cut from a minority of followers while the others restart one by one
  | "bridge" // two majorities sharing one node
  | "one-way" // one node's packets to its peers dropped: it hears but is not heard
  | "kill" // SIGKILL of a minority (the leader in half the cycles), restarted at the end
  | "pause" // SIGSTOP of a minority (the leader in half the cycles), SIGCONT at the end
  | "clock-skew" // one node restarted with its clock at a rate within the drift bound
  | "slow-leader"; // every node restarted slow, followers then fast, and the slow leader cut off

export const KINDS_OF: Record<NemesisName, readonly FaultKind[]> = {
  // Handover is the one partition in which two leaders' claims can overlap: half the cycles.
  partition: ["minority", "leader-minority", "leader-majority", "handover", "handover", "handover"],
  bridge: ["bridge"],
  "one-way": ["one-way"],
  kill: ["kill"],
  pause: ["pause"],
  clock: ["slow-leader"],
  mixed: ["minority", "leader-minority", "leader-majority", "handover", "bridge", "one-way", "kill", "pause", "clock-skew"],
  none: [],
};

export interface Band {
  readonly kind: FaultKind;
  readonly label: string;
  readonly startMs: number;
  endMs: number;
}

export interface NemesisOptions {
  readonly nemesis: NemesisName;
  /** The fault kinds to draw from (a subset of the nemesis' kinds), or null for all of them. */
  readonly faults: readonly FaultKind[] | null;
  readonly cluster: Cluster;
  readonly net: NetLayout;
  readonly rng: () => number;
  readonly driftPpm: number;
  readonly clockBeyondBound: boolean;
  readonly timing: TimingConfig;
  readonly nowMs: () => number;
  /** The node that leads now, or null when none answers as leader. */
  readonly findLeader: () => Promise<number | null>;
  /** Clients only read for this long from now. */
  readonly pauseWrites: (durationMs: number) => void;
  readonly log: (text: string) => void;
}

/** Time a killed node takes to serve again, at most, on a busy machine (standby included). */
const RESTART_ALLOWANCE_MS = 2_500;
/** Handover: writes in flight settle this long before the cut. */
const WRITE_SETTLE_MS = 2_500;
/** Handover: gap between cutting off one follower and the next (above the election timeout's spread). */
const CUT_STAGGER_MS = 800;

/** Clock rates of the slow-leader cycle: beyond the bound, the leader's clock runs at 40%. */
const BEYOND_SLOW_RATE = 0.4;

export class Nemesis {
  readonly bands: Band[] = [];

  constructor(private readonly o: NemesisOptions) {}

  /** Runs fault cycles until `untilMs` (the history clock); everything is healed on return. */
  async run(untilMs: number): Promise<void> {
    const kinds = this.o.faults ?? KINDS_OF[this.o.nemesis];
    // No faults (--nemesis none): the phase still lasts until untilMs, and nothing needs healing.
    if (kinds.length === 0) return void (await sleep(Math.max(0, untilMs - this.o.nowMs())));
    const cyclesMax = Math.ceil(untilMs / 1000) + 1;
    for (let cycle = 0; cycle < cyclesMax; cycle++) {
      await sleep(this.between(1_000, 3_000));
      if (this.o.nowMs() + 2_000 >= untilMs) break;
      const kind = kinds[Math.floor(this.o.rng() * kinds.length)]!;
      const durationMs = Math.min(this.between(3_000, 6_000), untilMs - this.o.nowMs());
      await this.cycle(kind, durationMs);
    }
    await this.healAll();
  }

  private async cycle(kind: FaultKind, durationMs: number): Promise<void> {
    const band: Band = { kind, label: kind, startMs: this.o.nowMs(), endMs: this.o.nowMs() };
    this.bands.push(band);
    const note = (label: string): void => {
      (band as { label: string }).label = `${kind}: ${label}`;
      this.o.log(`nemesis ${band.label}`);
    };
    try {
      await this.apply(kind, durationMs, note);
    } finally {
      await this.healAll();
      band.endMs = this.o.nowMs();
      this.o.log(`nemesis healed ${kind}`);
    }
  }

  private async apply(kind: FaultKind, durationMs: number, note: (label: string) => void): Promise<void> {
    const n = this.o.cluster.size;
    const minority = Math.floor((n - 1) / 2);
    switch (kind) {
      case "minority":
        return this.partitionFor(this.pick(range(n), 1 + Math.floor(this.o.rng() * minority)), durationMs, note);
      case "leader-minority":
      case "leader-majority": {
        const leader = (await this.o.findLeader()) ?? Math.floor(this.o.rng() * n);
        const others = this.pick(range(n).filter((i) => i !== leader), n - 1);
        const side = kind === "leader-minority" ? [leader, ...others.slice(0, minority - 1)] : others.slice(0, minority);
        return this.partitionFor(side, durationMs, note);
      }
      case "handover":
        return this.handover(durationMs, note);
      case "bridge":
        return this.bridge(durationMs, note);
      case "one-way": {
        const node = this.o.rng() < 0.5 ? ((await this.o.findLeader()) ?? 0) : Math.floor(this.o.rng() * n);
        note(`node ${node}'s packets to its peers are dropped`);
        await setCuts(this.o.net, range(n).filter((j) => j !== node).map((to) => ({ from: node, to })));
        return void (await sleep(durationMs));
      }
      case "kill":
      case "pause":
        return this.processFault(kind, durationMs, note);
      case "clock-skew": {
        const node = Math.floor(this.o.rng() * n);
        const rate = this.inBoundRate(this.o.rng() * 2 - 1);
        note(`node ${node} restarted with its clock at x${rate}`);
        await this.o.cluster.restart(node, rate);
        return void (await sleep(durationMs));
      }
      case "slow-leader":
        return this.slowLeader(note);
      default:
        return assertNever(kind);
    }
  }

  /** `side` cut off from everyone else, both ways. */
  private async partitionFor(side: readonly number[], durationMs: number, note: (label: string) => void): Promise<void> {
    const rest = range(this.o.cluster.size).filter((i) => !side.includes(i));
    note(`{${side.join(",")}} | {${rest.join(",")}}`);
    await this.setGroups([side, rest]);
    await sleep(durationMs);
  }

  private async bridge(durationMs: number, note: (label: string) => void): Promise<void> {
    const n = this.o.cluster.size;
    const order = this.pick(range(n), n);
    const half = Math.floor(n / 2);
    const a = order.slice(0, half + 1);
    const b = order.slice(half);
    note(`{${a.join(",")}} and {${b.join(",")}} share node ${order[half]}`);
    await this.setGroups([a, b]);
    await sleep(durationMs);
  }

  /**
   * Writes pause (as in the simulator's lease-handover scenario: a follower cut off while
   * writes go on falls behind and can never win), and a minority of followers is cut off from
   * the leader, one by one, until the last one has nearly waited out an election timeout; then one of the followers
   * the leader counts on is killed and restarted on their side of the partition. Restarted, it
   * knows no leader, so with them it makes a majority that can elect a new leader at once,
   * while the old leader's lease (renewed by that follower just before it died) still runs:
   * the new leader must wait it out before it serves.
   */
  private async handover(durationMs: number, note: (label: string) => void): Promise<void> {
    const n = this.o.cluster.size;
    const leader = (await this.o.findLeader()) ?? Math.floor(this.o.rng() * n);
    const followers = this.pick(range(n).filter((i) => i !== leader), n - 1);
    const cut = followers.slice(0, Math.floor((n - 1) / 2));
    const amnesiac = followers[cut.length]!;
    const stay = followers.slice(cut.length + 1);
    note(`{${cut.join(",")}} cut off from leader ${leader} one by one, then node ${amnesiac} restarted on their side; writes pause`);
    const t = this.o.timing;
    // In-flight writes settle before the first cut (clients give up within 2 s).
    this.o.pauseWrites(WRITE_SETTLE_MS + cut.length * CUT_STAGGER_MS + t.electionTimeoutMinMs);
    await sleep(WRITE_SETTLE_MS);
    // One by one, so the last one cut is the only candidate that can win (no split vote).
    for (let k = 1; k <= cut.length; k++) {
      await this.setGroups([[leader, amnesiac, ...stay, ...cut.slice(k)], cut.slice(0, k)]);
      if (k < cut.length) await sleep(CUT_STAGGER_MS);
    }
    // The restarted node must be up before the last one cut stands for election, and its last
    // acknowledgement as late as possible.
    await sleep(Math.max(0, t.electionTimeoutMinMs - RESTART_ALLOWANCE_MS));
    await this.o.cluster.kill(amnesiac);
    await this.setGroups([[leader, ...stay], [...cut, amnesiac]]);
    this.o.cluster.start(amnesiac, this.o.cluster.rate(amnesiac));
    await sleep(Math.max(durationMs, t.electionTimeoutMaxMs + 1_000));
  }

  private async processFault(kind: "kill" | "pause", durationMs: number, note: (label: string) => void): Promise<void> {
    const n = this.o.cluster.size;
    const count = 1 + Math.floor(this.o.rng() * Math.floor((n - 1) / 2));
    const leader = this.o.rng() < 0.5 ? await this.o.findLeader() : null;
    const rest = this.pick(range(n).filter((i) => i !== leader), n);
    const victims = (leader === null ? rest : [leader, ...rest]).slice(0, count);
    note(`nodes {${victims.join(",")}}${leader === null ? "" : ` (leader ${leader} first)`}`);
    for (const v of victims) {
      if (kind === "kill") await this.o.cluster.kill(v);
      else this.o.cluster.pause(v);
    }
    await sleep(durationMs);
    for (const v of victims) {
      if (kind === "kill") this.o.cluster.start(v, this.o.cluster.rate(v));
      else this.o.cluster.resume(v);
    }
  }

  /**
   * Every node restarts with a slow clock; once one leads, each follower restarts with a fast
   * clock; then the (slow) leader is cut off. Within the drift bound its lease ends, in true
   * time, before a new leader can serve; beyond it, the old leader serves stale reads.
   */
  private async slowLeader(note: (label: string) => void): Promise<void> {
    const rho = this.o.driftPpm / 1e6;
    const slow = this.o.clockBeyondBound ? BEYOND_SLOW_RATE : this.inBoundRate(-1);
    const fast = this.o.clockBeyondBound ? 1 : this.inBoundRate(1);
    const n = this.o.cluster.size;
    note(`all restart at x${slow}, followers then at x${fast} (bound ${(rho * 1e6).toFixed(0)} ppm)`);
    for (let i = 0; i < n; i++) await this.o.cluster.kill(i);
    for (let i = 0; i < n; i++) this.o.cluster.start(i, slow);
    let leader: number | null = null;
    const waitMs = (2 * this.o.timing.electionTimeoutMaxMs) / slow + RESTART_ALLOWANCE_MS;
    for (let tries = 0; tries < Math.ceil(waitMs / 500) && leader === null; tries++) {
      await sleep(500);
      leader = await this.o.findLeader();
    }
    if (leader === null) return note(`no leader within ${(waitMs / 1000).toFixed(1)} s of the slow restart; cycle skipped`);
    for (let i = 0; i < n; i++) {
      if (i === leader) continue;
      await this.o.cluster.restart(i, fast);
      await sleep(1_000);
    }
    note(`slow leader ${leader} cut off; followers at x${fast}`);
    await this.setGroups([[leader], range(n).filter((i) => i !== leader)]);
    // Long enough for the slow leader's lease, in true time, to end.
    await sleep(this.o.timing.leaseMs / slow + 1_000);
  }

  /** Nodes talk only to nodes sharing a group with them. */
  private async setGroups(groups: readonly (readonly number[])[]): Promise<void> {
    const n = this.o.cluster.size;
    const cuts: Cut[] = [];
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) if (i !== j && !groups.some((g) => g.includes(i) && g.includes(j))) cuts.push({ from: i, to: j });
    }
    await setCuts(this.o.net, cuts);
  }

  /** Removes every rule and resumes every paused node. */
  async healAll(): Promise<void> {
    await setCuts(this.o.net, []);
    for (let i = 0; i < this.o.cluster.size; i++) this.o.cluster.resume(i);
  }

  /** A clock rate within 90% of the drift bound: `side` in [-1, 1] from slowest to fastest. */
  private inBoundRate(side: number): number {
    return Number((1 + side * 0.9 * (this.o.driftPpm / 1e6)).toFixed(6));
  }

  private between(lo: number, hi: number): number {
    return lo + this.o.rng() * (hi - lo);
  }

  /** `count` distinct items of `from`, in a seeded random order. */
  private pick(from: readonly number[], count: number): number[] {
    const a = [...from];
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.o.rng() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a.slice(0, count);
  }
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
