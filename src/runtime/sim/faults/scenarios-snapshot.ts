// Snapshots under faults: small thresholds, so nodes snapshot and compact every few dozen entries;
// followers fall behind the compacted prefix (isolated, or down) and must be sent a snapshot;
// snapshot messages are lost, duplicated, reordered and arrive as late ghosts (an older snapshot
// after newer state); nodes crash while a snapshot is being written and restart from the snapshot
// and the log's tail.

import { ALL, FOLLOWER, LEADER, RANDOM } from "./faults.js";
import { livenessBounds, WORKLOAD_DEFAULT, type ScenarioContext, type ScenarioPlan } from "./plan.js";
import { cycles, flakyNet, lateCopies, type FaultList, type Scenario } from "./scenario-kit.js";

export const snapshots: Scenario = {
  name: "snapshots",
  description:
    "a snapshot every 20-60 entries: followers fall behind the compacted log and get snapshots over a network that loses, duplicates, reorders and replays them; crashes while snapshots are written; restarts from snapshots",
  minNodes: 3,
  build: (ctx) => snapshotsPlan(ctx),
};

function snapshotsPlan(ctx: ScenarioContext): Partial<ScenarioPlan> {
  const rng = ctx.rng;
  const b = livenessBounds(ctx.timing);
  const every = rng.int(20, 60);
  return {
    snapshotEveryEntries: every,
    snapshotKeepEntries: rng.pick([0, 2, 10]),
    net: { ...flakyNet(rng, ctx.timing), dupP: rng.between(0.02, 0.1), ...lateCopies(rng, ctx.timing, rng.between(0.01, 0.05)) },
    faults: cycles(ctx, [200, 1500], (t, f) => behindCycle(ctx, f, t)),
    workload: { ...WORKLOAD_DEFAULT, count: rng.int(2, 5), thinkMeanMs: rng.between(10, 60), setRatio: rng.between(0.5, 0.9), startMs: 0, stopMs: ctx.durationMs - b.catchupMs },
  };
}

/** A follower drops out for a while (long enough for the log to move past it), or a node crashes mid-write. */
function behindCycle(ctx: ScenarioContext, f: FaultList, t: number): number {
  const rng = ctx.rng;
  const end = t + rng.between(500, 4000);
  switch (rng.int(0, 3)) {
    case 0:
      f.add(t, { kind: "isolate", target: FOLLOWER });
      f.add(end, { kind: "heal" });
      return end;
    case 1:
      f.add(t, { kind: "crash", target: FOLLOWER, when: "now" });
      f.add(end, { kind: "restart", target: ALL });
      return end;
    case 2:
      f.add(t, { kind: "crash", target: RANDOM, when: rng.pick(["commit", "append", "now"]) });
      f.add(t + rng.between(50, 500), { kind: "restart", target: ALL });
      return end;
    default:
      f.add(t, { kind: "crash", target: LEADER, when: "now" });
      f.add(t + rng.between(100, 1500), { kind: "restart", target: ALL });
      return end;
  }
}
