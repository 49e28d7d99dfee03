// TLS material (PEM certificates and keys), checked before any connection is made, and the
// client-side gRPC credentials built from it.
//
// Shared by raft-node (its peer connections), raft-client and the RaftClient library, so every
// tool refuses the same mistakes with the same messages: a certificate without its key, a key
// that does not belong to the certificate, a certificate outside its validity period, or one
// the CA did not sign. A node's certificate must name the host of its --cluster address (a DNS
// or IP subject alternative name): clients and peers check it, as browsers do.

import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { credentials, type ChannelCredentials } from "@grpc/grpc-js";

/** PEM text or bytes of the TLS settings; `cert` and `key` come together. */
export interface TlsOptions {
  /** The CA certificate(s) that signed the servers' (and peers') certificates. */
  readonly ca: string | Buffer;
  /** This side's certificate, for servers that check client certificates. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
}

/** Checked TLS material. */
export interface TlsMaterial {
  readonly ca: Buffer;
  readonly identity: { readonly cert: Buffer; readonly key: Buffer; readonly subject: string } | null;
}

/** How the settings are called where they came from (flags or library options), for messages. */
export interface TlsNames {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export const FLAG_NAMES: TlsNames = { ca: "--tls-ca", cert: "--tls-cert", key: "--tls-key" };
export const OPTION_NAMES: TlsNames = { ca: "tls.ca", cert: "tls.cert", key: "tls.key" };

/** A CA bundle holds this many certificates, at most (a bound on its parsing loop). */
const CA_BUNDLE_COUNT_MAX = 64;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Reads the three files of the --tls-* flags; the error names the flag and the file. */
export function readTlsFiles(paths: { readonly ca: string; readonly cert?: string; readonly key?: string }, names: TlsNames = FLAG_NAMES): TlsOptions {
  const read = (file: string, name: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "";
      throw new Error(`${name} ${file}: cannot read it (${code || String(err)}); give a readable PEM file`);
    }
  };
  return {
    ca: read(paths.ca, names.ca),
    ...(paths.cert === undefined ? {} : { cert: read(paths.cert, names.cert) }),
    ...(paths.key === undefined ? {} : { key: read(paths.key, names.key) }),
  };
}

/** Checks the settings; throws an Error that says which check failed and what to do. */
export function checkTls(opts: TlsOptions, names: TlsNames = OPTION_NAMES, nowMs: number = Date.now()): TlsMaterial {
  const ca = Buffer.from(opts.ca);
  const authorities = parseCaBundle(ca, names.ca);
  if ((opts.cert === undefined) !== (opts.key === undefined)) {
    throw new Error(`${names.cert} and ${names.key} go together: give both (this side's certificate and its private key) or neither`);
  }
  if (opts.cert === undefined || opts.key === undefined) return { ca, identity: null };
  const cert = Buffer.from(opts.cert);
  const key = Buffer.from(opts.key);
  const x509 = parseCertificate(cert, names.cert);
  const privateKey = parsePrivateKey(key, names.key);
  if (!x509.checkPrivateKey(privateKey)) throw new Error(`${names.key} is not the private key of ${names.cert} (${x509.subject.replace(/\n/g, ", ")}); give the key the certificate was made for`);
  checkValidity(x509, names.cert, nowMs);
  if (!authorities.some((authority) => x509.checkIssued(authority) && x509.verify(authority.publicKey))) {
    throw new Error(`${names.cert} (${x509.subject.replace(/\n/g, ", ")}) is not signed by ${names.ca}; the other side would refuse it: give a certificate the cluster CA signed`);
  }
  return { ca, identity: { cert, key, subject: x509.subject.replace(/\n/g, ", ") } };
}

/** Client-side credentials: verify the server with the CA; present this side's certificate if any. */
export function channelCredentials(tls: TlsMaterial | null): ChannelCredentials {
  if (tls === null) return credentials.createInsecure();
  return credentials.createSsl(tls.ca, tls.identity?.key ?? null, tls.identity?.cert ?? null);
}

function parseCaBundle(ca: Buffer, name: string): X509Certificate[] {
  const blocks = ca.toString("latin1").match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new Error(`${name} holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the CA certificate in PEM form`);
  if (blocks.length > CA_BUNDLE_COUNT_MAX) throw new Error(`${name} holds ${blocks.length} certificates; at most ${CA_BUNDLE_COUNT_MAX}`);
  return blocks.map((block) => parseCertificate(Buffer.from(block, "latin1"), name));
}

function parseCertificate(pem: Buffer, name: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new Error(`${name} is not a PEM certificate (${err instanceof Error ? err.message : String(err)}); give the certificate in PEM form`);
  }
}

function parsePrivateKey(pem: Buffer, name: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new Error(`${name} is not a PEM private key (${err instanceof Error ? err.message : String(err)}); give an unencrypted PEM key`);
  }
}

function checkValidity(x509: X509Certificate, name: string, nowMs: number): void {
  const from = Date.parse(x509.validFrom);
  const to = Date.parse(x509.validTo);
  if (nowMs < from) throw new Error(`${name} is not valid yet (valid from ${x509.validFrom}); check this machine's clock or the certificate`);
  if (nowMs > to) throw new Error(`${name} expired on ${x509.validTo}; renew it`);
}
