// gRPC channel settings shared by every connection raft-lease opens: client to node and node to
// node. One copy, so that message size limits and keepalives never disagree between the two.

import type { ChannelOptions } from "@grpc/grpc-js";

/** Largest gRPC message sent or received: a full AppendEntries batch (1 MiB) fits with room. */
export const MESSAGE_BYTES_MAX = 4 << 20;

/** Options for every client channel (peer to peer, client to node). */
export const CHANNEL_OPTIONS: ChannelOptions = {
  "grpc.max_receive_message_length": MESSAGE_BYTES_MAX,
  "grpc.max_send_message_length": MESSAGE_BYTES_MAX,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1_000,
  "grpc.enable_retries": 0,
};
