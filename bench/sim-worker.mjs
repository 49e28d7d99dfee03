// A worker thread of bench/sim.mjs: runs the bench's seeds once per "run" message and posts the
// totals back, with every checker on, or (workerData.checked false) with them switched off. It
// warms up (one round, for the JIT) before it says "ready".

import { parentPort, workerData } from "node:worker_threads";
import { LeaseChecker } from "../dist/runtime/sim/checks/lease-check.js";
import { MembershipChecker } from "../dist/runtime/sim/checks/membership-check.js";
import { SafetyChecker } from "../dist/runtime/sim/checks/safety.js";
import { checkLinearizable } from "../dist/check/linearizability.js";
import { Simulation, simOptions } from "../dist/runtime/sim/index.js";
import { simBenchSeed } from "./sim-config.mjs";

const { seeds, checked, options } = workerData;

/** The checkers' methods the unchecked runs replace, and with what. */
const SWITCHED_OFF = [
  [SafetyChecker.prototype, "afterStep", () => {}],
  [SafetyChecker.prototype, "afterRestart", () => {}],
  [LeaseChecker.prototype, "update", () => "same"],
  [LeaseChecker.prototype, "readServed", () => {}],
  [LeaseChecker.prototype, "finish", () => {}],
  [MembershipChecker.prototype, "afterStep", () => {}],
  [MembershipChecker.prototype, "afterBoot", () => {}],
  [Simulation.prototype, "finalChecks", () => {}],
];

function runAll() {
  let wallMs = 0;
  let cpuMs = 0;
  let simulatedMs = 0;
  let events = 0;
  let ops = 0;
  let lincheckMs = 0;
  let violations = 0;
  const eventsBySeed = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const sim = new Simulation(simOptions({ ...options, seed: simBenchSeed(seed) }));
    const started = performance.now();
    const cpuStarted = process.cpuUsage();
    const r = sim.run();
    const cpu = process.cpuUsage(cpuStarted);
    wallMs += performance.now() - started;
    cpuMs += (cpu.user + cpu.system) / 1000;
    simulatedMs += r.endMs;
    events += r.stats.events;
    eventsBySeed.push(r.stats.events);
    ops += r.stats.opsInvoked;
    if (!r.ok) violations += 1;
    if (!checked) continue;
    const t = performance.now();
    checkLinearizable(sim.recorder.history());
    lincheckMs += performance.now() - t;
  }
  return { wallMs, cpuMs, simulatedMs, events, eventsBySeed, ops, lincheckMs, violations };
}

if (!checked) for (const [proto, name, stub] of SWITCHED_OFF) Object.defineProperty(proto, name, { value: stub, configurable: true, writable: true });
runAll(); // warm-up: JIT
parentPort.on("message", () => parentPort.postMessage(runAll()));
parentPort.postMessage("ready");
