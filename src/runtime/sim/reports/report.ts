// Text reports: the summary of one run and the results table of a swarm. Run summaries hold no
// wall-clock figures, so the same run prints the same bytes.

import type { RunResult } from "../world/simulator.js";
import { formatDuration } from "../options.js";

export function formatRunSummary(r: RunResult): string {
  const o = r.options;
  const s = r.stats;
  const lines = [
    `raft-sim run: scenario ${o.scenario}, seed ${o.seed}, ${o.nodes} nodes, ${formatDuration(o.durationMs)} simulated, timing ${o.timing}` +
      (o.mutation === null ? "" : `, mutation ${o.mutation}`) +
      (o.clockBeyondBound ? ", clocks beyond the drift bound" : ""),
    `  config      ${r.config}`,
    `  events      ${s.events} (${s.steps} node steps, ${s.messagesSent} peer messages, ${s.messagesLost} lost)`,
    `  faults      ${s.faults} (${s.crashes} crashes, ${s.restarts} restarts, ${s.pauses} pauses)`,
    `  elections   ${s.elections}; leaders per term: ${formatLeaders(r.leadersPerTerm)}`,
    `  client ops  ${s.opsInvoked} (${s.opsOk} ok, ${s.opsFailed} failed, ${s.opsUnknown} unknown); lease reads served ${s.readsServed}`,
    `  checks passed: ${Object.entries(r.checks).map(([k, n]) => `${k} ${n}`).join(", ")}`,
  ];
  const v = r.violation;
  if (v === null) lines.push("OK: no violation");
  else lines.push(`VIOLATION of ${v.property} at ${v.atMs.toFixed(3)} ms (simulated)`, `  ${v.message}`, `  replay: ${v.replay}`);
  return lines.join("\n") + "\n";
}

function formatLeaders(leaders: RunResult["leadersPerTerm"]): string {
  if (leaders.length === 0) return "none";
  const shown = leaders.slice(0, 40).map(([t, n]) => `${t}:n${n}`);
  return shown.join(" ") + (leaders.length > 40 ? ` ... (${leaders.length} terms)` : "");
}
