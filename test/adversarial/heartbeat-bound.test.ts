// The timing validation's promise: a heartbeat it accepts means one lost heartbeat does not end
// the lease (config.ts, validateTiming). Checked at the largest heartbeat the validation accepts,
// found by asking it, with prompt (1 ms) delivery otherwise. (At half the lease, which it once
// accepted, one lost heartbeat ended the leadership.)

import { describe, expect, it } from "vitest";
import { nodeId, TIMING_FAST, validateTiming, type TimingConfig } from "../../src/raft/index.js";
import { jitter } from "./support/jitter.js";
import { World } from "./support/world.js";

const A = nodeId(0);
const B = nodeId(1);
const C = nodeId(2);

/**
 * A leads; C is down, so A's lease rests on B alone; the next `lost` heartbeats to B are lost;
 * then 2 s pass.
 */
function loseHeartbeats(timing: TimingConfig, lost: number): { w: World; termBefore: number } {
  validateTiming(timing);
  const w = new World({ size: 3, timing, random: jitter({ 0: 0, 1: 0.5, 2: 0.9 }) });
  w.runUntil("A leading with its lease", () => w.status(A)?.leaseReadable === true, 5000);
  w.run(3 * timing.heartbeatMs);
  w.crash(C);
  w.run(3 * timing.heartbeatMs);
  const termBefore = w.status(A)!.term;
  w.net.holdNext((e) => e.type === "append-request" && e.from === A && e.to === B, lost);
  w.run(2000);
  expect(w.pool.select((x) => x.held).length, "heartbeats lost").toBeGreaterThanOrEqual(1);
  return { w, termBefore };
}

/** The fast preset with the largest heartbeat validateTiming accepts (searched down from the lease). */
function largestAcceptedHeartbeat(): TimingConfig {
  for (let heartbeatMs = TIMING_FAST.leaseMs; heartbeatMs > 0; heartbeatMs--) {
    const timing = { ...TIMING_FAST, heartbeatMs };
    try {
      validateTiming(timing);
      return timing;
    } catch {
      continue;
    }
  }
  throw new Error("validateTiming accepts no heartbeat at all");
}

describe("timing: one lost heartbeat does not end the lease", () => {
  it("at the largest heartbeat the validation accepts, a leader survives one lost heartbeat", () => {
    const timing = largestAcceptedHeartbeat();
    expect(timing.heartbeatMs).toBeGreaterThan(TIMING_FAST.leaseMs / 4);
    const { w, termBefore } = loseHeartbeats(timing, 1);
    expect(w.status(A)?.role, "A stepped down after one lost heartbeat").toBe("leader");
    expect(w.status(A)?.term).toBe(termBefore);
  });

  it("control: a heartbeat well below half the lease survives one lost heartbeat", () => {
    const timing: TimingConfig = { ...TIMING_FAST, heartbeatMs: TIMING_FAST.leaseMs / 4 };
    const { w, termBefore } = loseHeartbeats(timing, 1);
    expect(w.status(A)?.role).toBe("leader");
    expect(w.status(A)?.term).toBe(termBefore);
  });

  it("negative control: losing every heartbeat for longer than the lease ends the leadership", () => {
    const timing: TimingConfig = { ...TIMING_FAST, heartbeatMs: TIMING_FAST.leaseMs / 4 };
    const { w, termBefore } = loseHeartbeats(timing, 5);
    expect(w.status(A)?.role !== "leader" || w.status(A)!.term !== termBefore).toBe(true);
  });
});
