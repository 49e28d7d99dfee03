import { describe, expect, it } from "vitest";
import { makeConfig, nodeId, TIMING_FAST, TIMING_SPEC, validateTiming } from "../../src/raft/index.js";

const ids = (...xs: number[]) => xs.map(nodeId);

describe("settings are validated with clear errors", () => {
  it("both presets are valid; the spec preset keeps the original's timing", () => {
    expect(() => validateTiming(TIMING_FAST)).not.toThrow();
    expect(() => validateTiming(TIMING_SPEC)).not.toThrow();
    expect(TIMING_SPEC).toMatchObject({ heartbeatMs: 1000, electionTimeoutMinMs: 5000, electionTimeoutMaxMs: 10000 });
    expect(TIMING_SPEC.leaseMs).toBeGreaterThanOrEqual(2000);
  });

  it("a lease not below the election timeout minimum is refused", () => {
    expect(() => validateTiming({ ...TIMING_FAST, leaseMs: 1000 })).toThrow(/lease 1000 ms must be below the election timeout minimum 1000 ms/);
  });

  it("zero, negative or fractional timings are refused", () => {
    expect(() => validateTiming({ ...TIMING_FAST, heartbeatMs: 0 })).toThrow(/heartbeat must be a positive whole number/);
    expect(() => validateTiming({ ...TIMING_FAST, leaseMs: -5 })).toThrow(/lease must be a positive/);
    expect(() => validateTiming({ ...TIMING_FAST, electionTimeoutMaxMs: 1.5 })).toThrow(/maximum must be a positive/);
  });

  it("an election timeout minimum above its maximum is refused", () => {
    expect(() => validateTiming({ ...TIMING_FAST, electionTimeoutMinMs: 3000, electionTimeoutMaxMs: 2000 })).toThrow(/MIN <= MAX/);
  });

  it("a heartbeat longer than a third of the lease is refused (at half, one lost heartbeat would end the lease)", () => {
    expect(() => validateTiming({ ...TIMING_FAST, heartbeatMs: 400 })).toThrow(/at most a third of the lease 800 ms.*--heartbeat-ms 266 or less/);
    expect(() => validateTiming({ ...TIMING_FAST, heartbeatMs: 266 })).not.toThrow();
  });

  it("a drift bound outside [0, 100000) ppm is refused", () => {
    expect(() => validateTiming({ ...TIMING_FAST, driftPpmMax: -1 })).toThrow(/drift bound/);
    expect(() => validateTiming({ ...TIMING_FAST, driftPpmMax: 100_000 })).toThrow(/drift bound/);
  });

  it("duplicate ids and a missing own id are refused", () => {
    expect(() => makeConfig(nodeId(0), ids(0, 1, 1), TIMING_FAST)).toThrow(/node id 1 appears twice/);
    expect(() => makeConfig(nodeId(3), ids(0, 1, 2), TIMING_FAST)).toThrow(/this node's id 3 is not among the members/);
  });

  it("bounds must be whole numbers of at least one", () => {
    expect(() => makeConfig(nodeId(0), ids(0), TIMING_FAST, { inflightCountMax: 0 })).toThrow(/inflightCountMax/);
  });
});
