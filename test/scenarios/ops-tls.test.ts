// Mutual TLS with real processes: 3 `raft-node` processes on loopback with certificates made here
// by `openssl` from a test CA. `raft-client` with the CA sets and gets; a client without the CA
// (plain text) or with another CA is refused with an error that says why; a node whose
// certificate comes from another CA is refused by its peers, which say which check failed.

import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCa, removeCa, type TestCa } from "../support/certs.js";
import { CLIENT_BIN, NODE_BIN, ProcessCluster, runNode, waitFor } from "./support/procs.js";

let cluster: ProcessCluster | null = null;
let ca: TestCa | null = null;
let other: TestCa | null = null;
let rogueDir = "";
let rogueProc: ChildProcess | null = null;

const nodeTls = (id: number) => {
  const leaf = ca!.leaf(`node${id}`);
  return ["--tls-cert", leaf.cert, "--tls-key", leaf.key, "--tls-ca", ca!.ca];
};

// Generous bounds: the machine may be shared, and the first SET waits for the first election.
const client = (args: readonly string[]) => runNode(["--nodes", cluster!.clusterFlag, "--timeout", "30s", ...args], 60_000, CLIENT_BIN);

beforeAll(async () => {
  ca = makeCa("cluster-ca");
  other = makeCa("other-ca");
  const tlsArgs = new Map([0, 1, 2].map((id) => [id, nodeTls(id)]));
  cluster = await ProcessCluster.create({ size: 3, argsFor: (id) => tlsArgs.get(id) ?? [] });
  cluster.startAll();
  rogueDir = fs.mkdtempSync(path.join(os.tmpdir(), "raft-lease-rogue-"));
});

afterAll(async () => {
  if (rogueProc?.pid !== undefined && rogueProc.exitCode === null) process.kill(rogueProc.pid, "SIGKILL");
  await cluster?.stopAll();
  cluster?.cleanUp();
  removeCa(ca);
  removeCa(other);
  fs.rmSync(rogueDir, { recursive: true, force: true });
});

describe("a 3-node cluster with mutual TLS (real processes)", { timeout: 120_000 }, () => {
  it("serves SET and GET through raft-client given the CA", async () => {
    const set = await client(["--tls-ca", ca!.ca, "set", "tls-key", "over", "tls"]);
    expect(set.output).toContain("OK");
    expect(set.code).toBe(0);
    const get = await client(["--tls-ca", ca!.ca, "get", "tls-key"]);
    expect(get).toMatchObject({ code: 0 });
    expect(get.output.trim()).toBe("over tls");
  });

  it("serves a client that presents a certificate the CA signed", async () => {
    const leaf = ca!.leaf("client");
    const get = await client(["--tls-ca", ca!.ca, "--tls-cert", leaf.cert, "--tls-key", leaf.key, "get", "tls-key"]);
    expect(get).toMatchObject({ code: 0 });
    expect(get.output.trim()).toBe("over tls");
  });

  it("refuses a plain-text client, which is told to give --tls-ca if the cluster serves TLS", async () => {
    const r = await runNode(["--nodes", cluster!.clusterFlag, "--timeout", "2s", "get", "tls-key"], 60_000, CLIENT_BIN);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/if the cluster serves TLS, give --tls-ca/);
  });

  it("refuses a client that trusts another CA, saying the certificate failed verification", async () => {
    const r = await runNode(["--nodes", cluster!.clusterFlag, "--timeout", "2s", "--tls-ca", other!.ca, "get", "tls-key"], 60_000, CLIENT_BIN);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/self-signed certificate in certificate chain.*certificate failed verification: check that --tls-ca/);
  });

  it("refuses a peer whose certificate another CA signed, and both sides say which check failed", async () => {
    const c = cluster!;
    // The rogue takes node 2's place (same id and address, its own data dir). It trusts its own
    // CA and the cluster's (a bundle of both), so its handshakes succeed and its calls reach the
    // others, which refuse them, per call. The others cannot verify its server certificate, so
    // their heartbeats never reach it and it keeps campaigning: its vote requests are the calls.
    await c.kill(2, "SIGTERM");
    const rogue = other!.leaf("rogue");
    const bundle = path.join(rogueDir, "both-cas.crt");
    fs.writeFileSync(bundle, fs.readFileSync(other!.ca, "utf8") + fs.readFileSync(ca!.ca, "utf8"));
    const args = ["serve", "--id", "2", "--cluster", c.clusterFlag, "--data-dir", rogueDir, "--quiet", "--tls-cert", rogue.cert, "--tls-key", rogue.key, "--tls-ca", bundle];
    rogueProc = spawn(process.execPath, [NODE_BIN, ...args], { stdio: "ignore" });
    const exited = new Promise<number | null>((resolve) => rogueProc!.once("exit", (code) => resolve(code)));
    const refusedLine = /refused a peer call from 127\.0\.0\.1:\d+: its certificate is not signed by this node's --tls-ca \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\)/;
    await waitFor("nodes 0 and 1 to report the refused peer", async () => [0, 1].every((id) => refusedLine.test(c.dumpText(id))), 40_000);
    // The rogue hears why: UNAUTHENTICATED, with the reason and what to do.
    const rogueDump = path.join(rogueDir, "logs_node_2", "dump.txt");
    await waitFor("the rogue to log the refusal", async () => fs.existsSync(rogueDump) && /UNAUTHENTICATED: node [01] refuses peer calls from this caller: its certificate is not signed/.test(fs.readFileSync(rogueDump, "utf8")), 40_000);
    // The real nodes, calling the rogue, refuse its server certificate in their turn.
    await waitFor("a real node to report the rogue's certificate", async () => [0, 1].some((id) => /sending RPC to Node 2\. \(UNAVAILABLE: .*self-signed certificate in certificate chain/.test(c.dumpText(id))), 40_000);
    process.kill(rogueProc.pid!, "SIGTERM");
    expect(await exited).toBe(0);
    rogueProc = null;
    // The cluster never let the rogue in: it kept serving through the two real nodes.
    const get = await client(["--tls-ca", ca!.ca, "get", "tls-key"]);
    expect(get.output.trim()).toBe("over tls");
  });
});
