// What a quiet cluster may send: the liveness rule "no endless message loop without new input".

import type { World } from "./world.js";

/**
 * Messages heartbeats alone may cause in `periodMs`: each leader's request and each follower's
 * reply per heartbeat, plus two spare rounds (one for the period's edges, one for a catch-up
 * exchange after a refusal).
 */
export function heartbeatTraffic(w: World, periodMs: number): number {
  const followers = w.ids.length - 1;
  return 2 * followers * (Math.ceil(periodMs / w.timing.heartbeatMs) + 2);
}
