#!/usr/bin/env node
// `npm run jepsen -- [options]`: fault tests of the real binary (see src/jepsen/ and README).
import { main } from "../dist/jepsen/main.js";
process.exitCode = await main(process.argv.slice(2));
