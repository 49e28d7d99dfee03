import { describe, expect, it } from "vitest";
import { HEAP_GROWING_PERCENT, tuneHeap } from "../../src/cli/heap-tuning.js";

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
