// The simulated driver: the public surface the CLI, the tests and the benchmarks use.
export { runSimulation, Simulation, type RunResult, type RunStats, type ViolationReport } from "./world/simulator.js";
export { simOptions, replayCommand, parseDuration, formatDuration, defaultDurationMs, NODES_MAX, type SimOptions } from "./options.js";
export { SCENARIOS, scenarioNames, buildPlan, type Scenario } from "./faults/scenarios.js";
export { formatSchedule, parseSchedule, type Fault, type FaultAction, type Target } from "./faults/faults.js";
export { formatRunSummary } from "./reports/report.js";
export { renderTimeline } from "./reports/timeline.js";
export { runSwarm, runSeed, failed, JOBS_MAX, type SwarmOptions, type SwarmResult, type SeedOutcome, type SwarmBase } from "./swarm.js";
export { NET_CALM, type NetParams } from "./world/network.js";
export { livenessBounds } from "./faults/plan.js";
export { MUTATION_SCENARIOS } from "./faults/mutation-scenarios.js";
export { startSimWorker, SIM_SEMI_SPACE_MB } from "./worker-heap.js";
