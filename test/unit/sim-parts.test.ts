import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { logIndex, term, type Entry, type Output } from "../../src/raft/index.js";
import { SimClock, drawRate } from "../../src/runtime/sim/world/clock.js";
import { SimDisk } from "../../src/runtime/sim/world/disk.js";
import { formatSchedule, parseSchedule } from "../../src/runtime/sim/faults/faults.js";
import { EventHeap, TimerSlot, TwoLaneQueue } from "../../src/runtime/sim/world/heap.js";
import { Links, NET_CALM, drawDelays } from "../../src/runtime/sim/world/network.js";
import { parseDuration, replayCommand, simOptions } from "../../src/runtime/sim/options.js";
import { Rng } from "../../src/runtime/sim/world/prng.js";

const noop = (t: number): Entry => ({ term: term(t), command: { kind: "noop" } });

function output(parts: Partial<Output>): Output {
  return { hardState: null, installSnapshot: null, truncateFrom: null, compactTo: null, saveSnapshot: null, membership: null, appendFrom: null, append: [], messages: [], applied: [], replies: [], events: [], wakeAtMs: 0, ...parts };
}

describe("event heap", () => {
  it("pops by time, and by insertion order at the same time", () => {
    const h = new EventHeap<{ atMs: number; seq: number; name: string }>();
    const items = [
      [5, "e"],
      [1, "a"],
      [3, "c1"],
      [3, "c2"],
      [0.5, "first"],
      [3, "c3"],
    ] as const;
    items.forEach(([atMs, name], seq) => h.push({ atMs, seq, name }));
    const order: string[] = [];
    for (let x = h.pop(); x !== undefined; x = h.pop()) order.push(x.name);
    expect(order).toEqual(["first", "a", "c1", "c2", "c3", "e"]);
  });

  it("pops everything in (time, sequence) order, whatever the pushes and pops", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constant(-1)), { maxLength: 300 }), (script) => {
        const h = new EventHeap<{ atMs: number; seq: number }>();
        const model: { atMs: number; seq: number }[] = [];
        script.forEach((t, seq) => {
          if (t >= 0) {
            h.push({ atMs: t, seq });
            model.push({ atMs: t, seq });
            model.sort((a, b) => a.atMs - b.atMs || a.seq - b.seq);
          } else {
            expect(h.pop()).toEqual(model.shift());
          }
        });
        while (model.length > 0) expect(h.pop()).toEqual(model.shift());
        expect(h.pop()).toBeUndefined();
      }),
      { seed: 7, numRuns: 200 },
    );
  });
});

describe("two-lane queue with timer slots", () => {
  it("pops as one queue would in which re-arming a timer drops its earlier arming", () => {
    type Op = { kind: "push"; lane: "fast" | "slow"; atMs: number } | { kind: "arm"; timer: number; atMs: number } | { kind: "pop" };
    const op = fc.oneof(
      fc.record({ kind: fc.constant("push" as const), lane: fc.constantFrom("fast" as const, "slow" as const), atMs: fc.integer({ min: 0, max: 15 }) }),
      fc.record({ kind: fc.constant("arm" as const), timer: fc.integer({ min: 0, max: 3 }), atMs: fc.integer({ min: 0, max: 15 }) }),
      fc.constant({ kind: "pop" as const }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), fc.constantFrom(50, 3, 0), (script: Op[], horizonMs: number) => {
        const q = new TwoLaneQueue<string>(horizonMs); // pushes due beyond the horizon go to the slow lane
        const slots = [0, 1, 2, 3].map((k) => new TimerSlot<string>(`t${k}`));
        // The model: one list by (time, sequence); a timer's earlier arming is removed.
        let model: { atMs: number; seq: number; name: string }[] = [];
        let seq = 0;
        const popModel = (limitMs: number): string | undefined => {
          model.sort((a, b) => a.atMs - b.atMs || a.seq - b.seq);
          return model[0] !== undefined && model[0].atMs <= limitMs ? model.shift()!.name : undefined;
        };
        script.forEach((o, k) => {
          if (o.kind === "push") {
            q.push(o.lane, o.atMs, `e${k}`);
            model.push({ atMs: o.atMs, seq: seq++, name: `e${k}` });
          } else if (o.kind === "arm") {
            q.arm(slots[o.timer]!, o.atMs);
            model = model.filter((m) => m.name !== `t${o.timer}`);
            model.push({ atMs: o.atMs, seq: seq++, name: `t${o.timer}` });
          } else {
            expect(q.popUntil(10)).toEqual(popModel(10));
          }
        });
        for (let x = popModel(Infinity); x !== undefined; x = popModel(Infinity)) expect(q.popUntil(Infinity)).toBe(x);
        expect(q.popUntil(Infinity)).toBeUndefined();
        expect(q.size).toBe(0);
      }),
      { seed: 11, numRuns: 300 },
    );
  });
});

describe("seeded randomness", () => {
  it("gives each concern its own stream: drawing from one does not move another", () => {
    const a = new Rng("42", "net");
    const first = [a.float(), a.float()];
    const client = new Rng("42", "client", 7);
    client.float();
    const again = new Rng("42", "net");
    expect([again.float(), again.float()]).toEqual(first);
    expect(new Rng("43", "net").float()).not.toBe(first[0]);
  });
});

describe("clocks", () => {
  it("convert between true and local time, never reading short of the target", () => {
    const c = new SimClock(12_345, 1.000937);
    for (const local of [12_345.5, 20_000, 99_999.123, 1e6 + 0.1]) {
      const t = c.trueAt(local, 0);
      expect(c.localAt(t)).toBeGreaterThanOrEqual(local);
      expect(c.localAt(t) - local).toBeLessThan(1e-6);
    }
    expect(c.trueAt(0, 50)).toBe(50);
  });

  it("draw rates within, at, and far beyond the drift bound", () => {
    const r = new Rng("clocks").fn;
    for (let i = 0; i < 100; i++) {
      expect(Math.abs(drawRate("within-bound", 1000, r) - 1)).toBeLessThanOrEqual(0.001);
      expect(Math.abs(Math.abs(drawRate("at-bound", 1000, r) - 1) - 0.001)).toBeLessThan(1e-12);
      expect(Math.abs(drawRate("beyond-bound", 1000, r) - 1)).toBeGreaterThan(0.1);
    }
  });

  it("jump only forward", () => {
    const c = new SimClock(0, 1);
    c.jump(500);
    expect(c.localAt(10)).toBe(510);
    expect(() => c.jump(-1)).toThrow(/only jumps forward/);
  });
});

describe("simulated disk", () => {
  it("loses what was not synced when the process crashes", () => {
    const d = new SimDisk();
    d.write(output({ appendFrom: logIndex(1), append: [noop(1), noop(1)], hardState: { currentTerm: term(1), votedFor: null, commitIndex: logIndex(0) } }));
    d.sync();
    d.write(output({ appendFrom: logIndex(3), append: [noop(1)] }));
    d.crash();
    expect(d.read().entries).toHaveLength(2);
    expect(d.read().hardState.currentTerm).toBe(1);
  });

  it("applies truncation then append, and refuses an append that does not fit", () => {
    const d = new SimDisk();
    d.write(output({ appendFrom: logIndex(1), append: [noop(1), noop(1), noop(1)] }));
    d.write(output({ truncateFrom: logIndex(2), appendFrom: logIndex(2), append: [noop(2)] }));
    d.sync();
    expect(d.read().entries.map((e) => e.term)).toEqual([1, 2]);
    d.write(output({ appendFrom: logIndex(5), append: [noop(2)] }));
    expect(() => d.sync()).toThrow(/append from 5 but the disk log ends at 2/);
  });

  const h = (currentTerm: number, commitIndex: number) => ({ currentTerm: term(currentTerm), votedFor: null, commitIndex: logIndex(commitIndex) });

  it("a process crash keeps unsynced writes in the page cache: readable at restart, synced at open", () => {
    const d = new SimDisk();
    d.write(output({ appendFrom: logIndex(1), append: [noop(1)], hardState: h(1, 0) }));
    d.sync();
    d.write(output({ appendFrom: logIndex(2), append: [noop(1), noop(1)] }));
    d.processCrash();
    expect(d.read().entries).toHaveLength(3); // the restarted process reads them back
    d.open(false);
    d.powerLoss();
    expect(d.read().entries).toHaveLength(3); // synced at open: a later power loss keeps them
  });

  it("trusting the page cache at open leaves those writes to a power loss; a hard-state-only sync does not cover them", () => {
    const d = new SimDisk();
    d.write(output({ appendFrom: logIndex(1), append: [noop(1)], hardState: h(1, 0) }));
    d.sync();
    d.write(output({ appendFrom: logIndex(2), append: [noop(1), noop(1)] }));
    d.processCrash();
    d.open(true);
    d.write(output({ hardState: h(1, 3) })); // the commit index moves; only metadata is synced
    d.sync();
    d.powerLoss();
    expect(d.read().entries).toHaveLength(1);
    expect(d.read().hardState.commitIndex).toBe(3); // past the log: what the restart check reports
  });

  it("a sync of a log write also makes the page cache's earlier log writes durable (one fdatasync of logs.txt)", () => {
    const d = new SimDisk();
    d.write(output({ appendFrom: logIndex(1), append: [noop(1)], hardState: h(1, 0) }));
    d.processCrash();
    d.open(true);
    d.write(output({ appendFrom: logIndex(2), append: [noop(1)] }));
    d.sync();
    d.powerLoss();
    expect(d.read().entries).toHaveLength(2);
  });
});

describe("network", () => {
  it("loses, duplicates and delays as configured", () => {
    const r = new Rng("net").fn;
    expect(drawDelays({ ...NET_CALM, lossP: 1 }, r)).toEqual([]);
    expect(drawDelays({ ...NET_CALM, dupP: 1 }, r)).toHaveLength(2);
    const d = drawDelays({ ...NET_CALM, longP: 1, longMinMs: 500, longMaxMs: 600 }, r);
    expect(d[0]).toBeGreaterThanOrEqual(500);
    expect(d[0]).toBeLessThanOrEqual(600);
  });

  it("a late copy comes besides the message, long after it, even when the message itself was lost", () => {
    const r = new Rng("late").fn;
    const late = { ...NET_CALM, lateP: 1, lateMinMs: 2_000, lateMaxMs: 9_000 };
    const both = drawDelays(late, r);
    expect(both).toHaveLength(2);
    expect(both[0]).toBeLessThan(100);
    expect(both[1]).toBeGreaterThanOrEqual(2_000);
    expect(both[1]).toBeLessThanOrEqual(9_000);
    const ghostOnly = drawDelays({ ...late, lossP: 1 }, r);
    expect(ghostOnly).toHaveLength(1);
    expect(ghostOnly[0]).toBeGreaterThanOrEqual(2_000);
  });

  it("partitions into groups, cuts one way, severs, bridges and heals", () => {
    const l = new Links(5);
    l.splitInto([[0, 1], [2, 3, 4]]);
    expect(l.canSend(0, 1)).toBe(true);
    expect(l.canSend(1, 2)).toBe(false);
    expect(l.canSend(4, 0)).toBe(false);
    l.heal();
    l.cutOneWay([0], [1, 2, 3, 4]);
    expect(l.canSend(0, 3)).toBe(false);
    expect(l.canSend(3, 0)).toBe(true);
    l.heal();
    l.bridge([0, 1], [3, 4]);
    expect(l.canSend(2, 0) && l.canSend(2, 4) && l.canSend(0, 2)).toBe(true);
    expect(l.canSend(1, 3)).toBe(false);
    l.heal();
    l.slow(1, 0, 300);
    expect(l.extraDelayMs(1, 0)).toBe(300);
    expect(l.extraDelayMs(0, 1)).toBe(0);
    l.heal();
    expect(l.describe()).toBe("connected");
  });
});

describe("fault schedules in text", () => {
  it("round-trip exactly", () => {
    const text =
      "1200 crash L; 1300 crash-mid F; 1400 crash-commit *; 1500 crash-elected n2; 1600 kill F; 1700 kill-append n1; 1800 power-off all; 3000 restart all; 3500 pause L; 3600 resume all; " +
      "4000 partition 0,1|2,3,4; 4100 isolate L; 4200 cut-out F; 4300 cut-in n1; 4400 sever L F; 4500 bridge L; 4600 slow F L 300; " +
      "6000 heal; 7000 net delay=1-20 tail=3 loss=0.1 dup=0.02 reorder=0.1/50 long=0.01/500-3000 late=0.01/2000-9000; 8000 jump n1 400; 9000 quiet";
    const faults = parseSchedule(text, 5);
    expect(faults).toHaveLength(21);
    expect(formatSchedule(faults)).toBe(text);
    expect(parseSchedule(formatSchedule(faults), 5)).toEqual(faults);
  });

  it("sorts by time, keeping the given order at equal times", () => {
    expect(formatSchedule(parseSchedule("20 heal; 10 crash n1; 10 crash n0", 3))).toBe("10 crash n1; 10 crash n0; 20 heal");
  });

  it("explain what is wrong with a bad item", () => {
    expect(() => parseSchedule("soon crash L", 5)).toThrow(/each fault starts with its time in ms/);
    expect(() => parseSchedule("10 explode L", 5)).toThrow(/unknown fault "explode"/);
    expect(() => parseSchedule("10 crash n7", 5)).toThrow(/not L, F, \*, all or a node n0..n4/);
    expect(() => parseSchedule("10 partition 0,1|1,2", 5)).toThrow(/distinct nodes/);
    expect(() => parseSchedule("10 net loss=2", 5)).toThrow(/loss probability must be in \[0, 1\]/);
  });
});

describe("run options", () => {
  it("build the replay command from what differs from the defaults", () => {
    expect(replayCommand(simOptions({ seed: "42", scenario: "partition" }))).toBe("raft-sim run --seed 42 --scenario partition");
    const o = simOptions({ seed: "a b", scenario: "swarm", nodes: 3, durationMs: 30_000, mutation: "vote-twice", faults: "10 crash L", clockBeyondBound: true });
    expect(replayCommand(o)).toBe("raft-sim run --seed 'a b' --scenario swarm --nodes 3 --duration 30s --mutate vote-twice --clock-beyond-bound --faults '10 crash L'");
  });

  it("parse durations and reject bad settings", () => {
    expect(parseDuration("120s")).toBe(120_000);
    expect(parseDuration("2m")).toBe(120_000);
    expect(parseDuration("1500ms")).toBe(1500);
    expect(() => parseDuration("soon")).toThrow(/like 120s/);
    expect(() => simOptions({ seed: "1", scenario: "swarm", nodes: 0 })).toThrow(/--nodes must be a whole number from 1 to 9/);
  });
});
