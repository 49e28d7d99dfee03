// Messages that outlive their sender's life: a leader's requests (or their ghost copies) arrive
// seconds later, after the leader crashed, its machine rebooted with a clock that started over,
// and it was elected again; answers to that previous life's requests then reach the new
// leadership. A leader that took such an answer for a fresh acknowledgement would hold a lease
// no majority gave it, and serve stale reads while another leader takes writes.

import { quorumSize } from "../../../raft/index.js";
import { ALL, FOLLOWER, LEADER } from "./faults.js";
import { livenessBounds, WORKLOAD_DEFAULT, type ScenarioContext, type ScenarioPlan } from "./plan.js";
import { cycles, lateCopies, type FaultList, type Scenario } from "./scenario-kit.js";

export const staleReplies: Scenario = {
  name: "stale-replies",
  description:
    "ghost copies of messages arrive seconds late, across crashes, reboots (clocks start over) and terms; the leader crashes, comes back first, and is then cut off while its old requests are still answered",
  minNodes: 3,
  build: (ctx) => staleRepliesPlan(ctx),
};

function staleRepliesPlan(ctx: ScenarioContext): Partial<ScenarioPlan> {
  const b = livenessBounds(ctx.timing);
  return {
    rebootP: ctx.rng.between(0.7, 1),
    // Without PreVote a restarted leader wins at once: ghost heartbeats of its previous life keep
    // resetting the others' timers, not its own. (With PreVote the ghosts make voters refuse it.)
    preVote: false,
    faults: cycles(ctx, [0, 500], (t, f) => staleCycle(ctx, f, t)),
    workload: { ...WORKLOAD_DEFAULT, startMs: 0, stopMs: ctx.durationMs - b.catchupMs },
  };
}

/**
 * One chance. For a while the leader's messages get ghost copies that arrive one to eight
 * election timeouts late; then it crashes (ghosts stop being made, those on their way still
 * come) and its machine restarts at once (often a reboot), so it may win the next election with
 * a clock that reads far below its old one. A moment after that election its sends are cut and a
 * minority of the others is severed from it: the rest elect a new leader while answers to ghosts
 * of its previous life's requests still reach it.
 */
export function staleCycle(ctx: ScenarioContext, f: FaultList, t: number): number {
  const rng = ctx.rng;
  const timing = ctx.timing;
  f.add(t, { kind: "net", params: lateCopies(rng, timing, rng.between(0.2, 0.6), 4) });
  const crashMs = t + rng.between(1, 2) * timing.electionTimeoutMaxMs;
  f.add(crashMs, { kind: "crash", target: LEADER, when: "now" });
  f.add(crashMs, { kind: "net", params: { lateP: 0 } });
  const restartMs = crashMs + rng.between(5, 300);
  f.add(restartMs, { kind: "restart", target: ALL });
  // Its sends are lost; of the others, only just enough to make a majority with it still reach it.
  const cutMs = restartMs + timing.electionTimeoutMaxMs + timing.leaseMs + rng.between(300, 1500);
  f.add(cutMs, { kind: "cut", target: LEADER, direction: "out" });
  for (let i = quorumSize(ctx.nodes); i < ctx.nodes; i++) f.add(cutMs, { kind: "sever", a: LEADER, b: FOLLOWER });
  const end = cutMs + rng.between(1, 2) * timing.electionTimeoutMaxMs;
  f.add(end, { kind: "heal" });
  return end;
}
