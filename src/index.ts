// raft-lease: the package entry point.
//
//   import { RaftClient } from "raft-lease";
//   const client = new RaftClient({ nodes: "0=10.0.0.1:5000,1=10.0.0.2:5000,2=10.0.0.3:5000" });
//   await client.set("x", "6");
//   console.log(await client.get("x"));
//   client.close();
//
// `startNode` runs a node inside this process (what `raft-node serve` does), for embedding and tests.

export { RaftClient, RaftClientError, requestLine, type HealthReport, type MemberInfo, type MemberList, type NodeReport, type RaftClientErrorCode, type RaftClientOptions } from "./client/raft-client.js";
export { parseNodeList, clusterFingerprint, type NodeAddress, type NodesOption } from "./client/nodes.js";
export type { RetryPolicy } from "./client/retry.js";
export { startNode, type NodeMember, type NodeOptions, type RunningNode } from "./runtime/grpc/node-runtime.js";
export { TIMING_FAST, TIMING_SPEC, TIMING_PRESETS, validateTiming, type TimingConfig } from "./raft/index.js";
export { KEY_BYTES_MAX, VALUE_BYTES_MAX } from "./raft/index.js";
export type { NodeId, NodeStatus, Role } from "./raft/index.js";
export type { TlsOptions } from "./client/tls.js";
