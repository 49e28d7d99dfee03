// Liveness without new input: a settled cluster sends heartbeats and their answers, nothing more.

import { describe, expect, it } from "vitest";
import { heartbeatTraffic } from "./support/traffic.js";
import { World } from "./support/world.js";

function settledCluster(size: number): World {
  const w = new World({ size, seed: `quiet-${size}` });
  w.runUntil("a leader", () => w.leaders().length === 1, 5000);
  const leader = w.leaders()[0]!.id;
  for (let i = 0; i < 20; i++) w.set(leader, `k${i % 3}`, `v${i}`);
  w.run(1000);
  return w;
}

describe("liveness: no endless message loop without new input", () => {
  for (const size of [3, 5]) {
    it(`a settled ${size}-node cluster sends only heartbeat traffic over a quiet period`, () => {
      const w = settledCluster(size);
      const periodMs = 2000;
      const budget = heartbeatTraffic(w, periodMs);
      const sent = w.messagesSentOver(periodMs, budget * 10);
      expect(sent).toBeLessThanOrEqual(budget);
      // A leader that went silent would also pass the bound above; it must still be heard.
      expect(sent).toBeGreaterThanOrEqual(2 * (size - 1) * Math.floor(periodMs / w.timing.heartbeatMs));
      expect(w.problems()).toEqual([]);
    });
  }

  it("negative control: the count sees the traffic that client input causes", () => {
    const w = settledCluster(3);
    const periodMs = 2000;
    const budget = heartbeatTraffic(w, periodMs);
    const leader = w.leaders()[0]!.id;
    const first = w.pool.sentCount;
    for (let i = 0; i < periodMs / 10; i++) {
      w.set(leader, "k", `busy${i}`);
      w.run(10);
    }
    expect(w.pool.sentCount - first).toBeGreaterThan(budget);
  });
});
