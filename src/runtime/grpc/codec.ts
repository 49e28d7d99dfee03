// gRPC service definitions for the server, with request decoding that never throws, plus the
// channel and server options every node uses.
//
// The generated deserializers throw on malformed bytes and on uint64 values beyond 2^53, and
// they decode invalid UTF-8 leniently (as U+FFFD). grpc-js would answer a throwing deserializer
// with INTERNAL. Here each request is first checked for valid UTF-8 in its text fields, then
// decoded; a failure becomes a `Result` error the handler answers properly (INVALID_ARGUMENT for
// peers, Success=false with ErrorCode "invalid" for clients).

import { isUtf8 } from "node:buffer";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type { ServerOptions, ServiceDefinition } from "@grpc/grpc-js";
import {
  AddMemberArgs,
  AppendEntriesArgs,
  InstallSnapshotChunk,
  ListMembersArgs,
  RaftClientService,
  RaftPeerService,
  RemoveMemberArgs,
  RequestVoteArgs,
  ServeClientArgs,
  StatusArgs,
  TimeoutNowArgs,
  TransferLeaderArgs,
  type MessageFns,
} from "../../gen/raft.js";

import { CHANNEL_OPTIONS, MESSAGE_BYTES_MAX } from "../../client/channel.js";
import type { Result } from "../../raft/index.js";

/** Concurrent calls per connection; a client at 128 concurrent requests needs well above 128. */
export const CONCURRENT_STREAMS_MAX = 1024;

export { CHANNEL_OPTIONS, MESSAGE_BYTES_MAX };

export const SERVER_OPTIONS: ServerOptions = {
  "grpc.max_receive_message_length": MESSAGE_BYTES_MAX,
  "grpc.max_send_message_length": MESSAGE_BYTES_MAX,
  "grpc.max_concurrent_streams": CONCURRENT_STREAMS_MAX,
  "grpc.keepalive_permit_without_calls": 1,
};

// ---------------------------------------------------------------- strict UTF-8

/** Field number -> name, and for an embedded message its own text fields. */
interface TextField {
  readonly name: string;
  readonly nested?: TextFields;
}
type TextFields = Readonly<Record<number, TextField>>;

const LOG_ENTRY_TEXT: TextFields = { 3: { name: "key" }, 4: { name: "value" }, 5: { name: "client_id" } };
const APPEND_ENTRIES_TEXT: TextFields = { 5: { name: "entries", nested: LOG_ENTRY_TEXT } };
const SNAPSHOT_CHUNK_TEXT: TextFields = { 10: { name: "data" } };
const SERVE_CLIENT_TEXT: TextFields = { 1: { name: "Request" }, 2: { name: "ClientId" } };
const NESTING_MAX = 4;

/** The name of the first text field whose bytes are not valid UTF-8, or null. */
export function findInvalidUtf8(bytes: Uint8Array, fields: TextFields, depth = 0): string | null {
  if (depth > NESTING_MAX) return null;
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    const field = fields[fieldNo];
    if (field === undefined || wireType !== WireType.LengthDelimited) {
      reader.skip(wireType, fieldNo);
      continue;
    }
    const value = reader.bytes();
    if (field.nested === undefined) {
      if (!isUtf8(value)) return field.name;
    } else {
      const inner = findInvalidUtf8(value, field.nested, depth + 1);
      if (inner !== null) return `${field.name}.${inner}`;
    }
  }
  return null;
}

/** A deserializer that returns what is wrong instead of throwing. */
export function safeDeserializer<T>(fns: MessageFns<T>, textFields: TextFields): (bytes: Buffer) => Result<T> {
  return (bytes) => {
    try {
      const bad = findInvalidUtf8(bytes, textFields);
      if (bad !== null) return { ok: false, error: `the ${bad} field is not valid UTF-8 text` };
      return { ok: true, value: fns.decode(bytes) };
    } catch (err) {
      return { ok: false, error: `malformed message: ${err instanceof Error ? err.message : String(err)}` };
    }
  };
}

/** A ServeClientStream request: its RequestId (0 when unreadable) even when the rest is bad. */
export interface StreamRequest {
  readonly requestId: number;
  readonly args: Result<ServeClientArgs>;
}

const REQUEST_ID_FIELD = 5;

/** ServeClientArgs.RequestId read straight from the bytes, for a message that did not decode; 0 when it cannot be read. */
export function peekRequestId(bytes: Uint8Array): number {
  try {
    const reader = new BinaryReader(bytes);
    let id = 0;
    while (reader.pos < reader.len) {
      const [fieldNo, wireType] = reader.tag();
      if (fieldNo === REQUEST_ID_FIELD && wireType === WireType.Varint) {
        const v = BigInt(reader.uint64());
        id = v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : 0;
      } else reader.skip(wireType, fieldNo);
    }
    return id;
  } catch {
    return 0;
  }
}

const decodeServeClientArgs = safeDeserializer(ServeClientArgs, SERVE_CLIENT_TEXT);

/** A ServeClientStream deserializer: never throws, and keeps the RequestId of a bad request so its error can be answered. */
export function streamRequestDeserializer(bytes: Buffer): StreamRequest {
  const args = decodeServeClientArgs(bytes);
  if (args.ok) return { requestId: args.value.RequestId, args };
  return { requestId: peekRequestId(bytes), args };
}

// ---------------------------------------------------------------- service definitions

export const PEER_SERVICE = {
  requestVote: { ...RaftPeerService.requestVote, requestDeserialize: safeDeserializer(RequestVoteArgs, {}) },
  appendEntries: { ...RaftPeerService.appendEntries, requestDeserialize: safeDeserializer(AppendEntriesArgs, APPEND_ENTRIES_TEXT) },
  appendStream: { ...RaftPeerService.appendStream, requestDeserialize: safeDeserializer(AppendEntriesArgs, APPEND_ENTRIES_TEXT) },
  installSnapshot: { ...RaftPeerService.installSnapshot, requestDeserialize: safeDeserializer(InstallSnapshotChunk, SNAPSHOT_CHUNK_TEXT) },
  timeoutNow: { ...RaftPeerService.timeoutNow, requestDeserialize: safeDeserializer(TimeoutNowArgs, {}) },
} satisfies ServiceDefinition;

export const CLIENT_SERVICE = {
  serveClient: { ...RaftClientService.serveClient, requestDeserialize: safeDeserializer(ServeClientArgs, SERVE_CLIENT_TEXT) },
  status: { ...RaftClientService.status, requestDeserialize: safeDeserializer(StatusArgs, {}) },
  serveClientStream: { ...RaftClientService.serveClientStream, requestDeserialize: streamRequestDeserializer },
  listMembers: { ...RaftClientService.listMembers, requestDeserialize: safeDeserializer(ListMembersArgs, {}) },
  addMember: { ...RaftClientService.addMember, requestDeserialize: safeDeserializer(AddMemberArgs, { 2: { name: "address" } }) },
  removeMember: { ...RaftClientService.removeMember, requestDeserialize: safeDeserializer(RemoveMemberArgs, {}) },
  transferLeader: { ...RaftClientService.transferLeader, requestDeserialize: safeDeserializer(TransferLeaderArgs, {}) },
} satisfies ServiceDefinition;
