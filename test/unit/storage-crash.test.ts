// Crash consistency of the real storage code (FileStorage over a recording file layer): after a
// power loss at any point of a run, in every state a POSIX file system may leave (crash-fs.ts),
// recovery must find every acknowledged entry and every acknowledged term and vote, and never a
// commit index past the log; or refuse to start with an error naming the file and line. Also
// after a process crash (the page cache survives) followed, later, by a power loss. Each
// deliberate storage bug (StorageMutation) must be caught.

import { describe, expect, it } from "vitest";
import { DUMP_BYTES_MAX_DEFAULT } from "../../src/runtime/grpc/dump-writer.js";
import { FileStorage, type PersistRequest, type StorageMutation } from "../../src/runtime/grpc/storage.js";
import { logIndex, nodeId, term, type Entry, type HardState } from "../../src/raft/index.js";
import { crashImages, RecordingFs, type FsImage } from "./support/crash-fs.js";

const DATA_DIR = "/data";
// A small reservation of zeros ahead of the appends (log-file.ts), so that these runs hold appends
// into reserved space and appends past its end, and each write of zeros is one page, not the 256
// pages (each its own crash states) of the 1 MiB a node reserves.
const RESERVE_BYTES = 100;
const CLUSTER = "0=127.0.0.1:5000,1=127.0.0.1:5001,2=127.0.0.1:5002";

function set(key: string, value: string, t: number): Entry {
  return { term: term(t), command: { kind: "set", key, value, clientId: "", sequence: 0, firstUnanswered: 0 } };
}
function noop(t: number): Entry {
  return { term: term(t), command: { kind: "noop" } };
}
function hard(currentTerm: number, votedFor: number | null, commitIndex: number): HardState {
  return { currentTerm: term(currentTerm), votedFor: votedFor === null ? null : nodeId(votedFor), commitIndex: logIndex(commitIndex) };
}

interface DiskState {
  readonly log: readonly Entry[];
  readonly hard: HardState;
}

/** A persist call as the disk should see it: requested at one point of the record, acknowledged at a later one. */
interface Call {
  readonly state: DiskState;
  /** Entries of the log this call keeps before appending (its truncation), or the whole log. */
  readonly keeps: number;
  readonly requestedAt: number;
  ackedAt: number;
}


function after(state: DiskState, r: PersistRequest): { state: DiskState; keeps: number } {
  const keeps = r.truncateFrom === null ? state.log.length : r.truncateFrom - 1;
  const log = [...state.log.slice(0, keeps), ...r.append];
  return { state: { log, hard: r.hardState ?? state.hard }, keeps };
}

/** Runs persist calls over a recording file system, noting where each was requested and acknowledged. */
class Run {
  readonly calls: Call[] = [];
  private latest: DiskState;

  private constructor(
    readonly fs: RecordingFs,
    readonly storage: FileStorage,
    readonly opened: Call,
  ) {
    this.latest = opened.state;
  }

  /** Opens storage over `fs`: what it recovers is acknowledged once open returns (the node acts on it). */
  static async open(fs: RecordingFs, mutation?: StorageMutation, logReserveBytes = RESERVE_BYTES): Promise<Run> {
    const requestedAt = fs.ops.length;
    const storage = await FileStorage.open({ dataDir: DATA_DIR, nodeId: nodeId(1), clusterFingerprint: CLUSTER, warn: () => undefined, dumpBytesMax: DUMP_BYTES_MAX_DEFAULT, layer: fs, mutation, logReserveBytes });
    const state = { log: storage.recovered.entries, hard: storage.recovered.hardState };
    return new Run(fs, storage, { state, keeps: state.log.length, requestedAt, ackedAt: fs.ops.length });
  }

  persist(r: PersistRequest): Promise<void> {
    const { state, keeps } = after(this.latest, r);
    this.latest = state;
    const call: Call = { state, keeps, requestedAt: this.fs.ops.length, ackedAt: Infinity };
    this.calls.push(call);
    return this.storage.persist(r).then(() => {
      call.ackedAt = this.fs.ops.length;
    });
  }
}

function append(from: number, entries: Entry[], h: HardState | null = null, truncateFrom: number | null = null): PersistRequest {
  return { hardState: h, installSnapshot: null, compactTo: null, truncateFrom: truncateFrom === null ? null : logIndex(truncateFrom), appendFrom: logIndex(from), append: entries };
}

/** A follower's life: appends (some spanning pages), group commit, a commit-only change, a vote, a truncation. */
async function followerWorkload(run: Run): Promise<void> {
  const big = "v".repeat(5000); // two pages a line: a write spans several pages
  await run.persist(append(1, [noop(1)], hard(1, 0, 0)));
  await run.persist(append(2, [set("a", big, 1), set("b", big, 1)], hard(1, 0, 1)));
  await Promise.all([run.persist(append(4, [set("c", "3", 1)])), run.persist(append(5, [set("d", big, 1)], hard(1, 0, 3)))]);
  await run.persist({ hardState: hard(2, 2, 3), installSnapshot: null, compactTo: null, truncateFrom: null, appendFrom: null, append: [] });
  await run.persist(append(4, [noop(2), set("e", "5", 2)], null, 4));
  await run.persist(append(6, [set("f", big, 2)], hard(2, 2, 5)));
}

/** Recoveries that dropped a torn tail, by kind: zeroed pages, or a write cut short. */
const tally = { zeroTails: 0, cutTails: 0 };
function countTornTail(warning: string): void {
  if (/dropped a torn tail \(zeros/.test(warning)) tally.zeroTails++;
  else if (/dropped a torn tail/.test(warning)) tally.cutTails++;
}

interface Verdict {
  readonly images: number;
  readonly refused: number;
  readonly failures: string[];
}

/** Recovers from every crash image of `ops` and checks it against the calls acknowledged by then. */
async function checkCrashPoint(ops: RecordingFs["ops"], calls: readonly Call[], floor: Call, label: string): Promise<Verdict> {
  const k = ops.length;
  const acked = [floor, ...calls].filter((c) => c.ackedAt <= k).at(-1) ?? floor;
  const pending = calls.filter((c) => c.requestedAt <= k && c.ackedAt > k);
  const candidates = [acked.state, ...pending.map((c) => c.state)];
  const mustKeep = Math.min(acked.state.log.length, ...pending.map((c) => c.keeps));
  const failures: string[] = [];
  let refused = 0;
  const images = crashImages(ops);
  for (const { label: how, image } of images) {
    const problem = await recoverAndJudge(image, acked.state, candidates, mustKeep);
    if (problem === "refused") refused++;
    else if (problem !== null) failures.push(`${label}, power loss after op ${k}, ${how}: ${problem}`);
  }
  return { images: images.length, refused, failures };
}

async function recoverAndJudge(image: FsImage, acked: DiskState, candidates: readonly DiskState[], mustKeep: number): Promise<string | "refused" | null> {
  let storage: FileStorage;
  try {
    storage = await FileStorage.open({ dataDir: DATA_DIR, nodeId: nodeId(1), clusterFingerprint: CLUSTER, warn: countTornTail, dumpBytesMax: DUMP_BYTES_MAX_DEFAULT, layer: RecordingFs.fromImage(image), logReserveBytes: RESERVE_BYTES });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return /(logs|metadata)\.txt line \d+: /.test(message) ? "refused" : `refused without naming a file and line: ${message}`;
  }
  const { entries, hardState } = storage.recovered;
  const same = (a: Entry, b: Entry | undefined): boolean => JSON.stringify(a) === JSON.stringify(b);
  if (!acked.log.slice(0, mustKeep).every((e, i) => same(e, entries[i]))) return `lost acknowledged entries: recovered ${entries.length}, acknowledged ${mustKeep}`;
  if (!candidates.some((c) => entries.length <= c.log.length && entries.every((e, i) => same(e, c.log[i])))) return `recovered a log no call asked for (${entries.length} entries)`;
  const lastTerm = entries.at(-1)?.term ?? 0;
  const termVoteOk = candidates.some((c) => c.hard.currentTerm === hardState.currentTerm && c.hard.votedFor === hardState.votedFor);
  const caughtUp = hardState.votedFor === null && hardState.currentTerm === lastTerm && hardState.currentTerm > acked.hard.currentTerm;
  if (!termVoteOk && !caughtUp) return `term ${hardState.currentTerm} vote ${hardState.votedFor}: not an acknowledged or requested term and vote (acknowledged ${acked.hard.currentTerm}/${acked.hard.votedFor})`;
  if (hardState.commitIndex > entries.length) return `commit index ${hardState.commitIndex} past the log's ${entries.length} entries`;
  return null;
}

/** Power loss at every point of one run from a fresh data dir. */
async function powerLossEverywhere(mutation?: StorageMutation, logReserveBytes = RESERVE_BYTES): Promise<Tally> {
  const run = await Run.open(new RecordingFs(), mutation, logReserveBytes);
  await followerWorkload(run);
  tally.zeroTails = 0;
  tally.cutTails = 0;
  const total = { points: 0, images: 0, refused: 0, failures: [] as string[], tally };
  for (let k = run.opened.ackedAt; k <= run.fs.ops.length; k++) {
    const v = await checkCrashPoint(run.fs.ops.slice(0, k), run.calls, run.opened, "fresh run");
    total.points++;
    total.images += v.images;
    total.refused += v.refused;
    total.failures.push(...v.failures);
  }
  return total;
}

/**
 * A process crash after op k of a run (the page cache keeps everything), a restart that recovers
 * and appends once more, then a power loss at every point of the restarted run.
 */
async function processCrashThenPowerLoss(mutation?: StorageMutation): Promise<Tally> {
  const first = await Run.open(new RecordingFs(), mutation);
  await followerWorkload(first);
  tally.zeroTails = 0;
  tally.cutTails = 0;
  const total = { points: 0, images: 0, refused: 0, failures: [] as string[], tally };
  const writes = first.fs.ops.map((op, i) => (op.kind === "write" || op.kind === "truncate" ? i + 1 : -1)).filter((i) => i > 0);
  for (const k of writes) {
    const crashed = RecordingFs.forkPrefix(first.fs, k);
    const restarted = await Run.open(crashed, mutation);
    const n = restarted.opened.state.log.length;
    const lastTerm = restarted.opened.state.log.at(-1)?.term ?? 1;
    const h = restarted.opened.state.hard;
    await restarted.persist(append(n + 1, [set("after", "restart", Math.max(lastTerm, h.currentTerm))], { ...h, currentTerm: term(Math.max(lastTerm, h.currentTerm)) }));
    // Until the restarted node has opened, what counts is what the first run had acknowledged at its crash.
    const atCrash = first.calls.map((c) => ({ ...c, requestedAt: c.requestedAt <= k ? c.requestedAt : Infinity, ackedAt: c.ackedAt <= k ? c.ackedAt : Infinity }));
    for (let m = k; m <= restarted.fs.ops.length; m++) {
      const reopened = m >= restarted.opened.ackedAt;
      const v = await checkCrashPoint(restarted.fs.ops.slice(0, m), reopened ? restarted.calls : atCrash, reopened ? restarted.opened : first.opened, `process crash after op ${k}`);
      total.points++;
      total.images += v.images;
      total.refused += v.refused;
      total.failures.push(...v.failures);
    }
  }
  return total;
}

interface Tally {
  points: number;
  images: number;
  refused: number;
  failures: string[];
  readonly tally: { zeroTails: number; cutTails: number };
}

function report(name: string, r: Tally): string {
  return `${name}: ${r.points} crash points, ${r.images} images (torn tails repaired: ${r.tally.zeroTails} with zeroed pages, ${r.tally.cutTails} cut short), ${r.refused} refused with file and line, ${r.failures.length} failures`;
}

describe("crash consistency of FileStorage (recording file layer, POSIX crash images)", () => {
  it("a power loss anywhere in a run loses nothing acknowledged, and recovery always starts", async () => {
    const r = await powerLossEverywhere();
    console.log(report("power loss", r));
    expect(r.failures.slice(0, 5)).toEqual([]);
    expect(r.refused).toBe(0);
    expect(r.images).toBeGreaterThan(2 * r.points); // the pages of unsynced writes were dropped, torn and reordered
    expect(r.tally.zeroTails).toBeGreaterThan(0); // images with zeroed pages were among them, and recovered
    expect(r.tally.cutTails).toBeGreaterThan(0);
  }, 120_000);

  it("the same without reserved space (logs.txt as nodes before 0.5 wrote it)", async () => {
    const r = await powerLossEverywhere(undefined, 0);
    console.log(report("power loss, no reserved space", r));
    expect(r.failures.slice(0, 5)).toEqual([]);
    expect(r.refused).toBe(0);
    expect(r.tally.zeroTails).toBeGreaterThan(0);
  }, 120_000);

  it("a process crash (page cache kept), a restart, then a power loss anywhere loses nothing the restarted node acknowledged", async () => {
    const r = await processCrashThenPowerLoss();
    console.log(report("process crash then power loss", r));
    expect(r.failures.slice(0, 5)).toEqual([]);
    expect(r.refused).toBe(0);
    expect(r.images).toBeGreaterThan(2 * r.points);
  }, 300_000);

  it("negative control: trust-page-cache (open uses what it read without syncing) is caught", async () => {
    const r = await processCrashThenPowerLoss("trust-page-cache");
    console.log(report("trust-page-cache", r), "\n  e.g.", r.failures[0]);
    expect(r.failures.length).toBeGreaterThan(0);
    expect(r.failures[0]).toMatch(/lost acknowledged entries/);
  }, 300_000);

  // Without reserved space: the zeros an append writes after its lines when it passes the file's
  // end (as every append after a cut does) turn the old lines after them into what reads as a torn
  // tail, which hides this bug in so short a run; it is still a bug (a cut tail longer than the
  // zeros, over several writes, leaves a refusal), and without the zeros every image shows it.
  it("negative control: truncate-without-sync (new lines may land before the cut) is caught", async () => {
    const r = await powerLossEverywhere("truncate-without-sync", 0);
    console.log(report("truncate-without-sync", r), "\n  e.g.", r.failures[0] ?? "a refusal: old lines left after new ones, terms going down");
    // Old lines left after the new ones: recovery refuses (terms go down), a node that cannot start.
    expect(r.failures.length + r.refused).toBeGreaterThan(0);
  }, 120_000);
});
