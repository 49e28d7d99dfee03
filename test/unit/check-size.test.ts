// The lint step that keeps files and functions short: it must object to a function of 71 lines
// (whatever its form: declaration, method, arrow) and to a file of 451 lines, naming each with
// its file and line, and let 70 and 450 lines pass.

import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

const SCRIPT = path.resolve("scripts/check-size.mjs");

/** Runs the script on a fresh folder holding `files`; with `args`, on those paths inside it. */
function check(files: Record<string, string>, args: readonly string[] = ["."]): { status: number | null; output: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "size-"));
  try {
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), text);
    }
    const r = spawnSync(process.execPath, [SCRIPT, ...args], { cwd: dir, encoding: "utf8" });
    return { status: r.status, output: r.stdout + r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `lines` statements, one a line, indented for a body. */
function body(lines: number): string {
  return Array.from({ length: lines }, (_, i) => `  const v${i} = ${i};`).join("\n");
}

/** A function declaration spanning exactly `lines` lines, from its header to its closing brace. */
function declaration(name: string, lines: number): string {
  return `export function ${name}(): void {\n${body(lines - 2)}\n}\n`;
}

/** A file of exactly `lines` lines. */
function constants(lines: number): string {
  return Array.from({ length: lines }, (_, i) => `export const c${i} = ${i};`).join("\n") + "\n";
}

describe("scripts/check-size.mjs", () => {
  it("reports a function of 71 lines with its file and line, and exits 1", () => {
    const r = check({ "a.ts": `// a comment\n${declaration("long", 71)}` });
    expect(r.status).toBe(1);
    expect(r.output).toMatch(/a\.ts:2: long has 71 lines \(at most 70\): split it along its steps/);
  });

  it("lets a function of 70 lines pass", () => {
    const r = check({ "a.ts": declaration("justShort", 70) });
    expect(r.status).toBe(0);
    expect(r.output).toMatch(/none over 450 lines, no function over 70/);
  });

  it("reports a file of 451 lines and lets one of 450 pass", () => {
    const long = check({ "big.ts": constants(451) });
    expect(long.status).toBe(1);
    expect(long.output).toMatch(/big\.ts:1: the file has 451 lines \(at most 450\): split it along its seams/);
    expect(check({ "big.ts": constants(450) }).status).toBe(0);
  });

  it("finds methods, constructors and arrows too, by name", () => {
    const r = check({
      "m.ts": `export class K {\n  constructor() {\n${body(69)}\n  }\n  run(): void {\n${body(69)}\n  }\n}\nexport const go = (): void => {\n${body(69)}\n};\n`,
    });
    expect(r.status).toBe(1);
    expect(r.output).toMatch(/m\.ts:2: constructor has 71 lines/);
    expect(r.output).toMatch(/m\.ts:73: run has 71 lines/);
    expect(r.output).toMatch(/m\.ts:145: go has 71 lines/);
  });

  it("checks only the paths it is given, and skips generated code (gen/)", () => {
    const files = { "src/ok.ts": declaration("f", 10), "src/gen/wire.ts": constants(1000), "src/core/long.ts": declaration("g", 80) };
    expect(check(files, ["src"]).status).toBe(1);
    const r = check(files, ["src/ok.ts", "src/gen"]);
    expect(r.status).toBe(0);
    expect(r.output).toMatch(/check-size: 1 files of src\/ok\.ts src\/gen/);
  });
});
