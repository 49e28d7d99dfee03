import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { capYoungGeneration, HEAP_GROWING_PERCENT, tuneHeap, YOUNG_GENERATION_MIB_MAX } from "../../src/cli/heap-tuning.js";

describe("raft-node's V8 heap setting", () => {
  it("sets the heap growing percent when the user did not", () => {
    const set: string[] = [];
    expect(tuneHeap([], "--max-semi-space-size=8", (f) => set.push(f))).toBe(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
    expect(set).toEqual([`--heap-growing-percent=${HEAP_GROWING_PERCENT}`]);
  });

  it("leaves the user's own setting, as a node flag or in NODE_OPTIONS, in either spelling", () => {
    const set: string[] = [];
    expect(tuneHeap(["--heap-growing-percent=20"], "", (f) => set.push(f))).toBeNull();
    expect(tuneHeap([], "--inspect --heap_growing_percent=80", (f) => set.push(f))).toBeNull();
    expect(set).toEqual([]);
  });
});

describe("raft-node's cap on V8's young generation", () => {
  function capWith(sizes: number[], execArgv: string[] = [], nodeOptions = "") {
    const set: string[] = [];
    let stopped = false;
    const cap = capYoungGeneration(execArgv, nodeOptions, {
      setFlags: (f) => set.push(f),
      sizeMiB: () => sizes.shift() ?? 0,
      afterEachCollection: () => () => (stopped = true),
    });
    return { cap, set, stopped: () => stopped };
  }

  it("stops the growth at the cap and allows it again below", () => {
    const { cap, set, stopped } = capWith([1, 8, YOUNG_GENERATION_MIB_MAX, YOUNG_GENERATION_MIB_MAX, 8, 4]);
    expect(cap).not.toBeNull();
    const factors = [1, 2, 3, 4, 5, 6].map(() => cap!.check());
    expect(factors).toEqual([null, null, 1, null, 2, null]);
    expect(set).toEqual(["--semi-space-growth-factor=1", "--semi-space-growth-factor=2"]);
    cap!.stop();
    expect(stopped()).toBe(true);
  });

  it("leaves a young generation the user sized", () => {
    expect(capWith([], ["--max-semi-space-size=32"]).cap).toBeNull();
    expect(capWith([], [], "--semi_space_growth_factor=4").cap).toBeNull();
    expect(capWith([], [], "--max-heap-size=512").cap).toBeNull();
  });
});

describe("the young-generation cap in a real V8", () => {
  // A process that allocates short-lived and some longer-lived objects in turns (so the cap, called after collections, runs),
  // as a busy node does; without the cap V8 grows the young generation to 32 MB here.
  const script = (cap: boolean) => `
    const { getHeapSpaceStatistics } = await import("node:v8");
    const { capYoungGeneration } = await import(${JSON.stringify(new URL("../../dist/cli/heap-tuning.js", import.meta.url).href)});
    ${cap ? "capYoungGeneration();" : ""}
    const keep = []; let top = 0;
    for (let turn = 0; turn < 150; turn++) {
      for (let i = 0; i < 40000; i++) { const o = { i, a: [i, turn] }; if (i % 8 === 0) keep.push(o); }
      if (keep.length > 60000) keep.splice(0, 30000);
      top = Math.max(top, getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size);
      await new Promise((r) => setTimeout(r, 5));
    }
    console.log(top / 1048576);`;
  const youngMiB = (cap: boolean) => Number(execFileSync(process.execPath, ["--input-type=module", "-e", script(cap)], { encoding: "utf8" }).trim());

  it("keeps V8's young generation at the cap, where it grows past it uncapped", () => {
    expect(youngMiB(false)).toBeGreaterThan(YOUNG_GENERATION_MIB_MAX);
    expect(youngMiB(true)).toBeLessThanOrEqual(YOUNG_GENERATION_MIB_MAX);
  }, 30_000);
});
