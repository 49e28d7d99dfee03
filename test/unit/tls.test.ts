// TLS settings are checked before anything connects, and each mistake gets a message naming the
// check and the setting; a node refuses a client call without a certificate only when told to.

import fs from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { credentials, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseClientArgs } from "../../src/cli/raft-client.js";
import { parseServeArgs } from "../../src/cli/raft-node.js";
import { RaftClient, RaftClientError } from "../../src/client/raft-client.js";
import { channelCredentials, checkTls, FLAG_NAMES, readTlsFiles } from "../../src/client/tls.js";
import { clusterFingerprint, parseNodeList } from "../../src/client/nodes.js";
import { RaftClientClient } from "../../src/gen/raft.js";
import { startNode, type RunningNode } from "../../src/runtime/grpc/node-runtime.js";
import { describeAuthorizationError, type NodeTls } from "../../src/runtime/grpc/tls.js";
import { freePorts } from "./support/loopback.js";
import { makeCa, removeCa, type TestCa } from "../support/certs.js";

let ca: TestCa;
let other: TestCa;
const pem = (file: string) => fs.readFileSync(file);

beforeAll(() => {
  ca = makeCa("unit-ca");
  other = makeCa("unit-other");
});
afterAll(() => {
  removeCa(ca);
  removeCa(other);
});

describe("checking TLS settings", () => {
  it("accepts a certificate the CA signed, with its key", () => {
    const leaf = ca.leaf("good");
    const tls = checkTls({ ca: pem(ca.ca), cert: pem(leaf.cert), key: pem(leaf.key) });
    expect(tls.identity?.subject).toBe("CN=good");
  });

  it("accepts a CA bundle holding the signing CA among others", () => {
    const leaf = ca.leaf("bundled");
    const bundle = Buffer.concat([pem(other.ca), pem(ca.ca)]);
    expect(checkTls({ ca: bundle, cert: pem(leaf.cert), key: pem(leaf.key) }).identity).not.toBeNull();
  });

  it("refuses a certificate another CA signed", () => {
    const leaf = other.leaf("foreign");
    expect(() => checkTls({ ca: pem(ca.ca), cert: pem(leaf.cert), key: pem(leaf.key) }, FLAG_NAMES)).toThrow(/--tls-cert \(CN=foreign\) is not signed by --tls-ca/);
  });

  it("refuses a key that is not the certificate's", () => {
    const a = ca.leaf("a");
    const b = ca.leaf("b");
    expect(() => checkTls({ ca: pem(ca.ca), cert: pem(a.cert), key: pem(b.key) })).toThrow(/tls\.key is not the private key of tls\.cert \(CN=a\)/);
  });

  it("refuses a certificate without its key, and the other way round", () => {
    const leaf = ca.leaf("half");
    expect(() => checkTls({ ca: pem(ca.ca), cert: pem(leaf.cert) })).toThrow(/tls\.cert and tls\.key go together/);
    expect(() => checkTls({ ca: pem(ca.ca), key: pem(leaf.key) })).toThrow(/tls\.cert and tls\.key go together/);
  });

  it("refuses files that are not PEM, and files it cannot read", () => {
    expect(() => checkTls({ ca: "hello" })).toThrow(/tls\.ca holds no PEM certificate/);
    expect(() => checkTls({ ca: pem(ca.ca), cert: pem(ca.ca), key: "not a key" })).toThrow(/tls\.key is not a PEM private key/);
    expect(() => readTlsFiles({ ca: "/nonexistent/ca.pem" })).toThrow(/--tls-ca \/nonexistent\/ca\.pem: cannot read it \(ENOENT\)/);
  });

  it("refuses a certificate outside its validity period", () => {
    const leaf = ca.leaf("dated");
    const opts = { ca: pem(ca.ca), cert: pem(leaf.cert), key: pem(leaf.key) };
    expect(() => checkTls(opts, FLAG_NAMES, Date.now() + 10 * 86_400_000)).toThrow(/--tls-cert expired on /);
    expect(() => checkTls(opts, FLAG_NAMES, Date.now() - 10 * 86_400_000)).toThrow(/--tls-cert is not valid yet/);
  });

  it("RaftClient reports bad TLS options as invalid", () => {
    expect(() => new RaftClient({ nodes: "0=127.0.0.1:1", tls: { ca: "x" } })).toThrow(RaftClientError);
  });

  it("names OpenSSL's verdicts in words, keeping the code", () => {
    expect(describeAuthorizationError("UNABLE_TO_VERIFY_LEAF_SIGNATURE")).toBe("its certificate is not signed by this node's --tls-ca (UNABLE_TO_VERIFY_LEAF_SIGNATURE)");
    expect(describeAuthorizationError("CERT_HAS_EXPIRED")).toBe("its certificate has expired (CERT_HAS_EXPIRED)");
    expect(describeAuthorizationError(null)).toBe("it presented no client certificate");
  });
});

describe("TLS flags", () => {
  const cluster = "0=127.0.0.1:5000";
  const serve = (...flags: string[]) => parseServeArgs(["--id", "0", "--cluster", cluster, "--data-dir", "/tmp/x", ...flags]);

  it("raft-node needs all three of --tls-cert, --tls-key and --tls-ca", () => {
    const leaf = ca.leaf("flags");
    expect(() => serve("--tls-cert", leaf.cert, "--tls-key", leaf.key)).toThrow(/go together .*missing --tls-ca/);
    expect(() => serve("--tls-ca", ca.ca)).toThrow(/missing --tls-cert and --tls-key/);
    expect(() => serve("--tls-client-cert", "required")).toThrow(/--tls-client-cert needs TLS/);
    expect(() => serve("--tls-cert", leaf.cert, "--tls-key", leaf.key, "--tls-ca", ca.ca, "--tls-client-cert", "maybe")).toThrow(/must be optional or required/);
    const ok = serve("--tls-cert", leaf.cert, "--tls-key", leaf.key, "--tls-ca", ca.ca, "--tls-client-cert", "required");
    expect(ok !== "help" && ok.tls?.clientCertRequired).toBe(true);
  });

  it("raft-client needs --tls-ca for a client certificate", () => {
    const leaf = ca.leaf("client-flags");
    expect(() => parseClientArgs(["--nodes", cluster, "--tls-cert", leaf.cert, "--tls-key", leaf.key, "status"])).toThrow(/need --tls-ca/);
    const ok = parseClientArgs(["--nodes", cluster, "--tls-ca", ca.ca, "status"]);
    expect(typeof ok === "object" && ok.tls?.identity).toBeNull();
  });
});

describe("a node with --tls-client-cert required", () => {
  let dataDir = "";
  let node: RunningNode | null = null;
  let address = "";

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "raft-lease-tls-unit-"));
    const leaf = ca.leaf("solo");
    const material = checkTls({ ca: pem(ca.ca), cert: pem(leaf.cert), key: pem(leaf.key) });
    const tls: NodeTls = { material: { ca: material.ca, identity: material.identity! }, clientCertRequired: true };
    const [port] = await freePorts(1);
    const members = parseNodeList(`0=127.0.0.1:${port}`);
    node = await startNode({ id: members[0]!.id, members, clusterFingerprint: clusterFingerprint(members), dataDir, timing: { heartbeatMs: 50, electionTimeoutMinMs: 300, electionTimeoutMaxMs: 600, leaseMs: 200, driftPpmMax: 1000 }, console: null, warnings: null, tls });
    address = `127.0.0.1:${node.port}`;
  });
  afterAll(async () => {
    await node?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const callStatus = (creds: ReturnType<typeof credentials.createInsecure>) =>
    new Promise<{ code: number; details: string }>((resolve) => {
      const c = new RaftClientClient(address, creds);
      c.status({}, (err) => {
        c.close();
        resolve(err === null ? { code: 0, details: "" } : { code: err.code, details: err.details });
      });
    });

  it("refuses a client without a certificate, saying so", async () => {
    const r = await callStatus(channelCredentials(checkTls({ ca: pem(ca.ca) })));
    expect(r.code).toBe(status.UNAUTHENTICATED);
    expect(r.details).toMatch(/node 0 refuses client calls from this caller: it presented no client certificate/);
  });

  it("serves a client whose certificate the CA signed (the control)", async () => {
    const leaf = ca.leaf("cli");
    const r = await callStatus(channelCredentials(checkTls({ ca: pem(ca.ca), cert: pem(leaf.cert), key: pem(leaf.key) })));
    expect(r.code).toBe(0);
  });
});
