// The --tls-* flags of raft-node and raft-client, parsed and checked in one place.
//
// raft-node needs all three (--tls-cert, --tls-key, --tls-ca): peers verify each other, so each
// node presents a certificate and checks the others' with the CA. raft-client needs --tls-ca to
// verify the nodes, and --tls-cert with --tls-key only when the nodes ask clients for one.

import { checkTls, FLAG_NAMES, readTlsFiles, type TlsMaterial } from "../client/tls.js";
import type { NodeTls } from "../runtime/grpc/tls.js";
import { asUsage, stringFlag, UsageError, type FlagSpec, type ParsedArgs } from "./args.js";

export const NODE_TLS_FLAGS: readonly FlagSpec[] = [
  { name: "tls-cert", value: "<file>", help: "this node's certificate (PEM), signed by --tls-ca, naming its --cluster host;\nturns on TLS for client and peer traffic (needs --tls-key and --tls-ca)" },
  { name: "tls-key", value: "<file>", help: "the private key of --tls-cert (PEM, unencrypted)" },
  { name: "tls-ca", value: "<file>", help: "the cluster CA (PEM): peers' certificates (and clients', if they give one) must be signed by it" },
  { name: "tls-client-cert", value: "<optional|required>", help: "whether clients, too, must present a certificate signed by --tls-ca (default optional;\npeers always must)" },
];

export const CLIENT_TLS_FLAGS: readonly FlagSpec[] = [
  { name: "tls-ca", value: "<file>", help: "the cluster CA (PEM): turns on TLS and verifies the nodes' certificates" },
  { name: "tls-cert", value: "<file>", help: "a client certificate (PEM) signed by the cluster CA, for nodes that require one" },
  { name: "tls-key", value: "<file>", help: "the private key of --tls-cert (PEM, unencrypted)" },
];

/** raft-client's TLS settings, or null for plain text. */
export function parseClientTls(args: ParsedArgs): TlsMaterial | null {
  const ca = stringFlag(args, "tls-ca");
  const cert = stringFlag(args, "tls-cert");
  const key = stringFlag(args, "tls-key");
  if (ca === undefined) {
    if (cert !== undefined || key !== undefined) throw new UsageError("--tls-cert and --tls-key need --tls-ca (the CA that signed the nodes' certificates)");
    return null;
  }
  return asUsage(() => checkTls(readTlsFiles({ ca, ...(cert === undefined ? {} : { cert }), ...(key === undefined ? {} : { key }) }), FLAG_NAMES));
}

/** raft-node's TLS settings, or null for plain text. */
export function parseNodeTls(args: ParsedArgs): NodeTls | null {
  const ca = stringFlag(args, "tls-ca");
  const cert = stringFlag(args, "tls-cert");
  const key = stringFlag(args, "tls-key");
  const clientCert = stringFlag(args, "tls-client-cert");
  if (ca === undefined && cert === undefined && key === undefined) {
    if (clientCert !== undefined) throw new UsageError("--tls-client-cert needs TLS: give --tls-cert, --tls-key and --tls-ca");
    return null;
  }
  if (ca === undefined || cert === undefined || key === undefined) {
    const missing = [ca === undefined ? "--tls-ca" : "", cert === undefined ? "--tls-cert" : "", key === undefined ? "--tls-key" : ""].filter((f) => f !== "");
    throw new UsageError(`--tls-cert, --tls-key and --tls-ca go together (peers verify each other's certificates with the CA); missing ${missing.join(" and ")}`);
  }
  if (clientCert !== undefined && clientCert !== "optional" && clientCert !== "required") {
    throw new UsageError(`--tls-client-cert ${JSON.stringify(clientCert)} must be optional or required`);
  }
  const material = asUsage(() => checkTls(readTlsFiles({ ca, cert, key }), FLAG_NAMES));
  if (material.identity === null) throw new UsageError("--tls-cert and --tls-key are required with --tls-ca");
  return { material: { ca: material.ca, identity: material.identity }, clientCertRequired: clientCert === "required" };
}

/**
 * Node warns once per process when TLS is used with an IP address (grpc-js names the server by
 * its address). Clusters on IP addresses are normal here and the certificate's IP names are
 * still checked, so that one deprecation notice is dropped; every other warning still prints.
 */
export function quietTlsIpAddressWarning(): void {
  process.removeAllListeners("warning");
  process.on("warning", (w: Error & { code?: string }) => {
    if (w.code === "DEP0123") return;
    process.stderr.write(`${w.name}: ${w.message}\n`);
  });
}
