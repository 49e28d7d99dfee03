// A node process started ahead of time: it loads raft-node's code, prints "ready", and waits.
// On SIGUSR2 it runs `raft-node <args>` exactly as bin/raft-node.js would: it opens its data
// dir, recovers, binds its port and serves. The runner uses one per node so a restart after
// SIGKILL takes as long as recovery, not as long as loading Node and gRPC on a busy machine
// (which can exceed the lease the restart is meant to race). With --now it runs at once.

import { main } from "../cli/raft-node.js";

const [mode, ...argv] = process.argv.slice(2);
if (mode === "--now") {
  await main(argv);
} else if (mode === "--standby") {
  // A bounded wait: a standby nobody starts exits by itself after a day.
  const idle = setTimeout(() => process.exit(0), 86_400_000);
  process.once("SIGUSR2", () => {
    clearTimeout(idle);
    void main(argv);
  });
  process.stdout.write("ready\n");
} else {
  process.stderr.write("standby: the first argument is --now or --standby, then raft-node's arguments\n");
  process.exitCode = 2;
}
