// Linearizability checker benchmark: npx tsc -p tsconfig.json && node bench/lincheck.mjs
import { runLincheckBench } from "../dist/runtime/sim/lincheck-bench.js";
for (const row of runLincheckBench()) console.log(JSON.stringify(row));
