// Seeded random schedules with snapshots: every few entries a snapshot, written in the background
// (taking up to 60 ms), some crashes letting the write under way finish and some not; delay,
// loss, duplication and reordering (snapshot-requests and replies included), drift within the
// bound, crashes, reboots, pauses, partitions; old snapshot-requests and replies replayed late;
// clients with sessions that retry SETs (in some runs more clients than the session table
// holds, so sessions are evicted and restored from snapshots all along). After every
// step: the output contract against the disk (support/disk.ts), Raft's safety properties, every
// snapshot and every state machine against the committed log (support/safety.ts); over all of
// true time, the lease; at the end, one leader and every node caught up with the same state.
//
// Crashes between an installed snapshot and the log's cut are left out: snapshot-defects.test.ts
// shows that defect on its own.
//
// ADV_SEEDS=<n> runs more seeds; ADV_SEED=<seed> replays one (with its trace printed).

import { describe, expect, it } from "vitest";
import seedrandom from "seedrandom";
import { fuzz, type FuzzOptions } from "./support/fuzz.js";
import { facts } from "./support/snapshot-kit.js";
import type { World } from "./support/world.js";

const SEEDS = Number(process.env.ADV_SEEDS ?? 16);
const ONLY = process.env.ADV_SEED;
const seeds = (prefix: string, count: number) => (ONLY !== undefined ? [ONLY] : [...Array(count).keys()].map((i) => `${prefix}${i}`));
const replay = (seed: string) => `seed ${seed}; replay: ADV_SEED=${seed} npx vitest run test/adversarial/snapshot-random.test.ts`;

function options(seed: string, trace: string[]): FuzzOptions {
  const r = seedrandom(`options/${seed}`);
  const every = 5 + Math.floor(r() * 36);
  return {
    seed,
    size: r() < 0.6 ? 3 : 5,
    leaseMs: r() < 0.5 ? 800 : 990,
    leaderPersistsInParallel: r() < 0.5,
    durationMs: 8000,
    trace,
    snapshots: {
      overrides: {
        snapshotEveryEntries: every,
        snapshotKeepEntries: Math.floor(r() * (every / 2 + 1)),
        batchCountMax: r() < 0.3 ? 4 : 64,
        inflightCountMax: r() < 0.3 ? 2 : 8,
        // Three session clients: with room for two, sessions are evicted (and retried) all along.
        sessionCountMax: r() < 0.3 ? 2 : 100_000,
      },
      saveMs: [0.2, 60],
    },
  };
}

const runs = new Map<string, World>();
function run(seed: string): World {
  let w = runs.get(seed);
  if (w === undefined) {
    const trace: string[] = [];
    w = fuzz(options(seed, trace));
    if (ONLY !== undefined) console.log(JSON.stringify(options(seed, [])), "\n" + trace.join("\n"));
    runs.set(seed, w);
  }
  return w;
}

describe("random schedules with snapshots, compaction and InstallSnapshot", () => {
  it("the output contract, Raft's safety, every snapshot and every state machine hold after every step", () => {
    for (const seed of seeds("s", SEEDS)) {
      let w: World;
      try {
        w = run(seed);
      } catch (e) {
        throw new Error(`${(e as Error).message}; ${replay(seed)}`);
      }
      expect(w.safety.violations, replay(seed)).toEqual([]);
    }
  });

  it("no two nodes could serve lease reads at the same instant, and no read is stale", () => {
    for (const seed of seeds("s", SEEDS)) {
      const w = run(seed);
      expect([...w.leases.overlaps().map((o) => JSON.stringify(o)), ...w.history.staleReads()], replay(seed)).toEqual([]);
    }
  });

  it("once faults stop: one leader, every node caught up with the same state", () => {
    for (const seed of seeds("s", SEEDS)) {
      const w = run(seed);
      w.net.setDelivery(() => [1]);
      w.runUntil(
        "every node caught up with one leader",
        () => {
          const leaders = w.leaders();
          if (leaders.length !== 1) return false;
          const commit = w.status(leaders[0]!.id)!.commitIndex;
          return w.ids.every((id) => w.status(id)!.commitIndex === commit);
        },
        15_000,
      );
      const values = w.ids.map((id) => facts(w, id).values);
      for (const v of values) expect(v, replay(seed)).toEqual(values[0]);
      expect(w.problems(), replay(seed)).toEqual([]);
    }
  });

  it("the runs exercised what they are about: snapshots saved, logs compacted, snapshots sent and installed", () => {
    if (ONLY !== undefined) return;
    const total = { saved: 0, installed: 0, installedKeepingSuffix: 0, compacted: 0, sent: 0 };
    for (const seed of seeds("s", SEEDS)) {
      const st = run(seed).snapshotStats;
      for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += st[k];
    }
    expect(total.saved).toBeGreaterThan(50);
    expect(total.compacted).toBeGreaterThan(50);
    expect(total.sent).toBeGreaterThan(10);
    expect(total.installed).toBeGreaterThan(5);
  });
});
