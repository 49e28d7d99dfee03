// Scenarios of the disk: processes killed between a write and its sync (their writes stay in the
// page cache), restarted, and later a power loss, of one machine or the whole rack.

import { ALL, FOLLOWER, LEADER, RANDOM, type Target } from "./faults.js";
import type { ScenarioContext } from "./plan.js";
import { cycles, FaultList, type Scenario } from "./scenario-kit.js";

/**
 * One kill-then-power-loss cycle from time t: up to half the nodes' processes are killed (most
 * often at a step that grows the log, after the write and before the sync), restarted 50-1500 ms
 * later, and one machine or every machine loses power soon after (the window in which a restarted
 * node that trusted its page cache has acknowledged what is not durable), then all restart.
 * Returns the cycle's end.
 */
export function pageCacheCycle(ctx: ScenarioContext, f: FaultList, t: number): number {
  const rng = ctx.rng;
  const victims = rng.int(1, Math.max(1, Math.floor(ctx.nodes / 2)));
  for (let i = 0; i < victims; i++) {
    const victim: Target = rng.chance(0.7) ? FOLLOWER : rng.pick([LEADER, RANDOM]);
    f.add(t + i, { kind: "kill", target: victim, when: rng.chance(0.8) ? "append" : "now" });
  }
  const restartAt = t + rng.between(50, 1500);
  f.add(restartAt, { kind: "restart", target: ALL });
  const powerAt = restartAt + (rng.chance(0.7) ? rng.between(5, 300) : rng.between(300, 3000));
  f.add(powerAt, { kind: "power-off", target: rng.chance(0.6) ? ALL : RANDOM });
  const end = powerAt + rng.between(100, 2000);
  f.add(end, { kind: "restart", target: ALL });
  return end;
}

export const powerLoss: Scenario = {
  name: "power-loss",
  description: "processes killed between a write and its sync (the page cache keeps it), restarted, then a power loss of one machine or the rack",
  minNodes: 2,
  build: (ctx) => ({
    rebootP: 0.5,
    faults: cycles(ctx, [300, 2000], (t, f) => pageCacheCycle(ctx, f, t)),
  }),
};
