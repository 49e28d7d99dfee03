// A snapshot between two nodes: the leader streams snapshot.txt lines in chunks of at most
// SNAPSHOT_CHUNK_BYTES_MAX (InstallSnapshot, a client stream); the follower checks every chunk
// as it arrives (the same header in each, sequence numbers in order, every line and its
// checksum) and hands the core the whole snapshot once the stream ends.

import type { InstallSnapshotChunk } from "../../gen/raft.js";
import type { Result, SnapshotRequest } from "../../raft/index.js";
import { snapshotChunks, SnapshotReader } from "./snapshot-file.js";
import { snapshotChunkToWire, snapshotHeaderFromWire, type SnapshotHeader } from "./wire.js";

/** The data of one chunk, at most: 1 MiB, well inside the gRPC message bound. */
export const SNAPSHOT_CHUNK_BYTES_MAX = 1 << 20;

/** The chunks of one snapshot request, made lazily (the caller may wait between them). */
export function* snapshotRequestChunks(m: SnapshotRequest, chunkBytesMax = SNAPSHOT_CHUNK_BYTES_MAX): Generator<InstallSnapshotChunk> {
  let seq = 0;
  for (const data of snapshotChunks(m.snapshot, chunkBytesMax)) yield snapshotChunkToWire(m, seq++, data);
}

function sameHeader(a: SnapshotHeader, b: SnapshotHeader): boolean {
  return (
    a.term === b.term &&
    a.from === b.from &&
    a.to === b.to &&
    a.lease.leaseMs === b.lease.leaseMs &&
    a.lease.driftPpmMax === b.lease.driftPpmMax &&
    a.leaderSendMs === b.leaderSendMs &&
    a.lastIndex === b.lastIndex &&
    a.lastTerm === b.lastTerm
  );
}

/** Receives the chunks of one transfer, in order. */
export class SnapshotReceiver {
  private header: SnapshotHeader | null = null;
  private nextSeq = 0;
  private readonly reader = new SnapshotReader();

  /** One chunk; an error text (the transfer is then refused) or null. */
  accept(chunk: InstallSnapshotChunk): string | null {
    const header = snapshotHeaderFromWire(chunk);
    if (!header.ok) return header.error;
    if (this.header === null) this.header = header.value;
    else if (!sameHeader(this.header, header.value)) return `chunk ${chunk.seq} belongs to another snapshot transfer than chunk 0`;
    if (chunk.seq !== this.nextSeq) return `chunk ${chunk.seq} arrived where chunk ${this.nextSeq} was due`;
    if (chunk.data.length > SNAPSHOT_CHUNK_BYTES_MAX) return `chunk ${chunk.seq} holds ${chunk.data.length} characters, above the ${SNAPSHOT_CHUNK_BYTES_MAX} allowed`;
    this.nextSeq += 1;
    const error = this.reader.feed(chunk.data);
    return error === null ? null : `snapshot ${error}`;
  }

  /** The whole request, once the stream ended. */
  finish(): Result<SnapshotRequest> {
    const h = this.header;
    if (h === null) return { ok: false, error: "the InstallSnapshot stream ended before its first chunk" };
    const s = this.reader.finish();
    if (!s.ok) return { ok: false, error: `snapshot ${s.error}` };
    if (s.value.lastIndex !== h.lastIndex || s.value.lastTerm !== h.lastTerm) {
      return { ok: false, error: `the snapshot's lines say it ends at ${s.value.lastIndex} (term ${s.value.lastTerm}), its header at ${h.lastIndex} (term ${h.lastTerm})` };
    }
    return { ok: true, value: { type: "snapshot-request", from: h.from, to: h.to, term: h.term, snapshot: s.value, lease: h.lease, leaderSendMs: h.leaderSendMs } };
  }
}
