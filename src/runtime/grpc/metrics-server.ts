// The HTTP listener of `--metrics-listen host:port`: GET /metrics answers the node's metrics in
// Prometheus text format; any other path is 404, any other method 405. Nothing else is served.

import http from "node:http";
import type { AddressInfo } from "node:net";
import { bindErrorMessage } from "./server.js";

export interface MetricsSource {
  text(): Promise<string>;
  readonly contentType: string;
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `source` on `host:port` (port 0: any free one); the error says what to do. */
export function startMetricsServer(host: string, port: number, source: MetricsSource): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") return void res.writeHead(404, { "content-type": "text/plain" }).end("not found: metrics are at /metrics\n");
    if (req.method !== "GET" && req.method !== "HEAD") return void res.writeHead(405, { allow: "GET, HEAD" }).end();
    source.text().then(
      (text) => res.writeHead(200, { "content-type": source.contentType }).end(req.method === "HEAD" ? undefined : text),
      (err: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${err instanceof Error ? err.message : String(err)}\n`),
    );
  });
  server.keepAliveTimeout = 5_000;
  const address = `${host}:${port}`;
  return new Promise((resolve, reject) => {
    server.once("error", (err) => reject(new Error(bindErrorMessage(`${address} (--metrics-listen)`, err.message))));
    server.listen(port, host.replace(/^\[|\]$/g, ""), () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => new Promise<void>((done) => {
          server.close(() => done());
          server.closeAllConnections();
        }),
      });
    });
  });
}
