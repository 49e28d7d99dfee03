// Each deliberately broken variant (--mutate) has a home scenario: the one built to make the bug
// matter, where the checkers must catch it. The negative-control tests, the mutation figures
// (scripts/soak.mjs --mutations) and the trace digest all use this one table.

import type { Mutation } from "../../../raft/index.js";

export const MUTATION_SCENARIOS: Readonly<Record<Mutation, string>> = {
  "no-lease-wait": "lease-handover",
  "lease-from-receive": "lease-handover",
  "restart-forgets-lease": "lease-handover",
  "commit-old-term": "leader-churn",
  "vote-twice": "leader-crash",
  "reply-current-term": "stale-replies",
  "trust-page-cache": "power-loss",
  "snapshot-forgets-sessions": "snapshots",
  "install-older-snapshot": "snapshots",
  "learner-in-quorum": "membership",
  "transfer-keeps-lease": "membership",
};
