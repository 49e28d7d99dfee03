// `--version` of raft-node, raft-client and raft-sim: one line, the same for all three.

import { packageVersion } from "../version.js";

export function versionLine(bin: "raft-node" | "raft-client" | "raft-sim"): string {
  return `${bin} ${packageVersion()} (raft-lease, Node.js ${process.version})\n`;
}
