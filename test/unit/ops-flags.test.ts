// The operations flags of raft-node (--log-format, --metrics-listen), the json event lines, and
// the metrics listener's own errors and paths.

import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { parseServeArgs, USAGE } from "../../src/cli/raft-node.js";
import { USAGE as CLIENT_USAGE } from "../../src/cli/raft-client.js";
import { coreEventText, coreLogEvent, EventLog } from "../../src/runtime/grpc/event-log.js";
import { nodeId, type RaftEvent } from "../../src/raft/index.js";
import { startMetricsServer } from "../../src/runtime/grpc/metrics-server.js";

const serve = (...flags: string[]) => parseServeArgs(["--id", "0", "--cluster", "0=127.0.0.1:5000", "--data-dir", "/tmp/x", ...flags]);

describe("raft-node operations flags", () => {
  it("--log-format is text (default) or json", () => {
    const text = serve();
    expect(text !== "help" && text.logFormat).toBe("text");
    const json = serve("--log-format", "json");
    expect(json !== "help" && json.logFormat).toBe("json");
    expect(() => serve("--log-format", "xml")).toThrow(/--log-format "xml" must be text or json/);
  });

  it("--metrics-listen takes host:port, not the node's own gRPC address", () => {
    const ok = serve("--metrics-listen", "0.0.0.0:9100");
    expect(ok !== "help" && ok.metricsListen).toMatchObject({ host: "0.0.0.0", port: 9100 });
    expect(() => serve("--metrics-listen", "9100")).toThrow(/--metrics-listen "9100" has no port/);
    expect(() => serve("--metrics-listen", "127.0.0.1:5000")).toThrow(/is the node's own gRPC address; give the metrics another port/);
  });

  it("--help lists every flag, the new ones included", () => {
    for (const flag of ["--log-format", "--metrics-listen", "--tls-cert", "--tls-key", "--tls-ca", "--tls-client-cert"]) expect(USAGE).toContain(flag);
    expect(USAGE).toContain("raft-node --version");
    for (const flag of ["--tls-ca", "--tls-cert", "--tls-key", "--version"]) expect(CLIENT_USAGE).toContain(flag);
    expect(CLIENT_USAGE).toMatch(/^ {2}health /m);
  });
});

describe("json event lines", () => {
  const capture = (format: "text" | "json") => {
    const dump: string[] = [];
    const console: string[] = [];
    const warnings: string[] = [];
    const log = new EventLog({ dump: (l) => dump.push(l), console: { write: (t: string) => console.push(t) }, warnings: { write: (t: string) => warnings.push(t) }, format, node: 2, term: () => 7 });
    return { log, dump, console, warnings };
  };

  it("gives one JSON object per event on the console, and dump.txt its usual line", () => {
    const { log, dump, console, warnings } = capture("json");
    log.record("Node 2 became the leader for term 7.", { event: "became-leader", fields: { nodeId: 2, term: 7 } });
    log.record("Leader 2 got SET a b\nc");
    log.warn("disk slow");
    log.flush();
    const lines = [...console, ...warnings].join("").trimEnd().split("\n");
    expect(lines).toHaveLength(3);
    const [first, second, third] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toMatchObject({ node: 2, term: 7, event: "became-leader", fields: { nodeId: 2, term: 7 }, message: "Node 2 became the leader for term 7." });
    expect(Number.isNaN(Date.parse(String(first!["time"])))).toBe(false);
    expect(second).toMatchObject({ event: "message", message: "Leader 2 got SET a b\nc" });
    expect(third).toMatchObject({ event: "warning", message: "disk slow" });
    expect(dump[0]).toMatch(/^\S+ Node 2 became the leader for term 7\.$/);
    expect(dump[1]).toMatch(/^\S+ Leader 2 got SET a b\\nc$/);
  });

  it("text format keeps the dump lines on the console (the control)", () => {
    const { log, dump, console } = capture("text");
    log.record("Node 2 became the leader for term 7.", { event: "became-leader" });
    log.flush();
    expect(console.join("")).toBe(`${dump[0]}\n`);
  });

  it("shows a committed entry's operation as text, cut short in both formats (the core hands over the command)", () => {
    const command = { kind: "set", key: "k", value: "v".repeat(500), clientId: "c", sequence: 1, firstUnanswered: 1 } as const;
    const e = { kind: "leader-committed", nodeId: nodeId(2), operation: command } as RaftEvent;
    const shown = `SET k ${"v".repeat(194)}... (306 more characters)`;
    expect(coreEventText(e)).toBe(`Node 2 (leader) committed the entry ${shown} to the state machine.`);
    expect(coreLogEvent(e)).toEqual({ event: "leader-committed", fields: { nodeId: 2, operation: shown } });
    const noop = { kind: "follower-committed", nodeId: nodeId(1), operation: { kind: "noop" } } as RaftEvent;
    expect(coreLogEvent(noop)).toEqual({ event: "follower-committed", fields: { nodeId: 1, operation: "NO-OP" } });
  });
});

describe("the metrics listener", () => {
  const source = { text: async () => "raft_term 3\n", contentType: "text/plain; version=0.0.4; charset=utf-8" };

  it("serves /metrics, 404 elsewhere, 405 for other methods", async () => {
    const server = await startMetricsServer("127.0.0.1", 0, source);
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const ok = await fetch(`${base}/metrics`);
      expect([ok.status, await ok.text()]).toEqual([200, "raft_term 3\n"]);
      expect((await fetch(`${base}/`)).status).toBe(404);
      expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(405);
    } finally {
      await server.close();
    }
  });

  it("says so when its port is taken", async () => {
    const blocker = http.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      await expect(startMetricsServer("127.0.0.1", port, source)).rejects.toThrow(/cannot listen on 127\.0\.0\.1:\d+ \(--metrics-listen\): the port is in use/);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
