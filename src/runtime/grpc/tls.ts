// TLS on a node's port: server credentials, and the check that a caller holds a certificate the
// cluster CA signed.
//
// Peers and clients share one port. The TLS handshake asks every caller for a certificate but
// lets one without (or with a bad one) finish the handshake, so that the refusal can happen per
// call with a message that says which check failed: peer calls (RequestVote, AppendEntries) always
// need a verified certificate; client calls need one only with `clientCertRequired`. A node
// without TLS settings serves plain text, as before.
//
// Which check failed is what OpenSSL said about the caller's certificate during the handshake
// (`authorizationError`), recorded per connection by TlsAudit; grpc-js does not hand it to
// handlers, so TlsAudit listens on the TLS connections of the server's HTTP/2 listeners.

import type { TLSSocket } from "node:tls";
import { experimental, status, type Server, type ServerCredentials } from "@grpc/grpc-js";
import type { TlsMaterial } from "../../client/tls.js";

export interface NodeTls {
  readonly material: TlsMaterial & { readonly identity: NonNullable<TlsMaterial["identity"]> };
  /** Client calls, too, need a certificate the CA signed. */
  readonly clientCertRequired: boolean;
}

/**
 * A certificate provider that hands out fixed material. grpc-js registers its own watcher only
 * after adding these listeners, so they answer in a microtask, as grpc-js's file watcher does.
 */
class StaticCertificates implements experimental.CertificateProvider {
  constructor(private readonly tls: NodeTls["material"]) {}
  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    queueMicrotask(() => listener({ caCertificate: this.tls.ca }));
  }
  removeCaCertificateListener(): void {}
  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    queueMicrotask(() => listener({ certificate: this.tls.identity.cert, privateKey: this.tls.identity.key }));
  }
  removeIdentityCertificateListener(): void {}
}

/** Request a client certificate, verify it with the CA, but let the call decide (see above). */
export function serverCredentials(tls: NodeTls): ServerCredentials {
  const provider = new StaticCertificates(tls.material);
  // The same provider serves both roles, so the order of the first two arguments cannot matter.
  return experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

/** What a call's connection proved about its caller. */
export type CallerCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const NO_CERTIFICATE = "it presented no client certificate";

/** Connections remembered at once, at most (a bound; the oldest are forgotten first). */
const CONNECTIONS_MAX = 4096;

/** Records, per TLS connection, whether the caller's certificate passed and why not. */
export class TlsAudit {
  private readonly failures = new Map<string, string>();
  private attached = false;

  /** Listens on the server's TLS listeners; call after binding. False when it found none. */
  attach(server: Server): boolean {
    // grpc-js keeps its HTTP/2 listeners in a private map; a test checks this still holds.
    const listeners = (server as unknown as { http2Servers?: Map<{ on(event: string, f: (s: TLSSocket) => void): void }, unknown> }).http2Servers;
    if (!(listeners instanceof Map)) return false;
    for (const listener of listeners.keys()) {
      listener.on("secureConnection", (socket: TLSSocket) => this.onConnection(socket));
      this.attached = true;
    }
    return this.attached;
  }

  /** Checks the caller of a call made from `peer` (grpc-js `call.getPeer()`) with `verified` cert. */
  check(peer: string, verified: boolean): CallerCheck {
    if (verified) return { ok: true };
    const failure = this.failures.get(normalizePeer(peer));
    if (failure !== undefined) return { ok: false, reason: failure };
    return { ok: false, reason: NO_CERTIFICATE };
  }

  private onConnection(socket: TLSSocket): void {
    if (socket.authorized) return;
    const key = normalizePeer(`${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`);
    if (this.failures.size >= CONNECTIONS_MAX) this.failures.delete(this.failures.keys().next().value!);
    const presented = Object.keys(socket.getPeerCertificate()).length > 0;
    this.failures.set(key, presented ? describeAuthorizationError(socket.authorizationError) : NO_CERTIFICATE);
    socket.once("close", () => this.failures.delete(key));
  }
}

/** `[::ffff:127.0.0.1]:5000`, `::ffff:127.0.0.1:5000` and `127.0.0.1:5000` name one caller. */
function normalizePeer(peer: string): string {
  return peer.replace(/^ipv[46]:/, "").replace(/[[\]]/g, "").replace(/^::ffff:/, "");
}

/** OpenSSL's verdict on a client certificate, in words; the code stays for searching. */
export function describeAuthorizationError(error: Error | string | null | undefined): string {
  const code = error === null || error === undefined ? "" : typeof error === "string" ? error : ((error as NodeJS.ErrnoException).code ?? error.message);
  switch (code) {
    case "":
      return NO_CERTIFICATE;
    case "UNABLE_TO_GET_ISSUER_CERT":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
      return `its certificate is not signed by this node's --tls-ca (${code})`;
    case "CERT_SIGNATURE_FAILURE":
      return `its certificate's signature does not verify (${code})`;
    case "CERT_HAS_EXPIRED":
      return `its certificate has expired (${code})`;
    case "CERT_NOT_YET_VALID":
      return `its certificate is not valid yet (${code})`;
    case "CERT_REVOKED":
      return `its certificate is revoked (${code})`;
    default:
      return `its certificate failed verification (${code})`;
  }
}

/** The refusal of a call whose caller failed the certificate check. */
export function refusal(self: number, service: "peer" | "client", reason: string): { code: status; details: string } {
  const what = service === "peer" ? "peer calls" : "client calls";
  return {
    code: status.UNAUTHENTICATED,
    details: `node ${self} refuses ${what} from this caller: ${reason}; give it --tls-cert and --tls-key signed by the cluster CA (this node's --tls-ca)`,
  };
}
