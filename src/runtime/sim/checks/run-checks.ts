// The checks a run makes besides the per-step ones (safety.ts, lease-check.ts): the scenario's
// own checks at their times, a leader soon after the faults stop, and at the end the checks over
// the whole history (final-checks.ts). Each check made is counted by name for the run summary.

import { nodeId, quorumSize, type Entry, type NodeView, type TimingConfig } from "../../../raft/index.js";
import { livenessBounds, type ScenarioCheck, type SimView } from "../faults/plan.js";
import { checkAckedWrites, checkCatchUp, checkLinearizability, checkOpLiveness } from "./final-checks.js";
import { violated } from "./violation.js";

export class RunChecks {
  /** How many times each check held, by name, in the order they were first made. */
  readonly counts: Record<string, number> = {};
  /** The clients have stopped from here on: every node must catch up (or be catching up). */
  readonly catchUpFromMs: number;
  /** Each running node's commit index at catchUpFromMs: catching up means passing it. */
  private readonly commitAtCatchUp = new Map<number, number>();

  constructor(
    private readonly timing: TimingConfig,
    /** When the faults stop; null when they never do (no liveness to check). */
    private readonly quietFromMs: number | null,
    private readonly endMs: number,
  ) {
    this.catchUpFromMs = endMs - livenessBounds(timing).catchupMs;
  }

  scenario(c: ScenarioCheck, view: SimView): void {
    const problem = c.check(view);
    this.count(`scenario: ${c.name}`, 1);
    if (problem !== null) violated("scenario", `${c.name}: ${problem}`);
  }

  /** Some time after the faults stopped, a majority of the voters in force that is up must have a leader. */
  leaderElected(view: SimView): void {
    const voters = view.voters();
    let live = 0;
    for (const id of voters) if (view.state(id) === "up") live++;
    if (live < quorumSize(voters.length)) return;
    this.count("liveness: leader elected", 1);
    if (view.leader() === null) {
      const b = livenessBounds(this.timing);
      violated("liveness", `no leader ${b.leaderMs} ms after the faults stopped at ${this.quietFromMs} ms, with a majority up and connected`);
    }
  }

  catchUpWindow(view: SimView): void {
    for (let id = 0; id < view.nodeCount; id++) {
      const core = view.core(id);
      if (core !== null) this.commitAtCatchUp.set(id, core.commitIndex);
    }
  }

  /** At the end: every acknowledged write committed, the history linearizable, and liveness. */
  final(view: SimView, committed: readonly Entry[]): void {
    const history = view.history();
    const leaderId = view.leader();
    const leader: NodeView | null = leaderId === null ? null : view.core(leaderId);
    this.count("acknowledged writes", checkAckedWrites(history, committed, leader));
    this.count("linearizability (ops)", checkLinearizability(history, this.endMs));
    const q = this.quietFromMs;
    if (q !== null) {
      const b = livenessBounds(this.timing);
      this.count("liveness: ops", checkOpLiveness(history, { quietFromMs: q, leaderMs: b.leaderMs, opMs: b.opMs, endMs: this.endMs }));
      // Members of the leader's configuration catch up; removed nodes hear nothing more.
      const members = leaderId === null ? [] : (view.membersOf(leaderId) ?? []);
      const cores = Array.from({ length: view.nodeCount }, (_, id) => (members.includes(nodeId(id)) ? view.core(id) : null));
      if (leader !== null) this.count("liveness: catch-up", checkCatchUp(cores, leader, this.commitAtCatchUp, this.catchUpFromMs));
    }
  }

  private count(name: string, n: number): void {
    this.counts[name] = (this.counts[name] ?? 0) + n;
  }
}
