#!/usr/bin/env node
import { main } from "../dist/cli/raft-node.js"; await main(process.argv.slice(2));
