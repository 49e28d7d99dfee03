// The pure Raft-with-lease core: the public surface runtimes and tests use.
export * from "./types.js";
export * from "./config.js";
export * from "./request.js";
export { RaftNode, type NodeView } from "./node.js";
export type { LeaseWindow } from "./state.js";
export type { FullOutput } from "./output.js";
export { formatEvent } from "./events.js";
export { formatMembers, sameMembers } from "./membership.js";
export { VersionedMap, type MapImage } from "./kv-image.js";
export { SequenceSet } from "./sequence-set.js";
export { PendingWrites } from "./pending-writes.js";
export type { Random } from "./random.js";
export { leaderLeaseMs, followerLeaseMs, candidateWaitMs } from "./lease.js";
