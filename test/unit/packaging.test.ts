// The packaging files, checked without a container engine: the Dockerfile against its lint
// (pinned Node.js 20 base, non-root, data dir as a volume, a health check, exec-form entry point),
// with a negative control per rule; the compose file's and the systemd unit's command lines parse
// as valid `raft-node serve` flags and describe a consistent 3-node cluster; `--version` works.

import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseClientArgs } from "../../src/cli/raft-client.js";
import { parseServeArgs } from "../../src/cli/raft-node.js";
import { versionLine } from "../../src/cli/version.js";
import { contextCopies, healthcheckCommand, lintDockerfile, parseCompose, parseUnit } from "../support/packaging-lint.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), "utf8");
const DOCKERFILE = read("Dockerfile");

describe("the Dockerfile (linted: no container engine runs here)", () => {
  it("passes every rule", () => {
    expect(lintDockerfile(DOCKERFILE)).toEqual([]);
  });

  it("each rule catches its own mistake (negative controls)", () => {
    const mutate = (from: string | RegExp, to: string) => {
      const changed = DOCKERFILE.replace(from, to);
      expect(changed, `mutation of ${String(from)} applies`).not.toBe(DOCKERFILE);
      return lintDockerfile(changed);
    };
    expect(mutate(/^USER node$/m, "USER root")).toContain("the final stage runs as root");
    expect(mutate(/^USER node$/m, "")).toContain("the final stage has no USER: it would run as root");
    expect(mutate(/^VOLUME .*$/m, "")).toContain("/var/lib/raft is not a VOLUME");
    expect(mutate(/^FROM node:20\.\d+\.\d+-bookworm-slim$/m, "FROM node:latest").join("\n")).toMatch(/FROM node:latest is not a pinned Node\.js 20 image/);
    expect(mutate(/^FROM node:20\.\d+\.\d+-bookworm-slim AS build$/m, "FROM node:22.1.0-slim AS build").join("\n")).toMatch(/node:22\.1\.0-slim is not a pinned Node\.js 20/);
    expect(mutate(/^HEALTHCHECK[^\n]*\\\n[^\n]*\n/m, "")).toContain("no HEALTHCHECK with a CMD");
    expect(mutate(/^ENTRYPOINT .*$/m, "ENTRYPOINT node bin/raft-node.js").join("\n")).toMatch(/no ENTRYPOINT in exec form/);
  });

  it("copies only files that exist, and never local data or dependencies", () => {
    for (const source of contextCopies(DOCKERFILE)) expect(fs.existsSync(path.join(ROOT, source)), source).toBe(true);
    const ignored = read(".dockerignore").split("\n").map((l) => l.trim());
    for (const entry of ["node_modules", "dist", "data", ".git"]) expect(ignored).toContain(entry);
  });

  it("its health check is a valid raft-client health command", () => {
    const cmd = healthcheckCommand(DOCKERFILE);
    expect(cmd?.slice(0, 2)).toEqual(["node", "bin/raft-client.js"]);
    const args = parseClientArgs(cmd!.slice(2));
    expect(typeof args === "object" && args.command).toEqual({ kind: "health" });
  });

  it("runs raft-node as its entry point", () => {
    expect(DOCKERFILE).toMatch(/^ENTRYPOINT \["node", "bin\/raft-node\.js"\]$/m);
  });
});

describe("compose.yaml: a 3-node cluster", () => {
  const { services, volumes } = parseCompose(read("compose.yaml"));
  const configs = services.map((s) => {
    const [verb, ...flags] = s.command;
    expect(verb, s.name).toBe("serve");
    const config = parseServeArgs(flags);
    if (config === "help") throw new Error(`${s.name}: help instead of serve flags`);
    return { service: s, config };
  });

  it("has three nodes built from this Dockerfile, ids 0-2, one cluster", () => {
    expect(services.map((s) => s.name)).toEqual(["node0", "node1", "node2"]);
    expect(configs.map((c) => Number(c.config.id))).toEqual([0, 1, 2]);
    for (const c of configs) {
      expect(c.service.build, c.service.name).toBe(".");
      expect(c.config.members.map((m) => m.address)).toEqual(["node0:5000", "node1:5000", "node2:5000"]);
      expect(c.config.listen).toBe("0.0.0.0:5000");
    }
  });

  it("keeps each node's data dir on its own named volume", () => {
    const mounts = configs.map((c) => c.service.volumes.find((v) => v.endsWith(`:${c.config.dataDir}`)));
    expect(mounts).toEqual(["node0-data:/var/lib/raft", "node1-data:/var/lib/raft", "node2-data:/var/lib/raft"]);
    expect(volumes).toEqual(["node0-data", "node1-data", "node2-data"]);
  });

  it("publishes each node's gRPC and metrics ports on distinct host ports, and raft-client reaches them", () => {
    const grpcPorts = configs.map((c) => c.service.ports.find((p) => p.endsWith(":5000"))?.split(":")[1]);
    const metricsPorts = configs.map((c) => c.service.ports.find((p) => p.endsWith(":9100"))?.split(":")[1]);
    expect(grpcPorts).toEqual(["50051", "50052", "50053"]);
    expect(metricsPorts).toEqual(["9101", "9102", "9103"]);
    for (const c of configs) expect(c.config.metricsListen?.address).toBe("0.0.0.0:9100");
    // The client line in the file's header uses exactly these ports, in id order.
    const nodes = grpcPorts.map((p, id) => `${id}=127.0.0.1:${p}`).join(",");
    expect(read("compose.yaml")).toContain(`raft-client --nodes ${nodes} set greeting hello`);
  });
});

describe("the systemd unit example", () => {
  const unit = parseUnit(read("deploy/raft-node.service"));

  it("runs raft-node serve with valid flags, as an unprivileged user, stopped with SIGTERM", () => {
    const exec = unit.get("Service.ExecStart")!.split(/\s+/);
    expect(exec.slice(0, 3)).toEqual(["/usr/bin/node", "/opt/raft-lease/bin/raft-node.js", "serve"]);
    const config = parseServeArgs(exec.slice(3));
    expect(config !== "help" && config.dataDir).toBe("/var/lib/raft");
    expect(config !== "help" && config.logFormat).toBe("json");
    expect(unit.get("Service.User")).toBe("raft");
    expect(unit.get("Service.KillSignal")).toBe("SIGTERM");
    expect(unit.get("Service.Restart")).toBe("on-failure");
    expect(unit.get("Service.RestartPreventExitStatus")).toBe("2");
  });
});

/** `systemd-analyze verify` on a copy of the unit with `edit` applied; its complaints, or null without systemd-analyze. */
function systemdVerify(edit: (unit: string) => string): string | null {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "raft-lease-unit-"));
  try {
    const file = path.join(dir, "raft-node.service");
    fs.writeFileSync(file, edit(read("deploy/raft-node.service")));
    const r = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8", timeout: 30_000 });
    return r.error !== undefined ? null : `${r.stdout}${r.stderr}`.trim();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe("the systemd unit, verified by systemd-analyze where the machine has it", () => {
  const available = systemdVerify((u) => u) !== null;
  it.skipIf(!available)("passes systemd-analyze verify, which does catch a bad setting (the control)", () => {
    expect(systemdVerify((u) => u)).toBe("");
    expect(systemdVerify((u) => u.replace("KillSignal=SIGTERM", "KillSignal=NOPE"))).toMatch(/Failed to parse signal name/);
  });
});

describe("--version", () => {
  it("names the program and the package version", () => {
    const version = JSON.parse(read("package.json")).version as string;
    for (const bin of ["raft-node", "raft-client", "raft-sim"] as const) expect(versionLine(bin)).toBe(`${bin} ${version} (raft-lease, Node.js ${process.version})\n`);
  });
});

describe("--version of the installed programs", () => {
  it("each bin prints its version line and exits 0", () => {
    for (const bin of ["raft-node", "raft-client", "raft-sim"] as const) {
      const out = execFileSync(process.execPath, [path.join(ROOT, "bin", `${bin}.js`), "--version"], { encoding: "utf8", timeout: 30_000 });
      expect(out).toBe(versionLine(bin));
    }
  });
});
