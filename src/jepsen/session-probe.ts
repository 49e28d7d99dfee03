// The session probe: after the fault phase, is a SET retried across a restart of every node from
// its snapshot still the duplicate it is? A node that restores a snapshot must get back the
// session table with the keys (docs/file-formats.md, "Client sessions"), or a client's retry of a
// SET that was applied before the snapshot is applied again and overwrites a later write.
//
// The snapshot checks see a lost session table only when the entries between two nodes' final
// snapshots hold a session client's SET, and the last faults of a run (a handover pauses writes)
// can leave only plain clients writing there. So the probe makes the case itself:
//   1. SET probe=session by a session of its own (sequence 1), then SET probe=plain, no session;
//   2. plain SETs of another key until every node's snapshot.txt holds probe=plain, so every
//      snapshot lies past the session SET and a restart restores it from the snapshot;
//   (the run then restarts every node, as it always does)
//   3. the session SET again, exactly as before (the retry of a reply that never came), then a
//      GET of probe, which must still be "plain".

import { credentials, Metadata } from "@grpc/grpc-js";
import { setTimeout as sleep } from "node:timers/promises";
import path from "node:path";
import { RaftClientClient, type ServeClientReply } from "../gen/raft.js";
import { readSnapshotFile } from "./snapshots.js";

const PROBE_KEY = "probe";
const SESSION_VALUE = "session";
const PLAIN_VALUE = "plain";
const FILL_KEY = "probe-fill";
/** A call is tried on every node in turn (no leader tracking) until one succeeds, for at most this. */
const CALL_BOUND_MS = 15_000;
const CALL_DEADLINE_MS = 1_000;
/** Fill SETs go out this many at a time, and the snapshots are read after each batch. */
const FILL_BATCH = 10;
/** After the fill, how long a node still catching up (after the last fault) gets to take its snapshot. */
const CATCH_UP_WAIT_MS = 10_000;
/** Above this many entries between snapshots, the probe would write too long: it is skipped. */
const PROBE_SNAPSHOT_ENTRIES_MAX = 2_000;

export interface ProbeOptions {
  readonly addresses: readonly string[];
  /** The nodes' data folder: node i keeps its snapshot in logs_node_<i>/snapshot.txt. */
  readonly dataDir: string;
  readonly seed: number;
  readonly snapshotEntries: number;
  readonly snapshotKeep: number;
  readonly say: (text: string) => void;
}

interface Session {
  readonly clientId: string;
  readonly sequence: number;
}

/** The outcome of a probe: run and passed, caught the retry applied again, or not run (why). */
export type ProbeOutcome = { readonly kind: "passed" } | { readonly kind: "failed"; readonly why: string } | { readonly kind: "skipped"; readonly why: string };

export class SessionProbe {
  private readonly stubs: RaftClientClient[];
  private readonly session: Session;

  constructor(private readonly o: ProbeOptions) {
    this.stubs = o.addresses.map((a) => new RaftClientClient(a, credentials.createInsecure()));
    this.session = { clientId: `jepsen-${o.seed}-probe`, sequence: 1 };
  }

  /** Steps 1 and 2; a reason when the probe cannot go on (the check then reports it skipped). */
  async prepare(): Promise<string | null> {
    if (this.o.snapshotEntries > PROBE_SNAPSHOT_ENTRIES_MAX) return `a snapshot every ${this.o.snapshotEntries} entries is more than the probe writes (at most ${PROBE_SNAPSHOT_ENTRIES_MAX} between snapshots)`;
    const first = await this.call(`SET ${PROBE_KEY} ${SESSION_VALUE}`, this.session);
    if (first === null) return `its session SET got no success within ${CALL_BOUND_MS} ms`;
    if ((await this.call(`SET ${PROBE_KEY} ${PLAIN_VALUE}`, null)) === null) return `its plain SET got no success within ${CALL_BOUND_MS} ms`;
    return this.fillUntilSnapshotted();
  }

  /** Step 3, after every node restarted. */
  async check(prepared: string | null): Promise<ProbeOutcome> {
    if (prepared !== null) return { kind: "skipped", why: prepared };
    const retry = await this.call(`SET ${PROBE_KEY} ${SESSION_VALUE}`, this.session);
    if (retry === null) return { kind: "failed", why: `the retried session SET got no success within ${CALL_BOUND_MS} ms` };
    const read = await this.call(`GET ${PROBE_KEY}`, null);
    if (read === null) return { kind: "failed", why: `GET ${PROBE_KEY} got no success within ${CALL_BOUND_MS} ms` };
    if (read.Data === PLAIN_VALUE) return { kind: "passed" };
    const what = read.Data === SESSION_VALUE ? "the retried SET was applied a second time" : "neither SET's value is there";
    return { kind: "failed", why: `after every node restarted from its snapshot, ${PROBE_KEY} is ${JSON.stringify(read.Data)}, want ${JSON.stringify(PLAIN_VALUE)}: ${what} (session ${this.session.clientId}, sequence ${this.session.sequence})` };
  }

  close(): void {
    for (const s of this.stubs) s.close();
  }

  /** Plain SETs of FILL_KEY until every node's snapshot.txt holds probe=plain; a reason if that does not come. */
  private async fillUntilSnapshotted(): Promise<string | null> {
    const fillMax = 3 * this.o.snapshotEntries + this.o.snapshotKeep;
    let written = 0;
    while (!this.everySnapshotHoldsPlain()) {
      if (written >= fillMax) return this.awaitCatchUp(written);
      const batch = Array.from({ length: FILL_BATCH }, (_, i) => this.call(`SET ${FILL_KEY} f${written + i}`, null));
      if ((await Promise.all(batch)).includes(null)) return `a fill SET got no success within ${CALL_BOUND_MS} ms`;
      written += FILL_BATCH;
    }
    this.o.say(`session probe: every node's snapshot holds ${PROBE_KEY}=${PLAIN_VALUE} after ${written} fill SETs`);
    return null;
  }

  /** The fill is done: a node still catching up snapshots as it applies; a reason if none came within the wait. */
  private async awaitCatchUp(written: number): Promise<string | null> {
    this.o.say(`session probe: ${written} fill SETs written, not every node's snapshot holds ${PROBE_KEY}=${PLAIN_VALUE} yet: waiting up to ${CATCH_UP_WAIT_MS / 1000} s for a node still catching up`);
    const startMs = performance.now();
    while (performance.now() - startMs < CATCH_UP_WAIT_MS) {
      await sleep(200);
      if (this.everySnapshotHoldsPlain()) {
        this.o.say(`session probe: every node's snapshot holds ${PROBE_KEY}=${PLAIN_VALUE} after ${written} fill SETs and ${Math.round(performance.now() - startMs)} ms of catching up`);
        return null;
      }
    }
    return `after ${written} more SETs and ${CATCH_UP_WAIT_MS / 1000} s more, not every node's snapshot.txt held ${PROBE_KEY}=${PLAIN_VALUE}`;
  }

  private everySnapshotHoldsPlain(): boolean {
    return this.o.addresses.every((_, i) => {
      const s = readSnapshotFile(path.join(this.o.dataDir, `logs_node_${i}`, "snapshot.txt"));
      return s?.ok === true && s.value.data.get(PROBE_KEY) === PLAIN_VALUE;
    });
  }

  /** `line` on every node in turn until one answers success; null when none did within the bound. */
  private async call(line: string, session: Session | null): Promise<ServeClientReply | null> {
    const startMs = performance.now();
    for (let n = 0; performance.now() - startMs < CALL_BOUND_MS; n++) {
      const reply = await serveOnce(this.stubs[n % this.stubs.length]!, line, session);
      if (reply?.Success === true) return reply;
      if (n % this.stubs.length === this.stubs.length - 1) await sleep(100);
    }
    return null;
  }
}

function serveOnce(stub: RaftClientClient, line: string, session: Session | null): Promise<ServeClientReply | null> {
  const args = { Request: line, ClientId: session?.clientId ?? "", Sequence: session?.sequence ?? 0, FirstUnanswered: session?.sequence ?? 0, RequestId: 0 };
  return new Promise((resolve) => {
    stub.serveClient(args, new Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS }, (err, reply) => resolve(err === null && reply !== undefined ? reply : null));
  });
}
