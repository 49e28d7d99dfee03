#!/usr/bin/env node
import { main } from "../dist/cli/raft-client.js"; await main(process.argv.slice(2));
