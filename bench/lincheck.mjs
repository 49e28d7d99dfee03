// Linearizability checker benchmark: npm run bench:lin (compiles bench/ into dist-bench/ first)
import { runLincheckBench } from "../dist-bench/bench/lincheck-bench.js";
for (const row of runLincheckBench()) console.log(JSON.stringify(row));
