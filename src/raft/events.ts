// The dump.txt lines of the original exercise (docs/exercise.md), rendered from the core's
// structured events.

import { formatMembers } from "./membership.js";
import { formatOperation } from "./request.js";
import { assertNever, type ClientRequest, type Command, type RaftEvent } from "./types.js";

/** `showOperation` renders the `{operation}` of the lines that have one (a runtime may cut it short). */
export function formatEvent(e: RaftEvent, showOperation: (o: ClientRequest | Command) => string = formatOperation): string {
  switch (e.kind) {
    case "heartbeat":
      return `Leader ${e.leaderId} sending heartbeat & Renewing Lease`;
    case "lease-renewal-failed":
      return `Leader ${e.leaderId} lease renewal failed. Stepping Down.`;
    case "waiting-old-lease":
      return `New Leader waiting for Old Leader Lease to timeout.`;
    case "election-timeout":
      return `Node ${e.nodeId} election timer timed out, Starting election.`;
    case "became-leader":
      return `Node ${e.nodeId} became the leader for term ${e.term}.`;
    case "rpc-error":
      return `Error occurred while sending RPC to Node ${e.followerId}.`;
    case "follower-committed":
      return `Node ${e.nodeId} (follower) committed the entry ${showOperation(e.operation)} to the state machine.`;
    case "leader-received":
      return `Node ${e.nodeId} (leader) received an ${showOperation(e.operation)} request.`;
    case "leader-committed":
      return `Node ${e.nodeId} (leader) committed the entry ${showOperation(e.operation)} to the state machine.`;
    case "append-accepted":
      return `Node ${e.nodeId} accepted AppendEntries RPC from ${e.leaderId}.`;
    case "append-rejected":
      return `Node ${e.nodeId} rejected AppendEntries RPC from ${e.leaderId}.`;
    case "vote-granted":
      return `Vote granted for Node ${e.candidateId} in term ${e.term}.`;
    case "vote-denied":
      return `Vote denied for Node ${e.candidateId} in term ${e.term}.`;
    case "stepping-down":
      return `${e.nodeId} Stepping down`;
    case "snapshot-sent":
      return `Leader ${e.leaderId} sending snapshot through entry ${e.index} (term ${e.term}) to Node ${e.followerId}.`;
    case "snapshot-installed":
      return `Node ${e.nodeId} installed snapshot through entry ${e.index} (term ${e.term}) from Leader ${e.leaderId}.`;
    case "log-compacted":
      return `Node ${e.nodeId} saved a snapshot through entry ${e.snapshotIndex}; its log now starts at entry ${e.firstIndex}.`;
    case "peer-lease-mismatch":
      return (
        `Node ${e.nodeId} refused messages from Node ${e.peerId}: its lease parameters (lease ${e.theirs.leaseMs} ms, drift ${e.theirs.driftPpmMax} ppm) ` +
        `differ from ours (lease ${e.ours.leaseMs} ms, drift ${e.ours.driftPpmMax} ppm); start every node with the same timing.`
      );
    case "config-changed":
      return `Node ${e.nodeId} now uses the configuration of entry ${e.index}: ${formatMembers(e.members)}.`;
    case "removed-from-cluster":
      return `Node ${e.nodeId} is not in the configuration of entry ${e.index}: once that entry commits it takes no further part (a leader steps down then).`;
    case "transfer-started":
      return `Leader ${e.leaderId} transferring leadership to Node ${e.targetId}; taking no new writes.`;
    case "timeout-now-sent":
      return `Leader ${e.leaderId} sent TimeoutNow to Node ${e.targetId} and gave up its lease.`;
    case "timeout-now-received":
      return `Node ${e.nodeId} received TimeoutNow from Leader ${e.leaderId}, Starting election.`;
    case "transfer-failed":
      return `Leader ${e.leaderId} could not transfer leadership to Node ${e.targetId}: ${e.reason}.`;
    default:
      return assertNever(e);
  }
}
