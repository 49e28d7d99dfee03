import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { SIM_SEMI_SPACE_MB, startSimWorker } from "../../src/runtime/sim/worker-heap.js";

const MiB = 1024 * 1024;

/** A worker's code that posts the size of its young generation, in MiB: one semi-space, before its first collection. */
const REPORT_YOUNG_GENERATION = `
  const { parentPort } = require("node:worker_threads");
  const { getHeapSpaceStatistics } = require("node:v8");
  parentPort.postMessage(getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size / ${MiB});
`;

describe("the simulator's worker heap", () => {
  it("starts a worker with the simulator's semi-spaces from its first allocation", async () => {
    const worker = startSimWorker(REPORT_YOUNG_GENERATION, { eval: true });
    const [mib] = (await once(worker, "message")) as [number];
    await worker.terminate();
    expect(mib).toBe(SIM_SEMI_SPACE_MB);
  });

  it("differs from what a plain worker gets (the check above can fail)", () => {
    const code = `const { Worker } = require("node:worker_threads"); new Worker(${JSON.stringify(REPORT_YOUNG_GENERATION)}, { eval: true }).on("message", (m) => { console.log(m); process.exit(0); });`;
    const mib = Number(execFileSync(process.execPath, ["-e", code], { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } }).trim());
    expect(mib).toBeGreaterThan(0);
    expect(mib).toBeLessThan(SIM_SEMI_SPACE_MB);
  });
});
