// A swarm worker thread: runs the seeds it is sent, one at a time, and posts each outcome back.

import { parentPort, workerData } from "node:worker_threads";
import { runSeed, type SwarmBase } from "./swarm.js";

const base = workerData as SwarmBase;
const port = parentPort;
if (port === null) throw new Error("raft-sim: swarm-worker.js runs only as a worker thread");
port.on("message", (seed: string) => port.postMessage(runSeed(base, seed)));
