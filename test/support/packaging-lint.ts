// A lint of the packaging files, for machines where no container engine runs: the Dockerfile, the
// compose file and the systemd unit are parsed and held to the rules below. Each rule returns a
// message naming what is wrong; an empty list means the file passes.

import yaml from "js-yaml";

export interface DockerInstruction {
  readonly op: string; // upper case: FROM, RUN, USER, ...
  readonly args: string;
  readonly line: number;
}

/** Dockerfile instructions, with `\` continuations joined and comments dropped. */
export function parseDockerfile(text: string): DockerInstruction[] {
  const out: DockerInstruction[] = [];
  let pending = "";
  let startLine = 0;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (pending === "" && (raw === "" || raw.startsWith("#"))) continue;
    if (pending === "") startLine = i + 1;
    if (raw.startsWith("#")) continue; // a comment inside a continued instruction
    const continued = raw.endsWith("\\");
    pending += `${continued ? raw.slice(0, -1) : raw} `;
    if (continued) continue;
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(pending.trim());
    if (m !== null) out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: startLine });
    pending = "";
  }
  return out;
}

/** A JSON-array (exec form) argument list, or null for the shell form. */
export function execForm(args: string): string[] | null {
  if (!args.startsWith("[")) return null;
  try {
    const parsed = JSON.parse(args) as unknown;
    return Array.isArray(parsed) && parsed.every((a) => typeof a === "string") ? parsed : null;
  } catch {
    return null;
  }
}

const PINNED_NODE_20 = /^node:20\.\d+\.\d+(-[a-z0-9]+)*(@sha256:[0-9a-f]{64})?$/;

/** The rules for the node image. `dataDir` must be a VOLUME; the last stage must not run as root. */
export function lintDockerfile(text: string, dataDir = "/var/lib/raft"): string[] {
  const ins = parseDockerfile(text);
  const problems: string[] = [];
  const froms = ins.filter((i) => i.op === "FROM");
  if (froms.length === 0) problems.push("no FROM");
  for (const f of froms) {
    const image = f.args.split(/\s+/)[0]!;
    if (!PINNED_NODE_20.test(image)) problems.push(`line ${f.line}: FROM ${image} is not a pinned Node.js 20 image (node:20.x.y[-variant])`);
  }
  const lastStage = ins.slice(ins.lastIndexOf(froms[froms.length - 1]!));
  const users = lastStage.filter((i) => i.op === "USER");
  const user = users[users.length - 1]?.args.split(":")[0];
  if (user === undefined) problems.push("the final stage has no USER: it would run as root");
  else if (user === "root" || user === "0") problems.push(`the final stage runs as ${user}`);
  const volumes = lastStage.filter((i) => i.op === "VOLUME").flatMap((v) => execForm(v.args) ?? v.args.split(/\s+/));
  if (!volumes.includes(dataDir)) problems.push(`${dataDir} is not a VOLUME`);
  const health = lastStage.find((i) => i.op === "HEALTHCHECK");
  if (health === undefined || !/\bCMD\b/.test(health.args)) problems.push("no HEALTHCHECK with a CMD");
  const entry = lastStage.find((i) => i.op === "ENTRYPOINT");
  if (entry === undefined || execForm(entry.args) === null) problems.push("no ENTRYPOINT in exec form (a shell would not pass SIGTERM on to the node)");
  for (const add of ins.filter((i) => i.op === "ADD")) problems.push(`line ${add.line}: ADD; use COPY`);
  return problems;
}

/** The last HEALTHCHECK's command, in exec form. */
export function healthcheckCommand(text: string): string[] | null {
  const health = parseDockerfile(text).filter((i) => i.op === "HEALTHCHECK").pop();
  const at = health?.args.indexOf("CMD") ?? -1;
  return health === undefined || at < 0 ? null : execForm(health.args.slice(at + 3).trim());
}

/** COPY sources taken from the build context (not from another stage). */
export function contextCopies(text: string): string[] {
  return parseDockerfile(text)
    .filter((i) => i.op === "COPY" && !i.args.startsWith("--from"))
    .flatMap((i) => {
      const words = execForm(i.args) ?? i.args.split(/\s+/);
      return words.slice(0, -1);
    });
}

export interface ComposeService {
  readonly name: string;
  readonly command: string[];
  readonly ports: string[];
  readonly volumes: string[];
  readonly build: unknown;
}

/** The services of a compose file, with YAML anchors and merge keys resolved. */
export function parseCompose(text: string): { services: ComposeService[]; volumes: string[] } {
  const doc = yaml.load(text) as { services?: Record<string, Record<string, unknown>>; volumes?: Record<string, unknown> } | null;
  const services = Object.entries(doc?.services ?? {}).map(([name, s]) => ({
    name,
    command: Array.isArray(s["command"]) ? (s["command"] as string[]) : [],
    ports: Array.isArray(s["ports"]) ? (s["ports"] as string[]) : [],
    volumes: Array.isArray(s["volumes"]) ? (s["volumes"] as string[]) : [],
    build: s["build"],
  }));
  return { services, volumes: Object.keys(doc?.volumes ?? {}) };
}

/** `Key=value` lines of a systemd unit's sections (later keys win). */
export function parseUnit(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header !== null) section = header[1]!;
    else if (line.includes("=")) out.set(`${section}.${line.slice(0, line.indexOf("="))}`, line.slice(line.indexOf("=") + 1));
  }
  return out;
}
