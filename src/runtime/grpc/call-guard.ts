// The checks every handler of the node's gRPC services runs first: the caller's certificate under
// TLS, and a driver to serve with (none while the node is starting). An exception thrown by a
// handler (a bug: handlers answer every bad input themselves) is logged and answered INTERNAL.

import { status, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import type { NodeId } from "../../raft/index.js";
import type { NodeDriver } from "./driver.js";
import { refusal, type TlsAudit } from "./tls.js";

export type ErrorStatus = { code: status; details: string };

/** What the checks need of the server's options. */
export interface GuardOptions {
  readonly self: NodeId;
  /** The driver, or null while the node is still starting (calls are then answered UNAVAILABLE). */
  readonly driver: () => NodeDriver | null;
  /** Logs a handler failure (a bug: handlers answer every bad input themselves). */
  readonly log: (line: string) => void;
  /** With TLS: who must hold a certificate the cluster CA signed. Null: plain text. */
  readonly tls: { readonly audit: TlsAudit; readonly clientCertRequired: boolean } | null;
  /** Reports a refused caller (the receiver rate-limits its log lines). */
  readonly onRefused: (service: "peer" | "client", details: string) => void;
}

type CallInfo = Pick<ServerUnaryCall<unknown, unknown>, "getAuthContext" | "getPeer">;

/**
 * Runs a handler with the driver: UNAUTHENTICATED for a caller without the certificate TLS asks
 * of it, UNAVAILABLE while the node is starting. An exception (a bug: handlers answer every bad
 * input themselves) is logged and answered INTERNAL instead of crashing.
 */
export function guard<R>(opts: GuardOptions, callback: sendUnaryData<R>, call: CallInfo, service: "peer" | "client", handle: (driver: NodeDriver) => void): void {
  const refused = checkCaller(opts, call, service);
  if (refused !== null) return callback(refused);
  const driver = opts.driver();
  if (driver === null) return callback({ code: status.UNAVAILABLE, details: "the node is starting; retry shortly" });
  try {
    handle(driver);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    opts.log(`internal error in a request handler: ${detail}`);
    callback({ code: status.INTERNAL, details: detail });
  }
}

/** Peer calls always need a verified certificate under TLS; client calls when configured so. */
export function checkCaller(opts: GuardOptions, call: CallInfo, service: "peer" | "client"): ErrorStatus | null {
  if (opts.tls === null || (service === "client" && !opts.tls.clientCertRequired)) return null;
  const verified = call.getAuthContext().sslPeerCertificate !== undefined;
  const check = opts.tls.audit.check(call.getPeer(), verified);
  if (check.ok) return null;
  opts.onRefused(service, `refused ${service === "peer" ? "a peer" : "a client"} call from ${call.getPeer()}: ${check.reason}`);
  return refusal(opts.self, service, check.reason);
}
