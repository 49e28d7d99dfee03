// Membership churn: the `membership` scenario, and the churn swarm draws for a share of its seeds.
//
// Plans keep at most IDS_MAX node ids in a run and track, roughly, who is a member (a request
// the cluster refuses, such as removing a node that is already gone, does nothing): the
// operator's requests may fail, and `remove L` removes whoever leads then.

import { sortFaults, LEADER, FOLLOWER, node, type Fault, type Target } from "./faults.js";
import type { ScenarioContext, ScenarioPlan } from "./plan.js";
import { FaultList, partitionAction, type Scenario } from "./scenario-kit.js";
import { Rng } from "../world/prng.js";

/** Node ids a plan uses at most (initial nodes and those that join). */
export const IDS_MAX = 7;

/** A plan's guess at the members, to keep the cluster between a few voters and IDS_MAX nodes. */
class MemberModel {
  readonly members: number[];
  readonly removed: number[] = [];
  private nextId: number;

  constructor(
    nodes: number,
    private readonly rng: Rng,
  ) {
    this.members = [...Array(nodes).keys()];
    this.nextId = nodes;
  }

  /** An id to add: a new one while ids remain, else a removed node (it rejoins with its disk). */
  joiner(): number | null {
    if (this.nextId < IDS_MAX && (this.removed.length === 0 || this.rng.chance(0.6))) return this.nextId++;
    return this.removed.length === 0 ? null : this.removed.splice(this.rng.int(0, this.removed.length - 1), 1)[0]!;
  }

  added(id: number): void {
    if (!this.members.includes(id)) this.members.push(id);
  }

  /** Takes `id` out (or a random member, standing for `remove L`). */
  remove(id: number | null = null): number {
    const at = id === null ? -1 : this.members.indexOf(id);
    const k = at >= 0 ? at : this.rng.int(0, this.members.length - 1);
    const [gone] = this.members.splice(k, 1);
    this.removed.push(gone!);
    return gone!;
  }

  pick(): number {
    return this.rng.pick(this.members);
  }
}

// ---------------------------------------------------------------- the membership scenario

export const membership: Scenario = {
  name: "membership",
  description:
    "membership changes and leadership transfers under client load: down to 3 voters, then learners join a leader cut off from the voters, lagging learners, transfers and SIGTERM during lease reads, the leader removed, changes during partitions",
  minNodes: 3,
  build: (ctx) => membershipPlan(ctx),
};

function membershipPlan(ctx: ScenarioContext): Partial<ScenarioPlan> {
  const rng = ctx.rng;
  const model = new MemberModel(ctx.nodes, rng);
  const f = new FaultList(ctx.quietFromMs);
  let t = ctx.faultsFromMs;
  // Three voters: one learner beside the leader then makes what a wrong count would call a majority.
  while (model.members.length > 3) {
    f.add(t, { kind: "remove", target: node(model.remove(model.members[model.members.length - 1]!)) });
    t += rng.between(100, 600);
  }
  for (let n = 0; t < ctx.quietFromMs && n < 1000; n++) t = membershipCycle(ctx, f, model, t) + rng.between(300, 2000);
  return { faults: sortFaults(f.faults), preVote: rng.chance(0.75), batchCountMax: rng.pick([4, 64]) };
}

function membershipCycle(ctx: ScenarioContext, f: FaultList, model: MemberModel, t: number): number {
  const rng = ctx.rng;
  switch (rng.int(0, 5)) {
    case 0:
    case 1:
      return learnerBesideCutLeader(ctx, f, model, t);
    case 2: {
      // transfers while clients read and write: to the best voter, to a named one, or SIGTERM;
      // often while what reaches the leader is slow, so it hears of the new term late
      let at = t;
      if (rng.chance(0.6)) {
        for (let other = 0; other < IDS_MAX; other++) f.add(t, { kind: "slow", from: node(other), to: LEADER, extraMs: Math.round(rng.between(50, 500)) });
        at += rng.between(50, 500);
      }
      for (let i = rng.int(1, 3); i > 0; i--) {
        const k = rng.int(0, 2);
        if (k === 0) f.add(at, { kind: "transfer", to: null });
        else if (k === 1) f.add(at, { kind: "transfer", to: node(model.pick()) });
        else f.add(at, { kind: "sigterm", target: LEADER, restartAfterMs: Math.round(rng.between(100, 2000)) });
        at += rng.between(50, 1500);
      }
      f.add(at, { kind: "heal" });
      return at;
    }
    case 3: {
      // the leader removed (it steps down once that commits), replaced by a joiner
      const id = model.joiner();
      if (id === null) return t;
      f.add(t, { kind: "replace", target: LEADER, id });
      model.added(id);
      model.remove();
      return t + rng.between(500, 2000);
    }
    case 4:
      return changesDuringPartition(ctx, f, model, t);
    default:
      return laggingLearner(ctx, f, model, t);
  }
}

/**
 * The leader loses every voter but keeps a node that joins now: under a correct count it can
 * commit nothing and its lease runs out; counting the learner, it goes on committing and reading
 * while the voters elect another leader.
 */
function learnerBesideCutLeader(ctx: ScenarioContext, f: FaultList, model: MemberModel, t: number): number {
  const rng = ctx.rng;
  const id = model.joiner();
  if (id === null) return t;
  for (let other = 0; other < IDS_MAX; other++) if (other !== id) f.add(t, { kind: "sever", a: LEADER, b: node(other) });
  f.add(t + rng.between(0, 300), { kind: "add", id });
  model.added(id);
  const end = t + rng.between(1500, 4000);
  f.add(end, { kind: "heal" });
  if (model.members.length > 3 && rng.chance(0.8)) f.add(end + rng.between(200, 1000), { kind: "remove", target: node(model.remove(id)) });
  return end + 1000;
}

/** A learner whose link from the leader is slow: promoted late, if at all, while writes flow. */
function laggingLearner(ctx: ScenarioContext, f: FaultList, model: MemberModel, t: number): number {
  const rng = ctx.rng;
  const id = model.joiner();
  if (id === null) return t;
  f.add(t, { kind: "add", id });
  model.added(id);
  f.add(t + 1, { kind: "slow", from: LEADER, to: node(id), extraMs: Math.round(rng.between(100, 700)) });
  const end = t + rng.between(1000, 3000);
  if (rng.chance(0.5)) f.add(t + rng.between(100, 800), { kind: "transfer", to: null });
  f.add(end, { kind: "heal" });
  if (model.members.length > 3) f.add(end + 1, { kind: "remove", target: rng.chance(0.5) ? node(model.remove()) : (model.remove(), LEADER) });
  return end;
}

/** A partition, and a change or a transfer while it lasts. */
function changesDuringPartition(ctx: ScenarioContext, f: FaultList, model: MemberModel, t: number): number {
  const rng = ctx.rng;
  f.add(t, partitionAction(ctx));
  const at = t + rng.between(0, 1000);
  const id = model.members.length < 5 ? model.joiner() : null;
  if (id !== null) {
    f.add(at, { kind: "add", id });
    model.added(id);
  } else if (rng.chance(0.5)) {
    f.add(at, { kind: "transfer", to: null });
  } else if (model.members.length > 3) {
    f.add(at, { kind: "remove", target: node(model.remove()) });
  }
  const end = t + rng.between(500, 4000);
  f.add(end, { kind: "heal" });
  return end;
}

// ---------------------------------------------------------------- churn in swarm

/**
 * Churn for about 40% of swarm seeds (2 nodes or more): operator actions of every kind at random
 * times among the seed's other faults, drawn from a stream of their own, so that everything else
 * a seed's plan holds stays as it was.
 */
export function withChurn(ctx: ScenarioContext, faults: readonly Fault[]): readonly Fault[] {
  const rng = new Rng(ctx.seed, "membership");
  if (ctx.nodes < 2 || !rng.chance(0.4)) return faults;
  const model = new MemberModel(ctx.nodes, rng);
  const f = new FaultList(ctx.quietFromMs);
  const meanGapMs = rng.between(1000, 6000);
  for (let t = ctx.faultsFromMs + rng.between(0, meanGapMs); t < ctx.quietFromMs; t += rng.between(meanGapMs / 2, meanGapMs * 1.5)) {
    churnAction(f, model, rng, t);
  }
  return sortFaults([...faults, ...f.faults]);
}

function churnAction(f: FaultList, model: MemberModel, rng: Rng, t: number): void {
  const target = (): Target => rng.pick([LEADER, FOLLOWER, node(model.pick())]);
  const kind = rng.int(0, 5);
  const grow = model.members.length < 3 || (kind <= 1 && model.members.length < 6);
  const id = grow || kind === 2 ? model.joiner() : null;
  if (grow && id !== null) {
    f.add(t, { kind: "add", id });
    model.added(id);
  } else if (kind === 2 && id !== null) {
    f.add(t, { kind: "replace", target: target(), id });
    model.added(id);
    model.remove();
  } else if (kind === 3 && model.members.length > 3) {
    const who = target();
    f.add(t, { kind: "remove", target: who });
    model.remove(who.kind === "node" ? who.id : null);
    if (rng.chance(0.3)) f.add(t + rng.between(500, 3000), { kind: "crash", target: node(model.removed[model.removed.length - 1]!), when: "now" });
  } else if (kind === 4) {
    f.add(t, { kind: "sigterm", target: LEADER, restartAfterMs: Math.round(rng.between(100, 3000)) });
  } else {
    f.add(t, { kind: "transfer", to: rng.chance(0.5) ? null : node(model.pick()) });
  }
}
