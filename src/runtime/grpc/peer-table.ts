// The peers a node talks to, following the cluster's configuration.
//
// Addresses come from configurations (log entries and snapshots carry every member's address);
// `--cluster` gives the initial ones, used where a configuration has none (snapshots written before
// membership changes). When the configuration in use changes (the core's `output.membership`), a
// client is opened for each new member, or reopened when a member's address changed. A member the
// new configuration leaves out keeps its client until that configuration is committed (`sweep`),
// so the leader can still tell it that it was removed; a configuration truncated away before that
// simply brings it back.

import type { Member, NodeId } from "../../raft/index.js";
import type { PeerRequest } from "./driver.js";

/** What the table needs of one peer's client (PeerClient in production). */
export interface PeerHandle {
  send(m: PeerRequest): void;
  close(): void;
  readonly outstanding: number;
  readonly skipped: number;
}

interface Entry {
  readonly address: string;
  readonly client: PeerHandle;
  /** Set when the configuration in use left this peer out: close once this index is committed. */
  retireAtIndex: number | null;
}

export class PeerTable {
  private readonly peers = new Map<NodeId, Entry>();

  constructor(
    private readonly selfId: NodeId,
    /** Addresses from --cluster, for members whose configuration records none. */
    private readonly fallback: ReadonlyMap<NodeId, string>,
    private readonly open: (id: NodeId, address: string) => PeerHandle,
  ) {}

  /** The configuration in use is now `members` (entry `index`): open new peers, mark left-out ones. */
  update(members: readonly Member[], index: number): void {
    const wanted = new Set<NodeId>();
    for (const m of members) {
      if (m.id === this.selfId) continue;
      const address = m.address !== "" ? m.address : (this.fallback.get(m.id) ?? "");
      if (address === "") continue; // no way to reach it; the core re-sends once a configuration names it
      wanted.add(m.id);
      const current = this.peers.get(m.id);
      if (current !== undefined && current.address === address) {
        current.retireAtIndex = null;
        continue;
      }
      current?.client.close();
      this.peers.set(m.id, { address, client: this.open(m.id, address), retireAtIndex: null });
    }
    for (const [id, entry] of this.peers) if (!wanted.has(id)) entry.retireAtIndex ??= index;
  }

  /** Closes the peers left out by a configuration that is now committed. */
  sweep(commitIndex: number): void {
    for (const [id, entry] of this.peers) {
      if (entry.retireAtIndex === null || entry.retireAtIndex > commitIndex) continue;
      entry.client.close();
      this.peers.delete(id);
    }
  }

  send(m: PeerRequest): void {
    this.peers.get(m.to)?.client.send(m);
  }

  /** Peer id -> address, ascending ids. */
  addresses(): [NodeId, string][] {
    return [...this.peers].map(([id, e]): [NodeId, string] => [id, e.address]).sort((a, b) => a[0] - b[0]);
  }

  calls(): { peer: NodeId; outstanding: number; skipped: number }[] {
    return [...this.peers].map(([peer, e]) => ({ peer, outstanding: e.client.outstanding, skipped: e.client.skipped }));
  }

  closeAll(): void {
    for (const e of this.peers.values()) e.client.close();
    this.peers.clear();
  }
}
