#!/usr/bin/env node
import "../dist/cli/raft-sim.js";
