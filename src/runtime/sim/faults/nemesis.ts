// The nemesis: carries out fault actions, picking run-time targets (the current leader, a random
// follower) from its own random stream so that the same seed picks the same victims.

import type { NodeId } from "../../../raft/index.js";
import { formatAction, type CrashPoint, type FaultAction, type Target } from "./faults.js";
import type { Links, NetParams } from "../world/network.js";
import type { NodeState } from "./plan.js";
import type { Rng } from "../world/prng.js";

export interface NemesisHost {
  readonly links: Links;
  /** The nodes that exist: the initial ones and those that joined since (ascending). */
  ids(): readonly number[];
  state(id: number): NodeState;
  leader(): NodeId | null;
  crash(id: number, when: CrashPoint): void;
  /** The process dies, the page cache survives (now, or at its next step that grows its log). */
  kill(id: number, when: "now" | "append"): void;
  /** The machine loses power: a running node crashes; a node already down loses its page cache. */
  powerOff(id: number): void;
  restart(id: number): void;
  pause(id: number): void;
  resume(id: number): void;
  setNet(params: Partial<NetParams>): void;
  calmNet(): void;
  /** Cancels crashes armed to strike at a later step. */
  disarm(): void;
  jump(id: number, deltaMs: number): void;
  /** Membership (world/membership-world.ts): the operator's requests, queued one after another. */
  addMember(id: number): void;
  removeMember(id: number): void;
  transferLeader(to: number | null): void;
  /** Asks the node to hand leadership over, then ends its process (restarted after restartAfterMs, if given). */
  sigterm(id: number, restartAfterMs: number | null): void;
  /** Faults stop: the operator drops what it has not done yet. */
  stopOperator(): void;
}

export class Nemesis {
  constructor(
    private readonly host: NemesisHost,
    private readonly rng: Rng,
  ) {}

  /** Carries out one action; returns what it did, with targets resolved, for the trace. */
  run(a: FaultAction): string {
    const h = this.host;
    const did = (ids: readonly number[]): string => `${formatAction(a)} -> ${ids.length === 0 ? "nobody" : ids.map((i) => `n${i}`).join(",")}`;
    switch (a.kind) {
      case "crash":
        return did(this.each(a.target, a.when === "now" ? "live" : "any", (id) => h.crash(id, a.when)));
      case "kill":
        return did(this.each(a.target, a.when === "now" ? "live" : "any", (id) => h.kill(id, a.when)));
      case "power-off":
        return did(this.each(a.target, "any", (id) => h.powerOff(id)));
      case "restart":
        return did(this.each(a.target, "crashed", (id) => h.restart(id)));
      case "pause":
        return did(this.each(a.target, "up", (id) => h.pause(id)));
      case "resume":
        return did(this.each(a.target, "paused", (id) => h.resume(id)));
      case "isolate":
        return did(this.each(a.target, "any", (id) => h.links.splitInto(this.allBut(id))));
      case "cut":
        return did(this.each(a.target, "any", (id) => this.cut(id, a.direction)));
      case "sever":
        return did(this.pair(a.a, a.b, (x, y) => h.links.sever(x, y)));
      case "bridge":
        return did(this.each(a.target, "any", (id) => this.bridge(id)));
      case "slow":
        return did(this.pair(a.from, a.to, (x, y) => h.links.slow(x, y, a.extraMs)));
      case "partition":
        h.links.heal();
        h.links.splitInto(a.groups);
        return formatAction(a);
      case "heal":
        h.links.heal();
        return formatAction(a);
      case "net":
        h.setNet(a.params);
        return formatAction(a);
      case "jump":
        return did(this.each(a.target, "live", (id) => h.jump(id, a.deltaMs)));
      case "quiet":
        return this.quiet();
      case "add":
        h.addMember(a.id);
        return did([a.id]);
      case "remove":
        return did(this.each(a.target, "any", (id) => h.removeMember(id)));
      case "replace":
        return did(this.each(a.target, "any", (id) => (h.addMember(a.id), h.removeMember(id))));
      case "transfer":
        if (a.to === null) h.transferLeader(null);
        return a.to === null ? formatAction(a) : did(this.each(a.to, "any", (id) => h.transferLeader(id)));
      case "sigterm":
        return did(this.each(a.target, "live", (id) => h.sigterm(id, a.restartAfterMs)));
    }
  }

  private quiet(): string {
    const h = this.host;
    h.links.heal();
    h.calmNet();
    h.disarm();
    h.stopOperator();
    const resumed = this.each({ kind: "all" }, "paused", (id) => h.resume(id));
    const restarted = this.each({ kind: "all" }, "crashed", (id) => h.restart(id));
    return `quiet: healed, calm network, resumed [${resumed.join(",")}], restarted [${restarted.join(",")}]`;
  }

  private cut(id: number, direction: "out" | "in"): void {
    const others = this.host.ids().filter((n) => n !== id);
    if (direction === "out") this.host.links.cutOneWay([id], others);
    else this.host.links.cutOneWay(others, [id]);
  }

  /** Two different nodes (the second resolved without the first), or none. */
  private pair(a: Target, b: Target, f: (x: number, y: number) => void): number[] {
    const [x] = this.resolve(a, "any", []);
    const [y] = x === undefined ? [] : this.resolve(b, "any", [x]);
    if (x === undefined || y === undefined) return [];
    f(x, y);
    return [x, y];
  }

  /** `id` and about half the others on one side, one node as the bridge, the rest on the other side. */
  private bridge(id: number): void {
    const others = this.rng.shuffle(this.host.ids().filter((n) => n !== id));
    const bridge = others.shift();
    if (bridge === undefined) return;
    const half = Math.floor(others.length / 2);
    this.host.links.bridge([id, ...others.slice(0, half)], others.slice(half));
  }

  private allBut(id: number): number[][] {
    const others = this.host.ids().filter((n) => n !== id);
    return [[id], others];
  }

  /** Resolves a target among nodes in the wanted state and applies `f` to each; returns them. */
  private each(t: Target, wanted: "live" | "up" | "paused" | "crashed" | "any", f: (id: number) => void): number[] {
    const ids = this.resolve(t, wanted, []);
    ids.forEach(f);
    return ids;
  }

  private resolve(t: Target, wanted: "live" | "up" | "paused" | "crashed" | "any", exclude: readonly number[]): number[] {
    const h = this.host;
    const ids = h.ids();
    const fits = (id: number): boolean => {
      if (exclude.includes(id) || !ids.includes(id)) return false;
      const s = h.state(id);
      return wanted === "any" || s === wanted || (wanted === "live" && s !== "crashed");
    };
    const candidates = ids.filter(fits);
    const leader = h.leader();
    switch (t.kind) {
      case "node":
        return fits(t.id) ? [t.id] : [];
      case "all":
        return candidates;
      case "leader":
        if (leader !== null && fits(leader)) return [leader];
        return candidates.length === 0 ? [] : [this.rng.pick(candidates)];
      case "follower": {
        const followers = candidates.filter((id) => id !== leader);
        return followers.length === 0 ? [] : [this.rng.pick(followers)];
      }
      case "random":
        return candidates.length === 0 ? [] : [this.rng.pick(candidates)];
    }
  }
}
