// Whether the user gave a V8 flag themselves: the heap settings the node and the simulator give
// themselves (cli/heap-tuning.ts, sim/worker-heap.ts) leave a flag the user set alone.

/** True when the user gave any of `flags` as a node flag or in NODE_OPTIONS, in either spelling (- or _). */
export function userSetFlag(flags: readonly string[], execArgv: readonly string[] = process.execArgv, nodeOptions = process.env["NODE_OPTIONS"] ?? ""): boolean {
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((a) => flags.some((f) => a.replace(/_/g, "-").startsWith(f)));
}
